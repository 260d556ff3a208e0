"""What every method shares: the image contract, declared capabilities, injected optimizers, plain
hyperparameters, self-describing checkpoints, and the single-objective training loop.

Three bases, from the most general:

- ``ZooModule``: anything ``zoo fit`` trains (generative or not: a probe, a domain-adaptation classifier).
  It validates ``in_shape`` and batches against it, builds the optimizer from injected factories
  (LightningCLI's ``OptimizerCallable`` pattern: a recipe swaps Adam for RMSProp without touching the
  method), stores hyperparameters as plain values (factories become ``{"class_path", "init_args"}`` dicts,
  see zoo/factories.py, so a checkpoint loads under ``torch.load(weights_only=True)``), records in every
  checkpoint the registry name, the class and the file format, and upgrades files of older formats
  (``upgrade_hparams``, ``upgrade_state_dict``). A single-objective method writes only
  ``objective(batch) -> Terms`` (``{"loss": ..., other logged terms}``); the base writes
  ``training_step``, ``validation_step`` and ``test_step`` once. Several-player methods stand on
  ``zoo.methods.players.MultiPlayerModel`` instead, which replaces the loop.
- ``GenerativeModel``: adds the ``sample`` contract.
- ``LatentVariableModel``: an encoder/decoder pair and ``encode``/``decode``/``reconstruct``.

Every method also gets two speed switches, both off by default: ``channels_last`` (NHWC weights and
batches, the layout tensor-core GPUs and oneDNN's CPU convolutions prefer) and ``compile`` (``torch.compile``
of the nets, in place, so the state_dict keys, checkpoints and safetensors files stay the same). Either
changes the float rounding of a run (not its math); a checkpoint saved with either loads into a model
without it and back. ``benchmarks/speed.py --channels-last --compile`` measures them.
"""
from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from zoo.capabilities import DECODE, ENCODE, RECONSTRUCT, SAMPLE
from zoo.checkpoint_io import install_atomic_checkpoint_io
from zoo.errors import ConfigError, DivergenceError
from zoo.factories import Spec, check_optimizer_spec, class_path, from_spec, to_spec
from zoo.images import (
    ImageShape,
    check_code_input,
    check_count,
    check_image_input,
    check_images,
    image_shape,
)
from zoo.methods._lightning import inside_step, shows_progress, writes_logs_now
from zoo.nets import MLP_NETS, DecoderFactory, EncoderFactory
from zoo.registry import Paper, name_of_class

ADAM = {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}}
#: A batch: images ``x``, ``(x, y, ...)``, or two domains ``{"a": (x, y), "b": (x, y)}``.
Batch = torch.Tensor | Sequence[torch.Tensor] | Mapping[str, Any]
#: What an objective returns: ``"loss"`` is minimised; every other key is logged as ``<stage>/<key>``.
Terms = dict[str, torch.Tensor]
#: The checkpoint dict's key for what the zoo adds: ``{"model", "class_path", "format"}``.
CHECKPOINT_KEY = "zoo"
#: Version of the file format (hyperparameter names, state-dict keys) this code writes; see ``upgrade_*``.
#: 1: be7827f and before (no version recorded). 2: the players engine (``optimizers`` dicts, per-player steps).
FILE_FORMAT = 2


#: The public methods whose first argument is checked against the contract (zoo/images.py), and its kind.
CHECKED_INPUTS = {"encode": "images", "reconstruct": "images", "elbo": "images", "log_likelihood": "images",
                  "decode": "codes", "sample": "count"}


def _checked(method: Callable[..., Any], kind: str) -> Callable[..., Any]:
    name = list(inspect.signature(method).parameters)[1]  # the argument after self

    @functools.wraps(method)
    def checked(self: ZooModule, *args: Any, **kwargs: Any) -> Any:
        first = args[0] if args else kwargs.get(name)
        if not inside_step(self):  # the step's batch was checked once, by images()
            where = f"{type(self).__name__}.{method.__name__}"
            if kind == "images":
                check_image_input(first, self.in_shape, where=where)
            elif kind == "codes":
                check_code_input(first, self.latent_dim, where=where)
            else:
                check_count(first, where=where)
        return method(self, *args, **kwargs)

    checked.__zoo_checked__ = True  # type: ignore[attr-defined]
    return checked


class ZooModule(L.LightningModule):
    """Base of every zoo model. Subclasses declare ``capabilities``, ``paper`` and ``family`` and write their
    objective; see the module docstring.

    Args:
        in_shape: (C, H, W) of the images the model reads and writes (values in [0, 1]).
        optimizer: factory ``params -> Optimizer`` (a class, a partial, or a class_path spec); each method
            passes its paper's default as ``default_optimizer``.
        lr_scheduler: optional factory ``optimizer -> LRScheduler``, stepped once per epoch.
        default_optimizer: the paper's optimizer spec, used when ``optimizer`` is None; None for a method
            that builds several optimizers itself (see ``base_hparams``).
        channels_last: train in the channels-last (NHWC) memory format: weights and batches are converted
            when a Trainer sets the model up (``configure_model``), batches as the objective reads them
            (``images``).
        compile: ``torch.compile`` the nets (``compiled_nets``) in place when a Trainer sets the model up;
            the first steps are slow while it compiles (needs a C++ compiler on CPU).
    """

    #: what the model can do (zoo/capabilities.py); read by the CLI, callbacks, evaluation and the leaderboard
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: for models with the "likelihood" capability: what ``log_likelihood`` returns (zoo/capabilities.py)
    likelihood_kind: ClassVar[str | None] = None
    #: for models with the "likelihood" capability: the data ``log_likelihood`` is a log-probability of:
    #: "binary" (pixels 0/1: ``zoo evaluate`` scores it on the static binarized split), "n-level" (pixels
    #: i / (levels - 1)), or "continuous" (a density, not a probability of discrete images); see
    #: ``likelihood_data`` on each method, which may depend on its settings
    likelihood_data: str | None = None
    #: the paper the class implements (None on bases)
    paper: ClassVar[Paper | None] = None
    #: the family base it stands on: "autoencoders", "vae", "gan", ...
    family: ClassVar[str | None] = None
    #: scores of this method beyond what its capabilities imply (names in ``zoo.metrics.MODEL_METRICS``), which
    #: the leaderboard measures and lists in its row: InfoGAN's unsupervised ``"code_accuracy"``
    extra_metrics: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every method a class defines under a public contract name gets its input checked at the boundary,
        # so a method file writes the math only (and a subclass cannot forget the check).
        super().__init_subclass__(**kwargs)
        for name, kind in CHECKED_INPUTS.items():
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__zoo_checked__", False):
                setattr(cls, name, _checked(method, kind))

    def __init__(
        self,
        *,
        in_shape: Sequence[int],
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        default_optimizer: Spec | None = ADAM,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.in_shape: ImageShape = image_shape(in_shape)
        # not ``self.compile``: that is nn.Module's own method
        self.use_channels_last, self.use_compile = bool(channels_last), bool(compile)
        self._nets_compiled = False
        # None for methods with several optimizers (GANs), which keep their own specs
        default = dict(default_optimizer) if default_optimizer is not None else None
        self.optimizer_spec = to_spec(optimizer, "optimizer") or default
        self.lr_scheduler_spec = to_spec(lr_scheduler, "lr_scheduler")
        if self.optimizer_spec is not None:
            check_optimizer_spec("optimizer", self.optimizer_spec)  # fail now, not at the first training step

    # -- hyperparameters -------------------------------------------------------------------------------
    def save_plain_hyperparameters(self, **factories: Any) -> None:
        """``save_hyperparameters`` for the calling ``__init__``, with every value made plain.

        Call it at the end of the subclass ``__init__``; pass the injected factories by name
        (``encoder=encoder``) so they are stored as class_path specs. Called from a base class's
        ``__init__``, it records the arguments of every subclass ``__init__`` above it too (Lightning walks
        the frames that called ``super().__init__``).
        """
        frame = inspect.currentframe()
        assert frame is not None and frame.f_back is not None
        # Under LightningCLI this stores the CLI's resolved config (plus its _class_path/_instantiator keys,
        # which let Lightning's load_from_checkpoint rebuild injected modules); otherwise the init arguments.
        self.save_hyperparameters(frame=frame.f_back)
        for name, factory in factories.items():
            self.hparams[name] = to_spec(factory, name)
        self.hparams.update(self.base_hparams())
        # in_shape is linked from the data by the CLI after parsing, so the CLI's config may not hold it
        self.hparams["in_shape"] = list(self.in_shape)
        # The CLI links num_classes from the data to every model; one that takes no such argument never received
        # it, and its checkpoint must not record it (rebuilding from the hyperparameters would fail).
        accepted = init_arguments(type(self))
        for name in [k for k in self.hparams if not k.startswith("_") and k not in accepted]:
            del self.hparams[name]
        for name, value in list(self.hparams.items()):
            self.hparams[name] = _plain(value, name)

    # -- reading batches -------------------------------------------------------------------------------
    def images(self, batch: Batch) -> torch.Tensor:
        """The images of a batch (``x`` or ``(x, y, ...)``), checked against ``in_shape``."""
        if isinstance(batch, Mapping):
            raise ConfigError(
                f"{type(self).__name__} reads one domain, but the batch has domains {sorted(batch)}; "
                "train it on a one-domain datamodule (or a two-domain method on this one)"
            )
        x = check_images(batch if isinstance(batch, torch.Tensor) else batch[0], self.in_shape)
        # Here rather than in on_after_batch_transfer: a model overriding that hook makes Lightning warn on
        # every run that the datamodule's version is not used
        return x.contiguous(memory_format=torch.channels_last) if self.use_channels_last else x

    def labels(self, batch: Batch) -> torch.Tensor:
        """The class labels y (N,) of a labelled batch ``(x, y)``, checked against ``num_classes``."""
        if isinstance(batch, torch.Tensor) or isinstance(batch, Mapping) or len(batch) < 2:
            raise ConfigError(
                f"{type(self).__name__} needs labelled batches (x, y), but the data yields images only; "
                "use a datamodule with labels (every zoo.data image datamodule has them)"
            )
        y = batch[1]
        if y.dtype.is_floating_point or y.dim() != 1 or len(y) != len(batch[0]):
            raise ConfigError(f"labels must be integers of shape ({len(batch[0])},), got {y.dtype} {tuple(y.shape)}")
        num_classes = getattr(self, "num_classes", None)
        if num_classes is not None and len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
            raise ConfigError(
                f"label {bad} is outside [0, num_classes={num_classes}); set num_classes to the data's number "
                "of classes (the CLI links it from the datamodule)"
            )
        return y

    def domains(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The images (x_a, x_b) of a two-domain batch ``{"a": (x, y), "b": (x, y)}``, each checked against
        ``in_shape``."""
        if not isinstance(batch, Mapping) or set(batch) != {"a", "b"}:
            raise ConfigError(
                f"{type(self).__name__} translates between two domains but the batch is not a two-domain one; "
                "use zoo.data.TwoDomainDataModule (batches {'a': (x, y), 'b': (x, y)})"
            )
        return self.images(batch["a"]), self.images(batch["b"])

    def randn(self, *shape: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard normal noise on this model's device and dtype.

        Drawn on the generator's device and then moved, so a seeded CPU generator gives the same
        samples whether the model sits on CPU or GPU."""
        device = generator.device if generator is not None else self.device
        return torch.randn(shape, generator=generator, device=device).to(self.device, self.dtype)

    # -- the single-objective loop ---------------------------------------------------------------------
    def objective(self, batch: Batch) -> Terms:
        """The loss of one batch and the terms to log beside it (single-optimizer methods)."""
        raise NotImplementedError(f"{type(self).__name__} defines no objective")

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        terms = self.objective(batch)
        self.check_finite(terms["loss"], "train/loss")
        self.log_terms("train", terms)
        return terms["loss"]

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.log_terms("val", self.objective(batch))

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self.log_terms("test", self.objective(batch))

    def log_terms(self, stage: str, terms: Terms, *, loss_name: str = "loss") -> None:
        """Log ``terms["loss"]`` as ``<stage>/<loss_name>`` (on the progress bar) and the other terms as
        ``<stage>/<key>``. Validation and test log every batch, averaged over the epoch and the ranks. Training
        logs the loss every batch while a progress bar shows it, and everything on the batches Lightning writes
        logs for (``writes_logs_now``): each ``self.log`` costs about 1.7 ms on CPU (Lightning moves its result
        record to the value's device on every call), 13% of a small GAN's step (benchmarks/speed.py), and
        values logged between those batches reach no logger."""
        sync = stage != "train"  # epoch-level val/test numbers must agree across DDP ranks
        writes = stage != "train" or self.writes_logs_now()
        if writes or shows_progress(self._trainer):
            self.log(f"{stage}/{loss_name}", terms["loss"].detach(), prog_bar=stage != "test", sync_dist=sync)
        if writes:
            others = {f"{stage}/{k}": v.detach() for k, v in terms.items() if k != "loss"}
            if others:
                self.log_dict(others, sync_dist=sync)

    def check_finite(self, loss: torch.Tensor, name: str) -> None:
        """Stop training with a :class:`DivergenceError` when ``loss`` is nan or inf.

        Checked every batch on the CPU (free there) and on the batches Lightning writes logs for elsewhere
        (reading a GPU value makes the CPU wait for it); ``on_save_checkpoint`` refuses non-finite weights in
        any case, so no checkpoint of a diverged run is ever written."""
        if loss.device.type != "cpu" and not self.writes_logs_now():
            return
        if not bool(torch.isfinite(loss.detach()).all()):
            raise DivergenceError(
                f"training diverged at step {self.global_step} (epoch {self.current_epoch}): {name} is "
                f"{float(loss.detach().float().mean())}; likely a learning rate too high for this model "
                f"({self._learning_rates()}) — lower it or set gradient clipping; the run's last checkpoint "
                "(last.ckpt) is the last one with finite weights"
            )

    def _learning_rates(self) -> str:
        trainer = self._trainer
        optimizers = trainer.optimizers if trainer is not None else []
        return ", ".join(f"lr={opt.param_groups[0]['lr']:g}" for opt in optimizers) or "lr unknown"

    def writes_logs_now(self) -> bool:
        """Whether Lightning writes the logs after this training batch (every ``log_every_n_steps`` batches):
        training diagnostics beyond the losses are computed and logged only then (zoo/methods/_lightning.py)."""
        return writes_logs_now(self._trainer)

    # -- speed switches --------------------------------------------------------------------------------
    def compiled_nets(self) -> list[nn.Module]:
        """The nets ``compile=True`` compiles: every direct submodule that has parameters (the encoder and
        decoder, the generator and discriminator ...). A method whose objective cannot go through a
        compiled net overrides this (WGAN-GP's gradient penalty needs a double backward)."""
        return [module for module in self.children() if any(True for _ in module.parameters())]

    def configure_model(self) -> None:
        # Lightning calls this in fit/validate/test/predict before it moves the model to the device (which
        # keeps the memory format), and again in each later fit: both conversions are idempotent.
        if self.use_channels_last:
            self.to(memory_format=torch.channels_last)  # 4-D weights only; others have no such format
        if self.use_compile and not self._nets_compiled:
            for net in self.compiled_nets():
                # nn.Module.compile compiles __call__ in place: no OptimizedModule wrapper, so no
                # "_orig_mod." in the state_dict keys; checkpoints load with or without the switch
                net.compile()
            self._nets_compiled = True

    def setup(self, stage: str) -> None:
        # Checkpoints of zoo models are written whole (temp file + rename): see zoo/checkpoint_io.py
        install_atomic_checkpoint_io(self.trainer)

    # -- optimizers ------------------------------------------------------------------------------------
    def base_hparams(self) -> dict[str, Any]:
        """The base's arguments as stored in the hyperparameters, defaults filled in (so a checkpoint records
        what was used, whether or not a subclass forwarded them by name): the optimizer and scheduler specs
        and the speed switches. A base with other arguments (the players engine) extends this."""
        return {"optimizer": self.optimizer_spec, "lr_scheduler": self.lr_scheduler_spec,
                "channels_last": self.use_channels_last, "compile": self.use_compile}

    def configure_optimizers(self) -> Any:
        optimizer = from_spec(self.optimizer_spec, ADAM)(self.parameters())
        if self.lr_scheduler_spec is None:
            return optimizer
        scheduler = from_spec(self.lr_scheduler_spec, {})(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    # -- files -----------------------------------------------------------------------------------------
    def file_record(self) -> dict[str, Any]:
        """What a checkpoint or weights file records beside the tensors so ``zoo.load`` can rebuild the model:
        the registry name (how the class is found), the class path (for people) and the format version."""
        return {"model": name_of_class(type(self)), "class_path": class_path(type(self)), "format": FILE_FORMAT}

    @classmethod
    def upgrade_hparams(cls, hparams: dict[str, Any], version: int) -> dict[str, Any]:
        """Hyperparameters saved by format ``version`` (< FILE_FORMAT) as this code names them."""
        return hparams

    @classmethod
    def upgrade_state_dict(cls, state_dict: dict[str, torch.Tensor], version: int) -> dict[str, torch.Tensor]:
        """A state dict saved by format ``version`` (< FILE_FORMAT) with this code's keys."""
        return state_dict

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint of diverged weights is refused before it is written, so last.ckpt stays the last finite one
        bad = non_finite_tensors(checkpoint["state_dict"])
        if bad:
            raise DivergenceError(
                f"training diverged by step {self.global_step} (epoch {self.current_epoch}): {bad[0]} (and "
                f"{len(bad) - 1} more tensors) are not finite; not saved. Likely a learning rate too high "
                f"({self._learning_rates()}); the last checkpoint written (last.ckpt) is the last finite one"
            )
        # with every random number generator a run draws from, so a resumed run continues the same streams
        checkpoint[CHECKPOINT_KEY] = {**self.file_record(), "rng": rng_states()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning calls this before it loads the state dict (resume with --ckpt_path, load_from_checkpoint)
        record = checkpoint.get(CHECKPOINT_KEY, {})
        version = int(record.get("format", 1))
        if version < FILE_FORMAT:
            checkpoint["state_dict"] = self.upgrade_state_dict(dict(checkpoint["state_dict"]), version)
        self._rng_to_restore = record.get("rng")  # set in on_train_start, once the fit has restored everything

    def on_train_start(self) -> None:
        # A resumed fit continues the random streams of the run it resumes: together with the data orders,
        # which depend on (seed, epoch) only, a resumed CPU run is bit-identical to an uninterrupted one.
        # (Lightning's sanity check runs before this, on a copy of the generators' states.)
        rng = getattr(self, "_rng_to_restore", None)
        if rng is not None:
            restore_rng_states(rng)
            self._rng_to_restore = None

    def extra_grids(self, *, nrow: int, generator: torch.Generator | None = None
                    ) -> dict[str, tuple[torch.Tensor, int]]:
        """Method-specific image grids a run writes beside its samples (zoo.callbacks.ImageGrids), e.g.
        InfoGAN's code traversals: ``{name: (images in [0, 1] (N, C, H, W), images per row)}``; none here."""
        return {}


class GenerativeModel(ZooModule):
    """A model that samples images: ``sample(n, *, generator=None)`` -> (n, C, H, W) in [0, 1]."""

    capabilities = frozenset({SAMPLE})

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from the model, float in [0, 1], shape (n, C, H, W)."""
        raise NotImplementedError


class GaussianCodeMixin:
    """The code contract of a model with ``latent_dim``, ``encode``, ``decode`` and ``randn`` whose prior is
    N(0, I) (BiGAN, VAE-GAN, AVB): ``forward`` and ``reconstruct`` are decode(encode(x)), ``sample`` decodes
    z ~ N(0, I); images in [0, 1]."""

    latent_dim: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)): images (N, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x))  # type: ignore[attr-defined]

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """decode(z) for z ~ N(0, I): n images in [0, 1]."""
        return self.decode(self.randn(n, self.latent_dim, generator=generator))  # type: ignore[attr-defined]

    # not a ZooModule subclass, so __init_subclass__ does not see these: the boundary checks, applied here
    reconstruct = _checked(reconstruct, CHECKED_INPUTS["reconstruct"])
    sample = _checked(sample, CHECKED_INPUTS["sample"])


class LatentVariableModel(GenerativeModel):
    """A method with a code z: an encoder from images and a decoder back to them.

    Contract: ``latent_dim``; ``encode(x) -> (N, latent_dim)``; ``decode(z) -> (N, C, H, W)`` in [0, 1];
    ``reconstruct(x)``. The encoder is built to output ``encoder_features_per_latent * latent_dim``
    features (a Gaussian posterior needs 2: mu and log sigma^2), the decoder to map ``latent_dim``
    features to ``in_shape``; both default to MLPs.
    """

    capabilities = frozenset({SAMPLE, ENCODE, DECODE, RECONSTRUCT})
    encoder_features_per_latent: int = 1

    def __init__(
        self,
        *,
        in_shape: Sequence[int],
        latent_dim: int,
        encoder: EncoderFactory | None,
        decoder: DecoderFactory | None,
        optimizer: OptimizerCallable | None,
        lr_scheduler: LRSchedulerCallable | None,
        channels_last: bool,
        compile: bool,
    ) -> None:
        super().__init__(
            in_shape=in_shape,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
            channels_last=channels_last,
            compile=compile,
        )
        if latent_dim < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = latent_dim
        make_encoder = from_spec(to_spec(encoder, "encoder"), MLP_NETS["encoder"])
        make_decoder = from_spec(to_spec(decoder, "decoder"), MLP_NETS["decoder"])
        self.encoder = make_encoder(self.in_shape, self.encoder_features_per_latent * latent_dim)
        self.decoder = make_decoder(latent_dim, self.in_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)): images (N, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x))


def rng_states() -> dict[str, Any]:
    """The states of every random number generator a run draws from (torch CPU and CUDA, NumPy, Python), as
    tensors and plain values, so a checkpoint holding them still loads with ``weights_only=True``."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(state), "gauss": gauss},
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put back the generator states :func:`rng_states` took."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy = states["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["cached_gaussian"]))
    python = states["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))


def non_finite_tensors(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of a state dict that hold nan or inf."""
    return [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def init_arguments(cls: type) -> set[str]:
    """The keyword arguments ``cls(...)`` accepts: its ``__init__``'s, and while an ``__init__`` passes
    ``**kwargs`` on to ``super().__init__``, those of the next class in the MRO that defines one."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {"self"}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return names


def _plain(value: Any, name: str) -> Any:
    """``value`` as YAML/JSON-able builtins, or a ConfigError naming the hyperparameter."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{name}.{k}") for k, v in value.items()}
    raise ConfigError(
        f"hyperparameter {name}={value!r} is not a plain value (str, number, bool, list, dict); "
        "pass nets and optimizers as factories (a class, functools.partial, or a class_path dict), not instances"
    )

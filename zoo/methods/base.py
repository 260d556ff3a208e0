"""What every method shares: the image contract, injected optimizers, plain hyperparameters, loadable checkpoints.

A method subclasses ``GenerativeModel`` and holds only its objective and the nets it builds. The base:

- validates ``in_shape`` and every training batch against it (a clear error instead of a shape mismatch
  deep inside a conv);
- builds the optimizer (and optional LR scheduler) from injected factories, LightningCLI's
  ``OptimizerCallable`` pattern, so a recipe swaps Adam for RMSProp without touching the method;
- stores hyperparameters as plain values only (factories become ``{"class_path", "init_args"}`` dicts,
  see zoo/factories.py), so a checkpoint loads under ``torch.load(weights_only=True)`` and through
  ``Method.load_from_checkpoint`` alike;
- records the method's class path in the checkpoint, so ``zoo.load(path)`` needs no other hint;
- holds two speed switches every method gets, both off by default: ``channels_last`` (NHWC weights and
  batches, the layout tensor-core GPUs and oneDNN's CPU convolutions prefer) and ``compile``
  (``torch.compile`` of the nets, in place, so the state_dict keys, checkpoints and safetensors files stay
  the same). Either changes the float rounding of a run (not its math); a checkpoint saved with either
  loads into a model without it and back. ``benchmarks/speed.py --channels-last --compile`` measures them.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from zoo.errors import ConfigError
from zoo.factories import Spec, class_path, from_spec, to_spec
from zoo.images import ImageShape, check_images, image_shape
from zoo.nets import MLP_NETS, DecoderFactory, EncoderFactory

ADAM = {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}}
Batch = torch.Tensor | Sequence[torch.Tensor]


class GenerativeModel(L.LightningModule):
    """Base of every zoo method. Subclasses implement ``sample`` and the Lightning steps.

    Args:
        in_shape: (C, H, W) of the images the model reads and writes (values in [0, 1]).
        optimizer: factory ``params -> Optimizer`` (a class, a partial, or a class_path spec); each method
            passes its paper's default as ``default_optimizer``.
        lr_scheduler: optional factory ``optimizer -> LRScheduler``, stepped once per epoch.
        default_optimizer: the paper's optimizer spec, used when ``optimizer`` is None; None for a method
            that builds several optimizers itself (see ``optimizer_hparams``).
        channels_last: train in the channels-last (NHWC) memory format: weights and batches are converted
            when a Trainer sets the model up (``configure_model``, ``on_after_batch_transfer``).
        compile: ``torch.compile`` the nets (``compiled_nets``) in place when a Trainer sets the model up;
            the first steps are slow while it compiles (needs a C++ compiler on CPU).
    """

    #: keys of the checkpoint dict this class adds
    CHECKPOINT_KEY = "zoo"

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

    # -- hyperparameters -------------------------------------------------------------------------------
    def save_plain_hyperparameters(self, **factories: Any) -> None:
        """``save_hyperparameters`` for the calling ``__init__``, with every value made plain.

        Call it at the end of the subclass ``__init__``; pass the injected factories by name
        (``encoder=encoder``) so they are stored as class_path specs.
        """
        frame = inspect.currentframe()
        assert frame is not None and frame.f_back is not None
        # Under LightningCLI this stores the CLI's resolved config (plus its _class_path/_instantiator keys,
        # which let Lightning's load_from_checkpoint rebuild injected modules); otherwise the init arguments.
        self.save_hyperparameters(frame=frame.f_back)
        for name, factory in factories.items():
            self.hparams[name] = to_spec(factory, name)
        self.hparams.update(self.optimizer_hparams())
        # in_shape is linked from the data by the CLI after parsing, so the CLI's config may not hold it
        self.hparams["in_shape"] = list(self.in_shape)
        for name, value in list(self.hparams.items()):
            self.hparams[name] = _plain(value, name)

    # -- the contract ----------------------------------------------------------------------------------
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from the model, float in [0, 1], shape (n, C, H, W)."""
        raise NotImplementedError

    # -- helpers for subclasses ------------------------------------------------------------------------
    def images(self, batch: Batch) -> torch.Tensor:
        """The images of a batch (``x`` or ``(x, y, ...)``), checked against ``in_shape``."""
        x = batch if isinstance(batch, torch.Tensor) else batch[0]
        return check_images(x, self.in_shape)

    def randn(self, *shape: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard normal noise on this model's device and dtype.

        Drawn on the generator's device and then moved, so a seeded CPU generator gives the same
        samples whether the model sits on CPU or GPU."""
        device = generator.device if generator is not None else self.device
        return torch.randn(shape, generator=generator, device=device).to(self.device, self.dtype)

    def logging_step(self) -> bool:
        """Whether Lightning writes the logs after this training batch (every ``log_every_n_steps`` batches).

        Training diagnostics beyond the loss (which the progress bar shows) are logged only then: each
        ``self.log`` costs about a millisecond on CPU (Lightning moves its result object to the value's
        device on every call), and three of them were 4% of a DCGAN step on Fashion-MNIST-sized batches
        (benchmarks/speed.py: ratio to a hand-written loop 0.96 -> 1.0). The logged values are the same,
        since Lightning writes step metrics only on those batches."""
        trainer = self._trainer
        if trainer is None:
            return True
        # Lightning's own test (LoggerConnector.should_update_logs: every log_every_n_steps batches, and at
        # the end); not public API, so a Lightning without it logs every batch
        return bool(getattr(getattr(trainer, "_logger_connector", None), "should_update_logs", True))

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

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        if not self.use_channels_last:
            return batch
        if isinstance(batch, torch.Tensor):
            return _to_channels_last(batch)
        return type(batch)(_to_channels_last(t) if isinstance(t, torch.Tensor) else t for t in batch)

    # -- optimizers ------------------------------------------------------------------------------------
    def optimizer_hparams(self) -> dict[str, Spec | None]:
        """The optimizer and scheduler specs as stored in the hyperparameters (defaults filled in, so a
        checkpoint records what was used). A method with several optimizers (a GAN) overrides this."""
        return {"optimizer": self.optimizer_spec, "lr_scheduler": self.lr_scheduler_spec}

    def configure_optimizers(self) -> Any:
        optimizer = from_spec(self.optimizer_spec, ADAM)(self.parameters())
        if self.lr_scheduler_spec is None:
            return optimizer
        scheduler = from_spec(self.lr_scheduler_spec, {})(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    # -- checkpoints -----------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[self.CHECKPOINT_KEY] = {"class_path": class_path(type(self))}


class LatentVariableModel(GenerativeModel):
    """A method with a code z: an encoder from images and a decoder back to them.

    Contract: ``latent_dim``; ``encode(x) -> (N, latent_dim)``; ``decode(z) -> (N, C, H, W)`` in [0, 1];
    ``reconstruct(x)``. The encoder is built to output ``encoder_features_per_latent * latent_dim``
    features (a Gaussian posterior needs 2: mu and log sigma^2), the decoder to map ``latent_dim``
    features to ``in_shape``; both default to MLPs.
    """

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


def _to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """A batch of images (N, C, H, W) in the channels-last memory format; other tensors (labels) as they are."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


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

"""The adversarial engine every GAN-family method stands on.

A method subclasses ``AdversarialModel`` and writes only its objective (``discriminator_loss``,
``generator_loss``, optionally ``discriminator_penalty`` and ``after_discriminator_step``) and its default
nets and optimizers. The engine owns the training loop (Lightning manual optimization):

- **Schedule.** One ``training_step`` = one discriminator (critic) update on this batch; the generator is
  updated after every ``n_critic``-th critic update. Each critic update therefore sees a fresh real batch
  (WGAN-GP, Algorithm 1; Goodfellow et al.'s k steps of D per step of G). The counts are buffers, so they
  survive checkpoints and a resumed run keeps the same phase. Lightning's ``global_step`` counts
  *optimizer* steps (2 per batch when G steps): recipes size training in epochs or batches, and the
  engine logs ``train/generator_steps`` explicitly.
- **Images.** Public images are in [0, 1]; the nets see [-1, 1] (``zoo.images.to_signed``), and the
  generator's output goes through tanh (DCGAN's output layer) — nets themselves stay unbounded.
- **Options every GAN gets.** ``ema_decay``: an exponential moving average of the generator's weights
  (and batch-norm statistics), used by ``sample``/``decode`` when enabled (Karras et al. 2018,
  arXiv:1710.10196; Yazici et al. 2019, arXiv:1806.04498). ``gradient_clip_val``: norm clipping of both
  players' gradients through ``self.clip_gradients``. One-sided label smoothing is an option of the methods
  with a BCE discriminator (it has no meaning for a critic).
- **Mixed precision.** Clipping happens in ``on_before_optimizer_step``: Lightning's 16-mixed plugin
  unscales the gradients just before that hook, so the threshold acts on true gradients. The gradient
  penalty's ``autograd.grad`` is scaled by the trainer's grad scaler when there is one
  (``loss_scale``; see ``zoo.losses.gradient_penalty``). Under bf16-mixed there is no scaler and none is
  needed (bf16 has float32's exponent range).
- **DDP.** A critic update leaves the generator's parameters out of the graph (and vice versa), so DDP
  must be told to expect unused parameters; ``setup`` turns ``find_unused_parameters`` on for a DDP
  strategy. Lightning calls ``prepare_for_backward`` before each ``manual_backward``, so both updates of a
  batch sync their gradients. The gradient penalty differentiates with respect to the *inputs* only, so it
  does not fire DDP's parameter hooks early.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from zoo.errors import ConfigError
from zoo.factories import Spec, from_spec, to_spec
from zoo.images import to_signed, to_unit
from zoo.methods.base import Batch, GenerativeModel
from zoo.nets import DecoderFactory, EncoderFactory


class AdversarialModel(GenerativeModel):
    """Base of the GAN family: a generator G(z) and a discriminator (critic) D(x) trained in turns.

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: dimension of z ~ N(0, I).
        generator: factory ``(latent_dim, in_shape) -> nn.Module`` (a decoder: unbounded output).
        discriminator: factory ``(in_shape, 1) -> nn.Module`` (an encoder: one score per image).
        n_critic: discriminator updates per generator update (>= 1).
        ema_decay: decay of the EMA of the generator's weights (e.g. 0.999), or None for no EMA.
        gradient_clip_val: max gradient norm for both players, or None.
        generator_optimizer, discriminator_optimizer: factories ``params -> Optimizer``.
        generator_lr_scheduler, discriminator_lr_scheduler: factories ``optimizer -> LRScheduler``,
            stepped once per epoch.
        default_nets: ``{"generator": spec, "discriminator": spec}`` used when a net is None.
        default_optimizer: spec used when an optimizer is None (the paper's).
        channels_last, compile: speed switches (see ``GenerativeModel``).
    """

    def __init__(
        self,
        *,
        in_shape: Sequence[int],
        latent_dim: int,
        generator: DecoderFactory | None,
        discriminator: EncoderFactory | None,
        n_critic: int,
        ema_decay: float | None,
        gradient_clip_val: float | None,
        generator_optimizer: OptimizerCallable | None,
        discriminator_optimizer: OptimizerCallable | None,
        generator_lr_scheduler: LRSchedulerCallable | None,
        discriminator_lr_scheduler: LRSchedulerCallable | None,
        default_nets: dict[str, Spec],
        default_optimizer: Spec,
        channels_last: bool,
        compile: bool,
    ) -> None:
        super().__init__(in_shape=in_shape, default_optimizer=None, channels_last=channels_last, compile=compile)
        self.automatic_optimization = False  # alternating D/G updates and n_critic: the engine steps by hand
        if latent_dim < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {latent_dim}")
        if n_critic < 1:
            raise ConfigError(f"n_critic must be >= 1, got {n_critic}")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1) (e.g. 0.999) or None, got {ema_decay}")
        if gradient_clip_val is not None and gradient_clip_val <= 0:
            raise ConfigError(f"gradient_clip_val must be > 0 or None, got {gradient_clip_val}")
        self.latent_dim = latent_dim
        self.n_critic = n_critic
        self.ema_decay = ema_decay
        self.gradient_clip_val = gradient_clip_val
        self.specs: dict[str, Spec | None] = {
            "generator_optimizer": to_spec(generator_optimizer, "generator_optimizer") or dict(default_optimizer),
            "discriminator_optimizer": to_spec(discriminator_optimizer, "discriminator_optimizer")
            or dict(default_optimizer),
            "generator_lr_scheduler": to_spec(generator_lr_scheduler, "generator_lr_scheduler"),
            "discriminator_lr_scheduler": to_spec(discriminator_lr_scheduler, "discriminator_lr_scheduler"),
        }
        for name, spec in self.specs.items():  # fail now, not at the first training step
            _check_lr(name, spec)
        make_generator = from_spec(to_spec(generator, "generator"), default_nets["generator"])
        make_discriminator = from_spec(to_spec(discriminator, "discriminator"), default_nets["discriminator"])
        self.generator = make_generator(latent_dim, self.in_shape)
        self.discriminator = make_discriminator(self.in_shape, 1)
        self.generator_ema: AveragedModel | None = None
        if ema_decay is not None:
            self.generator_ema = AveragedModel(
                self.generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True
            ).requires_grad_(False)
        # counts of updates, saved with the weights so a resumed run keeps its place in the n_critic cycle
        self.register_buffer("critic_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("generator_steps", torch.zeros((), dtype=torch.long))
        # a host-side copy for the schedule: testing the buffer would make the CPU wait for the GPU every batch
        self._critic_steps = 0

    # -- the objective: what a method defines ------------------------------------------------------------
    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """Per-sample loss (N,) the discriminator minimises, from its scores on real and generated images."""
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """Per-sample loss (N,) the generator minimises, from the discriminator's scores on G(z)."""
        raise NotImplementedError

    def discriminator_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """An extra term of the discriminator's loss (a scalar, already weighted), e.g. a gradient penalty;
        ``real`` and ``fake`` are in [-1, 1]. None by default."""
        return None

    def after_discriminator_step(self) -> None:
        """Called after each discriminator update (WGAN clips the critic's weights here)."""

    def score_metrics(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> dict[str, torch.Tensor]:
        """What to log of the scores; BCE discriminators log D(x) and D(G(z)) as probabilities."""
        return {"D(x)": torch.sigmoid(real_scores).mean(), "D(G(z))": torch.sigmoid(fake_scores).mean()}

    # -- the model -----------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) in [-1, 1], (N, C, H, W), with the training generator (not the EMA)."""
        return torch.tanh(self.generator(z))

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """D(x) as one score per image, (N,); x in [-1, 1]."""
        return self.discriminator(x).view(x.shape[0])

    @property
    def sampling_generator(self) -> nn.Module:
        """The net ``sample`` and ``decode`` use: the EMA generator when enabled."""
        return self.generator if self.generator_ema is None else self.generator_ema.module

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images G(z) in [0, 1], (N, C, H, W), from codes z (N, latent_dim)."""
        return to_unit(torch.tanh(self.sampling_generator(z.to(self.device, self.dtype))).float())

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z) for z ~ N(0, I), in [0, 1]."""
        return self.decode(self.randn(n, self.latent_dim, generator=generator))

    # -- training ------------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> None:
        real = to_signed(self.images(batch))
        n = real.shape[0]
        d_opt, g_opt = self.optimizers()

        # the critic update: G's output is a constant here (no graph through G)
        with self.toggled_optimizer(d_opt):
            with torch.no_grad():
                fake = self(self.randn(n, self.latent_dim))
            real_scores, fake_scores = self.scores(real), self.scores(fake)
            d_loss = self.discriminator_loss(real_scores, fake_scores).mean()
            penalty = self.discriminator_penalty(real, fake)
            total = d_loss if penalty is None else d_loss + penalty
            d_opt.zero_grad(set_to_none=True)
            self.manual_backward(total)
            d_opt.step()
        self.after_discriminator_step()
        self.critic_steps += 1
        self._critic_steps += 1
        self.log("train/d_loss", total.detach(), prog_bar=True)
        if self.logging_step():  # skip computing the scores' summaries on batches that log nothing
            self.log_diagnostics(self.score_metrics(real_scores, fake_scores))

        if self._critic_steps % self.n_critic == 0:
            with self.toggled_optimizer(g_opt):
                fake = self(self.randn(n, self.latent_dim))
                g_loss = self.generator_loss(self.scores(fake)).mean()
                g_opt.zero_grad(set_to_none=True)
                self.manual_backward(g_loss)
                g_opt.step()
            self.generator_steps += 1
            if self.generator_ema is not None:
                self.generator_ema.update_parameters(self.generator)
            self.log("train/g_loss", g_loss.detach(), prog_bar=True)
        self.log_diagnostics({"generator_steps": self.generator_steps.float()})

    def log_diagnostics(self, metrics: dict[str, torch.Tensor]) -> None:
        """Log ``train/<name>`` values on the batches Lightning writes logs for (see ``logging_step``).
        Methods log their extra terms here (WGAN-GP: the gradient penalty)."""
        if self.logging_step():
            self.log_dict({f"train/{k}": v.detach() for k, v in metrics.items()})

    def on_train_start(self) -> None:
        self._critic_steps = int(self.critic_steps)  # after a checkpoint restore, once per fit

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this after the backward and after unscaling (16-mixed), before the step
        if self.gradient_clip_val is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val, gradient_clip_algorithm="norm")

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: Batch, stage: str) -> None:
        """The discriminator's loss and scores on held-out real images and fresh samples: a D that scores
        training images far better than held-out ones is overfitting (Karras et al. 2020, arXiv:2006.06676)."""
        real = to_signed(self.images(batch))
        real_scores = self.scores(real)
        fake_scores = self.scores(self(self.randn(real.shape[0], self.latent_dim)))
        self.log(f"{stage}/d_loss", self.discriminator_loss(real_scores, fake_scores).mean(), sync_dist=True)
        metrics = self.score_metrics(real_scores, fake_scores)
        self.log_dict({f"{stage}/{k}": v for k, v in metrics.items()}, sync_dist=True)

    # -- optimizers ----------------------------------------------------------------------------------
    def optimizer_hparams(self) -> dict[str, Spec | None]:
        return dict(self.specs)

    def configure_optimizers(self) -> Any:
        d_opt = from_spec(self.specs["discriminator_optimizer"], {})(self.discriminator.parameters())
        g_opt = from_spec(self.specs["generator_optimizer"], {})(self.generator.parameters())
        schedulers = []
        for name, opt in (("discriminator_lr_scheduler", d_opt), ("generator_lr_scheduler", g_opt)):
            if self.specs[name] is not None:
                schedulers.append({"scheduler": from_spec(self.specs[name], {})(opt), "interval": "epoch"})
        return [d_opt, g_opt], schedulers

    # -- distributed ---------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        strategy = self.trainer.strategy
        if isinstance(strategy, DDPStrategy) and not strategy._ddp_kwargs.get("find_unused_parameters", False):
            # Lightning's documented remedy is strategy="ddp_find_unused_parameters_true"; a GAN always needs
            # it, so set it here (before the model is wrapped) rather than make every user remember it.
            strategy._ddp_kwargs["find_unused_parameters"] = True
            rank_zero_info("zoo: DDP with find_unused_parameters=True (alternating D/G updates use half the nets)")

    def loss_scale(self) -> float | None:
        """The trainer's current grad-scaler scale under 16-mixed, else None."""
        trainer = self._trainer
        scaler = getattr(trainer.precision_plugin, "scaler", None) if trainer is not None else None
        return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else None


def _check_lr(name: str, spec: Spec | None) -> None:
    lr = (spec or {}).get("init_args", {}).get("lr")
    if isinstance(lr, (int, float)) and lr <= 0:
        raise ConfigError(f"{name} lr must be > 0, got {lr}")

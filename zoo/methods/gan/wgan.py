"""Wasserstein GAN: Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017, arXiv:1701.07875.

The critic f (no sigmoid) estimates W(P_r, P_g) = max_{||f||_L <= 1} E_x[f(x)] - E_z[f(G(z))]; the generator
minimises -E_z[f(G(z))]. Lipschitz continuity is enforced crudely by **clipping the critic's weights** to
[-c, c] after every critic update (Algorithm 1, c = 0.01). The critic is trained n_critic = 5 times per
generator step with RMSProp (lr 5e-5): the paper found momentum-based optimizers unstable here (Sec. 4).

Deviations from the paper:
- The paper trains the critic 100 times per generator step for the first 25 generator iterations and
  every 500th; this implementation keeps n_critic constant.
- Nets are DCGAN's (zoo/nets/dcgan.py) with batch norm, as the paper's DCGAN experiments; z ~ N(0, I).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.errors import ConfigError
from zoo.losses import wasserstein_critic_loss, wasserstein_generator_loss
from zoo.methods.gan.base import AdversarialModel
from zoo.methods.gan.dcgan import DCGAN_NETS
from zoo.nets import DecoderFactory, EncoderFactory
from zoo.registry import register_model

RMSPROP = {"class_path": "torch.optim.RMSprop", "init_args": {"lr": 5e-5}}


class WassersteinObjective:
    """The Wasserstein losses, shared by WGAN and WGAN-GP (they differ only in how f is kept Lipschitz)."""

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return wasserstein_critic_loss(real_scores, fake_scores)

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return wasserstein_generator_loss(fake_scores)

    def score_metrics(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> dict[str, torch.Tensor]:
        # the critic's estimate of W(P_r, P_g) on this batch: the quantity WGAN plots as a loss curve
        return {"wasserstein_estimate": real_scores.mean() - fake_scores.mean()}


class WGAN(WassersteinObjective, AdversarialModel):
    """WGAN with weight clipping.

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: dimension of z.
        generator, discriminator: net factories; the discriminator is the critic f. Default DCGAN nets.
        clip_value: c, the critic's weights are clamped to [-c, c] after each update (0.01).
        n_critic: critic updates per generator update (5).
        ema_decay, gradient_clip_val: engine options (see ``AdversarialModel``).
        generator_optimizer, discriminator_optimizer, *_lr_scheduler: factories; default RMSProp, lr 5e-5.
        channels_last, compile: speed switches, off by default (see ``GenerativeModel``).
    """

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 100,
        generator: DecoderFactory | None = None,
        discriminator: EncoderFactory | None = None,
        clip_value: float = 0.01,
        n_critic: int = 5,
        ema_decay: float | None = None,
        gradient_clip_val: float | None = None,
        generator_optimizer: OptimizerCallable | None = None,
        discriminator_optimizer: OptimizerCallable | None = None,
        generator_lr_scheduler: LRSchedulerCallable | None = None,
        discriminator_lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        if clip_value <= 0:
            raise ConfigError(f"clip_value must be > 0 (the paper uses 0.01), got {clip_value}")
        super().__init__(
            in_shape=in_shape,
            latent_dim=latent_dim,
            generator=generator,
            discriminator=discriminator,
            n_critic=n_critic,
            ema_decay=ema_decay,
            gradient_clip_val=gradient_clip_val,
            generator_optimizer=generator_optimizer,
            discriminator_optimizer=discriminator_optimizer,
            generator_lr_scheduler=generator_lr_scheduler,
            discriminator_lr_scheduler=discriminator_lr_scheduler,
            channels_last=channels_last,
            compile=compile,
            default_nets=DCGAN_NETS,
            default_optimizer=RMSPROP,
        )
        self.clip_value = clip_value
        self.save_plain_hyperparameters(generator=generator, discriminator=discriminator)

    @torch.no_grad()
    def after_discriminator_step(self) -> None:
        for p in self.discriminator.parameters():
            p.clamp_(-self.clip_value, self.clip_value)


@register_model
def wgan(**kwargs) -> WGAN:
    """WGAN with DCGAN nets, weight clipping c = 0.01, RMSProp 5e-5, n_critic = 5."""
    return WGAN(**kwargs)

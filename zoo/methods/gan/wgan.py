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

from typing import Any

import torch

from zoo.errors import ConfigError
from zoo.losses import wasserstein_critic_loss, wasserstein_generator_loss
from zoo.methods.base import Terms
from zoo.methods.gan.base import TwoPlayerGAN
from zoo.methods.gan.dcgan import DCGAN_NETS
from zoo.methods.players import Player
from zoo.registry import Paper, register_model

RMSPROP = {"class_path": "torch.optim.RMSprop", "init_args": {"lr": 5e-5}}


class WassersteinObjective:
    """The Wasserstein losses, shared by WGAN and WGAN-GP (they differ only in how f is kept Lipschitz)."""

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return wasserstein_critic_loss(real_scores, fake_scores)

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return wasserstein_generator_loss(fake_scores)

    def score_metrics(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> Terms:
        # the critic's estimate of W(P_r, P_g) on this batch: the quantity WGAN plots as a loss curve
        return {"wasserstein_estimate": real_scores.mean() - fake_scores.mean()}


class WGAN(WassersteinObjective, TwoPlayerGAN):
    """WGAN with weight clipping: the critic is the ``discriminator`` player, its weights clamped to [-c, c]
    after each of its updates.

    Args:
        latent_dim: dimension of z (100).
        clip_value: c (0.01).
        n_critic: critic updates per generator update (5).
        **kwargs: ``in_shape``, the nets (default DCGAN nets) and the engine's options (see ``TwoPlayerGAN``);
            default optimizers RMSProp, lr 5e-5.
    """

    paper = Paper("Wasserstein GAN", "Arjovsky et al.", 2017, "1701.07875")
    players = {
        **TwoPlayerGAN.players,
        "discriminator": Player(("discriminator",), clip_weights="clip_value", log_as="d"),
    }
    default_nets = DCGAN_NETS
    default_optimizers = {"discriminator": RMSPROP, "generator": RMSPROP}

    def __init__(self, *, latent_dim: int = 100, clip_value: float = 0.01, n_critic: int = 5, **kwargs: Any) -> None:
        if clip_value <= 0:
            raise ConfigError(f"clip_value must be > 0 (the paper uses 0.01), got {clip_value}")
        super().__init__(latent_dim=latent_dim, n_critic=n_critic, **kwargs)
        self.clip_value = clip_value


@register_model
def wgan(**kwargs) -> WGAN:
    """WGAN with DCGAN nets, weight clipping c = 0.01, RMSProp 5e-5, n_critic = 5."""
    return WGAN(**kwargs)

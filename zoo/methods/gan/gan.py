"""Generative adversarial nets: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661.

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]

D is trained on the binary cross-entropy of real against generated images; G minimises either the
minimax objective ``log(1 - D(G(z)))`` or, as the paper recommends in practice (Sec. 3), the
non-saturating ``-log D(G(z))``, which has the same fixed point but strong gradients while D rejects G's
samples. ``n_critic`` is the paper's k: discriminator steps per generator step (Algorithm 1; k = 1 there).

Deviations from the paper:
- Both nets are ReLU / LeakyReLU(0.2) MLPs (G: 256-512, D: 512-256) instead of maxout D with dropout;
  G ends in tanh on [-1, 1] images instead of a sigmoid on [0, 1].
- Adam (lr 2e-4, betas (0.5, 0.999), as DCGAN) instead of SGD with momentum.
- z ~ N(0, I) of dimension 64 instead of uniform noise.
- ``label_smoothing`` (one-sided, Salimans et al. 2016, arXiv:1606.03498) is off by default; 0.1 gives the
  lecture's ``cross_entropy(.9, D(x))``.
"""
from __future__ import annotations

from typing import Any, Literal

import torch

from zoo.errors import ConfigError
from zoo.losses import (
    discriminator_loss,
    generator_minimax_loss,
    generator_non_saturating_loss,
)
from zoo.methods.gan.base import TwoPlayerGAN
from zoo.registry import Paper, register_model

GeneratorLoss = Literal["non_saturating", "minimax"]
GENERATOR_LOSSES = {"non_saturating": generator_non_saturating_loss, "minimax": generator_minimax_loss}
ADAM_DCGAN = {"class_path": "torch.optim.Adam", "init_args": {"lr": 2e-4, "betas": [0.5, 0.999]}}
MLP_GAN_NETS = {
    "generator": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [256, 512]}},
    "discriminator": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [512, 256], "activation": "leaky_relu"}},
}


class GAN(TwoPlayerGAN):
    """The original GAN: BCE discriminator, minimax or non-saturating generator loss.

    Args:
        latent_dim: dimension of z (64).
        generator_loss: ``"non_saturating"`` (default) or ``"minimax"``.
        label_smoothing: one-sided label smoothing: the real target is ``1 - label_smoothing`` (0.1 -> 0.9),
            the fake target stays 0. In [0, 1).
        n_critic: discriminator steps per generator step (the paper's k).
        **kwargs: ``in_shape``, the nets (default MLPs) and the engine's options (see ``TwoPlayerGAN``);
            default optimizers Adam 2e-4, (0.5, 0.999).
    """

    paper = Paper("Generative adversarial nets", "Goodfellow et al.", 2014, "1406.2661")
    default_nets = MLP_GAN_NETS
    default_optimizers = {"discriminator": ADAM_DCGAN, "generator": ADAM_DCGAN}

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        generator_loss: GeneratorLoss = "non_saturating",
        label_smoothing: float = 0.0,
        n_critic: int = 1,
        **kwargs: Any,
    ) -> None:
        if generator_loss not in GENERATOR_LOSSES:
            raise ConfigError(f"unknown generator_loss {generator_loss!r}; choose one of {tuple(GENERATOR_LOSSES)}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(
                f"label_smoothing must be in [0, 1) (0.1 gives real targets of 0.9), got {label_smoothing}"
            )
        super().__init__(latent_dim=latent_dim, n_critic=n_critic, **kwargs)
        self.generator_loss_name, self.label_smoothing = generator_loss, label_smoothing

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return discriminator_loss(real_scores, fake_scores, real_target=1.0 - self.label_smoothing)

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return GENERATOR_LOSSES[self.generator_loss_name](fake_scores)


@register_model
def gan(**kwargs) -> GAN:
    """GAN with MLP nets and the non-saturating generator loss."""
    return GAN(**kwargs)


@register_model(recipe="recipes/gan/digits.yaml")
def gan_minimax(**kwargs) -> GAN:
    """GAN with the saturating minimax generator loss log(1 - D(G(z))), for comparison."""
    return GAN(**{"generator_loss": "minimax", **kwargs})

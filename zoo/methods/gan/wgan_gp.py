"""WGAN-GP: Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, arXiv:1704.00028.

WGAN (zoo/methods/gan/wgan.py) with the weight clipping replaced by a **gradient penalty** (Eq. 3):

    L = E[f(G(z))] - E[f(x)] + lambda * E_x_hat[(||grad f(x_hat)||_2 - 1)^2],
    x_hat = eps x + (1 - eps) G(z),  eps ~ U[0, 1], one eps per sample,

with lambda = 10, n_critic = 5, Adam (lr 1e-4, betas (0, 0.9)) (Algorithm 1), and **no batch norm in the
critic** (Sec. 4: the penalty is per sample, and batch norm couples the samples of a batch); layer
normalisation is used instead, as the paper recommends.

Deviations from the paper:
- Nets are DCGAN's (zoo/nets/dcgan.py) with layer norm in the critic rather than the paper's ResNets.
- z ~ N(0, I) of dimension 100 (128 in the paper's code).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.errors import ConfigError
from zoo.losses import gradient_penalty, interpolate
from zoo.methods.base import Terms
from zoo.methods.gan.base import TwoPlayerGAN
from zoo.methods.gan.wgan import WassersteinObjective
from zoo.registry import Paper, register_model

ADAM_WGAN_GP = {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-4, "betas": [0.0, 0.9]}}
WGAN_GP_NETS = {
    "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 64}},
    "discriminator": {"class_path": "zoo.nets.DCGANDiscriminator", "init_args": {"width": 64, "norm": "layer"}},
}


class WGANGP(WassersteinObjective, TwoPlayerGAN):
    """WGAN with gradient penalty.

    Args:
        latent_dim: dimension of z (100).
        penalty_weight: lambda, the gradient penalty's coefficient (10).
        n_critic: critic updates per generator update (5).
        **kwargs: ``in_shape``, the nets (default DCGAN nets with layer norm in the critic; avoid batch norm
            there) and the engine's options (see ``TwoPlayerGAN``); default optimizers Adam 1e-4, (0, 0.9).
    """

    paper = Paper("Improved training of Wasserstein GANs", "Gulrajani et al.", 2017, "1704.00028")
    default_nets = WGAN_GP_NETS
    default_optimizers = {"discriminator": ADAM_WGAN_GP, "generator": ADAM_WGAN_GP}

    def __init__(
        self, *, latent_dim: int = 100, penalty_weight: float = 10.0, n_critic: int = 5, **kwargs: Any
    ) -> None:
        if penalty_weight < 0:
            raise ConfigError(f"penalty_weight must be >= 0 (the paper uses 10), got {penalty_weight}")
        super().__init__(latent_dim=latent_dim, n_critic=n_critic, **kwargs)
        self.penalty_weight = penalty_weight

    def compiled_nets(self) -> list[nn.Module]:
        # The penalty backpropagates through the critic's input gradient (a double backward), which
        # torch.compile's autograd does not support: ``compile=True`` compiles the generator only.
        return [self.generator]

    def discriminator_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> Terms:
        eps = torch.rand(real.shape[0], device=real.device)  # one coefficient per sample
        penalty = gradient_penalty(self.scores, interpolate(real, fake, eps), scale=self.loss_scale()).mean()
        return {"loss": self.penalty_weight * penalty, "gradient_penalty": penalty}


@register_model
def wgan_gp(**kwargs) -> WGANGP:
    """WGAN-GP with DCGAN nets (layer-norm critic), lambda = 10, Adam 1e-4 (0, 0.9), n_critic = 5."""
    return WGANGP(**kwargs)

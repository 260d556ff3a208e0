"""InfoGAN's discriminator with an auxiliary head Q (Chen et al. 2016, arXiv:1606.03657, Sec. 5 and App. C).

D and Q share one convolutional body; D reads a real/fake logit off it, Q the parameters of
Q(c | x): logits of each categorical code and the means of the continuous ones (a factored Gaussian of fixed
standard deviation 1, as the authors' MNIST setup; see zoo/methods/gan/infogan.py).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo.nets.dcgan import INIT_STD, LEAK, DCGANDiscriminator, Norm
from zoo.nets.layers import positive


class InfoGANDiscriminator(nn.Module):
    """(N, C, H, W) -> (N, out_features) logit through ``body`` (DCGAN's conv stack, ending in ``features`` units) and ``head``;
    ``features(x)`` exposes the shared body for the Q head.

    Args:
        in_shape: (C, H, W) of the images (values in [-1, 1]).
        out_features: 1 (a real/fake logit).
        features: width of the shared representation (the paper's 1024-unit FC layer).
        width, norm: DCGAN's (see ``DCGANDiscriminator``).
    """

    def __init__(self, in_shape: Sequence[int], out_features: int = 1, *, features: int = 1024, width: int = 64, norm: Norm = "batch") -> None:
        super().__init__()
        self.features_dim = positive("features", features)
        self.body = nn.Sequential(DCGANDiscriminator(in_shape, features, width=width, norm=norm), nn.LeakyReLU(LEAK))
        self.head = nn.Linear(features, positive("out_features", out_features))
        nn.init.normal_(self.head.weight, 0.0, INIT_STD)
        nn.init.zeros_(self.head.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (N, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (N, out_features)


class QHead(nn.Module):
    """Shared features (N, features) -> (N, out_features): the parameters of Q(c | x) (App. C: an FC layer
    of 128 units, then the code parameters)."""

    def __init__(self, features: int, out_features: int, *, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(positive("features", features), positive("hidden", hidden)),
                                 nn.LeakyReLU(LEAK), nn.Linear(hidden, positive("out_features", out_features)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)

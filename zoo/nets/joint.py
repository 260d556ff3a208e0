"""A discriminator of (image, code) pairs, D(x, z): BiGAN's (Donahue et al. 2017, arXiv:1605.09782, Sec. 3) and
ALI's (Dumoulin et al. 2017, arXiv:1606.00704, Sec. 3.1) joint discriminator.

An encoder net reads x into ``x_features`` features; a fully connected net reads the concatenation
[features(x) ; z] into ``out_features`` scores. ALI's discriminators drop out units (rate 0.2) against the
discriminator memorising pairs; ``dropout`` does that in the joint layers.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from zoo.factories import from_spec
from zoo.nets.layers import activation_layer, positive

X_NET = {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [512]}}


class JointDiscriminator(nn.Module):
    """(x (N, C, H, W), z (N, latent_dim)) -> (N, out_features).

    Args:
        in_shape: (C, H, W) of x.
        latent_dim: dimension of z.
        out_features: scores per pair (1).
        x_net: factory spec ``(in_shape, x_features) -> nn.Module`` of the image branch (an ``MLPEncoder`` with one
            512-unit layer by default; a ``ConvEncoder`` or ``DCGANDiscriminator`` for conv nets).
        x_features: width of the image branch's output.
        hidden: widths of the joint layers on [features(x) ; z].
        activation: of the joint layers (and after the image branch).
        dropout: dropout rate in the joint layers (0.2, ALI's).
    """

    def __init__(self, in_shape: Sequence[int], latent_dim: int, out_features: int = 1, *,
                 x_net: dict[str, Any] | None = None, x_features: int = 512, hidden: Sequence[int] = (512,),
                 activation: str = "leaky_relu", dropout: float = 0.2) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            from zoo.errors import ConfigError

            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        self.x_net = from_spec(x_net, X_NET)(in_shape, positive("x_features", x_features))
        layers: list[nn.Module] = [activation_layer(activation)]
        width = x_features + positive("latent_dim", latent_dim)
        for h in hidden:
            layers += [nn.Dropout(dropout), nn.Linear(width, positive("hidden", h)), activation_layer(activation)]
            width = h
        layers += [nn.Dropout(dropout), nn.Linear(width, positive("out_features", out_features))]
        self.joint = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.x_net(x), z.flatten(1)], 1))

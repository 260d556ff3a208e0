"""Fully connected encoder and decoder (the nets of Kingma & Welling 2013, Appendix C: "MLPs")."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo.images import image_shape
from zoo.nets.layers import activation_layer, numel, positive


def _mlp(sizes: Sequence[int], act: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:  # no activation after the output layer
            layers.append(activation_layer(act))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """(N, C, H, W) -> flatten -> hidden layers -> (N, out_features)."""

    def __init__(
        self,
        in_shape: Sequence[int],
        out_features: int,
        *,
        hidden: Sequence[int] = (512, 256),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.in_shape = image_shape(in_shape)
        sizes = [numel(self.in_shape), *(positive("hidden", h) for h in hidden), positive("out_features", out_features)]
        self.net = _mlp(sizes, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))  # (N, C*H*W) -> (N, out_features)


class MLPDecoder(nn.Module):
    """(N, in_features) -> hidden layers -> (N, C, H, W), unbounded."""

    def __init__(
        self,
        in_features: int,
        out_shape: Sequence[int],
        *,
        hidden: Sequence[int] = (256, 512),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.out_shape = image_shape(out_shape, "out_shape")
        sizes = [positive("in_features", in_features), *(positive("hidden", h) for h in hidden), numel(self.out_shape)]
        self.net = _mlp(sizes, activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)

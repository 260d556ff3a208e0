"""Convolutional encoder and decoder for any image size.

The encoder halves the resolution with stride-2 3x3 convolutions until both sides are <= 4
(28 -> 14 -> 7 -> 4, 8 -> 4, 32 -> 16 -> 8 -> 4); the decoder retraces the same sizes with transposed
convolutions, so odd sizes such as 7 come back exactly. Channels double per stage, capped at 8 x width.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from zoo.images import image_shape
from zoo.nets.layers import activation_layer, positive

MAX_SIDE = 4  # stop downsampling once both sides are this small: a 4x4 map still has spatial layout


def stage_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Feature-map sizes from the input down to the bottleneck: [(28, 28), (14, 14), (7, 7), (4, 4)]."""
    sizes = [(height, width)]
    while max(sizes[-1]) > MAX_SIDE:
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))  # what a stride-2, pad-1, 3x3 conv yields
    return sizes


def _channels(width: int, stage: int) -> int:
    return width * min(2**stage, 8)


class ConvEncoder(nn.Module):
    """(N, C, H, W) -> stride-2 conv stages -> flatten -> linear -> (N, out_features)."""

    def __init__(
        self,
        in_shape: Sequence[int],
        out_features: int,
        *,
        width: int = 32,
        activation: str = "leaky_relu",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        c, h, w = self.in_shape = image_shape(in_shape)
        width = positive("width", width)
        sizes = stage_sizes(h, w)
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            c_out = _channels(width, i)
            layers.append(nn.Conv2d(c, c_out, 3, stride=2, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(activation_layer(activation))
            c = c_out
        self.features = nn.Sequential(*layers)
        bh, bw = sizes[-1]
        self.head = nn.Linear(c * bh * bw, positive("out_features", out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # (N, C', 4, 4) -> (N, out_features)


class ConvDecoder(nn.Module):
    """(N, in_features) -> linear -> (N, C', h, w) -> transposed-conv stages -> 3x3 conv -> (N, C, H, W)."""

    def __init__(
        self,
        in_features: int,
        out_shape: Sequence[int],
        *,
        width: int = 32,
        activation: str = "relu",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        c_img, h, w = self.out_shape = image_shape(out_shape, "out_shape")
        width = positive("width", width)
        sizes = stage_sizes(h, w)[::-1]  # bottleneck first: [(4, 4), (7, 7), (14, 14), (28, 28)]
        n_stages = len(sizes) - 1
        c = _channels(width, max(n_stages - 1, 0))
        self.bottleneck_shape = (c, *sizes[0])
        self.project = nn.Linear(positive("in_features", in_features), c * sizes[0][0] * sizes[0][1])
        layers: list[nn.Module] = [activation_layer(activation)]
        for i, ((h_in, w_in), (h_out, w_out)) in enumerate(zip(sizes[:-1], sizes[1:])):
            c_out = _channels(width, n_stages - 2 - i) if i < n_stages - 1 else width
            # a 3x3, stride-2, pad-1 transposed conv gives 2n - 1; output_padding adds the 1 where 2n is wanted
            pad = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
            layers.append(nn.ConvTranspose2d(c, c_out, 3, stride=2, padding=1, output_padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(activation_layer(activation))
            c = c_out
        layers.append(nn.Conv2d(c, c_img, 3, padding=1))  # to image channels, unbounded (logits or means)
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, *self.bottleneck_shape))


"""The convolutional encoder and decoder of the beta-VAE papers on dSprites (Burgess et al. 2018,
arXiv:1804.03599, Appendix A.1; the conv net of Higgins et al. 2017's CelebA and 3D experiments).

Encoder: 4x4 stride-2 convolutions of ``channels`` channels (ReLU) until the map is 4x4 (64 -> 32 -> 16 -> 8 -> 4:
four layers at 64x64), then two fully connected layers of ``hidden`` units (ReLU) and a linear output.
Decoder: the transpose, ending in a 4x4 stride-2 transposed convolution to the image channels (logits or means).
Both need square images whose side is 4 * 2^k (64 and 32 for the sprites variants).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from zoo.errors import ConfigError
from zoo.images import image_shape
from zoo.nets.layers import positive


def conv_stages(side: int, height: int) -> int:
    """Number of stride-2 stages from ``side`` down to 4; a one-line ConfigError unless square 4 * 2^k."""
    stages = math.log2(side / 4) if side >= 4 else -1.0
    if side != height or stages < 1 or not stages.is_integer():
        raise ConfigError(f"the beta-VAE conv nets take square images of side 4 * 2^k (32, 64, ...), got "
                          f"{height}x{side}; use the MLP or zoo.nets.ConvEncoder/ConvDecoder for other sizes")
    return int(stages)


class BurgessEncoder(nn.Module):
    """(N, C, H, W) -> (N, out_features): conv 4x4/2 x k (``channels``), FC ``hidden`` x 2, linear."""

    def __init__(self, in_shape: Sequence[int], out_features: int, *, channels: int = 32, hidden: int = 256) -> None:
        super().__init__()
        c, h, w = image_shape(in_shape)
        channels, hidden = positive("channels", channels), positive("hidden", hidden)
        layers: list[nn.Module] = []
        for _ in range(conv_stages(w, h)):
            layers += [nn.Conv2d(c, channels, 4, stride=2, padding=1), nn.ReLU()]
            c = channels
        self.net = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(channels * 16, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, positive("out_features", out_features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BurgessDecoder(nn.Module):
    """(N, in_features) -> (N, C, H, W): FC ``hidden`` x 2, FC to ``channels`` x 4 x 4, transposed conv 4x4/2 x k."""

    def __init__(self, in_features: int, out_shape: Sequence[int], *, channels: int = 32, hidden: int = 256) -> None:
        super().__init__()
        c_img, h, w = image_shape(out_shape, "out_shape")
        channels, hidden = positive("channels", channels), positive("hidden", hidden)
        stages = conv_stages(w, h)
        layers: list[nn.Module] = [
            nn.Linear(positive("in_features", in_features), hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, channels * 16), nn.ReLU(), nn.Unflatten(1, (channels, 4, 4))]
        for i in range(stages):
            last = i == stages - 1
            layers.append(nn.ConvTranspose2d(channels, c_img if last else channels, 4, stride=2, padding=1))
            if not last:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

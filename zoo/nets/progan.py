"""Progressive GAN nets (Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and
Variation", ICLR 2018, arXiv:1710.10196): a generator and a discriminator that grow from 4x4 to the image side.

Both nets hold every resolution's block from the start; ``forward(.., level, alpha)`` runs the first
``level + 1`` of them (level 0: 4x4, level k: 4 * 2^k), and while a new block fades in (alpha < 1) its output
is blended with the previous resolution's path, as in the paper's Fig. 2:

- G: ``(1 - alpha) * up(toRGB_{k-1}(h_{k-1})) + alpha * toRGB_k(block_k(h_{k-1}))``;
- D: ``(1 - alpha) * fromRGB_{k-1}(down(x)) + alpha * block_k(fromRGB_k(x))``, then the lower blocks.

The paper's parts (Sec. 3-4, Table 2, and the authors' code):

- **Equalized learning rate** (Sec. 4.1): weights drawn from N(0, 1) and multiplied at run time by He's
  constant sqrt(2 / fan_in), so Adam's per-parameter step moves every layer at the same relative speed;
- **pixelwise feature normalization** in G after each 3x3 conv (Sec. 4.2), and on z;
- the **minibatch standard deviation** layer before D's last block (Sec. 3, groups of 4 as in the code);
- nearest-neighbour upsampling in G, average pooling in D, LeakyReLU(0.2), 1x1 toRGB / fromRGB, linear output
  (no tanh); G's first block maps z with a dense layer to 4x4 then a 3x3 conv, D's last block is mbstd, a 3x3
  conv, a dense 4x4 conv and a linear score.

Channels at side r: ``min(max_channels, channel_base // r)`` (the paper: 8192 // r capped at 512; the CPU
recipes use smaller nets, see the recipes).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ConfigError
from zoo.images import image_shape

LEAK = 0.2


def growth_levels(side: int) -> int:
    """The number of doublings from 4x4 to ``side`` (8 -> 1, 32 -> 2 ... ); ``side`` must be 4 * 2^k."""
    if side < 4 or side & (side - 1):
        raise ConfigError(f"Progressive GAN resolution must be a power of two times 4 (4, 8, 16, 32, 64 ...), got "
                          f"{side}; set the model's resolution to one (images are padded to it)")
    return int(math.log2(side // 4))


def channels_at(side: int, channel_base: int, max_channels: int) -> int:
    return max(1, min(max_channels, channel_base // side))


class EqualizedConv2d(nn.Module):
    """A conv whose weight is N(0, 1) at init and scaled by gain / sqrt(fan_in) at run time (Sec. 4.1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, padding: int = 0,
                 gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """A dense layer with the equalized learning rate (see ``EqualizedConv2d``)."""

    def __init__(self, in_features: int, out_features: int, *, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """b = a / sqrt(mean_j a_j^2 + 1e-8) over the channels of each pixel (Eq. in Sec. 4.2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: the standard deviation of each feature and pixel over a group of samples,
    averaged over features and pixels (Sec. 3). Groups of ``group_size`` samples taken with a stride of N / G,
    as in the authors' code; a batch not divisible by it uses its largest divisor below it."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = next(k for k in range(min(self.group_size, n), 0, -1) if n % k == 0)
        y = x.float().view(g, n // g, c, h, w)
        y = (y - y.mean(dim=0)).pow(2).mean(dim=0).add(1e-8).sqrt()  # (N/G, C, H, W): std over the group
        y = y.mean(dim=(1, 2, 3)).repeat(g)  # sample i of the batch gets its group's value: (N,)
        return torch.cat([x, y.to(x.dtype).view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(LEAK)


def _side(shape: Sequence[int]) -> tuple[int, int]:
    channels, height, width = image_shape(shape)
    if height != width:
        raise ConfigError(f"Progressive GAN nets are square, got {height}x{width}; pad the images to a square")
    return channels, height


class ProGANGenerator(nn.Module):
    """G(z, level, alpha) -> images at side 4 * 2^level, (N, C, side, side), linear output.

    Args:
        latent_dim: dimension of z (the paper: 512).
        out_shape: (C, R, R) with R = 4 * 2^k, the final resolution.
        channel_base, max_channels: channels at side r are min(max_channels, channel_base // r).
    """

    def __init__(self, latent_dim: int, out_shape: Sequence[int], *, channel_base: int = 8192,
                 max_channels: int = 512) -> None:
        super().__init__()
        out_channels, side = _side(out_shape)
        self.max_level = growth_levels(side)
        ch = [channels_at(4 * 2**k, channel_base, max_channels) for k in range(self.max_level + 1)]
        self.latent_dim = latent_dim
        self.norm = PixelNorm()
        # gain sqrt(2) / 4 on the dense layer, as in the authors' code (it maps to 16 pixels at once)
        self.dense = EqualizedLinear(latent_dim, ch[0] * 16, gain=math.sqrt(2) / 4)
        self.first = nn.Sequential(_lrelu(), PixelNorm(), EqualizedConv2d(ch[0], ch[0], 3, padding=1), _lrelu(),
                                   PixelNorm())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                          EqualizedConv2d(ch[k - 1], ch[k], 3, padding=1), _lrelu(), PixelNorm(),
                          EqualizedConv2d(ch[k], ch[k], 3, padding=1), _lrelu(), PixelNorm())
            for k in range(1, self.max_level + 1)
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, out_channels, 1, gain=1.0) for c in ch)

    def forward(self, z: torch.Tensor, level: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        level = self.max_level if level is None else level
        h = self.first(self.dense(self.norm(z)).view(z.shape[0], -1, 4, 4))
        previous = h
        for k in range(1, level + 1):
            previous, h = h, self.blocks[k - 1](h)
        out = self.to_rgb[level](h)
        if level > 0 and alpha < 1.0:
            skip = F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2, mode="nearest")
            out = torch.lerp(skip, out, alpha)
        return out


class ProGANDiscriminator(nn.Module):
    """D(x, level, alpha) -> one score per image (N, out_features) for images at side 4 * 2^level.

    Args:
        in_shape: (C, R, R) with R = 4 * 2^k, the final resolution.
        out_features: scores per image (1).
        channel_base, max_channels: as the generator's.
        group_size: the minibatch standard deviation layer's group (4).
    """

    def __init__(self, in_shape: Sequence[int], out_features: int = 1, *, channel_base: int = 8192,
                 max_channels: int = 512, group_size: int = 4) -> None:
        super().__init__()
        in_channels, side = _side(in_shape)
        self.max_level = growth_levels(side)
        ch = [channels_at(4 * 2**k, channel_base, max_channels) for k in range(self.max_level + 1)]
        self.from_rgb = nn.ModuleList(nn.Sequential(EqualizedConv2d(in_channels, c, 1), _lrelu()) for c in ch)
        self.blocks = nn.ModuleList(
            nn.Sequential(EqualizedConv2d(ch[k], ch[k], 3, padding=1), _lrelu(),
                          EqualizedConv2d(ch[k], ch[k - 1], 3, padding=1), _lrelu(), nn.AvgPool2d(2))
            for k in range(1, self.max_level + 1)
        )
        self.last = nn.Sequential(
            MinibatchStdDev(group_size), EqualizedConv2d(ch[0] + 1, ch[0], 3, padding=1), _lrelu(),
            EqualizedConv2d(ch[0], ch[0], 4), _lrelu(), nn.Flatten(), EqualizedLinear(ch[0], out_features, gain=1.0),
        )

    def forward(self, x: torch.Tensor, level: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        level = self.max_level if level is None else level
        h = self.from_rgb[level](x)
        if level > 0:
            h = self.blocks[level - 1](h)
            if alpha < 1.0:
                h = torch.lerp(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), h, alpha)
        for k in range(level - 1, 0, -1):
            h = self.blocks[k - 1](h)
        return self.last(h)

"""PixelCNN's network (van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016,
arXiv:1601.06759, Sec. 3.4-3.5 and Table 1): masked convolutions and the residual blocks built from them.

Pixels are read in raster order (row by row, left to right) and, within a pixel, channel by channel
(R, then G, then B). A masked convolution zeroes the kernel weights that would let an output see the future:
the rows below the centre, the pixels right of the centre on its row, and at the centre itself the input
channel groups after the output's own group (mask B, every layer after the first) or from its own group on
(mask A, the first layer, which must not see the pixel it predicts). Features are split into ``channels``
contiguous groups, group g belonging to data channel g (Sec. 3.4, Figure 2, right).

The network maps images (N, C, H, W) to ``outputs_per_channel`` values per channel and pixel, (N, C, K, H, W):
K = 1 Bernoulli logit for binary data, K = n levels of categorical logits for n-level data. Nothing here
knows about likelihoods; zoo/methods/autoregressive/pixelcnn.py does.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from zoo.errors import ConfigError

MaskType = Literal["A", "B"]


def causal_mask(
    mask_type: MaskType, in_channels: int, out_channels: int, kernel_size: int, channels: int
) -> torch.Tensor:
    """The (out_channels, in_channels, k, k) 0/1 mask of a masked convolution over ``channels`` data channels.

    Spatially: every row above the centre, and the centre row up to the centre. At the centre, output group
    g sees input groups < g (mask A) or <= g (mask B); the groups are contiguous blocks of features."""
    if mask_type not in ("A", "B"):
        raise ConfigError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size % 2 != 1:
        raise ConfigError(f"a masked convolution needs an odd kernel_size (a centre pixel), got {kernel_size}")
    for name, n in (("in_channels", in_channels), ("out_channels", out_channels)):
        if n % channels:
            raise ConfigError(f"{name}={n} must be a multiple of the {channels} data channels (one group each)")
    centre = kernel_size // 2
    mask = torch.zeros(out_channels, in_channels, kernel_size, kernel_size)
    mask[:, :, :centre, :] = 1  # rows above
    mask[:, :, centre, :centre] = 1  # left of the centre on its row
    group_out = torch.arange(out_channels) // (out_channels // channels)  # (out,)
    group_in = torch.arange(in_channels) // (in_channels // channels)  # (in,)
    seen = group_in[None, :] < group_out[:, None] if mask_type == "A" else group_in[None, :] <= group_out[:, None]
    mask[:, :, centre, centre] = seen.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose kernel is multiplied by :func:`causal_mask` at every call (so neither
    the initialisation nor an optimizer step can open a forbidden connection)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, mask_type: MaskType, channels: int = 1
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        # a buffer, so it follows .to(device) and is saved; persistent=False keeps it out of the state dict
        # (it is rebuilt from the constructor arguments)
        self.register_buffer("mask", causal_mask(mask_type, in_channels, out_channels, kernel_size, channels),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class ResidualBlock(nn.Module):
    """PixelCNN's residual block (Figure 5, left): 2h -> ReLU, 1x1 (h) -> ReLU, kxk mask B (h) -> ReLU,
    1x1 (2h), added to the input. The 1x1 convolutions are masked B too, which keeps the channel groups
    causal (for one channel they are plain 1x1 convolutions)."""

    def __init__(self, h: int, *, kernel_size: int = 3, channels: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            MaskedConv2d(2 * h, h, 1, mask_type="B", channels=channels),
            nn.ReLU(),
            MaskedConv2d(h, h, kernel_size, mask_type="B", channels=channels),
            nn.ReLU(),
            MaskedConv2d(h, 2 * h, 1, mask_type="B", channels=channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (N, 2h, H, W)


class PixelCNNNet(nn.Module):
    """Table 1's PixelCNN: a 7x7 mask-A convolution to 2h features, ``n_blocks`` residual blocks of 3x3
    mask-B convolutions, then ReLU + 1x1 mask-B convolution twice (``output_hidden`` features, then the
    outputs).

    Args:
        in_shape: (C, H, W) of the images.
        outputs_per_channel: K values per channel and pixel: 1 (a Bernoulli logit) or the number of levels.
        h: the residual blocks' inner features (2h between blocks); a multiple of C.
        n_blocks: residual blocks.
        first_kernel_size: the mask-A convolution's kernel (7 in the paper).
        kernel_size: the residual blocks' masked kernel (3 in the paper).
        output_hidden: features of the first output 1x1 layer (a multiple of C).
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        outputs_per_channel: int,
        *,
        h: int = 16,
        n_blocks: int = 4,
        first_kernel_size: int = 7,
        kernel_size: int = 3,
        output_hidden: int = 32,
    ) -> None:
        super().__init__()
        channels = in_shape[0]
        self.channels, self.outputs_per_channel = channels, outputs_per_channel
        if n_blocks < 0 or h < 1 or outputs_per_channel < 1:
            raise ConfigError(f"need h >= 1, n_blocks >= 0, outputs_per_channel >= 1; got {h}, {n_blocks}, "
                              f"{outputs_per_channel}")
        self.net = nn.Sequential(
            MaskedConv2d(channels, 2 * h, first_kernel_size, mask_type="A", channels=channels),
            *[ResidualBlock(h, kernel_size=kernel_size, channels=channels) for _ in range(n_blocks)],
            nn.ReLU(),
            MaskedConv2d(2 * h, output_hidden, 1, mask_type="B", channels=channels),
            nn.ReLU(),
            MaskedConv2d(output_hidden, channels * outputs_per_channel, 1, mask_type="B", channels=channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> (N, C, K, H, W): channel c's K outputs at every pixel, each a function of
        the pixels before it in raster order and of the channels before c at its own pixel only."""
        out = self.net(x)  # (N, C * K, H, W), channel-major groups
        return out.view(len(x), self.channels, self.outputs_per_channel, *x.shape[-2:])

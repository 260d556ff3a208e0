"""PixelCNN's network (van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016,
arXiv:1601.06759, Sec. 3.4-3.5 and Table 1): masked convolutions and the residual blocks built from them.

Pixels are read in raster order (row by row, left to right) and, within a pixel, channel by channel
(R, then G, then B). A masked convolution zeroes the kernel weights that would let an output see the future:
the rows below the centre, the pixels right of the centre on its row, and at the centre itself the input
channel groups after the output's own group (mask B, every layer after the first) or from its own group on
(mask A, the first layer, which must not see the pixel it predicts). Features are split into ``channels``
contiguous groups, group g belonging to data channel g (Sec. 3.4, Figure 2, right). The masked convolution,
the output head and the sampling caches' contract, which the Gated PixelCNN and PixelRNN share, are in
zoo/nets/autoregressive.py.

The network maps images (N, C, H, W) to ``outputs_per_channel`` values per channel and pixel, (N, C, K, H, W):
K = 1 Bernoulli logit for binary data, K = n levels of categorical logits for n-level data. Nothing here
knows about likelihoods; zoo/methods/autoregressive/pixelcnn.py does.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.errors import ConfigError
from zoo.nets.autoregressive import (
    Affine, CausalMap, ImageMap, MaskedConv2d, MaskType, OutputHeadAt, PixelCache, causal_affine, causal_mask,
    masked_weight, output_head, per_channel,
)

__all__ = ["MaskType", "MaskedConv2d", "PixelCNNNet", "ResidualBlock", "causal_mask"]


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
            *output_head(2 * h, output_hidden, channels, outputs_per_channel),  # flat: net.0 .. net.{n + 4}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> (N, C, K, H, W): channel c's K outputs at every pixel, each a function of
        the pixels before it in raster order and of the channels before c at its own pixel only."""
        return per_channel(self.net(x), self.channels)

    def cache(self) -> PixelCache:
        """A sampling cache (zoo/nets/autoregressive.py): the stack computed one position at a time."""
        return _PixelCNNCache(self)


class _PixelCNNCache:
    """PixelCNN's stack at one position: the first layer and every block's k x k convolution read a window of
    their input, which the cache keeps (a copy of the images for the first layer); the 1 x 1 layers and the
    residual additions read the position alone."""

    def __init__(self, net: PixelCNNNet) -> None:
        self.net = net
        first: MaskedConv2d = net.net[0]
        self.first, self.first_half = causal_affine(first), first.kernel_size[0] // 2
        blocks = [m for m in net.net if isinstance(m, ResidualBlock)]
        self.blocks = [(Affine(masked_weight(b.body[1]), b.body[1].bias), causal_affine(b.body[3]),
                        Affine(masked_weight(b.body[5]), b.body[5].bias), b.body[3].kernel_size[0] // 2)
                       for b in blocks]
        self.head = OutputHeadAt(nn.Sequential(*list(net.net)[-4:]), net.channels)
        self.image: ImageMap | None = None
        self.inputs: list[CausalMap] = []  # per block: the input of its k x k convolution
        self.row = -1

    def logits_at(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.image is None:
            self.image = ImageMap(x, x.shape[1], height, width, up=self.first_half, side=self.first_half)
            self.inputs = [CausalMap(x, inner.bias.shape[0], height, width, up=half, side=half)
                           for inner, _, _, half in self.blocks]
        self.image.update(x, i, j, new_row=i != self.row)
        self.row = i
        half = self.first_half
        features = self.first(self.image.window(i, j, up=half, left=half, right=half))  # (N, 2h)
        for (squeeze, inner, expand, half), inputs in zip(self.blocks, self.inputs):
            inputs[i, j] = torch.relu(squeeze(torch.relu(features)))
            features = features + expand(torch.relu(inner(inputs.window(i, j, up=half, left=half, right=half))))
        return self.head(features)

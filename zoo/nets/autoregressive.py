"""What the autoregressive networks (zoo/nets/pixelcnn.py, gated_pixelcnn.py, pixelrnn.py) share: the masked
convolution (PixelCNN's, described in zoo/nets/pixelcnn.py), the output head, the (N, C, K, H, W) layout of
their outputs, and the sampling caches' contract and building blocks.

**The output head** (PixelRNN paper, arXiv:1601.06759, Table 1): ReLU + 1 x 1 convolution twice, the first to
``hidden`` features, the second to K outputs per data channel, both masked B so that with C > 1 data channels
channel c's outputs read only the feature groups <= c (for one channel, plain 1 x 1 convolutions).

**Sampling caches** (the idea of Ramachandran et al. 2017, "Fast Generation for Convolutional Autoregressive
Models", arXiv:1704.06001): drawing an image pixel by pixel with a whole-image network costs H * W passes over
the image. But in these networks every feature at a position (i, j) is a function of the pixels before
(i, j) only, and later pixels never change it; so a cache keeps every layer's features, computes each
position once, when the sampler reaches it, from the features of the earlier positions it needs (a k x k
window, the row above, the previous column's LSTM state), and the cost of a sample falls from H * W passes
to about one. A cache answers exactly what the network's forward answers (the same arithmetic, up to float
summation order):

    cache.logits_at(x, i, j) == net(x)[:, :, :, i, j]

called for every position in raster order, where ``x``'s pixels before (i, j) are the final ones. With C > 1
data channels it is called once per channel at each position, x(i, j, c') filled for c' < c before the call
for channel c: the features at (i, j) read x(i, j, c') only through the groups after c', so the last call
leaves them final. Networks whose features reach the current row only once it is complete (the Gated
PixelCNN's vertical stack, the Diagonal BiLSTM's right-to-left LSTM) finish row i - 1 when the first call
of row i arrives.
"""
from __future__ import annotations

from typing import Literal, Protocol

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


def output_head(in_features: int, hidden: int, channels: int, outputs_per_channel: int) -> nn.Sequential:
    """ReLU, 1 x 1 mask B (``hidden``), ReLU, 1 x 1 mask B (C * K): features (N, F, H, W) -> (N, C * K, H, W),
    channel-major groups (see :func:`per_channel`)."""
    return nn.Sequential(
        nn.ReLU(),
        MaskedConv2d(in_features, hidden, 1, mask_type="B", channels=channels),
        nn.ReLU(),
        MaskedConv2d(hidden, channels * outputs_per_channel, 1, mask_type="B", channels=channels),
    )


def per_channel(out: torch.Tensor, channels: int) -> torch.Tensor:
    """The head's (N, C * K, *spatial) -> (N, C, K, *spatial): channel c's K outputs."""
    return out.view(len(out), channels, -1, *out.shape[2:])


class Affine:
    """A convolution (or linear layer) at one position as one matrix product: ``(N, in * kh * kw) inputs @
    weight^T + bias``, the weight (masked, cropped) flattened and transposed once, when a cache is built (the
    weights do not change while it samples). Called on features (N, in) or, with ``window=True``, on a
    :class:`CausalMap` window (N, kh, kw, in): the kernel is then laid out (kh, kw, in) to match."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, window: bool = False) -> None:
        weight = weight.detach()
        if window:  # (out, in, kh, kw) -> (out, kh, kw, in): the windows' channels-last order
            weight = weight.permute(0, 2, 3, 1)
        self.weight_t = weight.reshape(len(weight), -1).t().contiguous()  # (kh * kw * in, out)
        self.bias = bias.detach() if bias is not None else weight.new_zeros(weight.shape[0])

    def __call__(self, inputs: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        """(N, out); ``add`` (N, out) is added in the same call (in place of the bias, plus the bias)."""
        inputs = inputs.reshape(len(inputs), -1)
        if add is None:
            return torch.addmm(self.bias, inputs, self.weight_t)
        return torch.addmm(add + self.bias, inputs, self.weight_t)


def masked_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The kernel a (masked) convolution applies."""
    mask = getattr(conv, "mask", None)
    return conv.weight * mask if isinstance(mask, torch.Tensor) else conv.weight


def causal_affine(conv: nn.Conv2d) -> Affine:
    """A masked k x k convolution at one position from its window of rows i - k//2 .. i only (the rows below
    the centre are masked to zero, so neither fetched nor multiplied)."""
    weight = masked_weight(conv)
    return Affine(weight[:, :, : weight.shape[2] // 2 + 1], conv.bias, window=True)


class CausalMap:
    """A feature map of N images, F features, H x W positions, kept channels-last inside zero padding: ``up``
    rows above and ``side`` columns either side (none below: causal kernels do not read the rows below), so
    the window a kernel reads at (i, j) is a view whose copy is kh * kw contiguous runs of F values (in the
    (N, F, H, W) layout it would be F * kh runs of kw: several times slower, the cost of a sample)."""

    def __init__(self, like: torch.Tensor, features: int, height: int, width: int, *, up: int, side: int) -> None:
        self.up, self.side = up, side
        self.data = like.new_zeros(len(like), height + up, width + 2 * side, features)

    def window(self, i: int, j: int, *, up: int, left: int, right: int) -> torch.Tensor:
        """Rows i - up .. i, columns j - left .. j + right: (N, up + 1, left + right + 1, F), a view."""
        row, column = i + self.up, j + self.side
        return self.data[:, row - up: row + 1, column - left: column + right + 1]

    def rows(self, i: int, *, up: int) -> torch.Tensor:
        """Rows i - up .. i, every column with the side padding: (N, F, up + 1, W + 2 * side), a view."""
        return self.data[:, i + self.up - up: i + self.up + 1].permute(0, 3, 1, 2)

    def row(self, i: int) -> torch.Tensor:
        """Row i without the padding: (N, W, F), a view."""
        return self.data[:, i + self.up, self.side: self.data.shape[2] - self.side]

    def __getitem__(self, position: tuple[int, int]) -> torch.Tensor:
        i, j = position
        return self.data[:, i + self.up, j + self.side]  # (N, F)

    def __setitem__(self, position: tuple[int, int], value: torch.Tensor) -> None:
        i, j = position
        self.data[:, i + self.up, j + self.side] = value

    def set_row(self, i: int, value: torch.Tensor, end: int | None = None) -> None:
        """Row i's columns 0 .. end - 1 (all by default) from ``value`` (N, F, end)."""
        end = value.shape[-1] if end is None else end
        self.data[:, i + self.up, self.side: self.side + end] = value[..., :end].transpose(1, 2)


class ImageMap(CausalMap):
    """The images being sampled, mirrored into a :class:`CausalMap`: every call copies the current row up to
    the current pixel (the pixels drawn since the last call), and a new row finishes copying the one above."""

    def update(self, x: torch.Tensor, i: int, j: int, new_row: bool) -> None:
        if new_row and i > 0:
            self.set_row(i - 1, x[:, :, i - 1])
        self.set_row(i, x[:, :, i], j + 1)


class OutputHeadAt:
    """:func:`output_head` at one position: features (N, F) -> (N, C, K)."""

    def __init__(self, head: nn.Sequential, channels: int) -> None:
        self.hidden, self.out, self.channels = Affine(masked_weight(head[1]), head[1].bias), Affine(
            masked_weight(head[3]), head[3].bias), channels

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        out = self.out(torch.relu(self.hidden(torch.relu(features))))
        return out.view(len(out), self.channels, -1)


class PixelCache(Protocol):
    """A network's sampling cache for N images; see the module doc for the contract."""

    def logits_at(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """(N, C, K): the network's outputs at (i, j) for images ``x`` (N, C, H, W) final before (i, j)."""
        ...

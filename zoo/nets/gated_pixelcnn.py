"""The Gated PixelCNN's network (van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu,
"Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016, arXiv:1606.05328, Sec. 2.1-2.3, Figure 2).

PixelCNN's masked k x k convolutions (zoo/nets/pixelcnn.py) grow a receptive field that misses the pixels up
and to the right of a growing cone: the *blind spot* (the paper's Figure 1). The Gated PixelCNN splits every
layer into two stacks whose union has no blind spot:

- the **vertical stack** ``v`` covers whole rows above the current one: a (k//2 + 1) x k convolution over the
  rows i - k//2 .. i and the columns j - k//2 .. j + k//2 of its input. Its features at row i therefore
  depend on rows <= i only (right of the current pixel included), so it may never feed a prediction of
  row i as it is: it reaches the horizontal stack **shifted down one row**, so what arrives at row i comes from
  the rows above it only. Each layer widens it by k//2 rows up and k//2 columns to either side, with no cone.
- the **horizontal stack** ``h`` covers the current row up to the current pixel: a 1 x (k//2 + 1)
  convolution over the columns j - k//2 .. j. The first layer must not see the pixel it predicts (mask A:
  the centre column is cut), later ones include the centre (mask B: it holds only the past by then). With
  C > 1 data channels the centre column is cut by channel groups exactly as PixelCNN's masks cut it
  (``causal_mask``: output group g sees input groups < g, mask A, or <= g, mask B).

Each layer (Figure 2): both stacks' convolutions make 2h features, the vertical ones also reach the
horizontal stack through a 1 x 1 convolution (after the shift), and each stack's output is the gated
activation (Eq. 2; Eq. 4 with a class y; the paper calls the output y, here o)

    o = tanh(W_f * x + V_f^T e_y) * sigmoid(W_g * x + V_g^T e_y),

where e_y is y's one-hot code, so V^T e_y is a learned per-class bias of the gates (an embedding). The
horizontal stack's gated output passes through a 1 x 1 convolution and is added to its input (the residual
connection; the first layer has C inputs, not h, and none). After the last layer, PixelCNN's output layers:
ReLU + 1 x 1 twice, to (N, C, K, H, W) like ``PixelCNNNet``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ConfigError
from zoo.nets.autoregressive import (
    Affine, CausalMap, ImageMap, MaskedConv2d, MaskType, OutputHeadAt, PixelCache, causal_mask, masked_weight,
    output_head, per_channel,
)


def horizontal_mask(
    mask_type: MaskType, in_channels: int, out_channels: int, kernel_width: int, channels: int
) -> torch.Tensor:
    """The (out_channels, in_channels, 1, kernel_width) 0/1 mask of a horizontal-stack convolution whose last
    column is the current pixel: every column left of it open, the current one cut by channel groups as
    :func:`~zoo.nets.pixelcnn.causal_mask` cuts a centre."""
    mask = torch.ones(out_channels, in_channels, 1, kernel_width)
    mask[:, :, :, -1:] = causal_mask(mask_type, in_channels, out_channels, 1, channels)
    return mask


def gate(a: torch.Tensor) -> torch.Tensor:
    """The gated activation tanh(a_f) * sigmoid(a_g) of pre-activations (N, 2h, H, W) = [a_f; a_g] -> (N, h, H, W)."""
    a_f, a_g = a.chunk(2, dim=1)
    return torch.tanh(a_f) * torch.sigmoid(a_g)


class GatedLayer(nn.Module):
    """One layer of both stacks (Figure 2): (v, h) (N, in_features, H, W) -> (v', h') (N, h, H, W).

    Args:
        in_features: features of v and h read by this layer (C for the first layer, else h).
        h: features of each stack's output (the convolutions make 2h: the tanh and the sigmoid halves).
        kernel_size: k, odd: the vertical convolution is (k//2 + 1) x k, the horizontal one 1 x (k//2 + 1).
        mask_type: "A" for the first layer (the current pixel cut), "B" after.
        channels: data channels C (the groups of the horizontal stack's features).
        residual: add h's input to its output (not in the first layer, whose input has C features).
        num_classes: labels y in [0, num_classes) biasing both gates (Eq. 4); None for no conditioning.
    """

    def __init__(
        self,
        in_features: int,
        h: int,
        *,
        kernel_size: int,
        mask_type: MaskType,
        channels: int,
        residual: bool,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.half = kernel_size // 2
        self.residual = residual
        self.vertical = nn.Conv2d(in_features, 2 * h, (self.half + 1, kernel_size))
        self.horizontal = nn.Conv2d(in_features, 2 * h, (1, self.half + 1))
        # one mask per gate half, so a tanh feature and the sigmoid feature it is multiplied by share a group
        self.register_buffer("horizontal_mask", torch.cat(
            [horizontal_mask(mask_type, in_features, h, self.half + 1, channels)] * 2), persistent=False)
        # v reaches h from the rows above only (the shift), so it may feed any of h's groups: a plain 1 x 1
        self.vertical_to_horizontal = nn.Conv2d(2 * h, 2 * h, 1)
        # mask B keeps a 1 x 1 on h within its channel groups (for one channel a plain 1 x 1)
        self.horizontal_out = MaskedConv2d(h, h, 1, mask_type="B", channels=channels)
        self.vertical_class = nn.Embedding(num_classes, 2 * h) if num_classes is not None else None
        self.horizontal_class = nn.Embedding(num_classes, 2 * h) if num_classes is not None else None

    def forward(
        self, v: torch.Tensor, h: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.half
        # k + 1 rows of padding on top and none below: output row r reads input rows r - k - 1 .. r - 1, so rows
        # 1..H are the vertical stack at rows 0..H-1 (rows i - k .. i) and rows 0..H-1 the same shifted down one
        # row (rows i - k - 1 .. i - 1: the rows above only), both from one convolution
        rows = self.vertical(F.pad(v, (k, k, k + 1, 0)))  # (N, 2h, H + 1, W)
        v_pre, v_above = rows[:, :, 1:], rows[:, :, :-1]  # (N, 2h, H, W) each
        weight = self.horizontal.weight * self.horizontal_mask
        # k columns of padding on the left only: output column j reads columns j - k .. j of its row
        h_pre = F.conv2d(F.pad(h, (k, 0, 0, 0)), weight, self.horizontal.bias)  # (N, 2h, H, W)
        h_pre = h_pre + self.vertical_to_horizontal(v_above)
        if self.vertical_class is not None and self.horizontal_class is not None and y is not None:
            v_pre = v_pre + self.vertical_class(y)[:, :, None, None]  # V^T e_y: one bias per class and feature
            h_pre = h_pre + self.horizontal_class(y)[:, :, None, None]
        h_out = self.horizontal_out(gate(h_pre))  # (N, h, H, W)
        return gate(v_pre), (h + h_out) if self.residual else h_out


class GatedPixelCNNNet(nn.Module):
    """The Gated PixelCNN: ``n_layers`` gated layers (the first with mask A), then ReLU + 1x1 (mask B)
    twice (``output_hidden`` features, then the outputs), reading the horizontal stack.

    Args:
        in_shape: (C, H, W) of the images.
        outputs_per_channel: K values per channel and pixel: 1 (a Bernoulli logit) or the number of levels.
        h: features of each stack (the gates' convolutions make 2h); a multiple of C.
        n_layers: gated layers. With kernel k, the stacks see a pixel (i', j') from (i, j) once the vertical
            stack spans i - i' - 1 rows and |j - j'| columns, or the horizontal one j - j' columns, both
            k//2 per layer: about max(H, W) / (k//2) layers see the whole image.
        kernel_size: k, odd >= 3.
        output_hidden: features of the first output 1x1 layer (a multiple of C).
        num_classes: labels y in [0, num_classes) condition every gate (Eq. 4); None: unconditional.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        outputs_per_channel: int,
        *,
        h: int = 8,
        n_layers: int = 4,
        kernel_size: int = 5,
        output_hidden: int = 32,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        channels = in_shape[0]
        self.channels, self.outputs_per_channel, self.num_classes = channels, outputs_per_channel, num_classes
        if n_layers < 1 or h < 1 or outputs_per_channel < 1:
            raise ConfigError(f"need h >= 1, n_layers >= 1, outputs_per_channel >= 1; got {h}, {n_layers}, "
                              f"{outputs_per_channel}")
        if kernel_size < 3 or kernel_size % 2 != 1:
            raise ConfigError(f"kernel_size must be odd and >= 3 (the current pixel and k//2 on either side), "
                              f"got {kernel_size}")
        self.layers = nn.ModuleList([
            GatedLayer(channels if first else h, h, kernel_size=kernel_size, mask_type="A" if first else "B",
                       channels=channels, residual=not first, num_classes=num_classes)
            for first in [True] + [False] * (n_layers - 1)
        ])
        self.output = output_head(h, output_hidden, channels, outputs_per_channel)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, C, H, W) (and labels y (N,) when conditional) -> (N, C, K, H, W): channel c's K outputs
        at every pixel, each a function of the pixels before it in raster order and of the channels before c
        at its own pixel only."""
        if (y is None) != (self.num_classes is None):
            raise ConfigError(f"GatedPixelCNNNet(num_classes={self.num_classes}) needs labels y (N,) exactly when it "
                              f"is class-conditional; got y={'None' if y is None else 'labels'}")
        v, h = x, x  # both stacks start from the image; the masks and the shift keep each causal
        for layer in self.layers:
            v, h = layer(v, h, y)
        return per_channel(self.output(h), self.channels)

    def cache(self, y: torch.Tensor | None = None) -> PixelCache:
        """A sampling cache (zoo/nets/autoregressive.py) for images of labels ``y`` (N,) (None: unconditional)."""
        if (y is None) != (self.num_classes is None):
            raise ConfigError(f"GatedPixelCNNNet(num_classes={self.num_classes}).cache needs labels y (N,) exactly "
                              "when it is class-conditional")
        return _GatedCache(self, y)


class _GatedCache:
    """Both stacks one step at a time. The horizontal stack runs one position per call: its 1 x (k//2 + 1)
    convolution reads its input's row up to the current column, plus the vertical stack's rows above (the
    shift), which the cache holds for the whole current row. The vertical stack reads the current row at every
    column, so it runs a row at a time, for row i - 1 once row i begins; the one convolution that makes
    v's row i - 1 also makes, shifted, what row i's horizontal stack receives (see ``GatedLayer.forward``)."""

    def __init__(self, net: GatedPixelCNNNet, y: torch.Tensor | None) -> None:
        self.net = net
        self.layers: list[GatedLayer] = list(net.layers)
        self.k = self.layers[0].half
        self.horizontal = [Affine(layer.horizontal.weight * layer.horizontal_mask, layer.horizontal.bias, window=True)
                           for layer in self.layers]
        self.horizontal_out = [Affine(masked_weight(layer.horizontal_out), layer.horizontal_out.bias)
                               for layer in self.layers]
        self.vertical_to_horizontal = [(layer.vertical_to_horizontal.weight.flatten(1),
                                        layer.vertical_to_horizontal.bias[:, None]) for layer in self.layers]
        # the class's bias of each gate, (N, 2h, 1) per layer (zeros without labels)
        self.classes = [
            (layer.vertical_class(y)[:, :, None], layer.horizontal_class(y)[:, :, None])
            if y is not None and layer.vertical_class is not None and layer.horizontal_class is not None
            else (0, 0) for layer in self.layers
        ]
        self.head = OutputHeadAt(net.output, net.channels)
        self.row = -1
        self.image: ImageMap | None = None
        self.v: list[CausalMap] = []  # v[l]: layer l's vertical input (v[0]: the images), k + 1 zero rows above
        self.h: list[CausalMap] = []  # h[l]: layer l's horizontal input (h[0]: the images), h[L]: the last output
        self.from_above: list[torch.Tensor] = []  # per layer: row i's input from the rows above (+ class), (N, 2h, W)

    def _start_row(self, i: int) -> None:
        """Finish the vertical stack of row i - 1 (every layer) and what it hands to row i."""
        self.from_above = []
        for index, (layer, (weight, bias), (v_class, h_class)) in enumerate(
                zip(self.layers, self.vertical_to_horizontal, self.classes)):
            # rows i - 1 - k .. i - 1 of v (zeros above the image): the vertical convolution at row i - 1, which
            # is also row i's input from above
            pre = F.conv2d(self.v[index].rows(i - 1, up=self.k), layer.vertical.weight, layer.vertical.bias)[:, :, 0]
            self.from_above.append(torch.matmul(weight, pre) + bias + h_class)  # (N, 2h, W)
            if i > 0 and index + 1 < len(self.layers):
                self.v[index + 1].set_row(i - 1, gate(pre + v_class))

    def logits_at(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.image is None:
            self.image = ImageMap(x, x.shape[1], height, width, up=self.k + 1, side=self.k)
            features = self.layers[0].vertical.out_channels // 2
            self.v = [self.image] + [CausalMap(x, features, height, width, up=self.k + 1, side=self.k)
                                     for _ in self.layers[1:]]
            self.h = [self.image] + [CausalMap(x, features, height, width, up=0, side=self.k) for _ in self.layers]
        new_row = i != self.row
        self.image.update(x, i, j, new_row)
        if new_row:
            self._start_row(i)
            self.row = i
        for index, layer in enumerate(self.layers):
            inputs = self.h[index].window(i, j, up=0, left=self.k, right=0)  # (N, 1, k + 1, F)
            pre = self.horizontal[index](inputs, self.from_above[index][:, :, j])
            out = self.horizontal_out[index](gate(pre))  # (N, h)
            self.h[index + 1][i, j] = self.h[index][i, j] + out if layer.residual else out
        return self.head(self.h[-1][i, j])

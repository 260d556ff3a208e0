"""PixelRNN's two LSTM networks (van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks",
ICML 2016, arXiv:1601.06759, Sec. 3.1-3.3 and Table 1): the Row LSTM and the Diagonal BiLSTM.

Both are two-dimensional LSTMs whose every step is one LSTM update (Sec. 3.1, Eq. 3)

    [o_i, f_i, i_i, g_i] = [sigma, sigma, sigma, tanh](K_ss (*) h_{i-1} + K_is (*) x_i),
    c_i = f_i . c_{i-1} + i_i . g_i,        h_i = o_i . tanh(c_i),

applied to a whole row (Row LSTM) or a whole column of the skewed map (Diagonal BiLSTM) at once. The
input-to-state convolution K_is is computed for the whole map in one call, masked so that a position reads
only its past; the state-to-state convolution K_ss runs in the loop over the previous row or column, and
needs no mask, since every hidden state it reads lies strictly before the current position.

- **Row LSTM** (Sec. 3.1): rows top to bottom; K_is a 1 x k convolution along the current row (mask B:
  columns j - k//2 .. j), K_ss a 1-D kernel-k convolution over the previous row's hidden states. The state
  at (i, j) reads the states of row i - 1 at columns j - k//2 .. j + k//2, so the receptive field is a
  triangle widening by k//2 columns on either side per row upwards; on its own row a position sees the 7 x 7
  first layer's 3 columns to its left and k//2 more per layer, not the whole row.
- **Diagonal BiLSTM** (Sec. 3.2): the map is *skewed* (row i shifted right by i), so that the column j of
  the skewed map is the diagonal i + j' = j of the image, K_is is a 1 x 1 convolution (mask B) and K_ss a
  2 x 1 convolution over the previous column: rows i - 1 and i of column j - 1, which are, unskewed, the
  pixel above and the pixel to the left. Each state then depends on everything above and to the left of
  it (a rectangle). A second LSTM runs right to left (the same on the mirrored map) and covers everything
  above and to the right; it also sees the pixels right of the current one on its own row, so its output
  map is **shifted down one row** before being added to the left-to-right one (the paper's fix): the sum
  depends on every feature before the current position, hence on the whole past, but for one pixel: the
  7 x 7 mask-A first layer puts the last pixel of row i - 1 into the features of row i, columns >= W - 4
  only, so the outputs (i, j < W - 4) never see it (a gap of the paper's stack, not drawn in its Figure 4).

Data channels: with C > 1 (RGB) every feature map is split into C contiguous groups, group g belonging to
data channel g, as in PixelCNN (zoo/nets/pixelcnn.py, Sec. 3.4). The masked K_is cuts the current pixel
by groups (mask B: group g reads groups <= g), and the gates are laid out (C, 4, h / C) so that the cell
of group g is written only by group g's gates; K_ss reads whole earlier positions and may mix groups.

``PixelRNNNet`` is Table 1's stack: a 7 x 7 mask-A convolution to 2h features, ``n_layers`` LSTM layers with
residual connections (Sec. 3.3: each layer's h features go back up to 2h by a 1 x 1 convolution and are
added to its input), then ReLU + 1 x 1 (mask B) twice, to (N, C, K, H, W) like ``PixelCNNNet``.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ConfigError
from zoo.nets.autoregressive import (
    Affine, CausalMap, ImageMap, MaskedConv2d, OutputHeadAt, PixelCache, causal_affine, causal_mask, masked_weight,
    output_head, per_channel,
)

LayerType = Literal["row_lstm", "diagonal_bilstm"]


def lstm_update(
    pre: torch.Tensor, c: torch.Tensor, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step (Eq. 3) at L positions at once: gate pre-activations ``pre`` (N, L, 4h) laid out
    (C, 4, h / C) per position (data channel, gate o/f/i/g, unit) and the previous cells ``c`` (N, L, h) ->
    the new (h, c), (N, L, h) each, units laid out (C, h / C) so that the channel groups stay contiguous."""
    n, length, features = pre.shape
    gates = pre.view(n, length, channels, 4, features // (4 * channels))  # (N, L, C, 4, h/C)
    o, f, i = torch.sigmoid(gates[..., :3, :]).unbind(-2)  # one call for the three sigmoid gates
    g = torch.tanh(gates[..., 3, :])  # (N, L, C, h/C)
    c = f * c.view_as(g) + i * g
    h = o * torch.tanh(c)
    return h.flatten(2), c.flatten(2)


class RowLSTMLayer(nn.Module):
    """The Row LSTM layer (Sec. 3.1): (N, in_features, H, W) -> hidden states (N, h, H, W), rows top to bottom.

    Args:
        in_features: features of the input map (2h in Table 1's stack), a multiple of ``channels``.
        h: hidden units (and features per gate), a multiple of ``channels``.
        kernel_size: k, odd: K_is reads columns j - k//2 .. j of the current row, K_ss columns j - k//2 ..
            j + k//2 of the previous row's states (3 in the paper).
        channels: data channels C (the groups of every feature map).
    """

    def __init__(self, in_features: int, h: int, *, kernel_size: int = 3, channels: int = 1) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ConfigError(f"the Row LSTM's kernel_size must be odd (the current column and as many on either "
                              f"side), got {kernel_size}")
        self.h, self.channels, self.kernel_size = h, channels, kernel_size
        self.input_to_state = nn.Conv2d(in_features, 4 * h, (1, kernel_size), padding=(0, kernel_size // 2))
        # the centre row of a square mask B: left of the current pixel open, the current one cut by groups,
        # the right closed (a 1 x k convolution along the row, Table 1's "3 x 1, mask B")
        centre = kernel_size // 2
        mask = causal_mask("B", in_features, 4 * h, kernel_size, channels)[:, :, centre: centre + 1]
        self.register_buffer("mask", mask, persistent=False)  # (4h, in, 1, k); rebuilt from the arguments
        # K_ss, the kernel-k convolution over the row above, as one linear map of the k neighbours' states:
        # a Conv1d's arithmetic, but cheaper in this loop on CPU (about 1.5x, forward and backward, here)
        self.state_to_state = nn.Linear(kernel_size * h, 4 * h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        weight = self.input_to_state.weight * self.mask
        x_is = F.conv2d(x, weight, self.input_to_state.bias, padding=self.input_to_state.padding)  # (N, 4h, H, W)
        half = self.kernel_size // 2
        h = x.new_zeros(n, width, self.h)  # the row above the image: no state
        c = x.new_zeros(n, width, self.h)
        rows = []
        for x_row in x_is.permute(0, 2, 3, 1).unbind(1):  # (N, W, 4h) per row; unbind: one backward copy
            neighbours = F.pad(h, (0, 0, half, half)).unfold(1, self.kernel_size, 1)  # (N, W, h, k)
            h, c = lstm_update(x_row + self.state_to_state(neighbours.flatten(2)), c, self.channels)
            rows.append(h)  # (N, W, h)
        return torch.stack(rows, dim=1).permute(0, 3, 1, 2)  # (N, h, H, W)


def skew(x: torch.Tensor) -> torch.Tensor:
    """(N, F, H, W) -> (N, F, H, W + H - 1): row i shifted right by i, zeros around, so the skewed column j
    holds the image's diagonal i + j' = j (Figure 3)."""
    height = x.shape[2]
    return torch.stack([F.pad(row, (i, height - 1 - i)) for i, row in enumerate(x.unbind(2))], dim=2)


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of :func:`skew`: (N, F, H, W + H - 1) -> (N, F, H, W)."""
    return torch.stack([row[..., i: i + width] for i, row in enumerate(x.unbind(2))], dim=2)


class DiagonalLSTM(nn.Module):
    """One direction of the Diagonal BiLSTM (Sec. 3.2): (N, in_features, H, W) -> (N, h, H, W), the state at
    (i, j) a function of the inputs at (i', j') with i' <= i and j' <= j (the current one by mask B).

    Args: as :class:`DiagonalBiLSTMLayer`.
    """

    def __init__(self, in_features: int, h: int, *, channels: int = 1) -> None:
        super().__init__()
        self.h, self.channels = h, channels
        self.input_to_state = MaskedConv2d(in_features, 4 * h, 1, mask_type="B", channels=channels)
        # K_ss, the 2 x 1 kernel over the previous column: its rows i - 1 and i, which are, unskewed, the pixel
        # above and the pixel to the left; one linear map of the two states (a Conv1d's arithmetic, cheaper)
        self.state_to_state = nn.Linear(2 * h, 4 * h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        x_is = self.input_to_state(skew(x))  # (N, 4h, H, W + H - 1)
        h = x.new_zeros(n, height, self.h)  # the column left of the image: no state
        c = x.new_zeros(n, height, self.h)
        columns = []
        for x_column in x_is.permute(0, 3, 2, 1).unbind(1):  # (N, H, 4h) per column
            neighbours = torch.cat([F.pad(h, (0, 0, 1, 0))[:, :-1], h], dim=2)  # (N, H, 2h): row i - 1, row i
            h, c = lstm_update(x_column + self.state_to_state(neighbours), c, self.channels)
            columns.append(h)  # (N, H, h)
        return unskew(torch.stack(columns, dim=1).permute(0, 3, 2, 1), width)  # (N, h, H, W)

    def boundary(self, height: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The states (h, c), (H, h) each, left of column 0 at every row: what ``forward`` reaches there after
        the skewed columns 0 .. i - 1 of row i, which hold no pixel (zero inputs: K_is is its bias), so they
        are the same for every image. Row 0 has none: zeros."""
        bias = self.input_to_state.bias[None, None]  # (1, 1, 4h): K_is of a zero input
        h = bias.new_zeros(1, height, self.h)
        c = bias.new_zeros(1, height, self.h)
        edge_h, edge_c = [h[0, 0]], [c[0, 0]]
        for i in range(1, height):  # after skewed column i - 1, row i is at column -1 of the image
            neighbours = torch.cat([F.pad(h, (0, 0, 1, 0))[:, :-1], h], dim=2)
            h, c = lstm_update(bias.expand(1, height, -1) + self.state_to_state(neighbours), c, self.channels)
            edge_h.append(h[0, i])
            edge_c.append(c[0, i])
        return torch.stack(edge_h), torch.stack(edge_c)


class DiagonalBiLSTMLayer(nn.Module):
    """The Diagonal BiLSTM layer (Sec. 3.2): (N, in_features, H, W) -> (N, h, H, W), two diagonal LSTMs, left
    to right and right to left, the second's map shifted down one row so that the sum sees the whole past.

    Args:
        in_features: features of the input map (2h in Table 1's stack), a multiple of ``channels``.
        h: hidden units of each direction (and features per gate), a multiple of ``channels``.
        channels: data channels C (the groups of every feature map).
    """

    def __init__(self, in_features: int, h: int, *, channels: int = 1) -> None:
        super().__init__()
        self.left_to_right = DiagonalLSTM(in_features, h, channels=channels)
        self.right_to_left = DiagonalLSTM(in_features, h, channels=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from_left = self.left_to_right(x)  # (N, h, H, W): above and to the left, (i, j) included
        from_right = self.right_to_left(x.flip(-1)).flip(-1)  # above and to the right: (i, j + 1) is the future
        # shifted down one row: row i receives row i - 1's states, which see rows < i only (row 0 gets none)
        from_right = F.pad(from_right, (0, 0, 1, 0))[:, :, :-1]
        return from_left + from_right


class PixelRNNNet(nn.Module):
    """Table 1's PixelRNN: a 7 x 7 mask-A convolution to 2h features, ``n_layers`` Row LSTM or Diagonal
    BiLSTM layers each with a residual connection (1 x 1 mask-B convolution from h back to 2h, added to
    the layer's input), then ReLU + 1 x 1 mask-B convolution twice (``output_hidden`` features, then the
    outputs).

    Args:
        in_shape: (C, H, W) of the images.
        outputs_per_channel: K values per channel and pixel: 1 (a Bernoulli logit) or the number of levels.
        layer: ``"row_lstm"`` or ``"diagonal_bilstm"``.
        h: hidden units per LSTM layer (2h features between layers); a multiple of C.
        n_layers: LSTM layers.
        first_kernel_size: the mask-A convolution's kernel (7 in the paper).
        output_hidden: features of the first output 1 x 1 layer (a multiple of C).
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        outputs_per_channel: int,
        *,
        layer: LayerType,
        h: int = 16,
        n_layers: int = 1,
        first_kernel_size: int = 7,
        output_hidden: int = 32,
    ) -> None:
        super().__init__()
        channels = in_shape[0]
        self.channels, self.outputs_per_channel = channels, outputs_per_channel
        if n_layers < 1 or h < 1 or outputs_per_channel < 1:
            raise ConfigError(f"need h >= 1, n_layers >= 1, outputs_per_channel >= 1; got {h}, {n_layers}, "
                              f"{outputs_per_channel}")
        for name, value in (("h", h), ("output_hidden", output_hidden)):
            if value % channels:
                raise ConfigError(f"{name}={value} must be a multiple of the {channels} data channels (one group "
                                  f"of features each)")
        if layer == "row_lstm":
            lstms = [RowLSTMLayer(2 * h, h, channels=channels) for _ in range(n_layers)]
        elif layer == "diagonal_bilstm":
            lstms = [DiagonalBiLSTMLayer(2 * h, h, channels=channels) for _ in range(n_layers)]
        else:
            raise ConfigError(f"layer must be 'row_lstm' or 'diagonal_bilstm', got {layer!r}")
        self.first = MaskedConv2d(channels, 2 * h, first_kernel_size, mask_type="A", channels=channels)
        self.lstms = nn.ModuleList(lstms)
        # mask B keeps the 1 x 1 within the channel groups (for one channel a plain 1 x 1)
        self.residuals = nn.ModuleList(
            MaskedConv2d(h, 2 * h, 1, mask_type="B", channels=channels) for _ in range(n_layers)
        )
        self.output = output_head(2 * h, output_hidden, channels, outputs_per_channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> (N, C, K, H, W): channel c's K outputs at every pixel, each a function of
        the pixels before it in raster order and of the channels before c at its own pixel only."""
        features = self.first(x)  # (N, 2h, H, W)
        for lstm, residual in zip(self.lstms, self.residuals):
            features = features + residual(lstm(features))  # (N, 2h, H, W)
        return per_channel(self.output(features), self.channels)

    def cache(self) -> PixelCache:
        """A sampling cache (zoo/nets/autoregressive.py): the LSTMs' states carried from step to step."""
        return _PixelRNNCache(self)


class _PixelRNNCache:
    """The stack one position at a time, each LSTM's states carried (Row LSTM: the row above's; Diagonal
    BiLSTM: the pixel above's and the left one's). The Diagonal BiLSTM's right-to-left LSTM reaches a row
    only shifted down one, so it runs over row i - 1, right to left, once row i begins.

    Outside the image the skewed map's LSTMs still step (on zero inputs, so on their biases): the state left
    of column 0 is not zero but the same for every image; ``DiagonalLSTM.boundary`` computes it."""

    def __init__(self, net: PixelRNNNet) -> None:
        self.net = net
        self.diagonal = isinstance(net.lstms[0], DiagonalBiLSTMLayer)
        self.first, self.half = causal_affine(net.first), net.first.kernel_size[0] // 2
        self.residuals = [Affine(masked_weight(r), r.bias) for r in net.residuals]
        self.head = OutputHeadAt(net.output, net.channels)
        self.hidden = net.residuals[0].in_channels
        self.steps: list = []
        for lstm in net.lstms:
            if self.diagonal:
                self.steps.append({d: _DiagonalStep(getattr(lstm, d)) for d in ("left_to_right", "right_to_left")})
            else:
                self.steps.append(_RowStep(lstm))
        self.row = -1
        self.image: ImageMap | None = None
        self.features: list[CausalMap] = []  # per layer: its input (N, 2h, H, W)

    def logits_at(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.image is None:
            self.image = ImageMap(x, x.shape[1], height, width, up=self.half, side=self.half)
            side = 0 if self.diagonal else self.net.lstms[0].kernel_size // 2
            self.features = [CausalMap(x, self.net.first.out_channels, height, width, up=0, side=side)
                             for _ in self.net.lstms]
            for step in self.steps:
                for s in (step.values() if self.diagonal else [step]):
                    s.start(x, height, width)
        new_row = i != self.row
        self.image.update(x, i, j, new_row)
        if new_row:
            if self.diagonal and i > 0:  # every layer's right-to-left LSTM over row i - 1, now final
                for features, step in zip(self.features, self.steps):
                    row = features.row(i - 1).flip(1)  # (N, W, 2h), mirrored
                    for j_mirrored in range(width):
                        step["right_to_left"](row[:, j_mirrored], i - 1, j_mirrored)
            self.row = i
        half = self.half
        features = self.first(self.image.window(i, j, up=half, left=half, right=half))  # (N, 2h)
        for layer, (step, residual) in enumerate(zip(self.steps, self.residuals)):
            self.features[layer][i, j] = features
            if self.diagonal:
                out = step["left_to_right"](features, i, j)
                if i > 0:  # the right-to-left LSTM's row above, at this column
                    out = out + step["right_to_left"].h[:, i - 1, width - 1 - j]
            else:
                out = step(self.features[layer], i, j)
            features = features + residual(out)
        return self.head(features)


class _RowStep:
    """One Row LSTM layer at one position (i, j): K_is along row i up to column j (mask B), K_ss over the row
    above's states at columns j - k//2 .. j + k//2, in one matrix product each."""

    def __init__(self, lstm: RowLSTMLayer) -> None:
        self.lstm, self.half, self.k = lstm, lstm.kernel_size // 2, lstm.kernel_size
        # the columns right of the current one are masked: K_is over columns j - k//2 .. j only
        self.input_to_state = Affine((lstm.input_to_state.weight * lstm.mask)[..., : self.half + 1],
                                     lstm.input_to_state.bias, window=True)
        # K_ss's weight is laid out (unit, neighbour) (the forward's unfold); the cache's states are
        # (neighbour, unit): permute once
        weight = lstm.state_to_state.weight.view(-1, lstm.h, self.k).transpose(1, 2)
        self.state_to_state = Affine(weight, lstm.state_to_state.bias)

    def start(self, x: torch.Tensor, height: int, width: int) -> None:
        self.h = x.new_zeros(len(x), height + 1, width + 2 * self.half, self.lstm.h)  # row 0: above the image
        self.c = x.new_zeros(len(x), height + 1, width, self.lstm.h)

    def __call__(self, features: CausalMap, i: int, j: int) -> torch.Tensor:
        x_is = self.input_to_state(features.window(i, j, up=0, left=self.half, right=0))  # (N, 4h)
        pre = self.state_to_state(self.h[:, i, j: j + self.k], x_is)  # the row above: h's row i is image row i - 1
        h, c = lstm_update(pre[:, None], self.c[:, i, j][:, None], self.lstm.channels)
        self.h[:, i + 1, j + self.half], self.c[:, i + 1, j] = h[:, 0], c[:, 0]
        return h[:, 0]


class _DiagonalStep:
    """One direction of a Diagonal BiLSTM layer at one position (i, j) (of the mirrored map for right to
    left): K_is (1 x 1, mask B) on the input there, K_ss on the states of the pixel above and the left one."""

    def __init__(self, lstm: DiagonalLSTM) -> None:
        self.lstm = lstm
        self.input_to_state = Affine(masked_weight(lstm.input_to_state), lstm.input_to_state.bias)
        self.state_to_state = Affine(lstm.state_to_state.weight, lstm.state_to_state.bias)

    def start(self, x: torch.Tensor, height: int, width: int) -> None:
        # column 0 holds the states left of the image (DiagonalLSTM.boundary), row 0 the zeros above it
        self.states = x.new_zeros(len(x), height + 1, width + 1, 2 * self.lstm.h)  # [h; c]
        edge_h, edge_c = self.lstm.boundary(height)
        self.states[:, 1:, 0] = torch.cat([edge_h, edge_c], dim=1).to(x)
        self.h = self.states[:, 1:, 1:, : self.lstm.h]  # (N, H, W, h), a view

    def __call__(self, features: torch.Tensor, i: int, j: int) -> torch.Tensor:
        hidden = self.lstm.h
        above, left = self.states[:, i, j + 1, :hidden], self.states[:, i + 1, j]  # left: [h; c]
        pre = self.state_to_state(torch.cat([above, left[:, :hidden]], dim=1), self.input_to_state(features))
        h, c = lstm_update(pre[:, None], left[:, None, hidden:], self.lstm.channels)
        self.states[:, i + 1, j + 1] = torch.cat([h[:, 0], c[:, 0]], dim=1)
        return h[:, 0]

"""Diagonal BiLSTM: van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016,
arXiv:1601.06759 (Sec. 3.2, 3.3, Table 1).

The image is a product of per-pixel conditionals in raster order, channels in order within a pixel (Eq. 1-2),

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

each computed by a stack of Diagonal BiLSTM layers (zoo/nets/pixelrnn.py). A layer skews its input map (row i
shifted right by i), so that a column of the skewed map is a diagonal of the image, and runs an LSTM over the
columns, left to right, every column in one step (Eq. 3):

    [o_j, f_j, i_j, g_j] = [sigma, sigma, sigma, tanh](K_ss (*) h_{j-1} + K_is (*) x_j),
    c_j = f_j . c_{j-1} + i_j . g_j,        h_j = o_j . tanh(c_j),

with K_is a 1 x 1 convolution (mask B) over the whole map at once and K_ss a 2 x 1 convolution over the
previous column's states (unskewed: the pixel above and the pixel to the left), so that the state at (i, j)
sees every pixel above and to the left of it. A second LSTM does the same right to left; its output map is
shifted down one row (it would otherwise see the pixels to the right on the current row) and added to the
first's. The sum depends on every pixel before the current one: the receptive field is the whole past, where
the Row LSTM's is a triangle and PixelCNN's has a blind spot (all but one pixel, strictly: Table 1's mask-A
first layer hides the last pixel of the row above, (i - 1, W - 1), from the outputs (i, j < W - 4), which
reach it through no layer; a gap of the paper's architecture, which its Figure 4 does not draw; tested in
tests/methods/autoregressive/test_pixelrnn.py). Table 1's stack: a 7 x 7 mask-A convolution,
``n_layers`` Diagonal BiLSTM layers with residual connections (Sec. 3.3), ReLU + 1 x 1 mask-B convolution
twice. Trained by maximum likelihood on the exact log p(x), every conditional in one pass (teacher forcing);
``log_likelihood`` is exact. Sigmoid (Bernoulli) outputs for binary data (``levels=2``, the default, as for
the paper's binarized MNIST), a softmax over the levels otherwise (Sec. 2.2). Sampling and completion are in
zoo/methods/autoregressive/base.py.

Deviations from the paper:
- Smaller than the paper's networks (7 layers of h = 16 for binarized MNIST, 79.20 nats, and 1 layer of
  h = 32, 80.75; 12 layers of h = 128 for CIFAR-10): h = 16 and 1 layer by default (one layer already sees
  the whole past; each costs about twice a Row LSTM layer, two directions over W + H - 1 skewed columns),
  for 8x8 digits and a CPU budget; recipes set the size.
- Residual connections only, no learnable skip connections from every layer to the output (Sec. 3.3).
- Adam (lr 1e-3) instead of RMSProp.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.methods.autoregressive.base import AutoregressiveModel
from zoo.nets.autoregressive import PixelCache
from zoo.nets.pixelrnn import PixelRNNNet
from zoo.registry import Paper, register_model


class DiagonalBiLSTM(AutoregressiveModel):
    """PixelRNN's Diagonal BiLSTM with Bernoulli (``levels=2``) or categorical (``levels`` > 2) conditionals.

    Args:
        in_shape: (C, H, W) of the images.
        levels: 2 for binary images (the binarized protocol), n for images with pixel values i / (n - 1).
        h: hidden units of each direction of each layer (2h features between layers), a multiple of C.
        n_layers: Diagonal BiLSTM layers.
        output_hidden: features of the first of the two output 1x1 layers, a multiple of C.
        optimizer, lr_scheduler: default Adam, lr 1e-3.
        channels_last, compile: speed switches, off by default (see ``ZooModule``).
    """

    paper = Paper("Pixel recurrent neural networks", "van den Oord et al.", 2016, "1601.06759")

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 8, 8),
        levels: int = 2,
        h: int = 16,
        n_layers: int = 1,
        output_hidden: int = 32,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__(
            in_shape=in_shape, levels=levels, optimizer=optimizer, lr_scheduler=lr_scheduler,
            channels_last=channels_last, compile=compile,
        )
        self.net = PixelRNNNet(self.in_shape, self.outputs_per_channel, layer="diagonal_bilstm", h=h,
                               n_layers=n_layers, output_hidden=output_hidden)
        self.save_plain_hyperparameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conditionals(x)

    def conditionals(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, C, K, H, W) of p(x_i | x_<i): the Diagonal BiLSTM stack in one pass (unconditional:
        ``y`` is always None, the base refuses labels)."""
        return self.net(x)


    def pixel_cache(self, y: torch.Tensor | None = None) -> PixelCache:
        """The net's sampling cache: one position per call, the same outputs as ``conditionals``."""
        return self.net.cache()

@register_model
def diagonal_bilstm(**kwargs) -> DiagonalBiLSTM:
    """PixelRNN's Diagonal BiLSTM (skewed two-direction LSTM, whole-past receptive field); Bernoulli outputs."""
    return DiagonalBiLSTM(**kwargs)

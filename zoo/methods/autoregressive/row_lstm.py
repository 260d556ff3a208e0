"""Row LSTM: van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016,
arXiv:1601.06759 (Sec. 3.1, 3.3, Table 1).

The image is a product of per-pixel conditionals in raster order, channels in order within a pixel (Eq. 1-2),

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

each computed by a stack of Row LSTM layers (zoo/nets/pixelrnn.py) that process the image a row at a time,
top to bottom, every row in one LSTM step (Eq. 3):

    [o_i, f_i, i_i, g_i] = [sigma, sigma, sigma, tanh](K_ss (*) h_{i-1} + K_is (*) x_i),
    c_i = f_i . c_{i-1} + i_i . g_i,        h_i = o_i . tanh(c_i),

with K_is a 1 x 3 convolution along row i masked to the columns j - 1 .. j (mask B), computed for the whole
map at once, and K_ss an unmasked kernel-3 convolution over the previous row's states. A pixel's receptive
field is the triangle above it (widening by one column per row upwards), plus a few pixels to its left: not
the whole past (the Diagonal BiLSTM's is). Table 1's stack: a 7 x 7 mask-A convolution, ``n_layers`` Row
LSTM layers with residual connections (Sec. 3.3), ReLU + 1 x 1 mask-B convolution twice. Trained by maximum
likelihood on the exact log p(x), every conditional in one pass (teacher forcing); ``log_likelihood`` is
exact. Sigmoid (Bernoulli) outputs for binary data (``levels=2``, the default), a softmax over the levels
otherwise (Sec. 2.2). Sampling and completion are in zoo/methods/autoregressive/base.py.

Deviations from the paper:
- Smaller than the paper's networks (12 layers of h = 128 for CIFAR-10): h = 16 and 2 layers by default,
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


class RowLSTM(AutoregressiveModel):
    """PixelRNN's Row LSTM with Bernoulli (``levels=2``) or categorical (``levels`` > 2) conditionals.

    Args:
        in_shape: (C, H, W) of the images.
        levels: 2 for binary images (the binarized protocol), n for images with pixel values i / (n - 1).
        h: hidden units of each Row LSTM layer (2h features between layers), a multiple of C.
        n_layers: Row LSTM layers.
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
        n_layers: int = 2,
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
        self.net = PixelRNNNet(self.in_shape, self.outputs_per_channel, layer="row_lstm", h=h, n_layers=n_layers,
                               output_hidden=output_hidden)
        self.save_plain_hyperparameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conditionals(x)

    def conditionals(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, C, K, H, W) of p(x_i | x_<i): the Row LSTM stack in one pass (unconditional: ``y`` is
        always None, the base refuses labels)."""
        return self.net(x)


    def pixel_cache(self, y: torch.Tensor | None = None) -> PixelCache:
        """The net's sampling cache: one position per call, the same outputs as ``conditionals``."""
        return self.net.cache()

@register_model
def row_lstm(**kwargs) -> RowLSTM:
    """PixelRNN's Row LSTM (row-by-row LSTM, triangular receptive field); Bernoulli outputs by default."""
    return RowLSTM(**kwargs)

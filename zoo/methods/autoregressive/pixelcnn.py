"""PixelCNN: van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016,
arXiv:1601.06759 (Sec. 3.5, Table 1).

The image is a product of per-pixel conditionals in raster order (Eq. 1-2), each one computed by a stack of
masked convolutions (zoo/nets/pixelcnn.py): a 7x7 convolution with mask A (a pixel does not see itself),
residual blocks of 3x3 convolutions with mask B (Figure 5), then two ReLU + 1x1 layers. Trained by maximum
likelihood on the exact log p(x) (teacher forcing: every conditional in one pass); ``log_likelihood`` is exact.

Outputs: a sigmoid (Bernoulli) per pixel for binary data, as the paper for binarized MNIST (``levels=2``,
the default); a softmax over the levels for n-level data (``levels=17`` for digits' grey levels, 256 for
8-bit images, Sec. 2.2). Sampling and completion are in zoo/methods/autoregressive/base.py.

Deviations from the paper:
- Smaller than the paper's networks (sized there for 32x32 and 64x64 images): h = 16 (2h = 32 features
  between blocks) and 4 residual blocks by default, for 8x8 digits and a CPU budget; recipes set the size.
  As in the paper, the masked stack has a blind spot (pixels up and to the right outside the growing cone
  are never seen; the Gated PixelCNN, arXiv:1606.05328, removes it).
- Adam (lr 1e-3) instead of RMSProp; no dropout.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.methods.autoregressive.base import AutoregressiveModel
from zoo.nets.autoregressive import PixelCache
from zoo.nets.pixelcnn import PixelCNNNet
from zoo.registry import Paper, register_model


class PixelCNN(AutoregressiveModel):
    """PixelCNN with Bernoulli (``levels=2``) or categorical (``levels`` > 2) conditionals.

    Args:
        in_shape: (C, H, W) of the images.
        levels: 2 for binary images (the binarized protocol), n for images with pixel values i / (n - 1).
        h: features inside the residual blocks (2h between them), a multiple of C.
        n_blocks: residual blocks of 3x3 mask-B convolutions.
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
        n_blocks: int = 4,
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
        self.net = PixelCNNNet(self.in_shape, self.outputs_per_channel, h=h, n_blocks=n_blocks,
                               output_hidden=output_hidden)
        self.save_plain_hyperparameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conditionals(x)

    def conditionals(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, C, K, H, W) of p(x_i | x_<i): the masked stack in one pass (unconditional: ``y`` is
        always None, the base refuses labels)."""
        return self.net(x)


    def pixel_cache(self, y: torch.Tensor | None = None) -> PixelCache:
        """The net's sampling cache: one position per call, the same outputs as ``conditionals``."""
        return self.net.cache()

@register_model
def pixelcnn(**kwargs) -> PixelCNN:
    """PixelCNN (masked convolutions, residual blocks); Bernoulli outputs for binarized data by default."""
    return PixelCNN(**kwargs)

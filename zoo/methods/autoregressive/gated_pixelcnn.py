"""Gated PixelCNN: van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu, "Conditional Image
Generation with PixelCNN Decoders", NeurIPS 2016, arXiv:1606.05328 (Sec. 2).

The same model as PixelCNN (zoo/methods/autoregressive/pixelcnn.py), an image as a product of per-pixel
conditionals in raster order, channel by channel,

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1})                  (Eq. 1)

trained by maximum likelihood on the exact log p(x), with a better network (zoo/nets/gated_pixelcnn.py):

- two stacks per layer remove PixelCNN's blind spot (Sec. 2.2, Figure 1): a vertical stack over the rows
  above, fed to a horizontal stack over the current row after a one-row shift, so each conditional can see
  every pixel before it once the net is deep enough (~max(H, W) / (k//2) layers);
- gated activations replace the ReLUs (Sec. 2.1, Eq. 2; the paper's y, a layer's output, is o here, as y
  names the labels in the zoo):

      o = tanh(W_{k,f} * x) * sigmoid(W_{k,g} * x);

- with ``conditional=True``, the *conditional* PixelCNN (Sec. 2.3, Eq. 3-4) models p(x | y) = prod_i
  p(x_i | x_<i, y) for labels y in [0, num_classes): the class's one-hot code h enters every gate as a bias,

      o = tanh(W_{k,f} * x + V_{k,f}^T h) * sigmoid(W_{k,g} * x + V_{k,g}^T h).

  Such a model trains on the batch's labels, samples with ``sample(n, y=...)`` (classes drawn uniformly
  without y, as cGAN's) and scores ``log_likelihood(x, y=...)`` = log p(x | y); its instance reports the
  "conditional" capability. A switch beside ``num_classes`` rather than ``num_classes=None``: ``zoo fit``
  links every model's ``num_classes`` from the data, so a recipe could not otherwise stay unconditional.

Outputs: a Bernoulli logit per pixel for binary data (``levels=2``, the default, the binarized protocol), a
softmax over the levels for n-level data (the paper's 256-way softmax for 8-bit images). Sampling and
completion are in zoo/methods/autoregressive/base.py, from the net's sampling cache.

Deviations from the paper:
- Much smaller than the paper's nets (sized for 32x32 CIFAR-10 and 32x32/64x64 ImageNet): by default h = 8
  and 4 layers of k = 5 (which see all of an 8x8 image) for digits on a CPU; each recipe matches the CPU time
  per training step of PixelCNN's recipe of the same data, so the two compare at equal cost.
- One kernel size for every layer. As in the paper's final model, no residual connection in the vertical
  stack; none in the first layer of the horizontal stack either (its input has C channels, not h).
- The conditioning is a class label only (the paper also conditions on embeddings, with a spatial map
  V * s(h) for location-dependent conditioning, Eq. 5); a bias per class and gate, not a one-hot matrix
  product (the same function).
- Adam (lr 1e-3, as this zoo's PixelCNN) rather than the paper's training setup; binarized digits and
  Fashion-MNIST instead of CIFAR-10 / ImageNet.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.capabilities import CONDITIONAL
from zoo.methods.autoregressive.base import AutoregressiveModel
from zoo.nets.autoregressive import PixelCache
from zoo.nets.conditional import check_num_classes
from zoo.nets.gated_pixelcnn import GatedPixelCNNNet
from zoo.registry import Paper, register_model


class GatedPixelCNN(AutoregressiveModel):
    """Gated PixelCNN with Bernoulli (``levels=2``) or categorical (``levels`` > 2) conditionals, optionally
    class-conditional.

    Args:
        in_shape: (C, H, W) of the images.
        levels: 2 for binary images (the binarized protocol), n for images with pixel values i / (n - 1).
        h: features of each stack (the gates' convolutions make 2h), a multiple of C.
        n_layers: gated layers; about max(H, W) / (kernel_size // 2) see the whole image (no blind spot).
        kernel_size: odd k >= 3: (k//2 + 1) x k vertical, 1 x (k//2 + 1) horizontal convolutions.
        output_hidden: features of the first of the two output 1x1 layers, a multiple of C.
        conditional: model p(x | y) given class labels (trained on the batch's labels) instead of p(x).
        num_classes: the data's number of classes (>= 2), read when ``conditional``; ``zoo fit`` sets it from
            the datamodule.
        optimizer, lr_scheduler: default Adam, lr 1e-3.
        channels_last, compile: speed switches, off by default (see ``ZooModule``).
    """

    paper = Paper("Conditional image generation with PixelCNN decoders", "van den Oord et al.", 2016, "1606.05328")

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 8, 8),
        levels: int = 2,
        h: int = 8,
        n_layers: int = 4,
        kernel_size: int = 5,
        output_hidden: int = 32,
        conditional: bool = False,
        num_classes: int = 10,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__(
            in_shape=in_shape, levels=levels, optimizer=optimizer, lr_scheduler=lr_scheduler,
            channels_last=channels_last, compile=compile,
        )
        if conditional:
            self.num_classes = check_num_classes(num_classes)
            # the class declares what every instance can do (the registry and leaderboard read it); a
            # conditional instance adds labels, so zoo sample --class, the grids and evaluation pass y
            self.capabilities = type(self).capabilities | {CONDITIONAL}
        self.net = GatedPixelCNNNet(self.in_shape, self.outputs_per_channel, h=h, n_layers=n_layers,
                                    kernel_size=kernel_size, output_hidden=output_hidden,
                                    num_classes=self.num_classes)
        self.save_plain_hyperparameters()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.conditionals(x, y)

    def conditionals(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, C, K, H, W) of p(x_i | x_<i) (of p(x_i | x_<i, y) given labels y (N,)): both stacks in
        one pass."""
        return self.net(x, y)


    def pixel_cache(self, y: torch.Tensor | None = None) -> PixelCache:
        """The net's sampling cache: one position per call, the same outputs as ``conditionals``."""
        return self.net.cache(y)

@register_model
def gated_pixelcnn(**kwargs) -> GatedPixelCNN:
    """Gated PixelCNN (vertical and horizontal stacks, no blind spot, gated activations); Bernoulli outputs for
    binarized data by default; ``conditional=True`` makes it class-conditional."""
    return GatedPixelCNN(**kwargs)

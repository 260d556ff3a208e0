"""Class-conditional DCGAN nets: G(z | y) and D(x | y), the DCGAN nets of zoo/nets/dcgan.py with the label y
entering them, for conditional GANs (zoo/methods/gan/cgan.py).

Two ways for the label to enter the discriminator (``conditioning``):

- ``"concat"`` (Mirza & Osindero 2014, arXiv:1411.1784, Sec. 4.1): a learned embedding e(y) is concatenated
  to the input. The paper maps y (one-hot) to a hidden layer of its own and concatenates it to x's; an
  embedding is that map (a linear layer on a one-hot code), and with convolutions it enters as constant
  channels beside the image's, so every first-layer filter sees the class. (It must enter *before* a
  nonlinearity: concatenated at D's last, linear layer it would only add a per-class constant to the score.)
- ``"projection"`` (Miyato & Koyama 2018, arXiv:1802.05637, Eq. 3): D(x, y) = psi(phi(x)) + <V e_y, phi(x)>,
  with phi(x) DCGAN's last feature map (flattened), psi DCGAN's last conv (the unconditional score) and V a
  per-class vector of phi's size: the class enters as an inner product with the features, not as an input.

The generator always concatenates: G(z | y) = DCGAN's generator on [z; e(y)] (the paper's G, Sec. 4.1).

Embeddings of the generator and the concat discriminator are N(0, 1) like z (an embedding of width
``embedding_dim`` >= num_classes can be any linear map of the one-hot code); the projection's V starts as
DCGAN's last conv, N(0, 0.02) (Sec. 4 of Radford et al.), so every class starts near the same score.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from zoo.errors import ConfigError
from zoo.images import image_shape
from zoo.nets.dcgan import INIT_STD, NORMS, DCGANDiscriminator, DCGANGenerator, Norm
from zoo.nets.layers import positive

Conditioning = Literal["concat", "projection"]
CONDITIONINGS = ("concat", "projection")
#: ``G(latent_dim, out_shape, num_classes)``, called as ``G(z, y)``
ConditionalDecoderFactory = Callable[[int, Sequence[int], int], nn.Module]
#: ``D(in_shape, out_features, num_classes, conditioning)``, called as ``D(x, y)``
ConditionalEncoderFactory = Callable[[Sequence[int], int, int, str], nn.Module]


def check_num_classes(num_classes: int) -> int:
    """``num_classes`` as an int >= 2, else a ConfigError saying where it comes from."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(
            f"num_classes must be an int >= 2 for a class-conditional model, got {num_classes!r}; it is the "
            "data's number of classes (the CLI links it from the datamodule: labelled data with >= 2 classes)"
        )
    return num_classes


class ConditionalDCGANGenerator(nn.Module):
    """(z (N, in_features), y (N,)) -> (N, C, H, W), unbounded (the GAN engine's tanh maps it to [-1, 1]).

    Args:
        in_features: dimension of z.
        out_shape: (C, H, W) of the images.
        num_classes: number of labels; y in [0, num_classes).
        embedding_dim: width of the label embedding e(y) concatenated to z (default: num_classes, as wide
            as the paper's one-hot code).
        width, norm: as ``DCGANGenerator``, which maps [z; e(y)] to the image.
    """

    def __init__(
        self,
        in_features: int,
        out_shape: Sequence[int],
        num_classes: int,
        *,
        embedding_dim: int | None = None,
        width: int = 64,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        if norm not in NORMS:  # reference/virtual: DCGANGenerator's reference codes would carry no label
            raise ConfigError(f"unknown norm {norm!r} for the conditional generator; choose one of {NORMS}")
        embedding_dim = positive("embedding_dim", embedding_dim if embedding_dim is not None else num_classes)
        self.embed = nn.Embedding(num_classes, embedding_dim)
        self.net = DCGANGenerator(positive("in_features", in_features) + embedding_dim, out_shape, width=width,
                                  norm=norm)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z.flatten(1), self.embed(y)], dim=1))  # (N, D + E) -> (N, C, H, W)


class ConditionalDCGANDiscriminator(nn.Module):
    """(x (N, C, H, W), y (N,)) -> scores (N, out_features): DCGAN's discriminator with the label entering by
    ``conditioning`` (see the module docstring).

    Args:
        in_shape: (C, H, W) of the images (values in [-1, 1], as G writes them).
        out_features: scores per image (1 for a GAN; the projection needs 1).
        num_classes: number of labels; y in [0, num_classes).
        conditioning: ``"concat"`` (the cGAN paper) or ``"projection"`` (Miyato & Koyama).
        embedding_dim: channels of the label embedding concatenated to the image (``"concat"`` only;
            default num_classes).
        width, norm: as ``DCGANDiscriminator``.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        out_features: int = 1,
        num_classes: int = 10,
        conditioning: Conditioning = "concat",
        *,
        embedding_dim: int | None = None,
        width: int = 64,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        c, h, w = image_shape(in_shape)
        self.num_classes = check_num_classes(num_classes)
        if conditioning not in CONDITIONINGS:
            raise ConfigError(f"unknown conditioning {conditioning!r}; choose one of {CONDITIONINGS}")
        if conditioning == "projection" and out_features != 1:
            raise ConfigError(
                f"the projection discriminator gives one score per image, got out_features={out_features}")
        if conditioning == "projection" and embedding_dim is not None:
            raise ConfigError("embedding_dim is for conditioning='concat'; the projection's V has the size of the "
                              "features, set by width")
        self.conditioning = conditioning
        channels_in = c
        if conditioning == "concat":
            embedding_dim = positive("embedding_dim", embedding_dim if embedding_dim is not None else num_classes)
            self.embed = nn.Embedding(num_classes, embedding_dim)
            channels_in += embedding_dim
        dcgan = DCGANDiscriminator((channels_in, h, w), out_features, width=width, norm=norm)
        # DCGAN's discriminator split before its last conv: phi (the features) and psi (the unconditional score)
        self.features = nn.Sequential(*list(dcgan.net)[:-1])
        self.head = dcgan.net[-1]
        if conditioning == "projection":
            # phi(x) is what psi reads: its channels and, DCGAN's last kernel being the smallest map, its size
            self.feature_shape = (self.head.in_channels, *self.head.kernel_size)  # (C', h', w')
            self.embed = nn.Embedding(num_classes, math.prod(self.feature_shape))
            nn.init.normal_(self.embed.weight, 0.0, INIT_STD)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        if self.conditioning == "concat":
            label_maps = self.embed(y)[:, :, None, None].expand(-1, -1, h, w)  # (N, E) -> (N, E, H, W)
            return self.head(self.features(torch.cat([x, label_maps], dim=1))).flatten(1)
        phi = self.features(x)  # (N, C', h', w')
        projection = (self.embed(y).view(n, *self.feature_shape) * phi).flatten(1).sum(1, keepdim=True)  # (N, 1)
        return self.head(phi).flatten(1) + projection

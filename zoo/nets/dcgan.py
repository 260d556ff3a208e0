"""DCGAN generator and discriminator (Radford et al., "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016, arXiv:1511.06434), for any square-ish size.

The paper's architecture guidelines (Sec. 3):
- no pooling and no fully connected hidden layers: strided convolutions in D, fractional-strided
  (transposed) convolutions in G, kernel 4, stride 2, padding 1 (each doubles or halves the side);
- batch norm in both nets, except at G's output and D's input;
- ReLU in G (its tanh output is applied by the GAN engine, so nets stay unbounded like every zoo
  decoder), LeakyReLU(0.2) in D;
- weights initialised from N(0, 0.02) (Sec. 4), batch-norm scales from N(1, 0.02).

The generator's ``norm`` may also be ``"reference"`` or ``"virtual"`` (Salimans et al. 2016, arXiv:1606.03498;
zoo/nets/batchnorm.py): a reference batch of ``reference_batch`` latent codes, drawn once from a seeded
generator and kept as a buffer (so it is saved with the model, restored on resume, and the same on every DDP
rank), runs through G with every minibatch, and its activations' statistics normalise each layer. An
example's output then never depends on the rest of its batch, in training as in sampling.

Sizes: the side is halved while it is even and > 4, so 64 -> 32 -> 16 -> 8 -> 4 (the paper's LSUN net:
channels 8w, 4w, 2w, w with w = 64 for G and D), 32 -> 16 -> 8 -> 4, 28 -> 14 -> 7 and 8 -> 4. G projects
z with a transposed conv whose kernel is the smallest map (1x1 -> 4x4 or 7x7); D ends with a conv of that
kernel to one score.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from zoo.errors import ConfigError
from zoo.images import image_shape
from zoo.nets.batchnorm import ReferenceBatchNorm2d, VirtualBatchNorm2d
from zoo.nets.layers import positive

Norm = Literal["batch", "layer", "none"]
NORMS = ("batch", "layer", "none")
GeneratorNorm = Literal["batch", "layer", "none", "reference", "virtual"]
#: the generator's norms: the reference-batch ones need G's fixed reference codes, so only G has them
GENERATOR_NORMS = (*NORMS, "reference", "virtual")
INIT_STD = 0.02  # the paper's N(0, 0.02) initialisation
LEAK = 0.2  # the paper's LeakyReLU slope


def dcgan_sides(height: int, width: int) -> list[tuple[int, int]]:
    """Feature-map sizes from the image down to the smallest map: [(28, 28), (14, 14), (7, 7)]."""
    sides = [(height, width)]
    while sides[-1][0] % 2 == 0 and sides[-1][1] % 2 == 0 and max(sides[-1]) > 4:
        sides.append((sides[-1][0] // 2, sides[-1][1] // 2))
    if len(sides) == 1:
        raise ConfigError(
            f"DCGAN nets need an even image side > 4 to halve at least once, got {height}x{width}; "
            "resize the data (the datamodule's size=), e.g. to 8, 28, 32 or 64"
        )
    return sides


def _norm(kind: GeneratorNorm, channels: int, reference_size: int = 0) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "reference":
        return ReferenceBatchNorm2d(channels, reference_size)
    if kind == "virtual":
        return VirtualBatchNorm2d(channels, reference_size)
    if kind == "layer":
        # normalises each sample over (C, H, W), so the critic's output for one sample does not depend on
        # the others, as the gradient penalty assumes (Gulrajani et al. 2017, Sec. 4)
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def _check_norm(norm: str, choices: tuple[str, ...] = NORMS) -> Norm:
    if norm not in choices:
        hint = ("; reference and virtual batch norm are the generator's (its reference batch is of latent codes)"
                if norm in GENERATOR_NORMS else "")
        raise ConfigError(f"unknown norm {norm!r}; choose one of {choices}{hint}")
    return norm  # type: ignore[return-value]


def dcgan_init_(module: nn.Module) -> None:
    """N(0, 0.02) for conv weights, N(1, 0.02) for normalisation scales, zero biases (paper Sec. 4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, ReferenceBatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, INIT_STD)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """z (N, in_features) -> (N, C, H, W), unbounded (the engine's tanh maps it to [-1, 1]).

    Args:
        in_features: dimension of z (100 in the paper).
        out_shape: (C, H, W) of the images.
        width: channels of the last hidden map; they double towards the smallest map (the paper: 128
            for 64x64 images, listed as 1024 -> 512 -> 256 -> 128).
        norm: ``"batch"`` (the paper), ``"reference"`` or ``"virtual"`` batch norm (Salimans et al. 2016; see
            the module docstring), ``"layer"`` or ``"none"``.
        reference_batch: m, the number of reference codes (``"reference"``/``"virtual"`` only; each forward
            pass runs m + N codes).
        reference_seed: seed of the reference codes z_ref ~ N(0, I), drawn once here.
    """

    def __init__(self, in_features: int, out_shape: Sequence[int], *, width: int = 64, norm: GeneratorNorm = "batch",
                 reference_batch: int = 64, reference_seed: int = 0) -> None:
        super().__init__()
        c_img, h, w = self.out_shape = image_shape(out_shape, "out_shape")
        width, norm = positive("width", width), _check_norm(norm, GENERATOR_NORMS)
        in_features = positive("in_features", in_features)
        self.reference_size = 0
        if norm in ("reference", "virtual"):
            if isinstance(reference_batch, bool) or not isinstance(reference_batch, int) or reference_batch < 2:
                raise ConfigError(f"reference_batch must be an int >= 2, got {reference_batch!r}; the paper uses "
                                  "the minibatch size (e.g. 64)")
            self.reference_size = reference_batch
            # drawn from its own seeded generator: the same codes on every DDP rank and in every run of the recipe
            codes = torch.randn(reference_batch, in_features, generator=torch.Generator().manual_seed(reference_seed))
            self.register_buffer("reference_z", codes)
        sides = dcgan_sides(h, w)[::-1]  # smallest first: [(7, 7), (14, 14), (28, 28)]
        channels = [width * 2 ** (len(sides) - 2 - i) for i in range(len(sides) - 1)]  # [2w, w] for 28x28
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_features, channels[0], sides[0], bias=norm == "none"),
            _norm(norm, channels[0], self.reference_size),
            nn.ReLU(),
        ]
        for c_in, c_out in itertools.pairwise(channels):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=norm == "none"),
                       _norm(norm, c_out, self.reference_size), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(channels[-1], c_img, 4, 2, 1))  # no norm at the output
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.view(z.shape[0], -1, 1, 1)  # (N, D) -> (N, D, 1, 1) -> (N, C, H, W)
        if not self.reference_size:
            return self.net(z)
        # the reference codes go first through every layer; their rows are dropped at the output
        reference = self.reference_z.to(z.dtype).view(self.reference_size, -1, 1, 1)
        return self.net(torch.cat([reference, z]))[self.reference_size:]


class DCGANDiscriminator(nn.Module):
    """(N, C, H, W) -> (N, out_features) scores: logits for a GAN, critic values for a WGAN.

    Args:
        in_shape: (C, H, W) of the images (values in [-1, 1], as G writes them).
        out_features: 1 for a discriminator or critic.
        width: channels of the first map; they double per stride-2 conv (64 in the paper).
        norm: ``"batch"`` (DCGAN), ``"layer"`` (WGAN-GP's critic: no batch norm, whose cross-sample
            coupling breaks the per-sample gradient penalty) or ``"none"``. Never on the input layer.
    """

    def __init__(self, in_shape: Sequence[int], out_features: int = 1, *, width: int = 64, norm: Norm = "batch") -> None:
        super().__init__()
        c_img, h, w = self.in_shape = image_shape(in_shape)
        width, norm = positive("width", width), _check_norm(norm)
        sides = dcgan_sides(h, w)
        channels = [width * 2**i for i in range(len(sides) - 1)]  # [w, 2w] for 28x28
        layers: list[nn.Module] = [nn.Conv2d(c_img, channels[0], 4, 2, 1), nn.LeakyReLU(LEAK)]  # no norm at input
        for c_in, c_out in itertools.pairwise(channels):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none"), _norm(norm, c_out), nn.LeakyReLU(LEAK)]
        layers.append(nn.Conv2d(channels[-1], positive("out_features", out_features), sides[-1]))  # (N, out, 1, 1)
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations (N, C', h, w): the "l-th layer" VAE-GAN measures similarity in."""
        return self.net[:-1](x)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Scores (N, out_features) from ``features(x)``: ``head(features(x)) == forward(x)``."""
        return self.net[-1](features).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (N, out_features)

"""Denoising autoencoder: Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing Robust Features
with Denoising Autoencoders", ICML 2008 (no arXiv id).

The encoder sees a corrupted x~ ~ q_D(x~|x); the decoder is trained to reconstruct the *clean* x. The only
difference from ``Autoencoder`` is ``corrupt``.

Corruptions (``noise``):
- ``"masking"`` (the paper's): a random fraction ``noise_level`` of the pixels, chosen per image, is set to 0.
- ``"gaussian"``: additive isotropic Gaussian noise, x~ = x + noise_level * eps (Vincent et al. 2010).
- ``"salt_and_pepper"``: a fraction ``noise_level`` of the pixels is set to 0 or 1 with equal
  probability (Vincent et al. 2010).

Deviations from the paper:
- Untied encoder/decoder weights and a squared-error loss (the paper ties W' = W^T and uses the
  cross-entropy for [0, 1] inputs); Adam (lr 1e-3) instead of SGD; no layer-wise stacking.
- Validation and test losses are measured on corrupted inputs too, so they report the denoising error.
"""
from __future__ import annotations

from typing import Any, Literal

import torch

from zoo.errors import ConfigError
from zoo.methods.autoencoders.ae import Autoencoder
from zoo.nets import CONV_NETS
from zoo.registry import Paper, register_model

Noise = Literal["masking", "gaussian", "salt_and_pepper"]
NOISES = ("masking", "gaussian", "salt_and_pepper")


def corrupt(x: torch.Tensor, noise: Noise, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw x~ ~ q_D(x~ | x). Pure function: the randomness comes only from ``generator`` (or torch's RNG)."""
    if noise == "gaussian":
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + level * eps
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    hit = u < level
    if noise == "masking":
        return x.masked_fill(hit, 0.0)
    if noise == "salt_and_pepper":
        # reuse u: given a hit, u / level is uniform on [0, 1), so its halves pick pepper or salt
        salt = (u < level / 2).to(x.dtype)
        return torch.where(hit, salt, x)
    raise ConfigError(f"unknown noise {noise!r}; choose one of {NOISES}")


class DenoisingAutoencoder(Autoencoder):
    """Autoencoder trained to undo the corruption ``noise`` at strength ``noise_level``.

    Args:
        noise: ``"masking"`` (default, the paper's), ``"gaussian"`` or ``"salt_and_pepper"``.
        noise_level: fraction of corrupted pixels (masking, salt-and-pepper; in [0, 1)) or the standard
            deviation of the Gaussian noise (> 0). Default 0.25, the middle of the paper's 0-50% sweep.
        **kwargs: the ``Autoencoder`` arguments (in_shape, latent_dim, encoder, decoder, optimizer, ...).
    """

    paper = Paper("Extracting and composing robust features with denoising autoencoders", "Vincent et al.", 2008)

    def __init__(self, *, noise: Noise = "masking", noise_level: float = 0.25, **kwargs: Any) -> None:
        if noise not in NOISES:
            raise ConfigError(f"unknown noise {noise!r}; choose one of {NOISES}")
        if noise == "gaussian" and not noise_level > 0:
            raise ConfigError(f"noise_level (the Gaussian std) must be > 0, got {noise_level}")
        if noise != "gaussian" and not 0 < noise_level < 1:
            raise ConfigError(f"noise_level (the fraction of corrupted pixels) must be in (0, 1), got {noise_level}")
        super().__init__(**kwargs)
        self.noise = noise
        self.noise_level = noise_level

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return corrupt(x, self.noise, self.noise_level, generator)


@register_model
def dae(**kwargs) -> DenoisingAutoencoder:
    """Denoising autoencoder (masking noise by default) with MLP encoder and decoder."""
    return DenoisingAutoencoder(**kwargs)


@register_model(recipe="recipes/dae/fashion_mnist.yaml")
def dae_conv(**kwargs) -> DenoisingAutoencoder:
    """Denoising autoencoder with convolutional encoder and decoder."""
    return DenoisingAutoencoder(**{**CONV_NETS, **kwargs})

"""Binarized images: the data on which a Bernoulli model's log-likelihood is a log-probability.

A grey-level image x in [0, 1] is not an outcome of independent Bernoulli pixels, so the "Bernoulli
log-likelihood" of grey images is a cross-entropy, not the log-probability of anything. The standard protocol
for likelihoods of binary models on MNIST-like data (Salakhutdinov & Murray 2008; Larochelle & Murray 2011;
van den Oord et al. 2016, arXiv:1601.06759, Sec. 5) binarizes the images stochastically, each pixel
b ~ Bernoulli(x):

- **dynamic** for training: a fresh binarization each time an image is read (here: drawn per batch from
  the epoch's seeded generator, :class:`zoo.data.memory.TensorBatches`, so a resumed run sees the same bits);
- **static** for validation and test: one binarization drawn with a fixed seed (:data:`STATIC_SEED`,
  independent of the run's ``seed``, so every run and every method is scored on the same bits), identified by
  the sha256 of its bits (:func:`binary_sha256`). :data:`STATIC_TEST_SHA256` records the hashes of the test
  splits; tests/data/test_binarize.py checks them, so a change in the draw cannot pass unnoticed.

A pixel is 1 when u < x for u ~ U[0, 1) (P = x exactly); images come back as uint8 0/255, which the in-memory
path turns into float 0.0/1.0 exactly.
"""
from __future__ import annotations

import hashlib

import torch
from torchvision.transforms import v2

from zoo.errors import ConfigError

__all__ = ["BINARIZE", "STATIC_SEED", "STATIC_TEST_SHA256", "binarize_static", "binary_sha256", "check_binarize"]

#: the ``binarize`` options of the image datamodules: None (grey levels) or "dynamic" (train re-drawn, val/test static)
BINARIZE = (None, "dynamic")
#: seed of the static binarization of val and test splits (fixed: the same bits for every run and method)
STATIC_SEED = 1601_06759  # the PixelCNN paper's arXiv id, a seed no other stream of the zoo uses
#: images per draw of the static binarization; part of its definition (the noise is drawn chunk by chunk)
CHUNK = 4096
#: sha256 (:func:`binary_sha256`) of the static binarization of each dataset's official test split
STATIC_TEST_SHA256 = {
    "DigitsDataModule": "848f0f7e459edd6bb19191b292c6608ee64da0e25f9cb0764230708911b0128d",  # 360 images
    "FashionMNISTDataModule": "9fcf4b508344db5abf4434ae6b01aff565ec84126279165bfe0eaad6806ab7db",  # 10000 images
}


def check_binarize(binarize: object) -> str | None:
    """``binarize`` validated: None or "dynamic", else a ConfigError naming the choices."""
    if binarize not in BINARIZE:
        raise ConfigError(f"binarize must be null (grey levels) or 'dynamic', got {binarize!r}")
    return binarize  # type: ignore[return-value]


def binarize_static(images: torch.Tensor, *, seed: int = STATIC_SEED) -> torch.Tensor:
    """One Bernoulli(intensity) draw of every pixel of ``images`` (N, C, H, W), uint8 0..255 or float in
    [0, 1], with a generator seeded by ``seed`` alone: uint8 0/255 of the same shape, on the CPU."""
    generator = torch.Generator().manual_seed(seed)
    out = torch.empty(images.shape, dtype=torch.uint8)
    for start in range(0, len(images), CHUNK):
        # torchvision's uint8 -> float conversion (x / 255), as zoo.data.memory.to_float_images
        x = v2.functional.to_dtype(images[start : start + CHUNK].cpu(), torch.float32, scale=True)
        u = torch.rand(x.shape, generator=generator)
        out[start : start + CHUNK] = (u < x).to(torch.uint8) * 255
    return out


def binarize_dynamic(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A fresh Bernoulli(x) draw of float images ``x`` in [0, 1], noise from the CPU ``generator`` (so the
    bits depend on the generator alone, not on the device): float 0.0/1.0 on x's device."""
    u = torch.rand(x.shape, generator=generator).to(x.device)
    return (u < x).to(x.dtype)


def binary_sha256(images: torch.Tensor) -> str:
    """sha256 of binary images (any dtype; nonzero = 1): of their shape and their bits as bytes, so the
    same bits hash the same whether stored as uint8 0/255 or float 0/1."""
    bits = (images != 0).to(torch.uint8).cpu().contiguous()
    digest = hashlib.sha256(str(tuple(bits.shape)).encode())
    digest.update(bits.numpy().tobytes())
    return digest.hexdigest()

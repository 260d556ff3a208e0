"""Latent-space tools of DCGAN (Radford et al. 2016, arXiv:1511.06434, Sec. 6): walks and vector arithmetic.

They work on any model with ``latent_dim`` and ``decode(z) -> images in [0, 1]`` (GANs, VAEs, AEs):

- ``interpolate(z0, z1, steps)``: points on the line from z0 to z1 (Sec. 6.1, "walking in the latent
  space": smooth transitions mean the model has not memorised);
- ``interpolation_grid(model, rows, steps)``: one walk per row between random pairs of codes;
- ``traversal_grid(model, steps, limit)``: one row per latent dimension, that dimension swept from -limit to
  +limit with the others held (Higgins et al. 2017, "beta-VAE", Fig. 1 and 7: a disentangled code changes one
  factor per row);
- ``vector_arithmetic(model, a, b, c)``: decode(mean(z_a) - mean(z_b) + mean(z_c)), the paper's
  "smiling woman - neutral woman + neutral man" with codes averaged over exemplars (Sec. 6.3: single
  codes are unstable, averages of three work).
"""
from __future__ import annotations

from typing import Protocol

import torch

from zoo.errors import ConfigError


class Decodable(Protocol):
    latent_dim: int

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` codes evenly spaced on the segment from z0 to z1, ends included: (steps, D) for z0, z1 (D,)."""
    if steps < 2:
        raise ConfigError(f"steps must be >= 2 (both ends of the walk), got {steps}")
    if z0.shape != z1.shape or z0.dim() != 1:
        raise ConfigError(f"z0 and z1 must be codes of the same shape (D,), got {tuple(z0.shape)} and {tuple(z1.shape)}")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device).unsqueeze(1)  # (steps, 1)
    return (1 - t) * z0 + t * z1


@torch.no_grad()
def interpolation_grid(
    model: Decodable, rows: int, steps: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Images (rows * steps, C, H, W) in [0, 1]: row r walks from z ~ N(0, I) to another z ~ N(0, I)."""
    if rows < 1:
        raise ConfigError(f"rows must be >= 1, got {rows}")
    ends = torch.randn(rows, 2, model.latent_dim, generator=generator)
    z = torch.cat([interpolate(z0, z1, steps) for z0, z1 in ends])  # (rows * steps, D)
    return model.decode(z)


@torch.no_grad()
def traversal_grid(model: Decodable, steps: int, *, limit: float = 3.0, base: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """Images (latent_dim * steps, C, H, W) in [0, 1]: row d decodes ``base`` (default the prior's mean, 0) with
    dimension d set to ``steps`` values evenly spaced in [-limit, limit]."""
    if steps < 2:
        raise ConfigError(f"steps must be >= 2 (both ends of the sweep), got {steps}")
    if not limit > 0:
        raise ConfigError(f"limit must be > 0 (the sweep is -limit to +limit; Higgins et al. use 3), got {limit}")
    base = torch.zeros(model.latent_dim) if base is None else base.detach().flatten().float().cpu()
    if base.shape != (model.latent_dim,):
        raise ConfigError(f"base must be one code of {model.latent_dim} values, got {base.numel()}")
    values = torch.linspace(-limit, limit, steps)
    z = base.repeat(model.latent_dim, steps, 1)  # (D rows, steps, D)
    rows = torch.arange(model.latent_dim)
    z[rows, :, rows] = values  # row d: dimension d swept
    return model.decode(z.flatten(0, 1))


@torch.no_grad()
def vector_arithmetic(model: Decodable, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """decode(mean(a) - mean(b) + mean(c)) for exemplar codes a, b, c, each (K, D): one image (1, C, H, W)."""
    for name, z in (("a", a), ("b", b), ("c", c)):
        if z.dim() != 2 or z.shape[1] != model.latent_dim:
            raise ConfigError(f"{name} must be exemplar codes (K, {model.latent_dim}), got {tuple(z.shape)}")
    return model.decode((a.mean(0) - b.mean(0) + c.mean(0)).unsqueeze(0))

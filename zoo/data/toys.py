"""Synthetic 2-D toys for probing mode collapse: mixtures of Gaussians on a ring and on a grid.

The ring of 8 Gaussians is the standard mode-collapse probe (Metz et al. 2017, "Unrolled GANs",
arXiv:1611.02163; Srivastava et al. 2017, "VEEGAN", arXiv:1705.07761): a GAN that collapses jumps
between modes instead of covering them. The grid of 25 Gaussians (a 5x5 lattice; VEEGAN's "Grid" and
PacGAN's, Lin et al. 2018, arXiv:1712.04086) is the harder one: more modes, and inner modes with four
neighbours each. Points follow the image contract so any MLP GAN trains on them
unchanged: a 2-D point is an "image" of shape (2, 1, 1) with coordinates in [0, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zoo.errors import ConfigError


class GaussianMixture:
    """Equal-weight isotropic Gaussians of std ``std`` around ``centers`` (a subclass's layout): sampling and
    mode coverage, shared by the ring and the grid."""

    modes: int
    std: float

    @property
    def centers(self) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n points as "images" (n, 2, 1, 1) in [0, 1], and their mode indices (n,)."""
        mode = torch.randint(self.modes, (n,), generator=generator)
        points = self.centers[mode] + self.std * torch.randn(n, 2, generator=generator)
        return points.view(n, 2, 1, 1), mode

    def coverage(self, points: torch.Tensor, *, max_std: float = 3.0, min_share: float = 0.2) -> tuple[int, float]:
        """(modes covered, fraction of high-quality points) of generated ``points``: see ``mode_coverage``."""
        return mode_coverage(points, self.centers, self.std, max_std=max_std, min_share=min_share)


@dataclass(frozen=True)
class Ring(GaussianMixture):
    """``modes`` isotropic Gaussians of std ``std`` evenly spaced on a circle of ``radius`` around
    (0.5, 0.5); the defaults keep 3 std of every mode inside [0, 1]."""

    modes: int = 8
    radius: float = 0.35
    std: float = 0.01

    def __post_init__(self) -> None:
        if self.modes < 1:
            raise ConfigError(f"modes must be >= 1, got {self.modes}")
        if not 0 < self.radius + 3 * self.std <= 0.5:
            raise ConfigError(f"radius + 3 * std must lie in (0, 0.5] to stay inside [0, 1], got {self.radius}, {self.std}")

    @property
    def centers(self) -> torch.Tensor:
        """(modes, 2) mode centres."""
        angle = torch.arange(self.modes, dtype=torch.float64) * (2 * math.pi / self.modes)
        return (0.5 + self.radius * torch.stack([angle.cos(), angle.sin()], dim=1)).float()


@dataclass(frozen=True)
class Grid(GaussianMixture):
    """``side`` x ``side`` isotropic Gaussians of std ``std`` on a square lattice filling [0, 1]^2: centres at
    (i + 0.5) / side, so neighbours are 1 / side apart (0.2 for the 5x5 grid: 20 std at the default std) and
    3 std of every mode stay inside [0, 1]."""

    side: int = 5
    std: float = 0.01

    def __post_init__(self) -> None:
        if self.side < 1:
            raise ConfigError(f"side must be >= 1, got {self.side}")
        if not 0 < 3 * self.std <= 0.5 / self.side:
            raise ConfigError(f"std must lie in (0, {0.5 / self.side / 3:.4g}] so 3 std of every mode stay apart "
                              f"and inside [0, 1], got {self.std}")

    @property
    def modes(self) -> int:
        return self.side**2

    @property
    def centers(self) -> torch.Tensor:
        """(side**2, 2) mode centres, row by row."""
        ticks = (torch.arange(self.side, dtype=torch.float64) + 0.5) / self.side
        return torch.cartesian_prod(ticks, ticks).float()


def mode_coverage(points: torch.Tensor, centers: torch.Tensor, std: float, *, max_std: float = 3.0,
                  min_share: float = 0.2) -> tuple[int, float]:
    """(modes covered, fraction of high-quality points) of generated ``points`` (N, 2, 1, 1) or (N, 2) for a
    mixture of isotropic Gaussians of std ``std`` at ``centers`` (M, 2).

    A point is *high quality* when it lies within ``max_std`` standard deviations of its nearest mode
    (VEEGAN's criterion, 3 std). A mode is *covered* when it receives at least ``min_share`` of its fair
    share N / M of all points as high-quality points, so a few strays do not count as coverage."""
    points = points.reshape(points.shape[0], 2).float()
    distance, nearest = torch.cdist(points, centers).min(dim=1)
    good = distance <= max_std * std
    per_mode = torch.bincount(nearest[good], minlength=len(centers))
    covered = int((per_mode >= min_share * points.shape[0] / len(centers)).sum())
    return covered, float(good.float().mean())

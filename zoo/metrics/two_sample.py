"""Two-sample statistics: does a set of codes look like draws of a prior? (the adversarial autoencoder's claim,
Makhzani et al. 2016, arXiv:1511.05644: the aggregated posterior q(z) matches the prior p(z)).

The statistic is the unbiased squared maximum mean discrepancy (Gretton et al. 2012, JMLR 13, Lemma 6),

    MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j),

with a fixed kernel: a sum of Gaussian kernels exp(-||a - b||^2 / (2 s^2)) at bandwidths s = c sqrt(D) for
c in (0.25, 0.5, 1, 2) (D the code dimension; fixed, not fitted to the data, so numbers of different models
compare). It is 0 in expectation when both sets come from one distribution (it can then be slightly negative)
and grows with their difference.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from zoo.errors import ConfigError

METRIC = "prior_mmd"
#: bandwidths of the kernel as multiples of sqrt(D)
BANDWIDTH_FACTORS = (0.25, 0.5, 1.0, 2.0)


def gaussian_kernel_sum(a: torch.Tensor, b: torch.Tensor, bandwidths: Sequence[float]) -> torch.Tensor:
    """sum_s exp(-||a_i - b_j||^2 / (2 s^2)): (M, D), (N, D) -> (M, N)."""
    d2 = torch.cdist(a, b).pow(2)
    return sum((torch.exp(-d2 / (2 * s * s)) for s in bandwidths), torch.zeros_like(d2))


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float] | None = None) -> float:
    """MMD^2_u between samples x (M, D) and y (N, D), M, N >= 2, in float64; ``bandwidths`` default to
    ``BANDWIDTH_FACTORS`` times sqrt(D)."""
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ConfigError(f"mmd2_unbiased needs two sets of >= 2 vectors of one dimension, got shapes "
                          f"{tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.double(), y.double()
    bandwidths = bandwidths or [c * math.sqrt(x.shape[1]) for c in BANDWIDTH_FACTORS]
    m, n = len(x), len(y)
    kxx, kyy = gaussian_kernel_sum(x, x, bandwidths), gaussian_kernel_sum(y, y, bandwidths)
    kxy = gaussian_kernel_sum(x, y, bandwidths)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


@torch.no_grad()
def measure_prior_match(model: Any, x: torch.Tensor, *, seed: int = 0, batch_size: int = 500) -> dict[str, float]:
    """MMD^2_u between the codes ``model.encode(x)`` of images x and as many draws of ``model.sample_prior``
    (seeded): ``{"prior_mmd": ...}``."""
    codes = torch.cat([model.encode(x[i:i + batch_size]).float().cpu() for i in range(0, len(x), batch_size)])
    prior = model.sample_prior(len(x), generator=torch.Generator().manual_seed(seed)).float().cpu()
    return {METRIC: mmd2_unbiased(codes, prior)}


def evaluate_prior_match(model: Any, *, data: str, split: str = "test", n: int = 2000, seed: int = 0
                         ) -> dict[str, Any]:
    """``measure_prior_match`` on the first ``n`` images (all, when fewer) of ``split`` of ``data`` (a dataset name
    or a recipe, as ``zoo evaluate --data``), under a recorded protocol.

    Returns ``{"metrics": {"prior_mmd": ...}, "protocol": {"prior_mmd": {...}}}``."""
    from zoo.metrics.evaluate import build_datamodule, split_dataset

    if not hasattr(model, "sample_prior"):
        raise ConfigError(f"{type(model).__name__} has no prior to match; prior_mmd is for models whose codes are "
                          "trained to follow a prior (the adversarial autoencoder)")
    datamodule, _, _ = build_datamodule(data)
    dataset = split_dataset(datamodule, split, None)
    dataset = Subset(dataset, range(min(n, len(dataset))))  # all of a split smaller than n (the 360 test digits)
    x = torch.cat([b[0] for b in DataLoader(dataset, batch_size=1000, shuffle=False)])
    metrics = measure_prior_match(model.eval(), x, seed=seed)
    protocol = {"split": split, "n": len(x), "prior": getattr(model, "prior", None), "prior_seed": seed,
                "statistic": "unbiased MMD^2 (Gretton et al. 2012), sum of Gaussian kernels with bandwidths "
                             f"{list(BANDWIDTH_FACTORS)} x sqrt(latent_dim)"}
    return {"metrics": metrics, "protocol": {METRIC: protocol}}

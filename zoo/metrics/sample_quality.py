"""Sample-quality metrics of a generator against real data, all on one feature extractor.

- FID (Heusel et al. 2017, arXiv:1706.08500), KID (Binkowski et al. 2018, arXiv:1801.01401) and IS
  (Salimans et al. 2016, arXiv:1606.03498): torchmetrics' implementations, given the extractor through
  their ``feature=`` argument (see zoo/metrics/features.py), statistics in float64.
- Precision and recall (Kynkaanniemi et al., "Improved Precision and Recall Metric for Assessing Generative
  Models", NeurIPS 2019, arXiv:1904.06991): torch-fidelity's implementation on the same features, k = 3
  nearest neighbours. Precision is the fraction of generated samples inside the real manifold (the union
  of balls reaching each real sample's k-th nearest real neighbour), recall the fraction of real samples
  inside the generated manifold.

Names say which extractor a number used: ``fid_inception``, ``kid_fmnist_cls``, ``precision_digits_cls``.

Deviations from the papers: precision/recall read the FID features (Inception pool3, or the domain
classifier's), not VGG-16 fc2 as in Kynkaanniemi et al.; IS of a domain classifier uses its own logits
(at most ``num_classes``), which is comparable only between models scored with the same extractor.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch_fidelity.metric_prc import prc_features_to_metric
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from zoo.errors import ConfigError
from zoo.metrics.features import FeatureExtractor

SAMPLE_METRICS = ("fid", "kid", "is", "pr")
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # torchmetrics' and torch-fidelity's defaults
IS_SPLITS = 10  # Salimans et al.: the score's mean and std over 10 splits
PR_K = 3  # Kynkaanniemi et al.: k = 3 nearest neighbours
PR_BATCH_SIZE = 1000  # rows of the distance matrix held at once: memory 4 * 1000 * n bytes


def fid_metric(extractor: FeatureExtractor, **kwargs: Any) -> FrechetInceptionDistance:
    """torchmetrics' FID on ``extractor``'s features; ``update(images or features, real=...)``.

    ``kwargs`` go to torchmetrics' ``Metric`` (e.g. ``sync_on_compute``)."""
    return FrechetInceptionDistance(feature=extractor.view("features"), reset_real_features=False, **kwargs)


def kid_metric(
    extractor: FeatureExtractor, *, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE, **kwargs: Any
) -> KernelInceptionDistance:
    """torchmetrics' KID (cubic polynomial kernel) on ``extractor``'s features."""
    with warnings.catch_warnings():  # "will save all extracted features in buffer": by design, said here once
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        return KernelInceptionDistance(
            feature=extractor.view("features"),
            subsets=subsets,
            subset_size=subset_size,
            reset_real_features=False,
            **kwargs,
        )


def is_metric(extractor: FeatureExtractor, *, splits: int = IS_SPLITS, **kwargs: Any) -> InceptionScore:
    """torchmetrics' Inception Score on ``extractor``'s logits; ``update(images or logits)``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        return InceptionScore(feature=extractor.view("logits"), splits=splits, **kwargs)


def precision_recall(
    real_features: torch.Tensor, fake_features: torch.Tensor, *, k: int = PR_K, batch_size: int = PR_BATCH_SIZE
) -> tuple[float, float]:
    """(precision, recall) of generated vs real features (N, d), by torch-fidelity's k-NN manifolds."""
    if k < 1:
        raise ConfigError(f"precision/recall needs k >= 1 nearest neighbours, got {k}")
    for which, features in (("real", real_features), ("generated", fake_features)):
        if len(features) <= k:
            raise ConfigError(f"precision/recall with k={k} needs more than {k} {which} samples, got {len(features)}")
    out = prc_features_to_metric(
        fake_features.float(),  # torch-fidelity's convention: input 1 is generated, input 2 is real
        real_features.float(),
        prc_neighborhood=k,
        prc_batch_size=batch_size,
        save_cpu_ram=True,  # row blocks: never the whole (n_fake, n_real) distance matrix
        verbose=False,
    )
    return out["precision"], out["recall"]


class SampleQuality:
    """FID, KID, IS and precision/recall of one extractor, fed one extractor forward pass per batch.

    >>> sq = SampleQuality(extractor, ["fid", "kid"])
    >>> sq.update(real_images, real=True); sq.update(model.sample(500), real=False)
    >>> sq.compute(seed=0)    # {"fid_digits_cls": ..., "kid_digits_cls": ..., "kid_digits_cls_std": ...}

    ``update_outputs`` takes the extractor's outputs instead of images, e.g. cached real features. All samples
    live in this process: under DDP, gather them first or compute on one rank (as PeriodicFID does).

    Args:
        extractor: the feature extractor (zoo/metrics/features.py).
        metrics: any of ``"fid"``, ``"kid"``, ``"is"``, ``"pr"``.
        kid_subsets, kid_subset_size: KID's random subsets (both sets need >= subset_size samples).
        is_splits: IS's splits of the generated samples.
        pr_k: the k of precision/recall.
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        metrics: Iterable[str] = SAMPLE_METRICS,
        *,
        kid_subsets: int = KID_SUBSETS,
        kid_subset_size: int = KID_SUBSET_SIZE,
        is_splits: int = IS_SPLITS,
        pr_k: int = PR_K,
    ) -> None:
        self.metrics = list(dict.fromkeys(metrics))
        unknown = [m for m in self.metrics if m not in SAMPLE_METRICS]
        if unknown:
            raise ConfigError(f"unknown sample-quality metric(s) {unknown}; choose from {list(SAMPLE_METRICS)}")
        self.extractor = extractor
        self.kid_subset_size, self.pr_k = kid_subset_size, pr_k
        wanted = set(self.metrics)
        # One process holds all the samples (zoo evaluate; rank 0 of PeriodicFID): under DDP, torchmetrics'
        # default sync at compute() would wait forever for ranks that never compute.
        local = {"sync_on_compute": False}
        self.fid = fid_metric(extractor, **local) if "fid" in wanted else None
        self.kid = None
        if "kid" in wanted:
            self.kid = kid_metric(extractor, subsets=kid_subsets, subset_size=kid_subset_size, **local)
        self.inception_score = is_metric(extractor, splits=is_splits, **local) if "is" in wanted else None
        self.is_splits = is_splits
        self.counts = {True: 0, False: 0}  # real, generated samples seen
        self._pr_features: dict[bool, list[torch.Tensor]] = {True: [], False: []}

    def update(self, images: torch.Tensor, *, real: bool) -> None:
        """Add a batch of images (N, C, H, W), float in [0, 1]."""
        self.update_outputs({k: v.cpu() for k, v in self.extractor(images).items()}, real=real)

    def update_outputs(self, outputs: dict[str, torch.Tensor], *, real: bool) -> None:
        """Add a batch of extractor outputs: ``{"features": (N, d), "logits": (N, n_classes)}``."""
        features = outputs["features"]
        self.counts[real] += len(features)
        if self.fid is not None:
            self.fid.update(features, real=real)
        if self.kid is not None:
            self.kid.update(features, real=real)
        if self.inception_score is not None and not real:
            self.inception_score.update(outputs["logits"])
        if "pr" in self.metrics:
            self._pr_features[real].append(features)

    def compute(self, *, seed: int = 0) -> dict[str, float]:
        """Every metric as ``{"<metric>_<extractor>": value}``; KID and IS also give ``..._std``.

        ``seed`` fixes the random subsets of KID and the shuffle of IS (the global RNG is restored after)."""
        name = self.extractor.name
        n_real, n_fake = self.counts[True], self.counts[False]
        if self.kid is not None and min(n_real, n_fake) < self.kid_subset_size:
            raise ConfigError(
                f"KID draws subsets of {self.kid_subset_size} samples but got {n_real} real and {n_fake} generated; "
                f"use more samples or a kid_subset_size <= {min(n_real, n_fake)}"
            )
        if self.inception_score is not None and n_fake < self.is_splits:
            raise ConfigError(f"IS splits the generated samples {self.is_splits} ways but got only {n_fake}")
        out: dict[str, float] = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.fid is not None:
                out[f"fid_{name}"] = self.fid.compute().item()
            if self.kid is not None:
                mean, std = self.kid.compute()
                out[f"kid_{name}"], out[f"kid_{name}_std"] = mean.item(), std.item()
            if self.inception_score is not None:
                mean, std = self.inception_score.compute()
                out[f"is_{name}"], out[f"is_{name}_std"] = mean.item(), std.item()
        if "pr" in self.metrics:
            real, fake = (torch.cat(self._pr_features[r]) for r in (True, False))
            out[f"precision_{name}"], out[f"recall_{name}"] = precision_recall(real, fake, k=self.pr_k)
        return out

"""Which modes each generator of a multi-generator GAN draws (MAD-GAN, zoo/methods/gan/mad_gan.py).

The dataset's domain classifier (``digits_cls``, ``fmnist_cls``; zoo/metrics/extractors.py) labels ``n`` samples of
each generator; a generator's *class histogram* is the share of its samples given each class. Generators that
capture different modes have different histograms (Ghosh et al. 2018, arXiv:1704.02906, show it as images per
generator; benchmarks/mad_gan_modes.py plots the histograms).
"""
from __future__ import annotations

from typing import Any

import torch

from zoo.metrics.conditional import classifier_logits
from zoo.metrics.features import FeatureExtractor


def class_histogram(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The share (num_classes,) float64 of images whose ``logits`` (N, num_classes) are highest at each class;
    sums to 1."""
    counts = torch.bincount(logits.argmax(1).cpu(), minlength=num_classes).double()
    return counts / counts.sum()


@torch.no_grad()
def generator_class_histograms(model: Any, classifier: FeatureExtractor, *, n: int = 1000,
                               seed: int = 0) -> torch.Tensor:
    """(k, classes) float64: row i is the class histogram of ``n`` samples of ``model``'s generator i
    (``model.sample(n, generator_index=i)``), seeded by ``seed``."""
    rows = []
    for i in range(model.num_generators):
        samples = model.sample(n, generator=torch.Generator().manual_seed(seed + i), generator_index=i)
        logits = classifier_logits(classifier, samples)
        rows.append(class_histogram(logits, logits.shape[1]))
    return torch.stack(rows)

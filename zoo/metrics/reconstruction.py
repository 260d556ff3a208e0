"""Does a reconstruction keep the image's class? The domain classifier's agreement between x and
``reconstruct(x)``.

VAE-GAN (Larsen et al. 2016, arXiv:1512.09300, Sec. 4) argues that a reconstruction error measured in a
discriminator's features keeps what an image *is* rather than its pixels, and BiGAN (Donahue et al. 2017,
arXiv:1605.09782, Fig. 2) shows that G(E(x)) keeps x's semantics; this metric measures both the same way:
the dataset's domain classifier (``digits_cls``, ``fmnist_cls``; zoo/metrics/extractors.py) labels each test
image and its reconstruction, and

    class_kept = share of images whose reconstruction gets the same top-1 label as the image itself.

Agreement, not accuracy against the true labels, so the classifier's own errors on real images do not count
against a model; chance is sum_k p_k^2 for label frequencies p_k (0.1 for ten balanced classes), reported
beside it as ``class_kept_chance``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from zoo.capabilities import RECONSTRUCT, require
from zoo.errors import ConfigError

METRIC = "class_kept"


def label_agreement(logits: torch.Tensor, other_logits: torch.Tensor) -> float:
    """The share of rows whose top-1 labels agree, for two (N, classes) logits of the same N images."""
    if logits.dim() != 2 or logits.shape != other_logits.shape:
        raise ConfigError(f"logits must be two (N, classes) tensors of one shape, got {tuple(logits.shape)} and "
                          f"{tuple(other_logits.shape)}")
    return float((logits.argmax(1) == other_logits.argmax(1)).double().mean())


def chance_agreement(logits: torch.Tensor) -> float:
    """sum_k p_k^2 with p_k the share of rows labelled k: the agreement of two independent draws of the labels."""
    shares = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).double() / logits.shape[0]
    return float((shares ** 2).sum())


@torch.no_grad()
def measure_class_kept(model: Any, classifier: Any, x: torch.Tensor, *, batch_size: int = 1000) -> dict[str, float]:
    """``{"class_kept": ..., "class_kept_chance": ...}`` of ``model.reconstruct`` on images x in [0, 1]."""
    from zoo.metrics.conditional import classifier_logits

    require(model, RECONSTRUCT, to="be scored on whether its reconstructions keep the class")
    reconstructions = torch.cat([model.reconstruct(x[i:i + batch_size]).float().cpu()
                                 for i in range(0, len(x), batch_size)])
    real, reconstructed = classifier_logits(classifier, x), classifier_logits(classifier, reconstructions)
    return {METRIC: label_agreement(real, reconstructed), f"{METRIC}_chance": chance_agreement(real)}


def evaluate_class_kept(model: Any, *, data: str, split: str = "test", extractor: str | None = None
                        ) -> dict[str, Any]:
    """``measure_class_kept`` on the whole ``split`` of ``data`` (a dataset name or a recipe, as ``zoo evaluate
    --data``) with its domain classifier (or ``extractor``), under a recorded protocol.

    Returns ``{"metrics": {...}, "protocol": {"class_kept": {...}}}``."""
    from zoo.metrics.evaluate import build_datamodule, split_dataset
    from zoo.metrics.extractors import extractor_for, get_extractor

    datamodule, dataset_name, _ = build_datamodule(data)
    name = extractor or extractor_for(dataset_name)
    classifier = get_extractor(name)
    if classifier.in_shape is None:
        raise ConfigError(f"class_kept needs a classifier of {dataset_name}'s classes, not {name!r}; train one "
                          "with recipes/extractors/ (python -m zoo.metrics.train_extractor)")
    x = torch.cat([b[0] for b in DataLoader(split_dataset(datamodule, split, None), batch_size=1000)])
    metrics = measure_class_kept(model.eval(), classifier, x)
    protocol = {"classifier": classifier.protocol(), "split": split, "n": len(x),
                "statistic": "share of images whose reconstruct(x) gets the classifier's top-1 label of x; chance "
                             "= sum of squared label shares"}
    return {"metrics": metrics, "protocol": {METRIC: protocol}}

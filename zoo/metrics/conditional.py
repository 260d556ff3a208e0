"""Conditional accuracy: does a class-conditional model draw the classes it is asked for?

The dataset's domain classifier (``digits_cls``, ``fmnist_cls``; zoo/metrics/extractors.py) labels
``n_per_class`` samples of each class k; the accuracy of class k is the share it labels k, and the
conditional accuracy is their mean over classes. The classifier itself errs on real images, so the same
accuracy on the real test images is reported beside it, and their ratio: 1.0 means the samples are as
recognisable as real test images of their class (Odena et al. 2017, arXiv:1610.09585, Sec. 4.1 measure
class-conditional samples with a pretrained classifier the same way).

    {"conditional_accuracy": mean over classes, "conditional_accuracy_ratio": that / the real accuracy,
     "conditional_accuracy_real": the classifier's mean per-class accuracy on real test images,
     "conditional_accuracy_class_0": ..., ...}

``class_accuracy`` and ``conditional_accuracy`` are pure functions of logits and labels;
``measure_conditional_accuracy`` samples a model and runs the classifier; ``evaluate_conditional`` adds the
dataset's test split and the protocol (what the leaderboard records).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import DataLoader

from zoo.capabilities import CONDITIONAL, require
from zoo.errors import ConfigError
from zoo.metrics.features import FeatureExtractor

METRIC = "conditional_accuracy"


def class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class accuracy (num_classes,) float64: for each class k, the share of the images of label k whose
    ``logits`` (N, num_classes) are highest at k; nan for a class with no images."""
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ConfigError(f"logits must be (N, num_classes) and labels (N,), got {tuple(logits.shape)} and "
                          f"{tuple(labels.shape)}")
    if logits.shape[1] < num_classes:
        raise ConfigError(f"the classifier has {logits.shape[1]} classes but the model {num_classes}; use the "
                          "classifier trained on the model's dataset")
    labels = labels.long().cpu()
    correct = (logits.argmax(1).cpu() == labels).double()
    hits = torch.bincount(labels, weights=correct, minlength=num_classes)
    counts = torch.bincount(labels, minlength=num_classes).double()
    return hits / counts  # 0/0 = nan for an empty class


def conditional_accuracy(
    sample_logits: torch.Tensor,
    sample_labels: torch.Tensor,
    real_logits: torch.Tensor,
    real_labels: torch.Tensor,
    num_classes: int,
) -> dict[str, float]:
    """The metrics of the module docstring from the classifier's logits on samples (with the labels they were
    asked for) and on real images (with their true labels). Means are over the classes present."""
    per_class = class_accuracy(sample_logits, sample_labels, num_classes)
    mean = float(per_class.nanmean())
    real = float(class_accuracy(real_logits, real_labels, num_classes).nanmean())
    metrics = {METRIC: mean, f"{METRIC}_ratio": mean / real if real > 0 else math.nan, f"{METRIC}_real": real}
    metrics.update({f"{METRIC}_class_{k}": float(v) for k, v in enumerate(per_class) if not math.isnan(v)})
    return metrics


@torch.no_grad()
def classifier_logits(classifier: FeatureExtractor, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The classifier's logits (N, classes) on images in [0, 1], in batches, on CPU."""
    device = next(classifier.parameters()).device
    return torch.cat([classifier(images[i:i + batch_size].to(device))["logits"].float().cpu()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def measure_conditional_accuracy(
    model: Any,
    classifier: FeatureExtractor,
    real_images: torch.Tensor,
    real_labels: torch.Tensor,
    *,
    n_per_class: int,
    seed: int = 0,
    batch_size: int = 500,
) -> dict[str, float]:
    """Sample ``n_per_class`` images of each class from a conditional ``model`` (``sample(n, y=...)``, seeded
    by ``seed``) and score them and the real images with ``classifier``; see ``conditional_accuracy``."""
    require(model, CONDITIONAL, to="be scored on conditional accuracy")
    if n_per_class < 1:
        raise ConfigError(f"n_per_class must be >= 1, got {n_per_class}")
    labels = torch.arange(model.num_classes).repeat_interleave(n_per_class)  # every class, n_per_class each
    generator = torch.Generator().manual_seed(seed)
    logits = []
    for start in range(0, len(labels), batch_size):
        y = labels[start:start + batch_size]
        logits.append(classifier_logits(classifier, model.sample(len(y), y=y, generator=generator)))
    return conditional_accuracy(torch.cat(logits), labels, classifier_logits(classifier, real_images), real_labels,
                                model.num_classes)


def evaluate_conditional(
    model: Any,
    *,
    data: str,
    n_per_class: int = 1000,
    seed: int = 0,
    extractor: str | None = None,
    split: str = "test",
    batch_size: int = 500,
) -> dict[str, Any]:
    """Conditional accuracy of ``model`` under a recorded protocol: the classifier of ``data`` (a dataset name
    or a recipe, as ``zoo evaluate --data``) unless ``extractor`` names another, real accuracy on ``split``.

    Returns ``{"metrics": {...}, "protocol": {"conditional_accuracy": {...}}}``."""
    from zoo.metrics.evaluate import build_datamodule, split_dataset
    from zoo.metrics.extractors import extractor_for, get_extractor

    datamodule, dataset_name, _ = build_datamodule(data)
    name = extractor or extractor_for(dataset_name)
    classifier = get_extractor(name).to(model.device)
    if classifier.in_shape is None:
        raise ConfigError(f"conditional accuracy needs a classifier of {dataset_name}'s classes, not {name!r}; "
                          "train one with recipes/extractors/ (python -m zoo.metrics.train_extractor)")
    real = split_dataset(datamodule, split, None)
    batches = list(DataLoader(real, batch_size=1000, shuffle=False))
    real_images, real_labels = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    metrics = measure_conditional_accuracy(model, classifier, real_images, real_labels, n_per_class=n_per_class,
                                           seed=seed, batch_size=batch_size)
    protocol = {
        "classifier": classifier.protocol(),
        "n_per_class": n_per_class,
        "seed": seed,
        "real_split": split,
        "n_real": len(real_labels),
        "per_class": "accuracy of the classifier's top-1 label on the samples of each class; means over classes",
    }
    return {"metrics": metrics, "protocol": {METRIC: protocol}}

"""Unsupervised class accuracy of a discrete latent code (InfoGAN's categorical code; Chen et al. 2016,
arXiv:1606.03657, Sec. 7.1 report 5% error on MNIST).

The code's values carry no class names, so each value is matched to one class by the one-to-one assignment
that maximises the number of agreements (the Hungarian algorithm on the confusion matrix, scipy's
``linear_sum_assignment``); the accuracy is the share of images whose matched value is their class. Labels
are used here, for evaluation only.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.utils.data import DataLoader

from zoo.errors import ConfigError

METRIC = "code_accuracy"


def code_accuracy(codes: torch.Tensor, labels: torch.Tensor, num_values: int, num_classes: int) -> float:
    """Accuracy in [0, 1] of code values ``codes`` (N,) against classes ``labels`` (N,) under the best one-to-one
    assignment of values to classes (values or classes left unmatched count as errors)."""
    if codes.shape != labels.shape or codes.dim() != 1 or len(codes) == 0:
        raise ConfigError(f"codes and labels must be two non-empty 1-d tensors of one length, got shapes "
                          f"{tuple(codes.shape)} and {tuple(labels.shape)}")
    confusion = np.zeros((num_values, num_classes), dtype=np.int64)  # (value, class) counts
    np.add.at(confusion, (codes.cpu().long().numpy(), labels.cpu().long().numpy()), 1)
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return float(confusion[rows, cols].sum() / len(codes))


@torch.no_grad()
def measure_code_accuracy(model, x: torch.Tensor, y: torch.Tensor, *, code: int = 0,
                          batch_size: int = 500) -> dict[str, float]:
    """``code_accuracy`` of an InfoGAN's categorical code ``code`` inferred by Q (argmax) on real images x in
    [0, 1] with labels y: ``{"code_accuracy": ...}``."""
    preds = torch.cat([model.encode(x[i:i + batch_size]).categorical[code].argmax(1).cpu()
                       for i in range(0, len(x), batch_size)])
    num_classes = int(y.max()) + 1
    return {METRIC: code_accuracy(preds, y.cpu(), model.categorical_codes[code], num_classes)}


def evaluate_codes(model: Any, *, data: str, split: str = "test", code: int = 0) -> dict[str, Any]:
    """``measure_code_accuracy`` of ``model`` on every image of ``split`` of ``data`` (a dataset name or a
    recipe, as ``zoo evaluate --data``), under a recorded protocol.

    Returns ``{"metrics": {"code_accuracy": ...}, "protocol": {"code_accuracy": {...}}}``."""
    from zoo.metrics.evaluate import build_datamodule, split_dataset

    if not getattr(model, "categorical_codes", None):
        raise ConfigError(f"{type(model).__name__} has no categorical code to score; code accuracy is for "
                          "models like InfoGAN whose categorical code is inferred by encode(x)")
    datamodule, _, _ = build_datamodule(data)
    batches = list(DataLoader(split_dataset(datamodule, split, None), batch_size=1000, shuffle=False))
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    metrics = measure_code_accuracy(model.eval(), x, y, code=code)
    protocol = {"split": split, "n": len(y), "code": code, "num_values": model.categorical_codes[code],
                "assignment": "one-to-one code values to classes maximising agreement (linear_sum_assignment); "
                              "labels read for scoring only"}
    return {"metrics": metrics, "protocol": {METRIC: protocol}}


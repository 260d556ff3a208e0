"""Linear probe of a model's codes: how much of the class a linear classifier reads off ``encode(x)``.

The representation-learning protocol of BiGAN (Donahue et al. 2017, arXiv:1605.09782, Sec. 4) and of
autoencoder pretraining: the encoder is frozen, a multinomial logistic regression is fitted on the codes of the
training split and scored on the test split's. The same probe on an encoder of the same architecture left at
its random initialisation (seeded) is the baseline: a random convolutional net's features are far from
useless, so "the codes are linearly separable" means little without it.

The classifier is scikit-learn's ``LogisticRegression`` (L-BFGS, L2 with C = 1, up to 1000 iterations) on
codes standardised with the training codes' mean and standard deviation. Labels are read for the probe only.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from zoo.capabilities import ENCODE, require

METRIC, BASELINE = "probe_accuracy", "probe_accuracy_random_init"


@torch.no_grad()
def encode_images(encode: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, *,
                  batch_size: int = 1000) -> torch.Tensor:
    """``encode`` of images in batches, as float64 on the CPU, (N, D)."""
    return torch.cat([encode(images[i:i + batch_size]).float().cpu() for i in range(0, len(images), batch_size)]
                     ).double()


def codes_of(model: Any, x: torch.Tensor, *, batch_size: int = 1000) -> np.ndarray:
    """``model.encode`` of images x in [0, 1], in batches, as float64 numpy (N, D)."""
    return encode_images(model.encode, x, batch_size=batch_size).numpy()


def probe_accuracy(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                   test_labels: np.ndarray, *, max_iter: int = 1000) -> float:
    """Test accuracy in [0, 1] of a logistic regression fitted on standardised training codes."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    mean, std = train_codes.mean(0), train_codes.std(0) + 1e-8
    with warnings.catch_warnings():  # an unconverged fit is still a fit; its accuracy is what it is
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = LogisticRegression(C=1.0, max_iter=max_iter).fit((train_codes - mean) / std, train_labels)
    return float(classifier.score((test_codes - mean) / std, test_labels))


def linear_probe(model: Any, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
                 *, baseline: Any | None = None) -> dict[str, float]:
    """``{"probe_accuracy": ...}`` of ``model``'s codes (and ``"probe_accuracy_random_init"`` of ``baseline``'s,
    an untrained model of the same architecture) for (images, labels) of the training and test splits."""
    scores = {}
    for key, m in ((METRIC, model), (BASELINE, baseline)):
        if m is not None:
            m.eval()
            scores[key] = probe_accuracy(codes_of(m, train[0]), train[1].numpy(), codes_of(m, test[0]),
                                         test[1].numpy())
    return scores


def random_init_like(model: Any, seed: int) -> Any:
    """A model of ``model``'s class and hyperparameters with freshly initialised weights (torch seeded)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        hparams = {k: v for k, v in model.hparams.items() if not k.startswith("_")}  # "_" keys: Lightning's own
        return type(model)(**hparams).to(model.device)


def evaluate_probe(model: Any, *, data: str, n_train: int | None = None, seed: int = 0,
                   random_init: bool = True) -> dict[str, Any]:
    """The linear probe of ``model`` (ENCODE capability) on ``data`` (a dataset name or a recipe, as ``zoo
    evaluate --data``): fitted on the first ``n_train`` training images (all by default), scored on the whole
    test split; with ``random_init`` also the untrained baseline (seeded by ``seed``).

    Returns ``{"metrics": {...}, "protocol": {"probe_accuracy": {...}}}``."""
    from zoo.metrics.evaluate import build_datamodule, split_dataset

    require(model, ENCODE, to="be probed")
    datamodule, _, _ = build_datamodule(data)
    splits = {}
    for split in ("train", "test"):
        dataset = split_dataset(datamodule, split, None)
        if split == "train" and n_train is not None:
            dataset = Subset(dataset, range(min(n_train, len(dataset))))
        batches = list(DataLoader(dataset, batch_size=1000, shuffle=False))
        splits[split] = (torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
    baseline = random_init_like(model, seed) if random_init else None
    metrics = linear_probe(model, splits["train"], splits["test"], baseline=baseline)
    protocol = {"train": {"split": "train", "n": len(splits["train"][1])},
                "test": {"split": "test", "n": len(splits["test"][1])},
                "classifier": "sklearn LogisticRegression(C=1, lbfgs, max_iter=1000) on codes standardised with "
                              "the training codes' mean and std; encoder frozen",
                "baseline": f"the same architecture at its random initialisation (torch seed {seed})"
                            if random_init else None}
    return {"metrics": metrics, "protocol": {METRIC: protocol}}

"""Domain feature extractors: small classifiers trained by a recipe in this repository, weights shipped.

A domain extractor is a :class:`zoo.nets.classifier.Classifier` trained on one dataset by
``recipes/extractors/<dataset>.yaml`` (``python -m zoo.metrics.train_extractor fit --config ...``), which
measures its accuracy on the official test split and writes ``zoo/metrics/weights/<name>.safetensors``.
Its registry entry (below) is a :class:`zoo.Weights` record: the shipped file, its sha256 (a file that
does not match is refused), and meta with the dataset, the recipe, the measured test accuracy and the
parameter count. Metric names carry the extractor: ``fid_digits_cls``, ``kid_fmnist_cls``, ``is_inception``.

``mnist_cls`` has a recipe (recipes/extractors/mnist.yaml) but no shipped weights yet: MNIST was not
available offline where the shipped extractors were trained. Running the recipe and adding the entry it
prints registers it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from zoo.errors import UnknownModelError, WeightsError
from zoo.factories import class_path
from zoo.metrics.features import ClassifierFeatures, FeatureExtractor
from zoo.nets.classifier import Classifier
from zoo.paths import write_atomically
from zoo.registry import did_you_mean
from zoo.weights import META_CLASS_PATH, META_HPARAMS, PACKAGE_DIR, Weights, sha256_of

INCEPTION = "inception"
META_EXTRACTOR = "zoo.extractor"  # safetensors metadata: name, dataset, test accuracy (JSON)

EXTRACTORS: dict[str, Weights] = {}


def register_extractor(weights: Weights) -> Weights:
    if weights.name in EXTRACTORS or weights.name == INCEPTION:
        raise WeightsError(f"extractor name {weights.name!r} is already registered")
    EXTRACTORS[weights.name] = weights
    return weights


# Entries printed by `python -m zoo.metrics.train_extractor fit --config recipes/extractors/<dataset>.yaml`.
# test_accuracy: top-1 on the official test split (digits: the fixed 360-image split), measured by the recipe.
register_extractor(
    Weights(
        name="digits_cls",
        file="metrics/weights/digits_cls.safetensors",
        sha256="d74728e4e4b7de0863d74f32253061a63e68781dec62613c45994c2d64df842e",
        meta={
            "dataset": "digits",
            "recipe": "recipes/extractors/digits.yaml",
            "metrics": {"test_accuracy": 0.9833, "protocol": {"split": "test", "n": 360}},
            "num_params": 47610,
            "in_shape": [1, 8, 8],
        },
    )
)
register_extractor(
    Weights(
        name="fmnist_cls",
        file="metrics/weights/fmnist_cls.safetensors",
        sha256="591cb101ec3041678de02ba368911eb56e3cfd204b523b02d9772e99effa4b76",
        meta={
            "dataset": "fashion_mnist",
            "recipe": "recipes/extractors/fashion_mnist.yaml",
            "metrics": {"test_accuracy": 0.9109, "protocol": {"split": "test", "n": 10000}},
            "num_params": 118626,
            "in_shape": [1, 28, 28],
        },
    )
)


def list_extractors() -> list[str]:
    """``"inception"`` and the registered domain extractors."""
    return [INCEPTION, *sorted(EXTRACTORS)]


def extractor_for(dataset: str | None) -> str:
    """The domain extractor trained on ``dataset`` (a zoo dataset name such as ``"digits"``), else inception."""
    for name, weights in sorted(EXTRACTORS.items()):
        if dataset is not None and weights.meta["dataset"] == dataset:
            return name
    return INCEPTION


def get_extractor(
    name: str, *, inception_weights: str | os.PathLike | None = None, download: bool = True
) -> FeatureExtractor:
    """A feature extractor by name, in eval mode on CPU: ``"inception"`` or a registered domain extractor.

    ``inception_weights`` and ``download`` only concern Inception (see zoo/metrics/inception.py)."""
    if name == INCEPTION:
        from zoo.metrics.inception import (
            InceptionFeatures,  # imports torch-fidelity only when needed
        )

        return InceptionFeatures(inception_weights, download=download)
    net, sha256 = load_classifier(name)
    return ClassifierFeatures(net, name=name, sha256=sha256)


def get_extractor_weights(name: str) -> Weights:
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown extractor {name!r}; {did_you_mean(name, [INCEPTION, *EXTRACTORS])}"
            f"choose one of {list_extractors()}"
        ) from None


def load_classifier(name_or_path: str | os.PathLike, *, sha256: str | None = None) -> tuple[Classifier, str]:
    """(classifier in eval mode, sha256 of its file) from a registered name or a safetensors file.

    A registered file is checked against its entry's sha256 (a tampered file is refused); a path against
    ``sha256`` when given."""
    if Path(name_or_path).suffix == ".safetensors":
        path = Path(name_or_path)
        if not path.is_file():
            raise WeightsError(f"no such extractor weights file: {path}")
    else:
        path = get_extractor_weights(str(name_or_path)).path()  # verifies the entry's sha256
    digest = sha256_of(path)
    if sha256 is not None and digest != sha256:
        raise WeightsError(f"{path} has sha256 {digest}, expected {sha256}; it is not the file you asked for")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state_dict = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"{path} is not a readable safetensors file ({err}); it may be truncated") from None
    if metadata.get(META_CLASS_PATH) != class_path(Classifier) or META_HPARAMS not in metadata:
        raise WeightsError(f"{path} is not a zoo extractor (its metadata names no {class_path(Classifier)})")
    net = Classifier(**json.loads(metadata[META_HPARAMS]))
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        raise WeightsError(f"weights in {path} do not fit the classifier they name: {err}") from None
    return net.eval(), digest


def save_classifier(net: Classifier, path: str | os.PathLike, *, info: dict[str, Any]) -> str:
    """Write ``net`` with what rebuilds it and ``info`` (name, dataset, test accuracy ...); returns the sha256.

    Written to a temporary file and renamed, so an interrupted export never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    metadata = {
        META_CLASS_PATH: class_path(Classifier),
        META_HPARAMS: json.dumps(net.init_args),
        META_EXTRACTOR: json.dumps(info),
    }
    write_atomically(path, lambda f: f.write(safetensors_bytes(tensors, metadata=metadata)))
    return sha256_of(path)


def shipped_path(name: str) -> Path:
    """Where the shipped weights of extractor ``name`` live in the package."""
    return PACKAGE_DIR / "metrics" / "weights" / f"{name}.safetensors"

"""Conditional accuracy (zoo/metrics/conditional.py): per-class and mean accuracy of a classifier on samples of
requested classes, against hand-computed values, and its ratio to the accuracy on real images."""
from __future__ import annotations

import math

import pytest
import torch

from zoo.errors import CapabilityError, ConfigError
from zoo.metrics.conditional import class_accuracy, conditional_accuracy, measure_conditional_accuracy
from zoo.metrics.features import FeatureExtractor


def one_hot_logits(predicted: list[int], num_classes: int = 3) -> torch.Tensor:
    """Logits whose top-1 label is ``predicted``."""
    return torch.nn.functional.one_hot(torch.tensor(predicted), num_classes).float() * 5 - 1


def test_class_accuracy_is_the_share_of_each_class_labelled_as_itself():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = [0, 0, 1, 2, 1, 1, 0, 0]  # class 0: 2/4, class 1: 2/2, class 2: 0/2
    accuracy = class_accuracy(one_hot_logits(predicted), labels, 3)
    torch.testing.assert_close(accuracy, torch.tensor([0.5, 1.0, 0.0], dtype=torch.float64))


def test_an_empty_class_is_nan_and_left_out_of_the_mean():
    accuracy = class_accuracy(one_hot_logits([0, 1]), torch.tensor([0, 0]), 3)
    assert accuracy[0] == 0.5 and math.isnan(accuracy[1]) and math.isnan(accuracy[2])


def test_conditional_accuracy_means_over_classes_and_divides_by_the_real_accuracy():
    # samples: class 0 3/4 right, class 1 1/2, class 2 2/2 -> mean (0.75 + 0.5 + 1) / 3 = 0.75 (not 6/8)
    sample_labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    samples = one_hot_logits([0, 0, 0, 1, 1, 0, 2, 2])
    # real: class 0 1/1, class 1 1/1, class 2 1/2 -> 2.5 / 3
    real_labels = torch.tensor([0, 1, 2, 2])
    real = one_hot_logits([0, 1, 2, 0])
    metrics = conditional_accuracy(samples, sample_labels, real, real_labels, 3)
    expected = {
        "conditional_accuracy": 0.75,
        "conditional_accuracy_ratio": 0.75 / (2.5 / 3),
        "conditional_accuracy_real": 2.5 / 3,
        "conditional_accuracy_class_0": 0.75,
        "conditional_accuracy_class_1": 0.5,
        "conditional_accuracy_class_2": 1.0,
    }
    assert list(metrics) == list(expected)  # the mean first: the leaderboard reads the first key of that prefix
    torch.testing.assert_close(metrics, expected)


def test_a_classifier_with_fewer_classes_is_refused():
    with pytest.raises(ConfigError, match="the classifier has 3 classes but the model 10"):
        class_accuracy(one_hot_logits([0, 1]), torch.tensor([0, 1]), 10)


class ThresholdClassifier(FeatureExtractor):
    """A 2-class 'classifier' of 1x2x2 images: class 1 when the mean pixel exceeds 0.5."""

    name, sha256, feature_dim, num_classes, in_shape = "threshold", "0" * 64, 1, 2, (1, 2, 2)

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # for the device

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        mean = images.mean((1, 2, 3))
        return {"features": mean[:, None], "logits": torch.stack([0.5 - mean, mean - 0.5], 1)}


class AlwaysWhite(torch.nn.Module):
    """A conditional 'model' that ignores its label: white images, which the classifier calls class 1."""

    capabilities = frozenset({"sample", "conditional"})
    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[torch.Tensor] = []

    def sample(self, n: int, *, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self.asked.append(y)
        return torch.ones(n, 1, 2, 2)


def test_measure_samples_each_class_and_scores_the_real_images():
    model = AlwaysWhite()
    real = torch.tensor([0.0, 1.0, 1.0, 0.2])[:, None, None, None].expand(4, 1, 2, 2)
    metrics = measure_conditional_accuracy(model, ThresholdClassifier(), real, torch.tensor([0, 1, 0, 0]),
                                           n_per_class=4, batch_size=3)
    # asked for 4 of each class, in batches of at most 3
    assert [len(y) for y in model.asked] == [3, 3, 2]
    torch.testing.assert_close(torch.cat(model.asked), torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]))
    real_accuracy = (2 / 3 + 1.0) / 2  # class 0: 2 of 3 dark, class 1: 1 of 1 bright
    expected = {"conditional_accuracy": 0.5, "conditional_accuracy_ratio": 0.5 / real_accuracy,
                "conditional_accuracy_real": real_accuracy, "conditional_accuracy_class_0": 0.0,
                "conditional_accuracy_class_1": 1.0}
    torch.testing.assert_close(metrics, expected)


def test_measure_refuses_an_unconditional_model():
    model = AlwaysWhite()
    model.capabilities = frozenset({"sample"})
    with pytest.raises(CapabilityError, match="cannot be scored on conditional accuracy"):
        measure_conditional_accuracy(model, ThresholdClassifier(), torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]),
                                     n_per_class=2)

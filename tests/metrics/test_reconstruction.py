"""Whether reconstructions keep the class (zoo/metrics/reconstruction.py): the pure functions against hand values,
the two ends of the scale with the real domain classifier, and the shipped autoencoder in between."""
import pytest
import torch

import zoo
from zoo.capabilities import RECONSTRUCT
from zoo.errors import CapabilityError, ConfigError
from zoo.metrics.reconstruction import chance_agreement, evaluate_class_kept, label_agreement, measure_class_kept


def test_agreement_and_chance_by_hand():
    a = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])  # labels 0, 1, 2, 0
    b = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 5.0], [0.0, 2.0, 0.0]])  # labels 0, 2, 2, 1
    assert label_agreement(a, b) == 0.5
    assert label_agreement(a, a) == 1.0
    torch.testing.assert_close(chance_agreement(a), 0.5**2 + 0.25**2 + 0.25**2)  # shares 1/2, 1/4, 1/4
    with pytest.raises(ConfigError, match="one shape"):
        label_agreement(a, b[:3])


class Reconstructs:
    """A stand-in model whose reconstruction is a given function of x."""

    capabilities = frozenset({RECONSTRUCT})

    def __init__(self, fn):
        self.fn = fn

    def eval(self):
        return self

    def reconstruct(self, x):
        return self.fn(x)


def test_the_identity_keeps_every_class_and_one_image_for_all_keeps_one_class(digits_test_images):
    from zoo.metrics.extractors import get_extractor

    classifier = get_extractor("digits_cls")
    x = digits_test_images
    assert measure_class_kept(Reconstructs(lambda v: v), classifier, x)["class_kept"] == 1.0
    constant = measure_class_kept(Reconstructs(lambda v: x[:1].expand_as(v)), classifier, x)
    label = int(classifier(x[:1])["logits"].argmax())
    share = float((classifier(x)["logits"].argmax(1) == label).double().mean())
    torch.testing.assert_close(constant["class_kept"], share)  # only the images of that one label agree
    torch.testing.assert_close(constant["class_kept_chance"], 0.1, atol=0.01, rtol=0)  # balanced test digits


def test_shipped_autoencoder_keeps_most_classes_and_a_sampler_is_refused():
    """ae.digits on the 360 test digits, measured 0.978 (chance 0.102; the leaderboard's row). The evaluation is
    deterministic, so the check is two-sided, with room for a few images' worth of platform rounding."""
    result = evaluate_class_kept(zoo.load("ae.digits"), data="digits")
    torch.testing.assert_close(result["metrics"]["class_kept"], 0.978, atol=0.01, rtol=0)
    torch.testing.assert_close(result["metrics"]["class_kept_chance"], 0.102, atol=0.005, rtol=0)
    assert result["protocol"]["class_kept"]["n"] == 360
    with pytest.raises(CapabilityError, match="reconstruct"):
        evaluate_class_kept(zoo.load("gan.digits"), data="digits")

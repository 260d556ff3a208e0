"""The linear probe (zoo/metrics/probe.py): exact on separable codes, chance on noise, and on the shipped AE's
codes far above the same net at its random initialisation."""
import numpy as np
import pytest
import torch

import zoo
from zoo.errors import CapabilityError
from zoo.metrics.probe import evaluate_probe, probe_accuracy, random_init_like


def test_separable_codes_are_read_exactly_and_noise_at_chance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=2000)
    centres = np.eye(4) * 10.0
    codes = centres[labels] + rng.normal(size=(2000, 4))
    assert probe_accuracy(codes[:1000], labels[:1000], codes[1000:], labels[1000:]) == 1.0
    noise = rng.normal(size=(2000, 4))
    assert abs(probe_accuracy(noise[:1000], labels[:1000], noise[1000:], labels[1000:]) - 0.25) < 0.06


def test_random_init_twin_has_the_architecture_but_new_weights():
    model = zoo.load("ae.digits")
    twin = random_init_like(model, seed=0)
    assert type(twin) is type(model) and twin.latent_dim == model.latent_dim
    assert [k for k in twin.state_dict()] == [k for k in model.state_dict()]
    assert not torch.equal(twin.encoder.net[0].weight, model.encoder.net[0].weight)
    torch.testing.assert_close(random_init_like(model, seed=0).encoder.net[0].weight, twin.encoder.net[0].weight,
                               rtol=0, atol=0)  # seeded


def test_shipped_autoencoder_codes_beat_its_random_twin():
    """ae.digits (16-d codes), all 1437 training and 360 test digits, measured: probe accuracy 0.953, the same
    net at its random initialisation 0.797. Thresholds: > 0.9, and > the baseline + 0.08."""
    result = evaluate_probe(zoo.load("ae.digits"), data="digits")
    accuracy, baseline = result["metrics"]["probe_accuracy"], result["metrics"]["probe_accuracy_random_init"]
    assert accuracy > 0.9 and accuracy > baseline + 0.08, (accuracy, baseline)
    protocol = result["protocol"]["probe_accuracy"]
    assert protocol["train"]["n"] == 1437 and protocol["test"]["n"] == 360


def test_a_model_without_codes_cannot_be_probed():
    with pytest.raises(CapabilityError, match="cannot be probed: it has no 'encode' capability"):
        evaluate_probe(zoo.load("dcgan.digits"), data="digits")

"""The adversarial autoencoder's priors (zoo/distributions.py): shapes, seeding, geometry, labels, bad input."""
import math

import pytest
import torch

from zoo.distributions import MIXTURE_RADIUS, SWISS_ROLL_RADIUS, SWISS_ROLL_TURNS, check_prior, sample_prior
from zoo.errors import ConfigError


@pytest.mark.parametrize("name,dim", [("gaussian", 5), ("mixture", 2), ("swiss_roll", 2)])
def test_draws_have_the_shape_and_repeat_for_a_seed(name, dim):
    a = sample_prior(name, 64, dim, generator=torch.Generator().manual_seed(3))
    b = sample_prior(name, 64, dim, generator=torch.Generator().manual_seed(3))
    assert a.shape == (64, dim) and a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_mixture_components_sit_on_the_circle():
    """Component k's mean is 1.4 (cos 2 pi k / K, sin 2 pi k / K); it is elongated along its radius."""
    g = torch.Generator().manual_seed(0)
    for k in (0, 3, 7):
        z = sample_prior("mixture", 20_000, 2, components=10, labels=torch.full((20_000,), k), generator=g)
        angle = 2 * math.pi * k / 10
        torch.testing.assert_close(z.mean(0), MIXTURE_RADIUS * torch.tensor([math.cos(angle), math.sin(angle)]),
                                   atol=0.02, rtol=0)
        radial = z @ torch.tensor([math.cos(angle), math.sin(angle)])
        tangential = z @ torch.tensor([-math.sin(angle), math.cos(angle)])
        torch.testing.assert_close(torch.stack([radial.std(), tangential.std()]), torch.tensor([0.5, 0.1]),
                                   atol=0.01, rtol=0)


def test_swiss_roll_points_lie_on_the_spiral_and_labels_pick_segments():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat(100)
    z = sample_prior("swiss_roll", 1000, 2, components=10, labels=labels, generator=g)
    t = (z.norm(dim=1) / SWISS_ROLL_RADIUS) ** 2  # radius 3 sqrt(t)
    # t falls in its label's segment [k / 10, (k + 1) / 10)
    assert torch.equal((t * 10).floor().long().clamp(max=9), labels)
    # and the angle is 4 pi sqrt(t) (mod 2 pi)
    angle = torch.atan2(z[:, 1], z[:, 0])
    expected = 2 * math.pi * SWISS_ROLL_TURNS * t.sqrt()
    torch.testing.assert_close(torch.cos(angle), torch.cos(expected), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.sin(angle), torch.sin(expected), atol=1e-4, rtol=0)


def test_unlabelled_draws_cover_every_component():
    z = sample_prior("mixture", 5000, 2, labels=torch.full((5000,), -1), generator=torch.Generator().manual_seed(0))
    component = torch.round(torch.atan2(z[:, 1], z[:, 0]) / (2 * math.pi / 10)).long() % 10
    counts = torch.bincount(component, minlength=10).float() / 5000
    torch.testing.assert_close(counts, torch.full((10,), 0.1), atol=0.02, rtol=0)


@pytest.mark.parametrize("call,match", [
    (lambda: check_prior("laplace", 2), "unknown prior 'laplace'; choose one of"),
    (lambda: check_prior("mixture", 8), "'mixture' prior is 2-dimensional but latent_dim is 8; set latent_dim: 2"),
    (lambda: sample_prior("gaussian", 4, 2, labels=torch.zeros(4, dtype=torch.long)), "has no components"),
    (lambda: sample_prior("mixture", 4, 2, labels=torch.tensor([0, 1, 2, 10])), r"in \[0, 10\) or -1"),
    (lambda: sample_prior("mixture", 4, 2, labels=torch.zeros(3, dtype=torch.long)), r"shape \(4,\)"),
])
def test_bad_input_is_one_line(call, match):
    with pytest.raises(ConfigError, match=match):
        call()

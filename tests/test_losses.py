"""Each loss against values computed by hand (the arithmetic is in the comments)."""
import math

import pytest
import torch
from torch.testing import assert_close

from zoo.losses import (
    bernoulli_log_likelihood,
    discretized_logistic_log_likelihood,
    discriminator_loss,
    gaussian_kl,
    gaussian_log_likelihood,
    generator_minimax_loss,
    generator_non_saturating_loss,
    gradient_penalty,
    interpolate,
    squared_error,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)


def test_squared_error_sums_per_example():
    x = torch.tensor([[[[0.0, 1.0]]], [[[0.5, 0.5]]]])  # (2, 1, 1, 2)
    x_hat = torch.tensor([[[[1.0, 1.0]]], [[[0.0, 1.0]]]])
    # example 0: 1^2 + 0^2 = 1; example 1: 0.5^2 + 0.5^2 = 0.5
    assert_close(squared_error(x_hat, x), torch.tensor([1.0, 0.5]))


def test_gaussian_kl_matches_closed_form_by_hand():
    mu = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(4.0), 0.0]])
    # row 0 is the prior itself: KL = 0
    # row 1: dim 1: 0.5 * (1 + 4 - 1 - ln 4) = 2 - ln 2; dim 2: 0.5 * (4 + 1 - 1 - 0) = 2
    expected = torch.tensor([0.0, 4.0 - math.log(2.0)])
    assert_close(gaussian_kl(mu, logvar), expected)


def test_gaussian_kl_agrees_with_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(-1))


def test_bernoulli_log_likelihood_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p = 0.5, 0.75
    x = torch.tensor([[1.0, 0.0]])
    # log 0.5 + log(1 - 0.75) = ln 0.5 + ln 0.25 = -3 ln 2
    assert_close(bernoulli_log_likelihood(logits, x), torch.tensor([-3 * math.log(2.0)]))


def test_bernoulli_log_likelihood_grey_levels_are_cross_entropy():
    logits = torch.tensor([[0.0]])
    x = torch.tensor([[0.25]])
    # 0.25 ln 0.5 + 0.75 ln 0.5 = ln 0.5
    assert_close(bernoulli_log_likelihood(logits, x), torch.tensor([math.log(0.5)]))


def test_gaussian_log_likelihood_by_hand():
    x = torch.tensor([[1.0, 0.0]])
    mean = torch.tensor([[0.0, 0.0]])
    log_std = torch.tensor(math.log(2.0))
    # each dim: -0.5 * (x/2)^2 - ln 2 - 0.5 ln(2 pi); dims: x=1 -> -1/8, x=0 -> 0
    expected = -0.125 - 2 * math.log(2.0) - math.log(2 * math.pi)
    assert_close(gaussian_log_likelihood(mean, log_std, x), torch.tensor([expected]))
    ref = torch.distributions.Normal(mean, 2.0).log_prob(x).sum(-1)
    assert_close(gaussian_log_likelihood(mean, log_std, x), ref)


# -- adversarial losses: softplus(2) = ln(1 + e^2) = 2.126928, softplus(-2) = 0.126928, softplus(-1) = 0.313262


def test_discriminator_loss_is_binary_cross_entropy():
    # D(x) = D(G(z)) = sigmoid(0) = 1/2: -[ln 1/2 + ln(1 - 1/2)] = 2 ln 2
    assert_close(discriminator_loss(torch.tensor([0.0]), torch.tensor([0.0])), torch.tensor([2 * math.log(2)]))
    # real score 2: -ln sigmoid(2) = softplus(-2); fake score -1: -ln(1 - sigmoid(-1)) = softplus(-1)
    assert_close(discriminator_loss(torch.tensor([2.0]), torch.tensor([-1.0])), torch.tensor([0.126928 + 0.313262]))


def test_one_sided_label_smoothing_changes_only_the_real_target():
    # real target 0.9: 0.9 * softplus(-2) + 0.1 * softplus(2) = 0.114235 + 0.212693; fake term unchanged
    smoothed = discriminator_loss(torch.tensor([2.0]), torch.tensor([-1.0]), real_target=0.9)
    assert_close(smoothed, torch.tensor([0.326928 + 0.313262]))


def test_generator_losses_by_hand():
    scores = torch.tensor([0.0, 2.0])
    # minimax: ln(1 - sigmoid(s)) = -softplus(s): -ln 2 and -2.126928
    assert_close(generator_minimax_loss(scores), torch.tensor([-math.log(2), -2.126928]))
    # non-saturating: -ln sigmoid(s) = softplus(-s): ln 2 and 0.126928
    assert_close(generator_non_saturating_loss(scores), torch.tensor([math.log(2), 0.126928]))


def test_minimax_saturates_where_non_saturating_does_not():
    # D rejects G(z) confidently (score -8): the minimax gradient is sigmoid(-8) ~ 3e-4, the other's ~ 1
    s = torch.tensor([-8.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(generator_minimax_loss(s).sum(), s)
    (g_non_sat,) = torch.autograd.grad(generator_non_saturating_loss(s).sum(), s)
    assert_close(g_minimax, -torch.sigmoid(torch.tensor([-8.0])))
    assert_close(g_non_sat, -torch.sigmoid(torch.tensor([8.0])))


def test_wasserstein_losses_by_hand():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([1.0, 1.5])
    assert_close(wasserstein_critic_loss(real, fake), torch.tensor([-2.0, 0.5]))  # f(G(z)) - f(x)
    assert_close(wasserstein_generator_loss(fake), torch.tensor([-1.0, -1.5]))


def test_interpolate_uses_one_coefficient_per_sample():
    real, fake = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    x_hat = interpolate(real, fake, torch.tensor([0.25, 1.0]))
    assert_close(x_hat, torch.stack([torch.full((1, 2, 2), 0.25), torch.ones(1, 2, 2)]))


def test_interpolate_refuses_per_pixel_coefficients():
    real = torch.ones(2, 1, 2, 2)
    with pytest.raises(ValueError, match=r"one coefficient per sample, shape \(2,\), got \(2, 1, 2, 2\)"):
        interpolate(real, real, torch.rand(2, 1, 2, 2))


def _linear_critic(w: torch.Tensor):
    return lambda x: (x.flatten(1) * w).sum(1)  # f(x) = w . x, so grad_x f = w everywhere


def test_gradient_penalty_by_hand():
    x_hat = torch.rand(3, 2, 1, 1)
    # ||(3, 4)|| = 5: (5 - 1)^2 = 16; ||(0.6, 0.8)|| = 1: 0
    assert_close(gradient_penalty(_linear_critic(torch.tensor([3.0, 4.0])), x_hat), torch.full((3,), 16.0))
    assert_close(gradient_penalty(_linear_critic(torch.tensor([0.6, 0.8])), x_hat), torch.zeros(3))


def test_gradient_penalty_is_differentiable_and_scale_invariant():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    x_hat = torch.rand(1, 2, 1, 1)
    penalty = gradient_penalty(_linear_critic(w), x_hat)
    (grad_w,) = torch.autograd.grad(penalty.sum(), w)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (0.6, 0.8)
    assert_close(grad_w, torch.tensor([4.8, 6.4]))
    # a loss scale (16-mixed) is applied before autograd.grad and removed after: same value
    assert_close(gradient_penalty(_linear_critic(w), x_hat, scale=65536.0), penalty)


def test_discretized_logistic_by_hand():
    """Three pixels of 3-level images (0, 0.5, 1; half bin 0.25), mean 0.5, scale 0.25: the CDF differences
    written out with the logistic's sigma."""
    sigma = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    x = torch.tensor([[0.0, 0.5, 1.0]])
    got = discretized_logistic_log_likelihood(torch.full_like(x, 0.5), torch.tensor(math.log(0.25)), x, levels=3)
    first = sigma((0.0 + 0.25 - 0.5) / 0.25)  # all mass below 0.25
    middle = sigma((0.5 + 0.25 - 0.5) / 0.25) - sigma((0.5 - 0.25 - 0.5) / 0.25)
    last = 1 - sigma((1.0 - 0.25 - 0.5) / 0.25)  # all mass above 0.75
    expected = torch.tensor([math.log(first) + math.log(middle) + math.log(last)])
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_discretized_logistic_sums_to_one_over_the_levels_and_stays_finite(levels):
    """For one pixel, sum over every level of P(level) = 1, for means inside and outside [0, 1] and tiny or
    large scales (where a naive difference of sigmoids underflows to log 0)."""
    grid = torch.arange(levels, dtype=torch.float64).div(levels - 1).view(-1, 1)  # (levels, 1): one pixel each
    for mean, log_scale in [(0.3, -3.0), (1.7, 0.5), (-0.4, -1.0), (0.5, -9.0), (0.51, 2.0)]:
        log_p = discretized_logistic_log_likelihood(torch.full_like(grid, mean), torch.tensor(log_scale), grid, levels)
        assert torch.isfinite(log_p).all(), (mean, log_scale)
        torch.testing.assert_close(log_p.exp().sum(), torch.tensor(1.0, dtype=torch.float64), rtol=1e-9, atol=1e-9)

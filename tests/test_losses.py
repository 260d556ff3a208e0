"""Each loss against values computed by hand (the arithmetic is in the comments)."""
import math

import torch
from torch.testing import assert_close

from zoo.losses import bernoulli_log_likelihood, gaussian_kl, gaussian_log_likelihood, squared_error


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

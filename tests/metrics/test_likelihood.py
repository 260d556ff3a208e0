"""Likelihood: densities, bits/dim, and the VAE's importance-weighted log-likelihood (Burda et al. 2016)."""
from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.distributions import (
    bits_per_dim,
    diagonal_gaussian_log_density,
    importance_weighted_log_likelihood,
    standard_normal_log_density,
)
from zoo.errors import ConfigError
from zoo.losses import bernoulli_log_likelihood


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_bits_per_dim_is_nats_over_dims_times_ln2():
    torch.testing.assert_close(bits_per_dim(64 * math.log(2), 64), 1.0)
    torch.testing.assert_close(bits_per_dim(torch.tensor([784.0 * 3.0]), 784), torch.tensor([3.0 / math.log(2)]))
    with pytest.raises(ConfigError, match="num_dims must be >= 1"):
        bits_per_dim(1.0, 0)


def test_gaussian_densities_match_torch_distributions():
    z, mu, logvar = torch.randn(3, 5, 4, generator=seeded(0)).unbind(0)
    expected = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(diagonal_gaussian_log_density(z, mu, logvar), expected)
    torch.testing.assert_close(standard_normal_log_density(z), torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_importance_weighted_estimate_is_log_mean_exp_whatever_the_chunks():
    log_w = torch.randn(7, 3, generator=seeded(0)) * 5  # (K, N)
    draws = iter(log_w)

    def log_weights(m: int) -> torch.Tensor:
        return torch.stack([next(draws) for _ in range(m)])

    estimate = importance_weighted_log_likelihood(log_weights, k=7, chunk_size=3)  # chunks of 3, 3, 1
    torch.testing.assert_close(estimate, (torch.logsumexp(log_w.double(), 0) - math.log(7)))
    with pytest.raises(ConfigError, match="k must be >= 1, got 0"):
        importance_weighted_log_likelihood(log_weights, k=0, chunk_size=1)


def test_iwae_converges_to_a_brute_force_log_likelihood():
    """With a 1-D latent, log p(x) = log integral p(x|z) p(z) dz by quadrature; K = 5000 must reach it."""
    torch.manual_seed(0)
    model = zoo.create_model("vae", in_shape=(1, 2, 2), latent_dim=1).eval()
    x = torch.rand(3, 1, 2, 2, generator=seeded(1))
    z = torch.linspace(-8, 8, 4001).unsqueeze(1)  # a grid over the prior's mass, step 16/4000
    log_prior = standard_normal_log_density(z)
    with torch.no_grad():
        log_px_z = torch.stack([bernoulli_log_likelihood(model.decoder(z), xi.expand(len(z), -1, -1, -1)) for xi in x])
    log_px = torch.logsumexp(log_px_z + log_prior, dim=1) + math.log(16 / 4000)
    estimate = model.log_likelihood(x, k=5000, batch_size=2000, generator=seeded(2))
    torch.testing.assert_close(estimate, log_px, atol=0.01, rtol=0)  # measured error < 0.002 nats


def test_iwae_bounds_the_elbo_and_grows_with_k(trained_vae, digits_test_images):
    """Burda et al., Theorem 1: ELBO = E[L_1] <= E[L_10] <= E[L_100] <= log p(x).

    Each L_k is the mean over the 360 test digits, averaged over 5 seeds; its Monte Carlo standard error is
    taken from the spread over the seeds. Measured (VAE trained 15 epochs, seeds 0 and 1): ELBO -26.40 / -26.24,
    L_1 -26.39 / -26.23, L_10 -26.13 / -25.90, L_100 -26.11 / -25.86 nats; standard errors 0.03, 0.005, 0.001."""
    x = digits_test_images
    with torch.no_grad():
        elbo = torch.stack([trained_vae.elbo(x, generator=seeded(s)).mean() for s in range(20)]).mean().item()
    runs = {k: torch.stack([trained_vae.log_likelihood(x, k, generator=seeded(100 * k + s)).mean() for s in range(5)])
            for k in (1, 10, 100)}
    mean = {k: v.mean().item() for k, v in runs.items()}
    sem = {k: (v.std() / math.sqrt(len(v))).item() for k, v in runs.items()}
    torch.testing.assert_close(mean[1], elbo, atol=0.15, rtol=0)  # L_1 is an ELBO estimate (sampled KL)
    assert mean[10] - mean[1] > 0.15, mean  # measured 0.26 and 0.33, > 8 standard errors
    # L_10 -> L_100 gains only 0.02-0.03 nats for this posterior: non-decreasing within 3 standard errors
    assert mean[100] >= mean[10] - 3 * math.hypot(sem[10], sem[100]), (mean, sem)
    assert mean[100] - elbo > 0.15, (mean, elbo)  # measured 0.29 and 0.38


def test_k_equal_one_is_a_one_sample_elbo_in_expectation(trained_vae, digits_test_images):
    """L_1 = log p(x|z) + log p(z) - log q(z|x) with one z: its mean is the ELBO (sampled vs closed-form KL)."""
    x = digits_test_images[:100]
    with torch.no_grad():
        l1 = torch.stack([trained_vae.log_likelihood(x, 1, generator=seeded(s)) for s in range(50)])  # (50, 100)
        elbo = torch.stack([trained_vae.elbo(x, generator=seeded(1000 + s)) for s in range(50)])
    difference = (l1 - elbo).mean()
    std_err = (l1 - elbo).std() / math.sqrt(l1.numel())
    torch.testing.assert_close(difference.item(), 0.0, atol=4 * std_err.item(), rtol=0)

"""Loss terms as pure functions, named as the papers name them.

Every function returns one value per example, shape (N,), summed over the example's dimensions; callers
take the batch mean. Units are nats. Hand-computed checks live in tests/test_losses.py.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def squared_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """||x - x_hat||^2 per example: the bottleneck autoencoder's loss L = sum ||x - x_hat||^2."""
    return (x_hat - x).pow(2).flatten(1).sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in closed form (Kingma & Welling 2013, Appendix B):
    -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2). mu, logvar: (N, D) -> (N,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) for independent Bernoulli pixels with p = sigmoid(logits), per example.

    x may be grey levels in [0, 1] (the usual practice for MNIST-like data); the value is then the
    cross-entropy, not a normalised density of x."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_log_likelihood(mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_std)^2) summed over dimensions, per example. log_std broadcasts to x."""
    log_std = torch.as_tensor(log_std, dtype=x.dtype, device=x.device).expand_as(x)
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * LOG_2PI).flatten(1).sum(1)

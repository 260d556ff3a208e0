"""Log-densities and likelihood estimates shared by methods and metrics: the latent variables' densities, the
importance-weighted estimate, bits/dim. Below both zoo.methods and zoo.metrics, so neither imports the other.

The importance-weighted estimate of Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders",
ICLR 2016, arXiv:1509.00519 (Eq. 8), with K samples z_k ~ q(z|x):

    log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k|x) = logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K.

It is a lower bound on log p(x) in expectation, equal to the ELBO's one-sample estimate at K = 1 and
non-decreasing in K (Burda et al., Theorem 1); K = 5000 is what the VAE literature reports. A model
supplies the log-weights of a chunk of samples; :func:`importance_weighted_log_likelihood` draws them chunk
by chunk and keeps a running logsumexp, so memory grows with the chunk, not with K.

All values are in nats per image; :func:`bits_per_dim` is the one conversion to bits per dimension.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from zoo.errors import ConfigError

LOG_2PI = math.log(2 * math.pi)


def bits_per_dim(nats_per_image: torch.Tensor | float, num_dims: int) -> torch.Tensor | float:
    """Negative log-likelihood in nats per image -> bits per dimension: nats / (num_dims * ln 2).

    ``num_dims`` is C * H * W. No dequantisation offset is added: for a continuous density of [0, 1]
    values, the bits/dim of the 8-bit data it models are this plus log2(256) = 8 minus the density's
    log2 of the bin width, which is a model's own business (Theis et al. 2016, arXiv:1511.01844).
    """
    if num_dims < 1:
        raise ConfigError(f"num_dims must be >= 1 (C * H * W of the images), got {num_dims}")
    return nats_per_image / (num_dims * math.log(2))


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension: (..., D) -> (...)."""
    return (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(-1)


def diagonal_gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension: (..., D) -> (...); mu, logvar broadcast."""
    return (-0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI)).sum(-1)


def importance_weighted_log_likelihood(
    log_weights: Callable[[int], torch.Tensor], *, k: int, chunk_size: int
) -> torch.Tensor:
    """logsumexp_k log w_k - log K for K = ``k`` samples, drawn ``chunk_size`` at a time.

    Args:
        log_weights: ``m -> (m, N)`` tensor of log p(x, z) - log q(z|x) for m fresh samples z ~ q(z|x) of
            each of the N images.
        k: number of importance samples K, >= 1.
        chunk_size: samples per call of ``log_weights``, >= 1.

    Returns:
        (N,) float64 estimate of log p(x) in nats. The reduction runs in float64 so that K = 5000 terms
        of float32 log-weights lose nothing to rounding.
    """
    if k < 1:
        raise ConfigError(f"the number of importance samples k must be >= 1, got {k}")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    total: torch.Tensor | None = None
    for start in range(0, k, chunk_size):
        log_w = log_weights(min(chunk_size, k - start)).double()  # (m, N)
        chunk = torch.logsumexp(log_w, dim=0)
        total = chunk if total is None else torch.logaddexp(total, chunk)
    assert total is not None
    return total - math.log(k)


def discrete_pixel_log_likelihood(logits: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """log p(x) of images whose pixels are independent given ``logits``, summed over pixels: (N,) nats.

    ``logits`` (N, C, K, H, W): K = 1 is a Bernoulli logit per pixel, p(1) = sigmoid(logit); K >= 2 are the
    logits of a categorical over K levels. ``levels`` (N, C, H, W): integer level indices (0/1 for Bernoulli,
    0..K-1 otherwise). For an autoregressive model the logits of pixel i depend on pixels < i only, and the
    sum is the exact log-probability of the image (the chain rule)."""
    if logits.shape[2] == 1:
        bits = levels.to(logits.dtype)
        log_p = -torch.nn.functional.binary_cross_entropy_with_logits(logits[:, :, 0], bits, reduction="none")
    else:
        log_p = torch.log_softmax(logits, dim=2).gather(2, levels.long().unsqueeze(2)).squeeze(2)
    return log_p.flatten(1).sum(1)

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


# -- priors p(z) an adversarial regulariser can match (Makhzani et al. 2016, arXiv:1511.05644, Sec. 2-3) --------
#: prior name -> the dimension it needs (None: any)
PRIORS: dict[str, int | None] = {"gaussian": None, "mixture": 2, "swiss_roll": 2}
#: the mixture's components sit on a circle of this radius, elongated along it (radial std, tangential std)
MIXTURE_RADIUS, MIXTURE_STD = 1.4, (0.5, 0.1)
#: the swiss roll's turns (angle 4 pi sqrt(t)) and outer radius (3 sqrt(t)), t ~ U(0, 1)
SWISS_ROLL_TURNS, SWISS_ROLL_RADIUS = 2.0, 3.0


def check_prior(name: str, dim: int) -> None:
    """One-line ConfigError unless ``name`` is a prior of :data:`PRIORS` that can be ``dim``-dimensional."""
    if name not in PRIORS:
        raise ConfigError(f"unknown prior {name!r}; choose one of {tuple(PRIORS)}")
    need = PRIORS[name]
    if need is not None and dim != need:
        raise ConfigError(f"the {name!r} prior is {need}-dimensional but latent_dim is {dim}; set latent_dim: {need} "
                          "or use the 'gaussian' prior")


def sample_prior(name: str, n: int, dim: int, *, components: int = 10, labels: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """n draws z (n, dim) of a prior of :data:`PRIORS` (float32, on the generator's device, else ``device``).

    - ``gaussian``: N(0, I).
    - ``mixture``: ``components`` 2-D Gaussians evenly spaced on a circle of radius 1.4, each elongated along its
      radius (std 0.5 radially, 0.1 across): the paper's Fig. 4 prior, equal weights.
    - ``swiss_roll``: t ~ U(0, 1), angle 4 pi sqrt(t), radius 3 sqrt(t) (2 turns; Fig. 4); with ``components``
      segments of t, one per class.

    ``labels`` (n,) in [0, components), for the label-conditioned prior (the paper's Sec. 2.3): each draw comes
    from its label's component (its segment of the roll); -1 means unlabelled (the whole prior). The Gaussian
    prior has no components and takes no labels."""
    check_prior(name, dim)
    device = generator.device if generator is not None else device
    if name == "gaussian":
        if labels is not None:
            raise ConfigError("the 'gaussian' prior has no components to condition on labels; use 'mixture' or "
                              "'swiss_roll'")
        return torch.randn(n, dim, generator=generator, device=device)
    if labels is None:
        labels = torch.full((n,), -1, dtype=torch.long)
    if labels.shape != (n,):
        raise ConfigError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    labels = labels.to(device)
    if len(labels) and (int(labels.min()) < -1 or int(labels.max()) >= components):
        raise ConfigError(f"prior labels must be in [0, {components}) or -1 (unlabelled), got values in "
                          f"[{int(labels.min())}, {int(labels.max())}]")
    free = torch.randint(components, (n,), generator=generator, device=device)
    component = torch.where(labels >= 0, labels, free).float()
    if name == "mixture":
        along, across = torch.randn(2, n, generator=generator, device=device)
        radial, tangential = MIXTURE_RADIUS + MIXTURE_STD[0] * along, MIXTURE_STD[1] * across
        angle = 2 * math.pi * component / components
        return torch.stack([radial * torch.cos(angle) - tangential * torch.sin(angle),
                            radial * torch.sin(angle) + tangential * torch.cos(angle)], 1)
    # swiss roll: a uniform position inside the component's segment of t
    t = (component + torch.rand(n, generator=generator, device=device)) / components
    angle, radius = 2 * math.pi * SWISS_ROLL_TURNS * t.sqrt(), SWISS_ROLL_RADIUS * t.sqrt()
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], 1)

"""Loss terms as pure functions, named as the papers name them.

Every function returns one value per example, shape (N,), summed over the example's dimensions; callers
take the batch mean. Units are nats. Hand-computed checks live in tests/test_losses.py.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from zoo.distributions import LOG_2PI


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


def discretized_logistic_log_likelihood(
    mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor, levels: int
) -> torch.Tensor:
    """log P(x) of images whose pixels take the ``levels`` values i / (levels - 1), each pixel the logistic
    distribution L(mean, exp(log_scale)) discretized to its bin (Salimans et al. 2017, arXiv:1701.05517, Eq. 2,
    one component): with half a bin d = 1 / (2 (levels - 1)),

        P(x) = sigma((x + d - mean) / s) - sigma((x - d - mean) / s),

    the first bin taking all mass below it (P = sigma((x + d - mean) / s)) and the last all above it. A
    probability of discrete pixels: summed over the levels it is 1, so the value is a log-probability in nats
    per example, (N,). Computed stably as log sigma(p) + log sigma(-m) + log(1 - exp(m - p)) for an inner bin
    (p, m the scaled bin edges). ``x`` must lie on the grid; ``log_scale`` broadcasts to it."""
    log_scale = torch.as_tensor(log_scale, dtype=x.dtype, device=x.device).expand_as(x)
    inv_scale = torch.exp(-log_scale)
    half_bin = 0.5 / (levels - 1)
    plus = (x + half_bin - mean) * inv_scale
    minus = (x - half_bin - mean) * inv_scale
    # p - m = 2 d / s for every pixel: log(1 - exp(m - p)) = log(-expm1(-2 d / s)), no cancellation
    inner = F.logsigmoid(plus) + F.logsigmoid(-minus) + torch.log(-torch.expm1(-2 * half_bin * inv_scale))
    first, last = x < half_bin, x > 1 - half_bin  # the bins at 0 and at 1
    log_p = torch.where(first, F.logsigmoid(plus), torch.where(last, F.logsigmoid(-minus), inner))
    return log_p.flatten(1).sum(1)


# -- adversarial losses ----------------------------------------------------------------------------------
# "Scores" are the discriminator's outputs, (N,): logits of D(x) = sigmoid(score) for the original GAN
# family, unbounded critic values f(x) for the Wasserstein family. Each loss is what its player minimises.


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))] per pair (Goodfellow et al. 2014, Eq. 1), as binary cross-entropy.

    ``real_target`` < 1 is one-sided label smoothing (Salimans et al. 2016, arXiv:1606.03498, Sec. 3.4):
    ``cross_entropy(0.9, D(x)) + cross_entropy(0, D(G(z)))``; fake targets stay 0."""
    real = F.binary_cross_entropy_with_logits(real_scores, torch.full_like(real_scores, real_target), reduction="none")
    fake = F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores), reduction="none")
    return real + fake


def generator_minimax_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """log(1 - D(G(z))): the generator's side of the minimax game (saturates when D rejects G(z))."""
    return -F.softplus(fake_scores)  # log(1 - sigmoid(s)) = -softplus(s), stable for large |s|


def generator_non_saturating_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): same fixed point as minimax, strong gradients early in training (Goodfellow et al. 2014)."""
    return F.softplus(-fake_scores)  # -log sigmoid(s)


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """f(G(z)) - f(x): minimising it maximises the critic's estimate E[f(x)] - E[f(G(z))] of W(P_r, P_g)
    (Arjovsky et al. 2017, arXiv:1701.07875, Algorithm 1)."""
    return fake_scores - real_scores


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-f(G(z)) (Arjovsky et al. 2017, Algorithm 1)."""
    return -fake_scores


# MAD-GAN (Ghosh et al. 2018, arXiv:1704.02906): D outputs k + 1 logits (N, k + 1), a softmax over "generator 0",
# ..., "generator k - 1" and "real" (the last class, the paper's k + 1-th).


def mad_gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                               generator_index: torch.Tensor) -> torch.Tensor:
    """H(delta, D(x)) + H(delta, D(G_i(z))) per pair (Ghosh et al. 2018, Sec. 3.1): the cross-entropy of D's
    softmax with the one-hot delta of the true source, "real" (the last class) for x and generator i for
    G_i(z). ``generator_index`` (N,) says which generator drew each fake."""
    real_class = real_logits.shape[1] - 1
    real = F.cross_entropy(real_logits, torch.full_like(generator_index, real_class), reduction="none")
    return real + F.cross_entropy(fake_logits, generator_index, reduction="none")


def mad_gan_generator_non_saturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D_{k+1}(G_i(z)): each generator raises the probability D gives "real" to its samples (the
    non-saturating form of Goodfellow et al. 2014, Sec. 3, used by the paper)."""
    return -F.log_softmax(fake_logits, dim=1)[:, -1]


def mad_gan_generator_minimax_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """log(1 - D_{k+1}(G_i(z))) (Ghosh et al. 2018, Eq. 1, the generators' side of the game); saturates when D
    rejects G_i(z)."""
    # log(1 - p_real) = logsumexp(generator logits) - logsumexp(all logits), stable where p_real is near 1
    return torch.logsumexp(fake_logits[:, :-1], dim=1) - torch.logsumexp(fake_logits, dim=1)


def interpolate(real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_hat = eps x + (1 - eps) G(z) with **one** eps ~ U[0, 1] per sample, eps: (N,) (Gulrajani et al. 2017,
    arXiv:1704.00028, Algorithm 1). A per-pixel eps (a known bug in popular scripts) is refused: it samples
    points off the lines between real and fake images, where the penalty's argument does not hold."""
    if eps.dim() != 1 or eps.shape[0] != real.shape[0]:
        raise ValueError(f"eps must hold one coefficient per sample, shape ({real.shape[0]},), got {tuple(eps.shape)}")
    eps = eps.view(-1, *([1] * (real.dim() - 1))).to(real.dtype)
    return eps * real + (1 - eps) * fake


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], x_hat: torch.Tensor, scale: torch.Tensor | float | None = None
) -> torch.Tensor:
    """(||grad_x f(x_hat)||_2 - 1)^2 per sample (Gulrajani et al. 2017, Eq. 3), differentiable (create_graph).

    ``scale``: a mixed-precision loss scale (16-mixed). The scores are multiplied by it before
    ``autograd.grad`` so small float16 gradients don't flush to zero, and the gradients are divided by it
    afterwards; an overflow gives inf, and the grad scaler then skips the step as it does for any loss."""
    x_hat = x_hat.detach().requires_grad_(True)
    scores = critic(x_hat).sum()
    if scale is not None:
        scores = scores * scale
    (grads,) = torch.autograd.grad(scores, x_hat, create_graph=True)
    if scale is not None:
        grads = grads / scale
    return (grads.float().flatten(1).norm(2, dim=1) - 1).pow(2)


def info_categorical_nll(logits: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """-log Q(c | x) (N,) of a categorical code c (N,) (indices) under Q's logits (N, K): InfoGAN's
    mutual-information bound L_I = H(c) - E[-log Q(c | G(z, c))] up to the constant H(c) (Chen et al. 2016,
    Lemma 5.1)."""
    return F.cross_entropy(logits, code, reduction="none")


def info_continuous_nll(mean: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """-log Q(c | x) (N,) of continuous codes c (N, k) under a factored Gaussian of mean (N, k) and standard
    deviation 1 (the InfoGAN authors' MNIST setting), summed over the k codes."""
    return (0.5 * (code - mean).pow(2) + 0.5 * LOG_2PI).sum(1)

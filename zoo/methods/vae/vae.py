"""Variational autoencoder: Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, arXiv:1312.6114.

Encoder q_phi(z|x) = N(mu(x), diag sigma^2(x)), prior p(z) = N(0, I), decoder p_theta(x|z) Bernoulli or
Gaussian. Trained on the negative ELBO per image, in nats,

    -ELBO(x) = -E_q[log p(x|z)] + KL(q(z|x) || p(z)),

with one reparameterised sample z = mu + sigma * eps (the SGVB estimator B, Eq. 10, L = 1) and the KL in
closed form (Appendix B). Both terms are logged: ``reconstruction`` = -E_q[log p(x|z)] and ``kl``.
``log_likelihood(x, k)`` is the importance-weighted estimate of log p(x) with k samples of q(z|x) (Burda
et al., arXiv:1509.00519, Eq. 8), for reporting test log-likelihoods.

Deviations from the paper:
- Adam (lr 1e-3) instead of Adagrad with weight decay; ReLU MLPs with hidden layers (512, 256) instead of
  one tanh layer of 500 units (recipes can set ``hidden: [500]`` and ``activation: tanh``).
- The Gaussian decoder has one learned standard deviation shared by all pixels (as in sigma-VAE, Rybkin
  et al. 2021, arXiv:2006.13202) instead of a per-pixel sigma(z): a per-pixel sigma collapses to 0 on the
  constant background of digit images and the likelihood diverges.
- ``likelihood="discretized_logistic"`` (Salimans et al. 2017, one component, one shared learned scale)
  makes p(x|z) a probability of n-level images, so ``log_likelihood`` is an estimate of a log-probability
  of the data comparable with the autoregressive models' (the paper's Gaussian is a density of continuous
  x, and its Bernoulli one of binary x).
- With the Bernoulli decoder on grey-level images, log p(x|z) is the cross-entropy (the common practice);
  ``sample``, ``decode`` and ``reconstruct`` return the decoder's mean, not a Bernoulli draw.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Literal

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from zoo.capabilities import DECODE, ENCODE, LIKELIHOOD, RECONSTRUCT, SAMPLE
from zoo.distributions import (
    diagonal_gaussian_log_density,
    importance_weighted_log_likelihood,
    standard_normal_log_density,
)
from zoo.errors import ConfigError
from zoo.images import to_levels
from zoo.losses import (
    bernoulli_log_likelihood, discretized_logistic_log_likelihood, gaussian_kl, gaussian_log_likelihood,
)
from zoo.methods.base import Batch, LatentVariableModel, Terms
from zoo.nets import CONV_NETS, DecoderFactory, EncoderFactory
from zoo.registry import Paper, register_model

Likelihood = Literal["bernoulli", "gaussian", "discretized_logistic"]
LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic")
MIN_LOG_STD = math.log(1e-3)  # floor of the Gaussian decoder's sigma: 1/1000 of the [0, 1] pixel range


class VAE(LatentVariableModel):
    """Variational autoencoder with Gaussian q(z|x), N(0, I) prior and Bernoulli or Gaussian p(x|z).

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: dimension of z.
        encoder: factory ``(in_shape, 2 * latent_dim) -> nn.Module``, outputs (mu, log sigma^2); default MLP.
        decoder: factory ``(latent_dim, in_shape) -> nn.Module``, outputs logits (Bernoulli) or means
            (Gaussian); default MLP.
        likelihood: the decoder distribution p(x|z): ``"bernoulli"``, ``"gaussian"``, or
            ``"discretized_logistic"`` (a logistic per pixel discretized to the ``levels`` grey levels, Salimans
            et al. 2017: a probability of discrete images, for the n-level likelihood protocol).
        levels: the pixel values i / (levels - 1) of ``discretized_logistic`` (256 for 8-bit images, 17 for
            the bundled digits); unused by the other likelihoods.
        optimizer, lr_scheduler: see ``GenerativeModel``; default Adam, lr 1e-3.
        channels_last, compile: speed switches, off by default (see ``GenerativeModel``).
    """

    family = "vae"
    paper = Paper("Auto-encoding variational Bayes", "Kingma & Welling", 2014, "1312.6114")
    capabilities = frozenset({SAMPLE, ENCODE, DECODE, RECONSTRUCT, LIKELIHOOD})
    likelihood_kind = "importance_weighted"
    encoder_features_per_latent = 2  # mu and log sigma^2

    @property
    def likelihood_data(self) -> str:  # type: ignore[override]
        # A Bernoulli decoder is a distribution over binary images. Trained on grey levels, its loss (the
        # cross-entropy with grey targets) is the expected log-likelihood of dynamically binarized images, so
        # it is scored on the static binarization, like models trained on binarized data. A Gaussian decoder
        # is a density: not a probability of discrete pixels.
        # A discretized logistic is a probability of n-level images, like an autoregressive model's.
        return {"bernoulli": "binary", "gaussian": "continuous"}.get(self.likelihood, "n-level")

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 16,
        encoder: EncoderFactory | None = None,
        decoder: DecoderFactory | None = None,
        likelihood: Likelihood = "bernoulli",
        levels: int = 256,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}")
        super().__init__(
            in_shape=in_shape,
            latent_dim=latent_dim,
            encoder=encoder,
            decoder=decoder,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
            channels_last=channels_last,
            compile=compile,
        )
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
            raise ConfigError(f"levels must be an int >= 2 (256: 8-bit images; 17: digits' grey levels), "
                              f"got {levels!r}")
        self.likelihood, self.levels = likelihood, levels
        if likelihood == "gaussian":
            self.log_std = nn.Parameter(torch.zeros(()))  # log sigma of p(x|z), learned; starts at sigma = 1
        elif likelihood == "discretized_logistic":
            # the logistic's log scale, one for all pixels, learned; it starts at a tenth of the pixel range (at 1,
            # every bin gets about the same mass, and Adam's steps of ~lr would take thousands of steps to leave)
            self.log_std = nn.Parameter(torch.tensor(math.log(0.1)))
        self.save_plain_hyperparameters(encoder=encoder, decoder=decoder)

    # -- the model -------------------------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) as (mu, log sigma^2), each (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): a sample of q(z|x) that gradients flow through."""
        eps = self.randn(*mu.shape, generator=generator).to(mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image, (N,), in nats."""
        out = self.decoder(z)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(out, x)
        if self.likelihood == "discretized_logistic":
            return discretized_logistic_log_likelihood(out, self.log_std.clamp(min=MIN_LOG_STD), x, self.levels)
        return gaussian_log_likelihood(out, self.log_std.clamp(min=MIN_LOG_STD), x)

    def check_levels(self, x: torch.Tensor) -> None:
        """A discretized logistic gives probability to pixels on its ``levels`` grid only: a one-line InputError
        naming the quantisation otherwise (the other likelihoods take any x)."""
        if self.likelihood == "discretized_logistic":
            to_levels(x, self.levels, where=f"{type(self).__name__}(likelihood='discretized_logistic')")

    def elbo_terms(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(E_q[log p(x|z)] with one sample, KL(q(z|x) || p(z))), each (N,), in nats."""
        self.check_levels(x)
        mu, logvar = self.posterior(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.log_px_given_z(x, z), gaussian_kl(mu, logvar)

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The evidence lower bound per image, (N,), in nats (one-sample estimate; higher is better)."""
        log_px_z, kl = self.elbo_terms(x, generator)
        return log_px_z - kl

    @torch.no_grad()
    def log_likelihood(
        self,
        x: torch.Tensor,
        k: int = 5000,
        *,
        batch_size: int = 1024,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Importance-weighted estimate of log p(x) per image, (N,), in nats (Burda et al. 2016, Eq. 8):

            log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log k,  z_k ~ q(z|x).

        A lower bound in expectation that tightens as ``k`` grows; ``k = 1`` is a one-sample ELBO (with a
        sampled, not closed-form, KL). ``batch_size`` caps the (image, z) pairs decoded at once, so
        k = 5000 fits in memory; the estimate does not depend on it. See zoo/distributions.py.
        """
        x = self.images(x)
        estimates = []
        for xb in x.split(max(1, min(len(x), batch_size))):  # blocks of n images
            mu, logvar = self.posterior(xb)  # (n, D) each
            estimates.append(
                importance_weighted_log_likelihood(
                    functools.partial(self.log_importance_weights, xb, mu, logvar, generator=generator),
                    k=k,
                    chunk_size=max(1, batch_size // len(xb)),
                )
            )
        return torch.cat(estimates).to(x.dtype)

    def log_importance_weights(
        self,
        x: torch.Tensor,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        m: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log p(x|z) + log p(z) - log q(z|x) for m samples z ~ q(z|x) = N(mu, diag exp(logvar)) per image.

        x: (n, C, H, W); mu, logvar: (n, D) -> (m, n) in nats."""
        z = self.reparameterize(mu.expand(m, *mu.shape), logvar.expand(m, *logvar.shape), generator)  # (m, n, D)
        self.check_levels(x)  # once per image, not per importance sample
        x_rep = x.expand(m, *x.shape).reshape(-1, *x.shape[1:])  # (m * n, C, H, W)
        log_px_z = self.log_px_given_z(x_rep, z.reshape(-1, z.shape[-1])).view(m, len(x))
        return log_px_z + standard_normal_log_density(z) - diagonal_gaussian_log_density(z, mu, logvar)

    # -- the contract ----------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean mu(x), (N, latent_dim): a deterministic code."""
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z), (N, C, H, W) in [0, 1]."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out.clamp(0, 1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means at z ~ N(0, I)."""
        return self.decode(self.randn(n, self.latent_dim, generator=generator))

    # -- training --------------------------------------------------------------------------------------
    def objective(self, batch: Batch) -> Terms:
        log_px_z, kl = self.elbo_terms(self.images(batch))
        elbo = (log_px_z - kl).mean()
        return {"loss": -elbo, "elbo": elbo, "reconstruction": -log_px_z.mean(), "kl": kl.mean()}


@register_model
def vae(**kwargs) -> VAE:
    """VAE with MLP encoder and decoder (Bernoulli decoder by default)."""
    return VAE(**kwargs)


@register_model(recipe="recipes/vae/fashion_mnist.yaml")
def vae_conv(**kwargs) -> VAE:
    """VAE with convolutional encoder and decoder."""
    return VAE(**{**CONV_NETS, **kwargs})

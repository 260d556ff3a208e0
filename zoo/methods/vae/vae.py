"""Variational autoencoder: Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, arXiv:1312.6114.

Encoder q_phi(z|x) = N(mu(x), diag sigma^2(x)), prior p(z) = N(0, I), decoder p_theta(x|z) Bernoulli or
Gaussian. Trained on the negative ELBO per image, in nats,

    -ELBO(x) = -E_q[log p(x|z)] + KL(q(z|x) || p(z)),

with one reparameterised sample z = mu + sigma * eps (the SGVB estimator B, Eq. 10, L = 1) and the KL in
closed form (Appendix B). Both terms are logged: ``reconstruction`` = -E_q[log p(x|z)] and ``kl``.

Deviations from the paper:
- Adam (lr 1e-3) instead of Adagrad with weight decay; ReLU MLPs with hidden layers (512, 256) instead of
  one tanh layer of 500 units (recipes can set ``hidden: [500]`` and ``activation: tanh``).
- The Gaussian decoder has one learned standard deviation shared by all pixels (as in sigma-VAE, Rybkin
  et al. 2021, arXiv:2006.13202) instead of a per-pixel sigma(z): a per-pixel sigma collapses to 0 on the
  constant background of digit images and the likelihood diverges.
- With the Bernoulli decoder on grey-level images, log p(x|z) is the cross-entropy (the common practice);
  ``sample``, ``decode`` and ``reconstruct`` return the decoder's mean, not a Bernoulli draw.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from zoo.errors import ConfigError
from zoo.losses import bernoulli_log_likelihood, gaussian_kl, gaussian_log_likelihood
from zoo.methods.base import Batch, LatentVariableModel
from zoo.nets import CONV_NETS, DecoderFactory, EncoderFactory
from zoo.registry import register_model

Likelihood = Literal["bernoulli", "gaussian"]
LIKELIHOODS = ("bernoulli", "gaussian")
MIN_LOG_STD = math.log(1e-3)  # floor of the Gaussian decoder's sigma: 1/1000 of the [0, 1] pixel range


class VAE(LatentVariableModel):
    """Variational autoencoder with Gaussian q(z|x), N(0, I) prior and Bernoulli or Gaussian p(x|z).

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: dimension of z.
        encoder: factory ``(in_shape, 2 * latent_dim) -> nn.Module``, outputs (mu, log sigma^2); default MLP.
        decoder: factory ``(latent_dim, in_shape) -> nn.Module``, outputs logits (Bernoulli) or means
            (Gaussian); default MLP.
        likelihood: ``"bernoulli"`` or ``"gaussian"``, the decoder distribution p(x|z).
        optimizer, lr_scheduler: see ``GenerativeModel``; default Adam, lr 1e-3.
    """

    encoder_features_per_latent = 2  # mu and log sigma^2

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 16,
        encoder: EncoderFactory | None = None,
        decoder: DecoderFactory | None = None,
        likelihood: Likelihood = "bernoulli",
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
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
        )
        self.likelihood = likelihood
        if likelihood == "gaussian":
            self.log_std = nn.Parameter(torch.zeros(()))  # log sigma of p(x|z), learned; starts at sigma = 1
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
        return gaussian_log_likelihood(out, self.log_std.clamp(min=MIN_LOG_STD), x)

    def elbo_terms(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(E_q[log p(x|z)] with one sample, KL(q(z|x) || p(z))), each (N,), in nats."""
        mu, logvar = self.posterior(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.log_px_given_z(x, z), gaussian_kl(mu, logvar)

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The evidence lower bound per image, (N,), in nats (one-sample estimate; higher is better)."""
        log_px_z, kl = self.elbo_terms(x, generator)
        return log_px_z - kl

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
    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        log_px_z, kl = self.elbo_terms(self.images(batch))
        elbo = (log_px_z - kl).mean()
        sync = stage != "train"  # epoch-level val/test numbers must agree across DDP ranks
        self.log(f"{stage}/loss", -elbo, prog_bar=True, sync_dist=sync)
        self.log(f"{stage}/elbo", elbo, sync_dist=sync)
        self.log(f"{stage}/reconstruction", -log_px_z.mean(), sync_dist=sync)
        self.log(f"{stage}/kl", kl.mean(), sync_dist=sync)
        return -elbo


@register_model
def vae(**kwargs) -> VAE:
    """VAE with MLP encoder and decoder (Bernoulli decoder by default)."""
    return VAE(**kwargs)


@register_model
def vae_conv(**kwargs) -> VAE:
    """VAE with convolutional encoder and decoder."""
    return VAE(**{**CONV_NETS, **kwargs})

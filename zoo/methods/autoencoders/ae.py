"""Bottleneck autoencoder: x -> encoder -> z (p << d dimensions) -> decoder -> x_hat, trained on
L = sum ||x - x_hat||^2 (the lecture's form; Hinton & Salakhutdinov, "Reducing the Dimensionality of
Data with Neural Networks", Science 2006).

Implements: ``encode``, ``decode``, ``reconstruct`` and, so that every zoo method can ``sample``, a
Gaussian fitted to the training codes.

Deviations from the paper:
- Trained end to end with Adam (lr 1e-3) instead of RBM pretraining followed by fine-tuning.
- The decoder ends in a sigmoid so reconstructions lie in [0, 1]; the loss is the squared error per image.
- ``sample`` decodes z ~ N(m, S), m and S the running mean and covariance of the training codes
  ("ex-post density estimation", Ghosh et al. 2020, arXiv:1903.12436). An autoencoder is not a generative
  model by itself; these samples are a baseline, not a claim of the paper.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.errors import ConfigError
from zoo.losses import squared_error
from zoo.methods.base import Batch, LatentVariableModel, Terms
from zoo.nets import CONV_NETS, DecoderFactory, EncoderFactory
from zoo.registry import Paper, register_model


class Autoencoder(LatentVariableModel):
    """Bottleneck autoencoder.

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: size p of the code z.
        encoder: factory ``(in_shape, latent_dim) -> nn.Module``; default ``MLPEncoder``.
        decoder: factory ``(latent_dim, in_shape) -> nn.Module``; default ``MLPDecoder``.
        latent_momentum: floor of the update rate of the running code statistics used by ``sample``
            (0.1, as BatchNorm: the statistics must follow the encoder as it trains).
        optimizer, lr_scheduler: see ``GenerativeModel``; default Adam, lr 1e-3.
        channels_last, compile: speed switches, off by default (see ``GenerativeModel``).
    """

    family = "autoencoders"
    paper = Paper("Reducing the dimensionality of data with neural networks", "Hinton & Salakhutdinov", 2006)

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 32,
        encoder: EncoderFactory | None = None,
        decoder: DecoderFactory | None = None,
        latent_momentum: float = 0.1,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
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
        if not 0 < latent_momentum <= 1:
            raise ConfigError(f"latent_momentum must be in (0, 1], got {latent_momentum}")
        self.latent_momentum = latent_momentum
        # Running first and second moments of the codes, for ``sample``. Buffers, so they are checkpointed
        # and (under DDP) broadcast from rank 0.
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_second_moment", torch.eye(latent_dim))
        self.register_buffer("latent_updates", torch.zeros((), dtype=torch.long))
        self.save_plain_hyperparameters(encoder=encoder, decoder=decoder)

    # -- the contract ----------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> codes (N, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, latent_dim) -> images (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        mean = self.latent_mean
        cov = self.latent_second_moment - torch.outer(mean, mean)
        jitter = 1e-5 * torch.eye(self.latent_dim, device=cov.device, dtype=cov.dtype)  # keeps it positive definite
        scale = torch.linalg.cholesky(cov + jitter)
        z = mean + self.randn(n, self.latent_dim, generator=generator) @ scale.T
        return self.decode(z)

    # -- training --------------------------------------------------------------------------------------
    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The input the encoder sees in training; the plain autoencoder sees ``x`` itself."""
        return x

    def reconstruction_loss(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return squared_error(self.decode(z), x).mean()

    def objective(self, batch: Batch) -> Terms:
        x = self.images(batch)
        z = self.encode(self.corrupt(x))
        if self.training:  # the code statistics ``sample`` draws from follow the training codes only
            self._track_latents(z.detach())
        return {"loss": self.reconstruction_loss(x, z)}

    @torch.no_grad()
    def _track_latents(self, z: torch.Tensor) -> None:
        # A cumulative average at first (rate 1/k), then an exponential one, so early estimates are not
        # dragged towards the N(0, I) initial value and late ones follow the drifting encoder.
        self.latent_updates += 1
        rate = max(1.0 / float(self.latent_updates), self.latent_momentum)
        with torch.autocast(z.device.type, enabled=False):  # float32 statistics under mixed precision too
            z = z.float()
            d = self.latent_dim
            moments = torch.cat([z.mean(0), (z.T @ z / z.shape[0]).flatten()])  # (d + d*d,)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                # every rank must hold the same statistics: average the ranks' (equal-sized) batches
                torch.distributed.all_reduce(moments)
                moments /= torch.distributed.get_world_size()
            self.latent_mean.lerp_(moments[:d], rate)
            self.latent_second_moment.lerp_(moments[d:].view(d, d), rate)


@register_model
def ae(**kwargs) -> Autoencoder:
    """Bottleneck autoencoder with MLP encoder and decoder."""
    return Autoencoder(**kwargs)


@register_model(recipe="recipes/ae/fashion_mnist.yaml")
def ae_conv(**kwargs) -> Autoencoder:
    """Bottleneck autoencoder with convolutional encoder and decoder."""
    return Autoencoder(**{**CONV_NETS, **kwargs})

"""Adversarial variational Bayes: Mescheder et al., "Adversarial Variational Bayes: Unifying Variational
Autoencoders and Generative Adversarial Networks", ICML 2017, arXiv:1701.04722.

A VAE whose encoder is **implicit**: z = E(x, eps) with noise eps ~ N(0, I) as an input, so q(z|x) can be any
distribution a net can push noise into, and its density is unknown. The KL term of the ELBO needs
log q(z|x) - log p(z); an adversary T(x, z) learns it (Proposition 1): trained to tell pairs (x, z ~ q(z|x))
from pairs (x, z ~ p(z)) with the logistic loss,

    max_T  E_x [ E_q log sigmoid(T(x, z)) + E_p log(1 - sigmoid(T(x, z))) ],        (Eq. 3.3)

its optimum is T*(x, z) = log q(z|x) - log p(z), and the ELBO becomes

    E_x E_eps [ -T*(x, E(x, eps)) + log p(x | E(x, eps)) ]                          (Eq. 3.6)

which the encoder and decoder maximise with T held fixed (Proposition 2: the gradient of T* through its
own parameters vanishes in expectation; only the path through z matters).

Players (zoo/methods/players.py), in order: ``adversary`` (T, the logistic loss above) and ``autoencoder``
(E and the decoder: T(x, z) - log p(x|z), a Bernoulli decoder). Both steps of each batch draw fresh z.

**Adaptive contrast** (``adaptive_contrast``, Sec. 4): when q(z|x) is far from p(z), T has a large log ratio to
learn and underestimates it (measured below). AC contrasts q with r(z|x) = N(mu(x), diag sigma^2(x)), q's own
moments (from ``contrast_samples`` draws, as constants): T learns log q - log r on the normalised
(z - mu) / sigma against N(0, I), and log r - log p is exact, so

    KL(q || p) = E_q [ T(x, (z - mu) / sigma) + log r(z|x) - log p(z) ].

**Likelihood.** q(z|x) has no density, so the importance-weighted estimate of log p(x) (Burda et al. 2016)
uses a Gaussian proposal r(z|x) fitted to ``proposal_samples`` draws of q(z|x) per image (mean and
per-dimension variance, the standard deviation widened by ``proposal_scale``):

    log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log r(z_k|x)] - log K,   z_k ~ r(z|x),

a lower bound in expectation for any proposal with full support (the paper evaluates with AIS; this
estimator is cheaper and as valid, looser where r fits the posterior badly). Like the VAE's Bernoulli
decoder trained on grey levels, it is a probability of binary images, scored on the static binarization.

``encode`` is E(x, 0), the code at the noise's mean (deterministic); ``reconstruct`` decodes it; ``sample``
decodes z ~ N(0, I); images in [0, 1].

Measured on digits (tests/methods/hybrid/test_avb.py; NLL with K = 1000 on the static binarized test digits):
without adaptive contrast, after 300 epochs q(z|x) had collapsed to a standard deviation of about 0.02 while T
put the KL at 1.45 nats (a Gaussian that narrow is at least 27 nats from the prior in 8-D): the trained "ELBO" is
far too high and the NLL bound is loose, 47.1 (the VAE recipe: 22.5; 64 fair coins: 44.4). With adaptive
contrast: 25.5, 25.8 at 60 epochs (seeds 0, 1) and 29.2 at 300, so the recipes use it; its samples are worse
and vary (FID 125, 307 at 60 epochs against 50 without it), the price of the likelihood.

Deviations from the paper:
- Adam lr 1e-3 for the autoencoder (the zoo's VAE recipes) and 1e-3 for the adversary.
- The nets are the zoo's: the implicit encoder is a ``JointDiscriminator`` net reading [features(x) ; eps]
  (the paper feeds eps at several layers), the adversary another reading [features(x) ; z]; the paper's
  T(x, z) adds an inner-product term for its MNIST experiments, not used here.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from zoo.capabilities import DECODE, ENCODE, LIKELIHOOD, RECONSTRUCT, SAMPLE
from zoo.distributions import (
    diagonal_gaussian_log_density,
    importance_weighted_log_likelihood,
    standard_normal_log_density,
)
from zoo.errors import ConfigError
from zoo.images import to_signed
from zoo.losses import bernoulli_log_likelihood, discriminator_loss
from zoo.methods.base import Batch, GaussianCodeMixin, GenerativeModel, Terms
from zoo.methods.players import MultiPlayerModel, Player
from zoo.nets import DecoderFactory
from zoo.registry import Paper, register_model

JointFactory = Callable[[Sequence[int], int, int], nn.Module]
AVB_NETS = {
    "encoder": {"class_path": "zoo.nets.JointDiscriminator",
                "init_args": {"x_features": 512, "hidden": [512], "dropout": 0.0}},
    "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [512, 512]}},
    "adversary": {"class_path": "zoo.nets.JointDiscriminator",
                  "init_args": {"x_features": 512, "hidden": [512], "dropout": 0.0}},
}
ADAM = {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}}


class AdversarialVariationalBayes(GaussianCodeMixin, MultiPlayerModel, GenerativeModel):
    """A VAE with an implicit encoder E(x, eps), its KL term learned by an adversary T(x, z).

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: dimension of z ~ N(0, I).
        noise_dim: dimension of the encoder's noise eps ~ N(0, I) (default: latent_dim).
        proposal_samples: draws of q(z|x) per image that fit the likelihood's Gaussian proposal.
        proposal_scale: the proposal's standard deviation over the draws' (>= 1 widens it: heavier than q's tails).
        adaptive_contrast: contrast q(z|x) with r(z|x), a Gaussian of q's moments, instead of p(z) (Sec. 4).
        contrast_samples: draws of q(z|x) per image that estimate r's moments (adaptive contrast only).
        encoder: factory ``(in_shape, noise_dim, latent_dim) -> nn.Module`` called as ``E(x, eps)`` (a
            ``JointDiscriminator``); x in [-1, 1].
        decoder: factory ``(latent_dim, in_shape) -> nn.Module``, Bernoulli logits.
        adversary: factory ``(in_shape, latent_dim, 1) -> nn.Module`` called as ``T(x, z)``; x in [-1, 1].
        **engine: ``optimizers`` (players ``adversary``, ``autoencoder``), ``lr_schedulers``,
            ``gradient_clip_val``, ``channels_last``, ``compile``.
    """

    family = "hybrid"
    paper = Paper("Adversarial variational Bayes: unifying variational autoencoders and generative adversarial "
                  "networks", "Mescheder et al.", 2017, "1701.04722")
    capabilities = frozenset({SAMPLE, ENCODE, DECODE, RECONSTRUCT, LIKELIHOOD})
    likelihood_kind = "importance_weighted"
    likelihood_data = "binary"  # a Bernoulli decoder: a probability of binary images (see zoo/methods/vae/vae.py)
    default_nets = AVB_NETS
    default_optimizers = {"adversary": ADAM, "autoencoder": ADAM}
    players: ClassVar[dict[str, Player]] = {
        "adversary": Player(("adversary",), log_as="t"),
        "autoencoder": Player(("encoder", "decoder"), log_as="ae"),
    }

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 8,
        noise_dim: int | None = None,
        proposal_samples: int = 256,
        proposal_scale: float = 1.2,
        adaptive_contrast: bool = False,
        contrast_samples: int = 16,
        encoder: JointFactory | None = None,
        decoder: DecoderFactory | None = None,
        adversary: JointFactory | None = None,
        **engine: Any,
    ) -> None:
        super().__init__(in_shape=in_shape, **engine)
        # a local of its own: the hyperparameters record the argument as given (None: latent_dim)
        noise = latent_dim if noise_dim is None else noise_dim
        for name, value, low in (("latent_dim", latent_dim, 1), ("noise_dim", noise, 1),
                                 ("proposal_samples", proposal_samples, 2),
                                 ("contrast_samples", contrast_samples, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")
        if not proposal_scale >= 1.0:
            raise ConfigError(f"proposal_scale must be >= 1 (a proposal narrower than q(z|x) makes the likelihood "
                              f"estimate's variance blow up), got {proposal_scale}")
        self.latent_dim, self.noise_dim = latent_dim, noise
        self.proposal_samples, self.proposal_scale = proposal_samples, float(proposal_scale)
        self.adaptive_contrast, self.contrast_samples = bool(adaptive_contrast), contrast_samples
        self.encoder = self._joint("encoder", encoder, noise, latent_dim)
        self.decoder = self.make_net("decoder", decoder)(latent_dim, self.in_shape)
        self.adversary = self._joint("adversary", adversary, latent_dim, 1)
        self.build_ema()
        self.save_plain_hyperparameters(encoder=encoder, decoder=decoder, adversary=adversary)

    def _joint(self, name: str, factory: JointFactory | None, second: int, out: int) -> nn.Module:
        """A net of (x, v) pairs, checked now: one line if it cannot take them."""
        try:
            net = self.make_net(name, factory)(self.in_shape, second, out)
            with torch.no_grad():
                got = net.eval()(torch.zeros(2, *self.in_shape), torch.zeros(2, second))
            net.train()
        except Exception as err:  # a one-input net, or one sized for other shapes
            raise ConfigError(f"AVB's {name} must read (x, v) pairs as net(x, v), built as (in_shape, {second}, "
                              f"{out}), e.g. zoo.nets.JointDiscriminator; the given factory failed: "
                              f"{str(err).splitlines()[0]}") from None
        if tuple(got.shape) != (2, out):
            raise ConfigError(f"AVB's {name} must return (N, {out}); {type(net).__name__} returned {tuple(got.shape)}")
        return net

    # -- the model's parts -----------------------------------------------------------------------------
    def posterior_sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = E(x, eps), eps ~ N(0, I): one draw of q(z|x) per image (N, latent_dim); x in [0, 1]."""
        eps = self.randn(x.shape[0], self.noise_dim, generator=generator).to(x.dtype)
        return self.encoder(to_signed(x), eps)

    def log_ratio(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """T(x, z) (N,): the adversary's estimate of log q(z|x) - log p(z); x in [0, 1]."""
        return self.adversary(to_signed(x), z).view(x.shape[0])

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image, (N,), in nats (Bernoulli; grey levels give the cross-entropy)."""
        return bernoulli_log_likelihood(self.decoder(z), x)

    # -- the objective ---------------------------------------------------------------------------------
    def objective(self, player: str, batch: Batch, cache: dict[str, torch.Tensor]) -> Terms:  # type: ignore[override]
        x = self.images(batch)
        n = x.shape[0]
        moments = None
        if self.adaptive_contrast:  # r's moments: once per batch, shared by both players' phases
            if "contrast_mu" not in cache:
                cache["contrast_mu"], cache["contrast_sigma"] = self.contrast_moments(x)
            moments = cache["contrast_mu"], cache["contrast_sigma"]
        if player == "adversary":  # pairs (x, z ~ q(z|x)) are "real", (x, z ~ the contrast) "fake"
            with torch.no_grad():
                z_q = self.posterior_sample(x)
            if moments is not None:  # in the normalised space (z - mu) / sigma the contrast is N(0, I)
                z_q = (z_q - moments[0]) / moments[1]
            z_p = self.randn(n, self.latent_dim)
            t_q, t_p = self.log_ratio(x, z_q), self.log_ratio(x, z_p)
            terms: Terms = {"loss": discriminator_loss(t_q, t_p).mean()}
            if not self.training or self.writes_logs_now():
                terms["T(x,z)"] = t_q.detach().mean()  # E_q T: the KL (plain) or KL(q || r) (adaptive contrast)
            return terms
        # the encoder and decoder: -ELBO with T in place of log q - log p (T's weights frozen by the engine)
        z = self.posterior_sample(x)
        if moments is None:
            kl = self.log_ratio(x, z)
        else:  # log q - log p = (log q - log r) + (log r - log p); T estimates the first, the second is exact
            mu, sigma = moments
            log_r = diagonal_gaussian_log_density(z, mu, 2 * sigma.log())
            kl = self.log_ratio(x, (z - mu) / sigma) + log_r - standard_normal_log_density(z)
        log_px_z = self.log_px_given_z(x, z)
        elbo = (log_px_z - kl).mean()
        return {"loss": -elbo, "elbo": elbo, "reconstruction": -log_px_z.mean(), "kl": kl.mean()}

    @torch.no_grad()
    def contrast_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Adaptive contrast's r(z|x) = N(mu, diag sigma^2): q(z|x)'s mean and standard deviation per image from
        ``contrast_samples`` draws, each (N, latent_dim); constants (any fixed r leaves the KL's gradient
        unbiased)."""
        m = self.contrast_samples
        z = self.posterior_sample(x.expand(m, *x.shape).reshape(-1, *x.shape[1:])).view(m, x.shape[0], -1)
        return z.mean(0), z.std(0).clamp(min=1e-4)

    # -- likelihood ------------------------------------------------------------------------------------
    @torch.no_grad()
    def proposal(self, x: torch.Tensor, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian fitted to ``proposal_samples`` draws of q(z|x) per image: (mean, log variance), each
        (N, latent_dim), the variance widened by ``proposal_scale``^2."""
        m = self.proposal_samples
        x_rep = x.expand(m, *x.shape).reshape(-1, *x.shape[1:])
        z = self.posterior_sample(x_rep, generator).view(m, x.shape[0], self.latent_dim)
        var = z.var(0).clamp(min=1e-6) * self.proposal_scale**2
        return z.mean(0), var.log()

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int = 5000, *, batch_size: int = 1024,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted estimate of log p(x) per image, (N,), in nats, with the Gaussian proposal
        ``proposal(x)`` (see the module docstring). ``batch_size`` caps the (image, z) pairs decoded at once."""
        x = self.images(x)
        estimates = []
        for xb in x.split(max(1, min(len(x), batch_size))):
            mu, logvar = self.proposal(xb, generator)
            estimates.append(importance_weighted_log_likelihood(
                functools.partial(self._log_weights, xb, mu, logvar, generator=generator),
                k=k, chunk_size=max(1, batch_size // len(xb))))
        return torch.cat(estimates).to(x.dtype)

    def _log_weights(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, m: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x|z) + log p(z) - log r(z|x) for m draws z ~ r(z|x) per image: (m, n)."""
        eps = self.randn(m, *mu.shape, generator=generator).to(mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # (m, n, D)
        x_rep = x.expand(m, *x.shape).reshape(-1, *x.shape[1:])
        log_px_z = self.log_px_given_z(x_rep, z.reshape(-1, self.latent_dim)).view(m, len(x))
        return log_px_z + standard_normal_log_density(z) - diagonal_gaussian_log_density(z, mu, logvar)

    # -- the contract ----------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """E(x, 0): the code at the noise's mean, (N, latent_dim) - deterministic, one pass (the mean of q(z|x)
        would take ``proposal_samples`` passes per image)."""
        x = x.to(self.device, self.dtype)
        return self.encoder(to_signed(x), torch.zeros(x.shape[0], self.noise_dim, device=x.device, dtype=x.dtype))

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z), (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(z.to(self.device, self.dtype))).float()


@register_model
def avb(**kwargs) -> AdversarialVariationalBayes:
    """Adversarial variational Bayes (an implicit encoder E(x, eps), an adversary T(x, z), a Bernoulli decoder)."""
    return AdversarialVariationalBayes(**kwargs)

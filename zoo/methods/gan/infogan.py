"""InfoGAN: Chen et al., "InfoGAN: Interpretable Representation Learning by Information Maximizing Generative
Adversarial Nets", NeurIPS 2016, arXiv:1606.03657.

G reads noise z and a latent code c = (categorical codes, continuous codes); an auxiliary distribution
Q(c | x), a head on D's body, makes the code recoverable from G's image. The paper's objective (Eq. 6) is

    min_{G,Q} max_D  V(D, G) - lambda L_I(G, Q),   L_I = E_{c ~ p(c), x ~ G(z, c)}[log Q(c | x)] + H(c)

so the mutual-information bound L_I is maximised by G **and Q**, on generated images with the codes that were
*sampled* to make them. Real images' labels are never read (the batch's labels are never touched): the
categorical code discovers the classes without supervision, which ``code_accuracy`` measures afterwards.

Players (zoo/methods/players.py):
- ``discriminator`` (D's body and real/fake head): BCE of real vs generated + lambda (-log Q(c | G(z, c))),
  the authors' code adds the MI term to D's loss too; here it reaches D's *shared body* through Q (Q's
  own head is not in this player, so it is not stepped by D's optimizer).
- ``generator`` (G and the Q head): non-saturating -log D(G(z, c)) + lambda (-log Q(c | G(z, c))).

Codes: each categorical code of K values is a one-hot vector of a uniform category; each continuous code is
uniform on [-1, 1]. Q models a categorical code by K logits and the continuous ones as a factored Gaussian of
learned mean and fixed standard deviation 1 (the authors' MNIST setting). The latent vector G reads is
``[z ; one-hot codes ; continuous codes]`` (``latent_dim`` = noise_dim + sum(categorical_codes) +
continuous_codes), so ``decode`` takes that full vector and ``code_latents`` builds it from chosen codes.

Deviations from the paper:
- DCGAN's conv nets (zoo/nets/dcgan.py) for G and D's body instead of App. C's FC-1024 / FC-7x7x128 /
  up-conv G and its D; D's body ends in a ``features``-unit layer shared with Q's head (App. C: FC-128).
- z ~ N(0, I) (62 dims for MNIST, as App. C) rather than uniform noise.
- The Fashion-MNIST recipe halves the conv width and uses a 256-unit shared layer (1.1M parameters): App. C's
  sizes (7.3M here) trained 1 epoch in the 8 CPU-minute budget (FID 195.0, code accuracy 0.216), these 3
  (FID 129.6, code accuracy 0.419).
- The Q head is updated only by the generator's optimizer (lr 1e-3, App. C's G/Q rate), D's body by D's.
- The MI term uses the negative log-likelihood -log Q(c | x) (H(c) is a constant); the continuous codes' std
  is fixed to 1, not learned.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F

from zoo.capabilities import DECODE, SAMPLE
from zoo.errors import ConfigError
from zoo.images import to_signed
from zoo.losses import info_categorical_nll, info_continuous_nll
from zoo.methods.base import Batch, Terms
from zoo.methods.gan.gan import GAN
from zoo.methods.players import Player
from zoo.nets.infogan import QHead
from zoo.registry import Paper, register_model

INFOGAN_NETS = {
    "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 64}},
    "discriminator": {"class_path": "zoo.nets.InfoGANDiscriminator", "init_args": {"width": 64, "features": 1024}},
}
# App. C (MNIST): 2e-4 for D, 1e-3 for G and Q; Adam beta1 0.5
ADAM_D = {"class_path": "torch.optim.Adam", "init_args": {"lr": 2e-4, "betas": [0.5, 0.999]}}
ADAM_GQ = {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3, "betas": [0.5, 0.999]}}


class Codes(NamedTuple):
    """Inferred codes of a batch of N images: ``categorical`` one probability tensor (N, K_i) per
    categorical code; ``continuous`` the means (N, k) of the continuous codes."""

    categorical: list[torch.Tensor]
    continuous: torch.Tensor


class InfoGAN(GAN):
    """GAN with a latent code c whose mutual information with G(z, c) is maximised through Q(c | x).

    Args:
        noise_dim: dimension of the incompressible noise z (62).
        categorical_codes: number of values of each categorical code (each >= 2); ``[10]`` on MNIST.
        continuous_codes: number of continuous codes uniform on [-1, 1] (>= 0); 2 on MNIST.
        lambda_categorical, lambda_continuous: weights lambda of the MI terms (1 and 1; >= 0).
        q_hidden: units of Q's hidden layer (128).
        generator: factory ``(latent_dim, in_shape) -> nn.Module``.
        discriminator: factory ``(in_shape, 1) -> InfoGANDiscriminator`` (a ``features(x)`` body and a logit head).
        **kwargs: ``label_smoothing``, ``generator_loss``, ``n_critic``, ``in_shape`` and the engine's options.
    """

    paper = Paper("InfoGAN: Interpretable representation learning by information maximizing generative "
                  "adversarial nets", "Chen et al.", 2016, "1606.03657")
    capabilities = frozenset({SAMPLE, DECODE})
    # the categorical code's class accuracy (zoo/metrics/codes.py), in its leaderboard row. No ENCODE
    # capability: ``encode`` returns Q's codes, not the (N, latent_dim) latent that capability promises
    extra_metrics = ("code_accuracy",)
    default_nets = INFOGAN_NETS
    default_optimizers = {"discriminator": ADAM_D, "generator": ADAM_GQ}
    players: ClassVar[dict[str, Player]] = {
        "discriminator": Player(("discriminator",), log_as="d"),
        "generator": Player(("generator", "q_head"), every="n_critic", ema=True, log_as="g"),
    }

    def __init__(
        self,
        *,
        noise_dim: int = 62,
        categorical_codes: Sequence[int] = (10,),
        continuous_codes: int = 2,
        lambda_categorical: float = 1.0,
        lambda_continuous: float = 1.0,
        q_hidden: int = 128,
        **kwargs: Any,
    ) -> None:
        if int(noise_dim) < 0:
            raise ConfigError(f"noise_dim must be >= 0, got {noise_dim}")
        codes = [int(k) for k in categorical_codes]
        for k in codes:
            if k < 2:
                raise ConfigError(f"each categorical code needs >= 2 values, got {k} in categorical_codes={codes}")
        if int(continuous_codes) < 0:
            raise ConfigError(f"continuous_codes must be >= 0, got {continuous_codes}")
        if not codes and not continuous_codes:
            raise ConfigError("InfoGAN needs at least one code: set categorical_codes (e.g. [10]) or "
                              "continuous_codes (e.g. 2)")
        for name, value in (("lambda_categorical", lambda_categorical), ("lambda_continuous", lambda_continuous)):
            if not value >= 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
        self.noise_dim, self.categorical_codes = int(noise_dim), codes
        self.continuous_codes = int(continuous_codes)
        self.lambda_categorical, self.lambda_continuous = float(lambda_categorical), float(lambda_continuous)
        self.q_hidden = q_hidden
        self.code_dim = sum(codes) + self.continuous_codes
        derived = self.noise_dim + self.code_dim
        # latent_dim is derived; a saved checkpoint's hyperparameters carry it back, so it is accepted when it agrees
        latent_dim = kwargs.pop("latent_dim", derived)
        if latent_dim != derived:
            raise ConfigError(f"InfoGAN's latent_dim is noise_dim + sum(categorical_codes) + continuous_codes = "
                              f"{derived}, got latent_dim={latent_dim}; set noise_dim and the codes instead")
        super().__init__(latent_dim=derived, **kwargs)
        # derived, so not a hyperparameter: a model built by `zoo fit` (whose config never holds it) and one
        # built in Python record the same settings
        self.hparams.pop("latent_dim", None)

    def build_nets(self, generator, discriminator) -> None:  # type: ignore[no-untyped-def, override]
        self.generator = self.make_net("generator", generator)(self.latent_dim, self.in_shape)
        self.discriminator = self.make_net("discriminator", discriminator)(self.in_shape, 1)
        # Q(c | x): the code parameters read off D's shared body
        self.q_head = QHead(self.discriminator.features_dim, self.code_dim, hidden=self.q_hidden)

    # -- the code ------------------------------------------------------------------------------------------
    def sample_codes(self, n: int, *, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes c ~ p(c): categorical indices (n, number of categorical codes), uniform, and continuous codes
        (n, continuous_codes), uniform on [-1, 1]."""
        device = generator.device if generator is not None else self.device
        cat = [torch.randint(k, (n,), generator=generator, device=device) for k in self.categorical_codes]
        cat_t = torch.stack(cat, 1) if cat else torch.zeros(n, 0, dtype=torch.long, device=device)
        cont = torch.rand(n, self.continuous_codes, generator=generator, device=device) * 2 - 1
        return cat_t.to(self.device), cont.to(self.device, self.dtype)

    def code_latents(self, z: torch.Tensor, categorical: torch.Tensor, continuous: torch.Tensor) -> torch.Tensor:
        """G's input [z ; one-hot codes ; continuous codes] (N, latent_dim) from noise z (N, noise_dim),
        categorical indices (N, number of categorical codes) and continuous codes (N, continuous_codes)."""
        one_hots = [F.one_hot(categorical[:, i].long(), k).to(z.dtype) for i, k in enumerate(self.categorical_codes)]
        return torch.cat([z, *one_hots, continuous.to(z.dtype)], 1)

    def q_params(self, x_signed: torch.Tensor, q_head: torch.nn.Module | None = None
                 ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Q's parameters on images in [-1, 1]: one logits tensor (N, K_i) per categorical code and the
        continuous codes' means (N, continuous_codes)."""
        out = (q_head or self.q_head)(self.discriminator.features(x_signed))
        logits = list(out[:, :sum(self.categorical_codes)].split(self.categorical_codes, 1)) if self.categorical_codes else []
        return logits, out[:, sum(self.categorical_codes):]

    def information_loss(self, fake: torch.Tensor, categorical: torch.Tensor, continuous: torch.Tensor) -> Terms:
        """lambda * (-log Q(c | G(z, c))) averaged over the batch (the negated MI bound -L_I up to H(c)), with the
        *sampled* codes as targets; ``"loss"`` is the weighted sum, the parts are logged."""
        logits, mean = self.q_params(fake)
        cat = sum((info_categorical_nll(lg, categorical[:, i]) for i, lg in enumerate(logits)),
                  torch.zeros(fake.shape[0], device=fake.device)).mean()
        cont = info_continuous_nll(mean, continuous).mean() if self.continuous_codes else cat.new_zeros(())
        return {"loss": self.lambda_categorical * cat + self.lambda_continuous * cont,
                "info_categorical": cat.detach(), "info_continuous": cont.detach()}

    # -- the objective -------------------------------------------------------------------------------------
    def objective(self, player: str, batch: Batch, cache: dict[str, torch.Tensor]) -> Terms:  # type: ignore[override]
        x = self.images(batch)  # never self.labels(batch): the code is learned without supervision
        n = x.shape[0]
        if player == "discriminator":
            categorical, continuous = self.sample_codes(n)
            with torch.no_grad():  # G's output is a constant in D's update
                fake = self(self.code_latents(self.randn(n, self.noise_dim), categorical, continuous))
            cache.update(fake=fake, categorical=categorical, continuous=continuous)
            real_scores, fake_scores = self.scores(to_signed(x)), self.scores(fake)
            info = self.information_loss(fake, categorical, continuous)
            loss = self.discriminator_loss(real_scores, fake_scores).mean() + info.pop("loss")
            terms: Terms = {}
            if not self.training or self.writes_logs_now():
                with torch.no_grad():
                    terms.update(self.score_metrics(real_scores, fake_scores))
            return {"loss": loss, **terms}
        if self.training:
            categorical, continuous = self.sample_codes(n)
            fake = self(self.code_latents(self.randn(n, self.noise_dim), categorical, continuous))
        else:
            fake, categorical, continuous = cache["fake"], cache["categorical"], cache["continuous"]
        info = self.information_loss(fake, categorical, continuous)
        return {"loss": self.generator_loss(self.scores(fake)).mean() + info.pop("loss"), **info}

    # -- the model -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z, c) for z ~ N(0, I) and c ~ p(c), in [0, 1], (n, C, H, W)."""
        z = self.randn(n, self.noise_dim, generator=generator)
        return self.decode(self.code_latents(z, *self.sample_codes(n, generator=generator)))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> Codes:
        """The codes Q infers from images x in [0, 1] (N, C, H, W): per categorical code its probabilities
        (N, K_i), and the continuous codes' means (N, continuous_codes)."""
        x = x.to(self.device, self.dtype)
        logits, mean = self.q_params(to_signed(x), self.sampling_net("q_head"))
        return Codes([lg.float().softmax(1) for lg in logits], mean.float())

    @torch.no_grad()
    def traversal_grid(self, n_per_value: int = 8, *, code: int = 0, continuous: bool | None = None,
                       steps: int = 8, span: float = 2.0, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, int]:
        """Images (rows * columns, C, H, W) in [0, 1] and the number of columns (``make_grid``'s nrow).

        Categorical code ``code`` (the default when the model has one): row k sets it to value k for
        ``n_per_value`` columns, column j sharing one z and the other codes over all rows (the paper's
        Fig. 2a). Continuous code ``code`` (``continuous=True``, or a model without categorical codes): each
        of ``n_per_value`` rows keeps one z and codes and sweeps the code over ``steps`` values from -span to
        span (Fig. 2c-d vary it from -2 to 2, beyond the prior's [-1, 1])."""
        continuous = not self.categorical_codes if continuous is None else continuous
        count = self.continuous_codes if continuous else len(self.categorical_codes)
        kind = "continuous" if continuous else "categorical"
        if not 0 <= code < count:
            raise ConfigError(f"code {code} is outside the {count} {kind} codes; pick one in [0, {count})")
        if not continuous:
            k = self.categorical_codes[code]
            z = self.randn(n_per_value, self.noise_dim, generator=generator).repeat(k, 1)
            cat, cont = self.sample_codes(n_per_value, generator=generator)
            cat, cont = cat.repeat(k, 1), cont.repeat(k, 1)
            cat[:, code] = torch.arange(k, device=self.device).repeat_interleave(n_per_value)
            return self.decode(self.code_latents(z, cat, cont)), n_per_value
        z = self.randn(n_per_value, self.noise_dim, generator=generator).repeat_interleave(steps, 0)
        cat, cont = self.sample_codes(n_per_value, generator=generator)
        cat, cont = cat.repeat_interleave(steps, 0), cont.repeat_interleave(steps, 0)
        cont[:, code] = torch.linspace(-span, span, steps, device=self.device, dtype=cont.dtype).repeat(n_per_value)
        return self.decode(self.code_latents(z, cat, cont)), steps

    def extra_grids(self, *, nrow: int, generator: torch.Generator | None = None
                    ) -> dict[str, tuple[torch.Tensor, int]]:
        """One traversal grid per code: ``traversal_categorical<i>`` (a row per value) and
        ``traversal_continuous<j>`` (``nrow`` rows, each a sweep from -2 to 2 in ``nrow`` steps)."""
        grids = {f"traversal_categorical{i}": self.traversal_grid(nrow, code=i, continuous=False, generator=generator)
                 for i in range(len(self.categorical_codes))}
        grids.update({f"traversal_continuous{j}": self.traversal_grid(nrow, code=j, continuous=True, steps=nrow,
                                                                      generator=generator)
                      for j in range(self.continuous_codes)})
        return grids


@register_model
def infogan(**kwargs) -> InfoGAN:
    """InfoGAN (DCGAN nets, a Q head on D's body; one 10-valued categorical and 2 continuous codes)."""
    return InfoGAN(**kwargs)

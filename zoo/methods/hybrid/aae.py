"""Adversarial autoencoder: Makhzani et al., "Adversarial Autoencoders", ICLR 2016 workshop, arXiv:1511.05644.

An autoencoder whose codes are made to follow a chosen prior p(z) by a GAN played in code space: the encoder
q(z|x) is the generator of the aggregated posterior q(z) = E_x q(z|x), and a discriminator D(z) tells draws
of p(z) (real) from codes of data (fake). Once q(z) matches p(z), the decoder maps every region of the
prior to a data-like image, so ``sample`` decodes z ~ p(z) (Sec. 2). Each batch runs the paper's two phases
(Sec. 2, "the reconstruction phase" and "the regularization phase"), as three players of the engine
(zoo/methods/players.py), in order:

- ``autoencoder`` (encoder and decoder): the reconstruction error ||x - dec(enc(x))||^2;
- ``discriminator`` (D on codes): -[log D(z') + log(1 - D(enc(x)))], z' ~ p(z);
- ``encoder`` (the encoder again, as the generator): -log D(enc(x)) (the non-saturating form).

The encoder sits in two players: each step's ``toggled_optimizer`` leaves only the stepping player's
parameters trainable, so the reconstruction never moves D and the adversarial loss never moves the decoder.

**Priors** (``prior``, zoo/distributions.py): ``gaussian`` N(0, I) of any dimension; ``mixture`` of 10 2-D
Gaussians on a circle; ``swiss_roll`` (both 2-D, the paper's Fig. 4). **Label-conditioned prior**
(``label_conditioned: true``; the paper's Sec. 2.3 and Fig. 4): D also reads a one-hot of the image's label
with an extra "unlabelled" slot, and the prior draw paired with a labelled image comes from the mixture
component (swiss-roll segment) of its label, so each class takes its own component; a share
``labeled_fraction`` of the batch keeps its labels, the rest go to the "unlabelled" slot and the whole prior.

Deviations from the paper:
- Adam for all three players instead of SGD with momentum 0.9: autoencoder lr 1e-3; D and the encoder as
  generator lr 2e-4, betas (0.5, 0.999) (DCGAN's adversarial setting). The label-conditioned prior keeps the
  paper's 10x ratio of the regularization phase's rate to the reconstruction's (1e-4 and 1e-3), which the
  plain priors do not survive (their codes run off the prior); see ``LABELLED_OPTIMIZERS``.
- Squared error with a sigmoid decoder (the zoo's autoencoder loss, so the AAE and the plain AE differ only by
  the regulariser); the paper's nets are two 1000-unit ReLU layers each (the defaults here), the recipes size
  them for the data (conv nets on Fashion-MNIST).
- Deterministic encoder q(z|x) = delta(enc(x)), one of the paper's three choices (Sec. 2.1, the one its
  experiments use).
- The label-conditioned variant draws each batch's labelled share at random (``labeled_fraction``) rather
  than fixing a labelled subset of the training set.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from zoo.capabilities import DECODE, ENCODE, RECONSTRUCT, SAMPLE
from zoo.distributions import check_prior, sample_prior
from zoo.errors import ConfigError
from zoo.losses import discriminator_loss, generator_non_saturating_loss, squared_error
from zoo.methods.base import Batch, GenerativeModel, Terms
from zoo.methods.players import MultiPlayerModel, Player
from zoo.nets import DecoderFactory, EncoderFactory
from zoo.registry import Paper, register_model

# Sec. 3 (MNIST): encoder, decoder and D of two 1000-unit ReLU layers each
AAE_NETS = {
    "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [1000, 1000]}},
    "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [1000, 1000]}},
    "discriminator": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [1000, 1000]}},
}
ADAM_AE = {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}}
ADAM_ADVERSARIAL = {"class_path": "torch.optim.Adam", "init_args": {"lr": 2e-4, "betas": [0.5, 0.999]}}
# The label-conditioned prior's defaults: the paper's ratio (Appendix A: the regularization phase at 10x the
# reconstruction phase's rate). With the rates above the reconstruction fixes the classes' places before the
# adversary can move them to their components (measured in tests/methods/hybrid/test_aae.py); with these the
# Gaussian prior's codes run away from the prior (the adversary outpaces D).
LABELLED_OPTIMIZERS = {
    "autoencoder": {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-4}},
    "discriminator": {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3, "betas": [0.5, 0.999]}},
    "encoder": {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3, "betas": [0.5, 0.999]}},
}


class AdversarialAutoencoder(MultiPlayerModel, GenerativeModel):
    """Autoencoder whose aggregated posterior is matched to ``prior`` by a discriminator on codes.

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: dimension of z (2 for the mixture and swiss-roll priors).
        prior: ``"gaussian"``, ``"mixture"`` or ``"swiss_roll"`` (zoo/distributions.py).
        components: mixture components / swiss-roll segments (10).
        label_conditioned: D reads the label and the prior draw follows it (needs ``num_classes`` ==
            ``components`` and a mixture or swiss-roll prior).
        labeled_fraction: share of each batch whose label is shown (label-conditioned only), in [0, 1].
        num_classes: classes of the data (``zoo fit`` links it from the datamodule).
        encoder: factory ``(in_shape, latent_dim) -> nn.Module``.
        decoder: factory ``(latent_dim, in_shape) -> nn.Module`` (unbounded; a sigmoid follows).
        discriminator: factory ``(in_shape, 1) -> nn.Module``, built for codes as ``in_shape = (1, 1, D)``
            with D = latent_dim (+ components + 1 when label-conditioned): one score per code.
        **engine: ``optimizers`` (players ``autoencoder``, ``discriminator``, ``encoder``), ``lr_schedulers``,
            ``gradient_clip_val``, ``channels_last``, ``compile`` (see ``MultiPlayerModel``).
    """

    family = "hybrid"
    paper = Paper("Adversarial autoencoders", "Makhzani et al.", 2016, "1511.05644")
    capabilities = frozenset({SAMPLE, ENCODE, DECODE, RECONSTRUCT})
    # the two-sample distance of the test codes from the prior (zoo/metrics/two_sample.py), in its leaderboard row
    extra_metrics = ("prior_mmd",)
    default_nets = AAE_NETS
    default_optimizers = {"autoencoder": ADAM_AE, "discriminator": ADAM_ADVERSARIAL, "encoder": ADAM_ADVERSARIAL}
    players: ClassVar[dict[str, Player]] = {
        "autoencoder": Player(("encoder", "decoder"), log_as="reconstruction"),
        "discriminator": Player(("discriminator",), log_as="d"),
        "encoder": Player(("encoder",), log_as="g"),
    }

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 8,
        prior: str = "gaussian",
        components: int = 10,
        label_conditioned: bool = False,
        labeled_fraction: float = 1.0,
        num_classes: int | None = None,
        encoder: EncoderFactory | None = None,
        decoder: DecoderFactory | None = None,
        discriminator: EncoderFactory | None = None,
        **engine: Any,
    ) -> None:
        if label_conditioned:  # its own paper defaults, for the players a recipe leaves out
            engine["optimizers"] = {**LABELLED_OPTIMIZERS, **(engine.get("optimizers") or {})}
        super().__init__(in_shape=in_shape, **engine)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ConfigError(f"latent_dim must be an int >= 1, got {latent_dim!r}")
        check_prior(prior, latent_dim)
        if isinstance(components, bool) or not isinstance(components, int) or components < 2:
            raise ConfigError(f"components must be an int >= 2, got {components!r}")
        if not 0.0 <= labeled_fraction <= 1.0:
            raise ConfigError(f"labeled_fraction must be in [0, 1], got {labeled_fraction}")
        if label_conditioned:
            if prior == "gaussian":
                raise ConfigError("label_conditioned needs a prior with one component per class: set prior: mixture "
                                  "or prior: swiss_roll (latent_dim: 2)")
            if num_classes is not None and num_classes != components:
                raise ConfigError(f"label_conditioned gives each class its own prior component, but the data has "
                                  f"num_classes={num_classes} and the prior components={components}; set "
                                  f"components: {num_classes}")
        self.latent_dim, self.prior, self.components = latent_dim, prior, components
        self.label_conditioned, self.labeled_fraction = bool(label_conditioned), float(labeled_fraction)
        self.num_classes = num_classes
        self.encoder = self.make_net("encoder", encoder)(self.in_shape, latent_dim)
        self.decoder = self.make_net("decoder", decoder)(latent_dim, self.in_shape)
        # D on codes: (1, 1, D) is the "image" shape every zoo encoder net accepts and flattens
        code_features = latent_dim + (components + 1 if self.label_conditioned else 0)
        self.discriminator = self.make_net("discriminator", discriminator)((1, 1, code_features), 1)
        self.build_ema()
        self.save_plain_hyperparameters(encoder=encoder, decoder=decoder, discriminator=discriminator)

    # -- the prior -------------------------------------------------------------------------------------
    def sample_prior(self, n: int, *, labels: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws z ~ p(z) (n, latent_dim) on the model's device; ``labels`` (n,) pick each draw's component
        (-1: any), for the mixture and swiss-roll priors."""
        z = sample_prior(self.prior, n, self.latent_dim, components=self.components, labels=labels,
                         generator=generator, device=None if generator is not None else self.device)
        return z.to(self.device, self.dtype)

    def shown_labels(self, batch: Batch) -> torch.Tensor:
        """The labels D is shown (label-conditioned only): the batch's labels, each replaced by -1
        ("unlabelled") with probability 1 - ``labeled_fraction``."""
        y = self.labels(batch)
        if self.labeled_fraction >= 1.0:
            return y
        keep = torch.rand(y.shape, device=y.device) < self.labeled_fraction
        return torch.where(keep, y, torch.full_like(y, -1))

    def scores(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D's logit (N,) that codes z come from the prior; label-conditioned, D also reads one-hot(y) with
        slot ``components`` for "unlabelled" (y = -1)."""
        if self.label_conditioned:
            assert y is not None
            slot = torch.where(y >= 0, y, torch.full_like(y, self.components))
            z = torch.cat([z, F.one_hot(slot, self.components + 1).to(z.dtype)], 1)
        return self.discriminator(z).view(z.shape[0])

    # -- the objective ---------------------------------------------------------------------------------
    def objective(self, player: str, batch: Batch, cache: dict[str, torch.Tensor]) -> Terms:  # type: ignore[override]
        x = self.images(batch)
        if player == "autoencoder":  # the reconstruction phase
            return {"loss": squared_error(self.decode(self.encode(x)), x).mean()}
        # the regularization phase: the prior's draws are "real", the codes of data "fake"
        y = self.shown_labels(batch) if self.label_conditioned else None
        if player == "discriminator":
            with torch.no_grad():  # the codes are constants for D
                z_fake = self.encode(x)
            z_real = self.sample_prior(x.shape[0], labels=y)
            if y is not None:
                cache["y"] = y  # the encoder's phase shows D the same labels
            real_scores, fake_scores = self.scores(z_real, y), self.scores(z_fake, y)
            terms: Terms = {"loss": discriminator_loss(real_scores, fake_scores).mean()}
            if not self.training or self.writes_logs_now():
                with torch.no_grad():
                    terms.update({"D(z_prior)": torch.sigmoid(real_scores).mean(),
                                  "D(enc(x))": torch.sigmoid(fake_scores).mean()})
            return terms
        y = cache.get("y", y)
        return {"loss": generator_non_saturating_loss(self.scores(self.encode(x), y)).mean()}

    # -- the model -----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> codes (N, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, latent_dim) -> images (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(encode(x)): images (N, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None,  # type: ignore[override]
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """decode(z) for z ~ p(z): n images in [0, 1]; ``labels`` (n,) draw each z from its class's component
        (a label-conditioned model decodes that class)."""
        return self.decode(self.sample_prior(n, labels=labels, generator=generator)).float()


@register_model
def aae(**kwargs) -> AdversarialAutoencoder:
    """Adversarial autoencoder (Gaussian prior; the paper's 1000-unit MLP encoder, decoder and code discriminator)."""
    return AdversarialAutoencoder(**kwargs)

"""BiGAN: Donahue et al., "Adversarial Feature Learning", ICLR 2017, arXiv:1605.09782; the same model as ALI
(Dumoulin et al., "Adversarially Learned Inference", ICLR 2017, arXiv:1606.00704).

A generator G: z -> x and an encoder E: x -> z are trained together against a discriminator of *pairs*
D(x, z), which tells data pairs (x, E(x)), x ~ p_data, from generated pairs (G(z), z), z ~ p(z):

    min_{G,E} max_D  E_x[log D(x, E(x))] + E_z[log(1 - D(G(z), z))]      (Sec. 3, Eq. 2)

At the optimum the two joint distributions match, so E inverts G (Theorem 2: E = G^{-1} almost everywhere):
the encoder learns, without labels, features that the paper probes linearly (Sec. 4) - ``zoo probe``.

Players (zoo/methods/players.py): ``discriminator`` (D), and ``generator``, one player that owns **both G and
E** (one optimizer over both; the paper's joint update). G and E minimise the game with the labels swapped
(the non-saturating form the paper trains with, Sec. 3.4): -log D(G(z), z) - log(1 - D(x, E(x))).

``reconstruct(x)`` is G(E(x)), which the paper shows keeps x's semantics rather than its pixels; ``sample``
decodes z ~ p(z); ``encode`` is E(x).

Deviations from the paper:
- z ~ N(0, I) (ALI's prior) rather than uniform on [-1, 1]: the encoders here are unbounded.
- Adam lr 2e-4, betas (0.5, 0.999) for both players, without the paper's weight decay 2.5e-5 and learning-rate
  decay; the recipes' nets are the zoo's (MLPs on digits; the conv encoder of the AE recipe, DCGAN's generator and
  a joint discriminator with a conv image branch on Fashion-MNIST), sized for CPU.
- The joint discriminator (zoo/nets/joint.py) drops out units in its joint layers (ALI's 0.2 by default; the
  recipes 0.5) and the recipes smooth D's data-pair target to 0.9 (one-sided, Salimans et al. 2016): without
  them D wins on digits (G's loss near 15) and G collapses to a few modes (FID 369 against 187 with both, seed
  0, 300 epochs; tests/methods/hybrid/test_bigan.py).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from zoo.capabilities import DECODE, ENCODE, RECONSTRUCT, SAMPLE
from zoo.errors import ConfigError
from zoo.images import to_signed, to_unit
from zoo.losses import discriminator_loss
from zoo.methods.base import Batch, GaussianCodeMixin, GenerativeModel, Terms
from zoo.methods.players import MultiPlayerModel, Player
from zoo.nets import DecoderFactory, EncoderFactory
from zoo.registry import Paper, register_model

BIGAN_NETS = {
    "generator": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [1024, 1024]}},
    "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [1024, 1024]}},
    "discriminator": {"class_path": "zoo.nets.JointDiscriminator", "init_args": {}},
}
ADAM = {"class_path": "torch.optim.Adam", "init_args": {"lr": 2e-4, "betas": [0.5, 0.999]}}


class BiGAN(GaussianCodeMixin, MultiPlayerModel, GenerativeModel):
    """Generator and encoder against a discriminator of (x, z) pairs.

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: dimension of z ~ N(0, I).
        label_smoothing: one-sided label smoothing of D's data-pair target (1 - label_smoothing; 0.1 -> 0.9,
            Salimans et al. 2016); generated pairs keep target 0. In [0, 1).
        generator: factory ``(latent_dim, in_shape) -> nn.Module`` (unbounded; tanh follows).
        encoder: factory ``(in_shape, latent_dim) -> nn.Module``.
        discriminator: factory ``(in_shape, latent_dim, 1) -> nn.Module`` called as ``D(x, z)`` (a
            ``JointDiscriminator``).
        **engine: ``optimizers`` (players ``discriminator``, ``generator``), ``lr_schedulers``, ``ema_decay``
            (an EMA of G and E), ``gradient_clip_val``, ``channels_last``, ``compile``.
    """

    family = "hybrid"
    paper = Paper("Adversarial feature learning", "Donahue et al.", 2017, "1605.09782")
    capabilities = frozenset({SAMPLE, ENCODE, DECODE, RECONSTRUCT})
    default_nets = BIGAN_NETS
    default_optimizers = {"discriminator": ADAM, "generator": ADAM}
    players: ClassVar[dict[str, Player]] = {
        "discriminator": Player(("discriminator",), log_as="d"),
        "generator": Player(("generator", "encoder"), ema=True, log_as="g"),
    }

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 50,
        label_smoothing: float = 0.0,
        generator: DecoderFactory | None = None,
        encoder: EncoderFactory | None = None,
        discriminator: Callable[[Sequence[int], int, int], nn.Module] | None = None,
        **engine: Any,
    ) -> None:
        super().__init__(in_shape=in_shape, **engine)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ConfigError(f"latent_dim must be an int >= 1, got {latent_dim!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1) (0.1 gives data-pair targets of 0.9), "
                              f"got {label_smoothing}")
        self.latent_dim, self.label_smoothing = latent_dim, label_smoothing
        self.generator = self.make_net("generator", generator)(latent_dim, self.in_shape)
        self.encoder = self.make_net("encoder", encoder)(self.in_shape, latent_dim)
        make_discriminator = self.make_net("discriminator", discriminator)
        try:
            self.discriminator = make_discriminator(self.in_shape, latent_dim, 1)
        except TypeError as err:  # a one-input net (an image encoder) has no place for latent_dim
            raise ConfigError(f"BiGAN's discriminator must score (x, z) pairs as D(x, z), built as "
                              f"(in_shape, latent_dim, 1), e.g. zoo.nets.JointDiscriminator; the given factory "
                              f"failed: {str(err).splitlines()[0]}") from None
        self._check_discriminator()
        self.build_ema()
        self.save_plain_hyperparameters(generator=generator, encoder=encoder, discriminator=discriminator)

    def _check_discriminator(self) -> None:
        """A discriminator that cannot score (x, z) pairs fails here, in one line, not at the first step."""
        x, z = torch.zeros(2, *self.in_shape), torch.zeros(2, self.latent_dim)
        try:
            with torch.no_grad():
                out = self.discriminator.eval()(x, z)
        except Exception as err:  # a net taking one input, or sized for other shapes
            raise ConfigError(f"BiGAN's discriminator must score (x, z) pairs as D(x, z) -> (N, 1), e.g. "
                              f"zoo.nets.JointDiscriminator; {type(self.discriminator).__name__} failed on x "
                              f"{tuple(x.shape)} and z {tuple(z.shape)}: {str(err).splitlines()[0]}") from None
        finally:
            self.discriminator.train()
        if tuple(out.shape) != (2, 1):
            raise ConfigError(f"BiGAN's discriminator must return one score per pair, (N, 1); "
                              f"{type(self.discriminator).__name__} returned {tuple(out.shape)}")

    # -- the objective ---------------------------------------------------------------------------------
    def scores(self, x_signed: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """D's logit (N,) that (x, z) is a data pair (x, E(x)); x in [-1, 1]."""
        return self.discriminator(x_signed, z).view(x_signed.shape[0])

    def objective(self, player: str, batch: Batch, cache: dict[str, torch.Tensor]) -> Terms:  # type: ignore[override]
        real = to_signed(self.images(batch))
        n = real.shape[0]
        if player == "discriminator":
            z = self.randn(n, self.latent_dim)
            with torch.no_grad():  # G's and E's outputs are constants for D
                fake, z_real = torch.tanh(self.generator(z)), self.encoder(real)
            cache.update(z=z, fake=fake)
            real_scores, fake_scores = self.scores(real, z_real), self.scores(fake, z)
            terms: Terms = {"loss": discriminator_loss(real_scores, fake_scores,
                                                       real_target=1.0 - self.label_smoothing).mean()}
            if not self.training or self.writes_logs_now():
                with torch.no_grad():
                    terms.update({"D(x,E(x))": torch.sigmoid(real_scores).mean(),
                                  "D(G(z),z)": torch.sigmoid(fake_scores).mean()})
            return terms
        # G and E: the game with the labels swapped (fresh z in training; validation scores the pairs D saw)
        z = self.randn(n, self.latent_dim) if self.training else cache["z"]
        fake = torch.tanh(self.generator(z)) if self.training else cache["fake"]
        real_scores, fake_scores = self.scores(real, self.encoder(real)), self.scores(fake, z)
        return {"loss": discriminator_loss(fake_scores, real_scores).mean()}

    # -- the model -----------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """E(x): images (N, C, H, W) in [0, 1] -> codes (N, latent_dim) (the EMA encoder when enabled)."""
        return self.sampling_net("encoder")(to_signed(x.to(self.device, self.dtype)))

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): codes (N, latent_dim) -> images (N, C, H, W) in [0, 1] (the EMA generator when enabled)."""
        return to_unit(torch.tanh(self.sampling_net("generator")(z.to(self.device, self.dtype))).float())


@register_model
def bigan(**kwargs) -> BiGAN:
    """BiGAN / ALI (the paper's 1024-unit MLP generator and encoder, a joint discriminator of (x, z))."""
    return BiGAN(**kwargs)

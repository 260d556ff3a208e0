"""The two-player GAN every GAN-family method stands on: a generator G(z) against a discriminator (critic) D(x),
on the players engine (zoo/methods/players.py).

A method subclasses ``TwoPlayerGAN`` and writes only its objective at the level of scores
(``discriminator_loss``, ``generator_loss``, optionally ``discriminator_penalty`` and ``score_metrics``),
its default nets and optimizers, and player options (WGAN: ``clip_weights``); mimicry's shape, where the
diff between two GANs is only the method.

- **Players.** ``discriminator`` updates on every batch, ``generator`` on every ``n_critic``-th (after the
  discriminator of the same batch): each critic update sees a fresh real batch (WGAN-GP, Algorithm 1;
  Goodfellow et al.'s k steps of D per step of G). Metrics keep their names: ``train/d_loss``,
  ``train/g_loss``, ``train/generator_steps``.
- **Images.** Public images are in [0, 1]; the nets see [-1, 1] (``zoo.images.to_signed``), and the
  generator's output goes through tanh (DCGAN's output layer) — nets themselves stay unbounded.
- **Options every GAN gets** (the engine's): ``ema_decay`` (an EMA of the generator, which ``sample`` and
  ``decode`` then use; Karras et al. 2018, arXiv:1710.10196; Yazici et al. 2019, arXiv:1806.04498),
  ``gradient_clip_val``, per-player ``optimizers`` and ``lr_schedulers``. One-sided label smoothing is an
  option of the methods with a BCE discriminator (it has no meaning for a critic).
- **Mixed precision.** A gradient penalty's ``autograd.grad`` is scaled by the trainer's grad scaler under
  16-mixed (``loss_scale``; see ``zoo.losses.gradient_penalty``); under bf16-mixed none is needed.
- **Validation** scores D on held-out real images and on samples, and G on the same samples.
- **Conditioning.** ``condition(batch)`` says what G and D are conditioned on: nothing here, the labels y in
  the conditional GAN (zoo/methods/gan/cgan.py), whose nets then take ``(z, y)`` and ``(x, y)``; the
  objective passes it to both, so a conditional GAN writes no loop of its own.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from zoo.capabilities import DECODE, SAMPLE
from zoo.errors import ConfigError
from zoo.images import to_signed, to_unit
from zoo.methods.base import Batch, GenerativeModel, Terms
from zoo.methods.players import MultiPlayerModel, Player
from zoo.nets import DecoderFactory, EncoderFactory


class TwoPlayerGAN(MultiPlayerModel, GenerativeModel):
    """Base of the GAN family: a generator G(z) and a discriminator (critic) D(x) trained in turns.

    Args:
        in_shape: (C, H, W) of the images, values in [0, 1].
        latent_dim: dimension of z ~ N(0, I).
        generator: factory ``(latent_dim, in_shape) -> nn.Module`` (a decoder: unbounded output).
        discriminator: factory ``(in_shape, 1) -> nn.Module`` (an encoder: one score per image).
        n_critic: discriminator updates per generator update (>= 1).
        **engine: ``optimizers``, ``lr_schedulers``, ``ema_decay``, ``gradient_clip_val``, ``channels_last``,
            ``compile`` (see ``MultiPlayerModel``).
    """

    family = "gan"
    capabilities = frozenset({SAMPLE, DECODE})
    players: ClassVar[dict[str, Player]] = {
        "discriminator": Player(("discriminator",), log_as="d"),
        "generator": Player(("generator",), every="n_critic", ema=True, log_as="g"),
    }

    def __init__(
        self,
        *,
        in_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int,
        generator: DecoderFactory | None = None,
        discriminator: EncoderFactory | None = None,
        n_critic: int = 1,
        **engine: Any,
    ) -> None:
        super().__init__(in_shape=in_shape, **engine)
        if latent_dim < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {latent_dim}")
        if n_critic < 1:
            raise ConfigError(f"n_critic must be >= 1, got {n_critic}")
        self.latent_dim, self.n_critic = latent_dim, n_critic
        self.build_nets(generator, discriminator)
        self.build_ema()
        self.save_plain_hyperparameters(generator=generator, discriminator=discriminator)

    def build_nets(self, generator: DecoderFactory | None, discriminator: EncoderFactory | None) -> None:
        """``self.generator`` (latent_dim -> images) and ``self.discriminator`` (images -> 1 score) from the
        recipe's factories, else the paper's (a conditional GAN also gives them the number of classes)."""
        self.generator = self.make_net("generator", generator)(self.latent_dim, self.in_shape)
        self.discriminator = self.make_net("discriminator", discriminator)(self.in_shape, 1)

    # -- the objective: what a method defines ------------------------------------------------------------
    def condition(self, batch: Batch) -> torch.Tensor | None:
        """What G and D are conditioned on in ``batch``: None (unconditional); a conditional GAN returns the
        labels y (N,)."""
        return None

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """Per-sample loss (N,) the discriminator minimises, from its scores on real and generated images."""
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """Per-sample loss (N,) the generator minimises, from the discriminator's scores on G(z)."""
        raise NotImplementedError

    def discriminator_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> Terms:
        """Extra terms of the discriminator's loss on images in [-1, 1]: ``"loss"`` (a scalar, already
        weighted) is added to it, other keys are logged (WGAN-GP's gradient penalty). Called only with
        gradients enabled (not in validation). No terms by default."""
        return {}

    def score_metrics(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> Terms:
        """What to log of the scores; BCE discriminators log D(x) and D(G(z)) as probabilities."""
        return {"D(x)": torch.sigmoid(real_scores).mean(), "D(G(z))": torch.sigmoid(fake_scores).mean()}

    def objective(self, player: str, batch: Batch, cache: dict[str, torch.Tensor]) -> Terms:  # type: ignore[override]
        x, y = self.images(batch), self.condition(batch)
        n = x.shape[0]
        if player == "discriminator":
            real = to_signed(x)
            with torch.no_grad():  # G's output is a constant here: no graph through G
                fake = self(self.randn(n, self.latent_dim), y)
            cache["fake"] = fake
            real_scores, fake_scores = self.scores(real, y), self.scores(fake, y)
            loss = self.discriminator_loss(real_scores, fake_scores).mean()
            terms: Terms = {}
            if torch.is_grad_enabled():
                penalty = self.discriminator_penalty(real, fake)
                if "loss" in penalty:
                    loss = loss + penalty.pop("loss")
                terms.update(penalty)
            if not self.training or self.writes_logs_now():  # skip the summaries on batches that log nothing
                with torch.no_grad():
                    terms.update(self.score_metrics(real_scores, fake_scores))
            return {"loss": loss, **terms}
        # Training draws fresh noise with a graph through G; validation scores G on the samples D just saw.
        fake = self(self.randn(n, self.latent_dim), y) if self.training else cache["fake"]
        return {"loss": self.generator_loss(self.scores(fake, y)).mean()}

    # -- the model -----------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) (G(z | y) for a conditional GAN) in [-1, 1], (N, C, H, W), with the training generator (not the
        EMA)."""
        return torch.tanh(conditioned(self.generator, z, y))

    def scores(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """D(x) (D(x | y) for a conditional GAN) as one score per image, (N,); x in [-1, 1]."""
        return conditioned(self.discriminator, x, y).view(x.shape[0])

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images G(z) (G(z | y)) in [0, 1], (N, C, H, W), from codes z (N, latent_dim) and, for a conditional
        GAN, labels y (N,); the EMA generator when enabled."""
        z, y = z.to(self.device, self.dtype), y.to(self.device) if y is not None else None
        return to_unit(torch.tanh(conditioned(self.sampling_net("generator"), z, y)).float())

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z) for z ~ N(0, I), in [0, 1]."""
        return self.decode(self.randn(n, self.latent_dim, generator=generator))

    # -- files of the previous format ------------------------------------------------------------------
    @classmethod
    def upgrade_hparams(cls, hparams: dict[str, Any], version: int) -> dict[str, Any]:
        """Format 1 named the optimizers and schedulers per player in flat keys."""
        hparams = dict(hparams)
        if version < 2:
            for kind in ("optimizer", "lr_scheduler"):
                specs = {player: hparams.pop(f"{player}_{kind}", None) for player in ("generator", "discriminator")}
                hparams[f"{kind}s"] = {player: spec for player, spec in specs.items() if spec is not None}
        return hparams

    @classmethod
    def upgrade_state_dict(cls, state_dict: dict[str, torch.Tensor], version: int) -> dict[str, torch.Tensor]:
        """Format 1 counted critic updates, one per batch: that count is both the batches and D's steps."""
        if version < 2 and "critic_steps" in state_dict:
            critic_steps = state_dict.pop("critic_steps")
            state_dict["batches"] = critic_steps.clone()
            state_dict["discriminator_steps"] = critic_steps
        return state_dict


def conditioned(net: torch.nn.Module, inputs: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """``net(inputs)``, or ``net(inputs, y)`` for a conditional net given labels."""
    return net(inputs) if y is None else net(inputs, y)

"""MAD-GAN: Ghosh et al., "Multi-Agent Diverse Generative Adversarial Networks", CVPR 2018, arXiv:1704.02906.

k generators G_1, ..., G_k play against one discriminator D that must say not only *whether* an image is real
but *which generator* drew it (Sec. 3.1). D is a (k + 1)-way softmax classifier, D(x) = (D_1(x), ..., D_{k+1}(x)),
trained on the cross-entropy with the one-hot delta of the image's source:

    min_D  E_{x ~ p_data} H(delta_{k+1}, D(x)) + sum_i E_{z ~ p(z)} H(delta_i, D(G_i(z)))

(here the classes are 0-based: generator i is class i in [0, k), "real" is class k, D's last output). Each
generator wants its samples called real,

    min_{G_i}  E_z log(1 - D_{k+1}(G_i(z)))    (Eq. 1; ``generator_loss="minimax"``)

and, as in the paper's experiments, trains on the non-saturating form -log D_{k+1}(G_i(z)) (the default). To
tell the generators apart, D pushes them to different, identifiable modes of the data; at the optimum the
mixture (1/k) sum_i p_{G_i} equals p_data (Theorem 1), while each G_i may cover only part of it.

Players (the engine of zoo/methods/players.py): ``discriminator`` (D) and ``generator``, which owns all k
generators, one ``MultiHeadGenerator`` (zoo/nets/multi.py): each generator has its own first
``private_layers`` layers and all share the rest (the paper's parameter sharing for images, all layers but
the first). Losses: zoo/losses.py (``mad_gan_*``).

Batch composition: a batch of n real images is met by n fakes, sample j drawn by generator j mod k (n / k per
generator), so D sees as many fakes as real images and a step costs what a GAN's step costs (the k generators
share one pass through the trunk). ``sample(n)`` draws each sample's generator uniformly (the mixture of
Theorem 1); ``sample(n, generator_index=i)`` draws from G_i alone; ``identify(x)`` is D's guess of which
generator drew x.

Measured (tests/methods/gan/test_mad_gan.py): on the grid of 25 Gaussians (zoo/data/toys.py), with MLP nets,
k = 5 and n_critic = 3 for both methods, MAD-GAN covers 25, 22, 23 modes (seeds 0-2) against a GAN's 20, 21, 22 at
equal generator steps, and D names the generator of held-out samples with 0.38-0.47 accuracy (chance 0.2); with
n_critic = 1 its generators collapsed onto the same few modes (2-6 covered, the GAN 16-20). On digits (k = 3)
every generator draws all digits: the generators are told apart by D but do not split the classes between them
(benchmarks/mad_gan_modes.py plots each generator's class histogram).

Deviations from the paper:
- Nets are DCGAN's (zoo/nets/dcgan.py; the paper builds its image experiments on DCGAN and pix2pix) sized by the
  recipe; the 2-D toy tests use MLPs. z ~ N(0, I) of dimension 100.
- One batch of n fakes split evenly over the k generators (above), not a minibatch of n per generator.
- Generator heads that are a *prefix* of the net (``private_layers`` from the input); the shared depth is an
  option, k independent generators when ``private_layers`` is the net's depth. Reference and virtual batch norm
  are refused in the generators.
- The recipes' k (``num_generators``) and the Adam settings (DCGAN's, 2e-4, (0.5, 0.999)) were not checked
  against the paper's text (not available offline here); the paper varies k across its experiments.
- MAD-GAN-Sim (the paper's Appendix B, a similarity-based diversity term) and the conditional (pix2pix) variant
  are not implemented.
"""
from __future__ import annotations

from typing import Any, Literal

import torch

from zoo.capabilities import SAMPLE
from zoo.errors import ConfigError
from zoo.images import to_signed, to_unit
from zoo.losses import (
    mad_gan_discriminator_loss,
    mad_gan_generator_minimax_loss,
    mad_gan_generator_non_saturating_loss,
)
from zoo.methods.base import Batch, Terms
from zoo.methods.gan.base import TwoPlayerGAN
from zoo.methods.gan.dcgan import DCGAN_NETS
from zoo.methods.gan.gan import ADAM_DCGAN
from zoo.nets import DecoderFactory, EncoderFactory
from zoo.nets.multi import MultiHeadGenerator
from zoo.registry import Paper, register_model

GeneratorLoss = Literal["non_saturating", "minimax"]
GENERATOR_LOSSES = {"non_saturating": mad_gan_generator_non_saturating_loss,
                    "minimax": mad_gan_generator_minimax_loss}


class MADGAN(TwoPlayerGAN):
    """k generators sharing all layers but their first against a (k + 1)-way discriminator.

    Args:
        num_generators: k >= 2.
        private_layers: leading layers each generator owns (1: the paper's, all but the first shared; up to
            the generator's depth: nothing shared).
        generator_loss: ``"non_saturating"`` (default, -log D_{k+1}(G_i(z))) or ``"minimax"``
            (log(1 - D_{k+1}(G_i(z)))).
        latent_dim: dimension of z (100).
        generator: factory ``(latent_dim, in_shape) -> nn.Module`` of one generator, called k times (a
            ``DCGANGenerator`` or ``MLPDecoder``: see ``MultiHeadGenerator``).
        discriminator: factory ``(in_shape, k + 1) -> nn.Module``: k + 1 logits per image.
        **kwargs: ``in_shape``, ``n_critic`` and the engine's options (see ``TwoPlayerGAN``); default optimizers
            Adam 2e-4, (0.5, 0.999).
    """

    paper = Paper("Multi-agent diverse generative adversarial networks", "Ghosh et al.", 2018, "1704.02906")
    capabilities = frozenset({SAMPLE})  # a code is (z, generator), so there is no decode(z)
    default_nets = DCGAN_NETS
    default_optimizers = {"discriminator": ADAM_DCGAN, "generator": ADAM_DCGAN}

    def __init__(
        self,
        *,
        num_generators: int = 3,
        private_layers: int = 1,
        generator_loss: GeneratorLoss = "non_saturating",
        latent_dim: int = 100,
        generator: DecoderFactory | None = None,
        discriminator: EncoderFactory | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(num_generators, bool) or not isinstance(num_generators, int) or num_generators < 2:
            raise ConfigError(f"num_generators must be an int >= 2, got {num_generators!r}; MAD-GAN with one "
                              "generator is a GAN (use `gan` or `dcgan`)")
        if generator_loss not in GENERATOR_LOSSES:
            raise ConfigError(f"unknown generator_loss {generator_loss!r}; choose one of {tuple(GENERATOR_LOSSES)}")
        # before the base's __init__, which builds the nets (build_nets)
        self.num_generators, self.private_layers = num_generators, private_layers
        self.generator_loss_name = generator_loss
        super().__init__(latent_dim=latent_dim, generator=generator, discriminator=discriminator, **kwargs)

    def build_nets(self, generator: DecoderFactory | None, discriminator: EncoderFactory | None) -> None:
        make = self.make_net("generator", generator)
        self.generator = MultiHeadGenerator([make(self.latent_dim, self.in_shape) for _ in range(self.num_generators)],
                                            private_layers=self.private_layers)
        self.discriminator = self.make_net("discriminator", discriminator)(self.in_shape, self.num_generators + 1)

    # -- the objective ----------------------------------------------------------------------------------
    def generator_indices(self, n: int) -> torch.Tensor:
        """Which generator draws each of a batch's n fakes: j mod k, n / k each (the module docstring)."""
        return torch.arange(n, device=self.device) % self.num_generators

    def objective(self, player: str, batch: Batch, cache: dict[str, torch.Tensor]) -> Terms:  # type: ignore[override]
        x = self.images(batch)
        n = x.shape[0]
        if player == "discriminator":
            index = self.generator_indices(n)
            with torch.no_grad():  # the fakes are constants for D: no graph through the generators
                fake = self(self.randn(n, self.latent_dim), index)
            cache["fake"] = fake
            real_logits, fake_logits = self.logits(to_signed(x)), self.logits(fake)
            loss = mad_gan_discriminator_loss(real_logits, fake_logits, index).mean()
            terms: Terms = {"loss": loss}
            if not self.training or self.writes_logs_now():  # skip the summaries on batches that log nothing
                with torch.no_grad():
                    terms.update(self.score_metrics(real_logits, fake_logits, index))
            return terms
        # Training draws fresh noise with a graph through the generators; validation scores the fakes D just saw.
        index = self.generator_indices(n)
        fake = self(self.randn(n, self.latent_dim), index) if self.training else cache["fake"]
        return {"loss": GENERATOR_LOSSES[self.generator_loss_name](self.logits(fake)).mean()}

    def score_metrics(self, real_logits: torch.Tensor, fake_logits: torch.Tensor,  # type: ignore[override]
                      index: torch.Tensor) -> Terms:
        """D(x) and D(G(z)): the probability of "real"; ``D_identifies_G``: how often D's most likely generator
        (argmax over the k generator classes) is the one that drew the fake."""
        guess = fake_logits[:, :-1].argmax(1)
        return {"D(x)": real_logits.softmax(1)[:, -1].mean(), "D(G(z))": fake_logits.softmax(1)[:, -1].mean(),
                "D_identifies_G": (guess == index).float().mean()}

    # -- the model -----------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """G_index(z) in [-1, 1], (N, C, H, W): sample j by generator index[j] (the training generators)."""
        return torch.tanh(self.generator(z, index))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """D's k + 1 logits (N, k + 1) for images x in [-1, 1]: generators 0..k-1, then "real"."""
        return self.discriminator(x).view(x.shape[0], self.num_generators + 1)

    @torch.no_grad()
    def identify(self, x: torch.Tensor) -> torch.Tensor:
        """D's guess (N,) of which generator drew each image x in [0, 1]: the argmax over the k generator
        classes (the "real" class left out)."""
        x = x.to(self.device, self.dtype)
        return self.logits(to_signed(x))[:, :-1].argmax(1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor,  # type: ignore[override]
               generator_index: torch.Tensor | None = None) -> torch.Tensor:
        """Images G_i(z) in [0, 1], (N, C, H, W), from codes z (N, latent_dim) and the generator of each (N,);
        without generators, code j goes to generator j mod k (as in training). The EMA generators when enabled."""
        index = generator_index if generator_index is not None else self.generator_indices(z.shape[0])
        z, index = z.to(self.device, self.dtype), index.to(self.device)
        return to_unit(torch.tanh(self.sampling_net("generator")(z, index)).float())

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None,  # type: ignore[override]
               generator_index: int | None = None) -> torch.Tensor:
        """n images in [0, 1] from the mixture: z ~ N(0, I), then each sample's generator drawn uniformly (with
        ``generator``, after z); or all from G_i when ``generator_index=i`` (in [0, num_generators))."""
        if generator_index is not None and (isinstance(generator_index, bool) or not isinstance(generator_index, int)
                                            or not 0 <= generator_index < self.num_generators):
            raise ConfigError(f"generator_index must be an int in [0, num_generators={self.num_generators}), got "
                              f"{generator_index!r}; pass 0..{self.num_generators - 1}, or None for the mixture")
        z = self.randn(n, self.latent_dim, generator=generator)
        if generator_index is not None:
            index = torch.full((n,), generator_index, dtype=torch.long)
        else:
            device = generator.device if generator is not None else self.device
            index = torch.randint(self.num_generators, (n,), generator=generator, device=device)
        return self.decode(z, index)


@register_model
def mad_gan(**kwargs) -> MADGAN:
    """MAD-GAN (3 DCGAN generators sharing all layers but the first, a 4-way DCGAN discriminator)."""
    return MADGAN(**kwargs)

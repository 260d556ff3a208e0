"""Conditional GAN: Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014, arXiv:1411.1784.

Both players see the class label y (Sec. 3.2):

    min_G max_D  E_{x,y ~ data}[log D(x | y)] + E_{z ~ p(z), y ~ data}[log(1 - D(G(z | y) | y))]

D tells real pairs (x, y) from generated ones (G(z | y), y); it can only be fooled by an image that looks real
*and* like class y, so G learns p(x | y) and ``sample(n, y=...)`` draws images of the classes asked for. Each
fake in a batch is generated for the label of a real image of that batch, so fakes follow the data's class
frequencies. The losses are GAN's (zoo/methods/gan/gan.py): BCE for D, the non-saturating -log D(G(z | y) | y)
for G by default.

How y enters the nets (zoo/nets/conditional.py): G reads [z; e(y)] (the paper's concatenation, with a learned
embedding e of the one-hot code); D reads the label either concatenated to its input (``discriminator_
conditioning="concat"``, the paper) or as a projection, D(x, y) = psi(phi(x)) + <V e_y, phi(x)> (``"projection"``,
Miyato & Koyama 2018, arXiv:1802.05637).

Deviations from the paper:
- DCGAN's convolutional nets (zoo/nets/dcgan.py; Radford et al. 2016) with batch norm instead of MLPs with
  ReLU (G) and maxout with dropout (D); the label enters D's input as constant embedding channels, not a
  maxout layer of its own.
- z ~ N(0, I) of dimension 100 instead of uniform noise of dimension 100; G ends in tanh on [-1, 1] images
  instead of a sigmoid on [0, 1].
- Adam (lr 2e-4, betas (0.5, 0.999), DCGAN's) instead of SGD with momentum and a decaying learning rate.
- The non-saturating generator loss (Goodfellow et al. 2014, Sec. 3) instead of the minimax one (an option).
- The projection discriminator is an option (Miyato & Koyama 2018), without their spectral normalisation and
  ResNets. The Fashion-MNIST recipe uses it: within its 8 CPU-minutes (~2 epochs) the paper's concatenated
  label reached 0.843 and 0.848 of the classifier's real accuracy (FID 76.5, 81.3), the projection 0.967
  (FID 50.5) (benchmarks/results/fashion_mnist/cgan.json).
- No Parzen-window log-likelihood (the paper's Table 1): GANs are scored by FID and, for conditional models,
  by the domain classifier's accuracy on samples of each requested class (zoo/metrics/conditional.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from zoo.capabilities import CONDITIONAL, SAMPLE
from zoo.errors import ConfigError
from zoo.images import check_labels
from zoo.methods.base import Batch
from zoo.methods.gan.gan import GAN
from zoo.nets.conditional import (
    CONDITIONINGS,
    ConditionalDecoderFactory,
    ConditionalEncoderFactory,
    Conditioning,
    check_num_classes,
)
from zoo.registry import Paper, register_model

CONDITIONAL_DCGAN_NETS = {
    "generator": {"class_path": "zoo.nets.ConditionalDCGANGenerator", "init_args": {"width": 64}},
    "discriminator": {"class_path": "zoo.nets.ConditionalDCGANDiscriminator", "init_args": {"width": 64}},
}


class ConditionalGAN(GAN):
    """GAN whose generator and discriminator are conditioned on class labels: G(z | y), D(x | y).

    Args:
        num_classes: number of classes of the data (>= 2); labels are in [0, num_classes). ``zoo fit`` sets it
            from the datamodule.
        discriminator_conditioning: how y enters D: ``"concat"`` (the paper) or ``"projection"`` (Miyato &
            Koyama 2018); the discriminator's factory receives it.
        latent_dim: dimension of z (100).
        generator: factory ``(latent_dim, in_shape, num_classes) -> nn.Module``, called as ``G(z, y)``.
        discriminator: factory ``(in_shape, 1, num_classes, discriminator_conditioning) -> nn.Module``, called
            as ``D(x, y)``.
        **kwargs: ``generator_loss``, ``label_smoothing``, ``n_critic`` (see ``GAN``), ``in_shape`` and the
            engine's options; default optimizers Adam 2e-4, (0.5, 0.999).
    """

    paper = Paper("Conditional generative adversarial nets", "Mirza & Osindero", 2014, "1411.1784")
    capabilities = frozenset({SAMPLE, CONDITIONAL})
    default_nets = CONDITIONAL_DCGAN_NETS

    def __init__(
        self,
        *,
        num_classes: int = 10,
        discriminator_conditioning: Conditioning = "concat",
        latent_dim: int = 100,
        generator: ConditionalDecoderFactory | None = None,
        discriminator: ConditionalEncoderFactory | None = None,
        **kwargs: Any,
    ) -> None:
        if discriminator_conditioning not in CONDITIONINGS:
            raise ConfigError(f"unknown discriminator_conditioning {discriminator_conditioning!r}; "
                              f"choose one of {CONDITIONINGS}")
        # before the base's __init__, which builds the nets (build_nets) and so needs the classes
        self.num_classes = check_num_classes(num_classes)
        self.discriminator_conditioning = discriminator_conditioning
        super().__init__(latent_dim=latent_dim, generator=generator, discriminator=discriminator, **kwargs)

    def build_nets(self, generator: ConditionalDecoderFactory | None,  # type: ignore[override]
                   discriminator: ConditionalEncoderFactory | None) -> None:
        self.generator = self.make_net("generator", generator)(self.latent_dim, self.in_shape, self.num_classes)
        self.discriminator = self.make_net("discriminator", discriminator)(
            self.in_shape, 1, self.num_classes, self.discriminator_conditioning)

    def condition(self, batch: Batch) -> torch.Tensor:
        """The labels y (N,) of the batch: G generates for them and D judges (x, y) pairs."""
        return self.labels(batch)

    # -- sampling ----------------------------------------------------------------------------------------
    def class_labels(self, n: int, y: torch.Tensor | Sequence[int] | int | None = None, *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """The labels (n,) to sample: ``y`` checked (one int for all, or one label per sample), or, when
        None, classes drawn uniformly with ``generator``."""
        if y is None:
            device = generator.device if generator is not None else self.device
            return torch.randint(self.num_classes, (n,), generator=generator, device=device).to(self.device)
        return check_labels(y, n, self.num_classes, where=f"{type(self).__name__}.sample").to(self.device)

    @torch.no_grad()
    def sample(self, n: int, *, y: torch.Tensor | Sequence[int] | int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z | y) for z ~ N(0, I), in [0, 1], (n, C, H, W).

        Args:
            n: number of images.
            y: their classes: a LongTensor of n labels, or one int for all; None draws each uniformly (with
                ``generator``, after z).
            generator: seeds z (and the classes when y is None).
        """
        labels = self.class_labels(n, y) if y is not None else None  # checked before anything is drawn
        z = self.randn(n, self.latent_dim, generator=generator)
        if labels is None:
            labels = self.class_labels(n, generator=generator)
        return self.decode(z, labels)

    @torch.no_grad()
    def class_grid(self, n_per_class: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """A class-conditional grid: ``n_per_class`` samples of class 0, then of class 1, ... (one row per class
        with ``make_grid(nrow=n_per_class)``), (num_classes * n_per_class, C, H, W) in [0, 1]. Column j shares
        one z across classes, so a column shows one style in every class (the paper's Fig. 2)."""
        z = self.randn(n_per_class, self.latent_dim, generator=generator).repeat(self.num_classes, 1)
        y = torch.arange(self.num_classes, device=self.device).repeat_interleave(n_per_class)
        return self.decode(z, y)


@register_model
def cgan(**kwargs) -> ConditionalGAN:
    """Conditional GAN (DCGAN nets, labels concatenated in G and D; ``discriminator_conditioning="projection"``
    for a projection discriminator)."""
    return ConditionalGAN(**kwargs)

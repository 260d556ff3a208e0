"""DCGAN: Radford et al., "Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks", ICLR 2016, arXiv:1511.06434.

The GAN objective (zoo/methods/gan/gan.py, non-saturating generator loss) with the paper's all-
convolutional nets (zoo/nets/dcgan.py: strided convs, batch norm except at G's output and D's input,
ReLU/tanh in G, LeakyReLU 0.2 in D, N(0, 0.02) init) and its training settings (Sec. 4): Adam with
lr 2e-4 and beta1 = 0.5, minibatch 128, z of dimension 100. The latent-space tools of Sec. 6 (walks and
vector arithmetic) are in zoo/latent.py and ``zoo sample --interpolate``.

The generator's normalisation is a net option: ``norm: batch`` (the paper), ``reference`` or ``virtual``
(reference and virtual batch norm, Salimans et al. 2016, arXiv:1606.03498; zoo/nets/batchnorm.py), e.g.
``zoo fit --config recipes/dcgan/fashion_mnist.yaml --model.init_args.generator.init_args.norm=virtual``.
benchmarks/norms.py compares the three at the same CPU budget.

Deviations from the paper:
- z ~ N(0, I) instead of uniform noise.
- Images are not scaled to 64x64: the nets adapt to the data's size (8, 28, 32, 64, ...; see
  zoo/nets/dcgan.py), with channel widths set by the recipe.
"""
from __future__ import annotations

from typing import Any

from zoo.methods.gan.gan import GAN
from zoo.registry import Paper, register_model

DCGAN_NETS = {
    "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 64}},
    "discriminator": {"class_path": "zoo.nets.DCGANDiscriminator", "init_args": {"width": 64}},
}


class DCGAN(GAN):
    """GAN with DCGAN nets (and GAN's optimizers, the paper's Adam 2e-4 (0.5, 0.999)). Arguments as ``GAN``;
    ``latent_dim`` defaults to the paper's 100."""

    paper = Paper("Unsupervised representation learning with deep convolutional GANs", "Radford et al.", 2016,
                  "1511.06434")
    default_nets = DCGAN_NETS

    def __init__(self, *, latent_dim: int = 100, **kwargs: Any) -> None:
        super().__init__(latent_dim=latent_dim, **kwargs)


@register_model
def dcgan(**kwargs) -> DCGAN:
    """DCGAN (width 64 in G and D, z of dimension 100)."""
    return DCGAN(**kwargs)

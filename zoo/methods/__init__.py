"""One LightningModule per method; importing this package registers every entry point."""
from zoo.methods.autoencoders.ae import Autoencoder
from zoo.methods.autoencoders.dae import DenoisingAutoencoder
from zoo.methods.base import GenerativeModel, LatentVariableModel
from zoo.methods.gan.base import AdversarialModel
from zoo.methods.gan.dcgan import DCGAN
from zoo.methods.gan.gan import GAN
from zoo.methods.gan.wgan import WGAN
from zoo.methods.gan.wgan_gp import WGANGP
from zoo.methods.vae.vae import VAE

__all__ = [
    "DCGAN",
    "GAN",
    "VAE",
    "WGAN",
    "WGANGP",
    "AdversarialModel",
    "Autoencoder",
    "DenoisingAutoencoder",
    "GenerativeModel",
    "LatentVariableModel",
]

"""One LightningModule per method; importing this package registers every entry point."""
from zoo.methods.autoencoders.ae import Autoencoder
from zoo.methods.autoencoders.dae import DenoisingAutoencoder
from zoo.methods.base import GenerativeModel, LatentVariableModel
from zoo.methods.vae.vae import VAE

__all__ = ["VAE", "Autoencoder", "DenoisingAutoencoder", "GenerativeModel", "LatentVariableModel"]

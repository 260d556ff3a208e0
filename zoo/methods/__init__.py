"""One LightningModule per method, on a family base; importing this package registers every entry point.

Bases: ``ZooModule`` (anything ``zoo fit`` trains) -> ``GenerativeModel`` (``sample``) ->
``LatentVariableModel`` (encoder/decoder; AE, DAE, VAE, beta-VAE); ``MultiPlayerModel`` (the players engine,
zoo/methods/players.py) -> ``TwoPlayerGAN`` (GAN, DCGAN, WGAN, WGAN-GP,
cGAN, MAD-GAN, InfoGAN, ProGAN) and the hybrids (AAE, AVB, BiGAN, VAE-GAN).
"""
from zoo.methods.autoencoders.ae import Autoencoder
from zoo.methods.autoencoders.dae import DenoisingAutoencoder
from zoo.methods.autoregressive.base import AutoregressiveModel
from zoo.methods.autoregressive.diagonal_bilstm import DiagonalBiLSTM
from zoo.methods.autoregressive.gated_pixelcnn import GatedPixelCNN
from zoo.methods.autoregressive.pixelcnn import PixelCNN
from zoo.methods.autoregressive.row_lstm import RowLSTM
from zoo.methods.base import GenerativeModel, LatentVariableModel, ZooModule
from zoo.methods.gan.base import TwoPlayerGAN
from zoo.methods.gan.cgan import ConditionalGAN
from zoo.methods.gan.dcgan import DCGAN
from zoo.methods.gan.infogan import InfoGAN
from zoo.methods.gan.gan import GAN
from zoo.methods.gan.mad_gan import MADGAN
from zoo.methods.gan.progan import ProGAN
from zoo.methods.gan.wgan import WGAN
from zoo.methods.gan.wgan_gp import WGANGP
from zoo.methods.hybrid.aae import AdversarialAutoencoder
from zoo.methods.hybrid.avb import AdversarialVariationalBayes
from zoo.methods.hybrid.bigan import BiGAN
from zoo.methods.hybrid.vae_gan import VAEGAN
from zoo.methods.players import MultiPlayerModel, Player
from zoo.methods.vae.beta_vae import BetaVAE
from zoo.methods.vae.vae import VAE

__all__ = [
    "AdversarialAutoencoder",
    "AdversarialVariationalBayes",
    "BetaVAE",
    "BiGAN",
    "DCGAN",
    "InfoGAN",
    "ConditionalGAN",
    "GAN",
    "MADGAN",
    "ProGAN",
    "PixelCNN",
    "GatedPixelCNN",
    "RowLSTM",
    "DiagonalBiLSTM",
    "AutoregressiveModel",
    "VAE",
    "VAEGAN",
    "WGAN",
    "WGANGP",
    "Autoencoder",
    "DenoisingAutoencoder",
    "GenerativeModel",
    "LatentVariableModel",
    "MultiPlayerModel",
    "Player",
    "TwoPlayerGAN",
    "ZooModule",
]

"""LightningDataModules for the zoo.

Every loader yields ``(x, y)``: x float32 in [0, 1] of shape (N, C, H, W), y int64 of shape (N,);
``TwoDomainDataModule`` yields ``{"a": (x, y), "b": (x, y)}`` from two of them.
``SpritesDataModule`` yields ``(x, y, factors)``: its images' ground-truth factor classes as well.

``DigitsDataModule`` (scikit-learn's bundled 8×8 digits) is the embedded default: no download, no disk.
Datasets that fit in memory are served by :class:`TensorBatches` (whole split as one tensor, batches by
index); image folders by a per-item ``DataLoader``.
"""

from zoo.data.base import ImageDataModule, zoo_home
from zoo.data.digits import DigitsDataModule
from zoo.data.folder import ImageFolderDataModule
from zoo.data.memory import TensorBatches
from zoo.data.sprites import Sprites, SpritesDataModule
from zoo.data.torchvision_datasets import (
    CIFAR10DataModule,
    CelebADataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    SVHNDataModule,
)
from zoo.data.two_domain import TwoDomainDataModule

__all__ = [
    "CIFAR10DataModule",
    "CelebADataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "SVHNDataModule",
    "Sprites",
    "SpritesDataModule",
    "TensorBatches",
    "TwoDomainDataModule",
    "zoo_home",
]

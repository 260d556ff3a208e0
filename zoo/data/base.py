"""The shared base of every image DataModule in the zoo.

A dataset module only says how to load its official train and test splits and what its images look like
(:attr:`ImageDataModule.native_shape`); this base validates the common arguments, carves the validation
split from the train split with a seeded random split, and builds the loaders. Every batch is a tuple
``(x, y)``: ``x`` float32 in [0, 1] of shape (N, C, H, W), ``y`` int64 of shape (N,).
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning
import torch
from torch.utils.data import DataLoader, Dataset, random_split
from torchvision.transforms import v2

from zoo.errors import ConfigError
from zoo.paths import zoo_home  # one definition of $ZOO_HOME for weights and data; re-exported here

__all__ = ["ImageDataModule", "image_transform", "zoo_home"]


def image_transform(
    *, size: int | None = None, center_crop: bool = False, grayscale: bool = False
) -> v2.Compose:
    """PIL image -> float32 tensor (C, H, W) in [0, 1], optionally resized to ``size``.

    Without ``center_crop`` the image is resized to exactly size×size (right for square datasets); with it,
    the shorter side is resized to ``size`` and the centre cropped, so the aspect ratio is kept.
    Resizing happens after the conversion to float so no precision is lost to uint8 rounding; bilinear
    weights are non-negative, so values stay in [0, 1].
    """
    ops: list[v2.Transform] = [v2.Grayscale(num_output_channels=1)] if grayscale else []
    ops += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if size is not None:
        ops.append(v2.Resize(size if center_crop else [size, size], antialias=True))
        if center_crop:
            ops.append(v2.CenterCrop(size))
    return v2.Compose(ops)


def _check_int(name: str, value: object, minimum: int) -> None:
    # bool is an int subclass; batch_size=True is a typo, not a request for 1
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")


class ImageDataModule(lightning.LightningDataModule):
    """Base class: seeded train/val split, loaders, argument checks, and :attr:`shape` before setup.

    A subclass sets :attr:`native_shape` and :attr:`num_classes` (class attributes or in ``__init__``
    before calling this one) and implements :meth:`load_train` and :meth:`load_test`.

    Args:
        data_dir: where the dataset lives or is downloaded to; ``None`` means ``$ZOO_HOME/data``
            (:func:`zoo.paths.zoo_home`, read at construction). Unused by bundled datasets.
        batch_size: images per batch, >= 1.
        num_workers: loader worker processes; 0 loads in the main process.
        size: resize images to size×size; ``None`` keeps the native size.
        seed: seeds the train/val split and the train loader's shuffling (not the test split).
        val_size: images carved from the official train split for validation: an int is a count,
            a float in (0, 1) a fraction of the train split.
    """

    #: (C, H, W) of the images before any resize.
    native_shape: tuple[int, int, int]
    #: number of distinct labels ``y`` takes.
    num_classes: int
    #: length of the official train split when known before loading, so a too-large ``val_size`` is
    #: refused in ``__init__`` (before a model is built) rather than in ``setup``. ``None``: check at setup.
    nominal_train_size: int | None = None

    def __init__(
        self,
        *,
        data_dir: str | None = None,
        batch_size: int = 128,
        num_workers: int = 0,
        size: int | None = None,
        seed: int = 0,
        val_size: int | float,
    ) -> None:
        super().__init__()
        _check_int("batch_size", batch_size, 1)
        _check_int("num_workers", num_workers, 0)
        if size is not None:
            _check_int("size", size, 1)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"seed must be an int, got {seed!r}")
        if isinstance(val_size, float):
            if not 0.0 < val_size < 1.0:
                raise ConfigError(
                    f"val_size as a float is a fraction of the train split and must be in (0, 1), "
                    f"got {val_size}"
                )
        else:
            _check_int("val_size", val_size, 1)
        if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
            raise ConfigError(f"data_dir must be a path or None, got {data_dir!r}")

        # Every subclass's constructor arguments (all plain values), so a checkpoint records the data it saw.
        self.save_hyperparameters()
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.size = size
        self.seed = seed
        self.val_size = val_size
        # Resolved once here, not per call, so that every process of a run agrees on it.
        self.root = Path(data_dir).expanduser() if data_dir is not None else zoo_home() / "data"
        if self.nominal_train_size is not None:
            self._split_sizes(self.nominal_train_size)

        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images the loaders yield; known right after ``__init__``."""
        channels, height, width = self.native_shape
        if self.size is None:
            return channels, height, width
        return channels, self.size, self.size

    # --- what a dataset module provides -------------------------------------------------------------

    def load_train(self) -> Dataset:
        """The official train split (val is carved from it here, in the base). Yields (x, int label)."""
        raise NotImplementedError

    def load_test(self) -> Dataset:
        """The official test split. Yields (x, int label)."""
        raise NotImplementedError

    # --- Lightning hooks ------------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if stage in ("fit", "validate", None) and self.train_dataset is None:
            full = self.load_train()
            n_train, n_val = self._split_sizes(len(full))
            split_generator = torch.Generator().manual_seed(self.seed)
            self.train_dataset, self.val_dataset = random_split(
                full, [n_train, n_val], generator=split_generator
            )
        if stage in ("test", "predict", None) and self.test_dataset is None:
            self.test_dataset = self.load_test()

    def train_dataloader(self) -> DataLoader:
        # A fresh generator per call: re-creating the loader replays the same order, and successive
        # epochs of one loader still see different orders as the generator advances.
        generator = torch.Generator().manual_seed(self.seed)
        train = self._require(self.train_dataset, "train", "fit")
        return self._loader(train, shuffle=True, generator=generator)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.val_dataset, "val", "fit"), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.test_dataset, "test", "test"), shuffle=False)

    # --- helpers -------------------------------------------------------------------------------------

    def _split_sizes(self, n_total: int) -> tuple[int, int]:
        """(n_train, n_val) for a train split of ``n_total`` images, or a ConfigError saying what to lower."""
        if isinstance(self.val_size, float):
            n_val = max(1, round(self.val_size * n_total))
        else:
            n_val = self.val_size
        if n_val >= n_total:
            raise ConfigError(
                f"val_size={self.val_size!r} asks for {n_val} validation images but the train split of "
                f"{type(self).__name__} has only {n_total}; pass a smaller val_size"
            )
        n_train = n_total - n_val
        # The train loader drops the last partial batch: fewer images than one batch would train on nothing.
        if n_train < self.batch_size:
            raise ConfigError(
                f"batch_size={self.batch_size} is larger than the {n_train} training images left after "
                f"val_size={self.val_size!r}; lower batch_size or val_size"
            )
        return n_train, n_val

    def _loader(
        self, dataset: Dataset, *, shuffle: bool, generator: torch.Generator | None = None
    ) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=shuffle,  # only the train loader: val/test must see every image
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            generator=generator,
        )

    def _require(self, dataset: Dataset | None, split: str, stage: str) -> Dataset:
        if dataset is None:
            raise RuntimeError(
                f"{type(self).__name__} has no {split} split yet: call setup({stage!r}) first "
                f"(a Trainer does this for you)"
            )
        return dataset

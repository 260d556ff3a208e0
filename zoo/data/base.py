"""The shared base of every image DataModule in the zoo.

A dataset module only says how to load its official train and test splits and what its images look like
(:attr:`ImageDataModule.native_shape`); this base validates the common arguments, carves the validation
split from the train split with a seeded random split, and builds the loaders. Every batch is a tuple
``(x, y)``: ``x`` float32 in [0, 1] of shape (N, C, H, W), ``y`` int64 of shape (N,).

Two data paths yield the same images:

* **in memory** (:mod:`zoo.data.memory`), the default where a dataset module implements
  :meth:`ImageDataModule.load_tensors` (its whole split fits in memory as one tensor): batches are gathered
  by index and converted to float batch-wise, optionally on the training device; no worker processes.
* **per item**: a torch ``DataLoader`` over a dataset that decodes one image at a time (PIL), with
  ``num_workers`` processes and pinned memory when the batches go to a GPU. Large image folders use it.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning
import torch
from torch.utils.data import DataLoader, Dataset, Subset, random_split
from torchvision.transforms import v2

from zoo.data.binarize import binarize_static, binary_sha256, check_binarize
from zoo.data.memory import TensorBatches, TensorImages
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
        num_workers: per-item path only: loader worker processes; 0 loads in the main process.
        size: resize images to size×size; ``None`` keeps the native size.
        seed: seeds the train/val split and the train loader's shuffling (not the test split).
        val_size: images carved from the official train split for validation: an int is a count,
            a float in (0, 1) a fraction of the train split.
        in_memory: ``None``: the in-memory path where the dataset module supports it (it implements
            :meth:`load_tensors`), else per item; ``True``: in memory (a ConfigError where unsupported);
            ``False``: the per-item ``DataLoader``. See :mod:`zoo.data.memory` for its order and sharding:
            with a Trainer attached, each in-memory loader is this rank's shard (``trainer.global_rank`` of
            ``trainer.world_size``, read when the loader is built), val and test included; without one, all.
        device: in-memory path only: hold the split on this device (``"cuda"``: each rank's own GPU under a
            Trainer, i.e. its ``root_device``) and make batches there; ``None`` keeps it on the CPU and
            Lightning copies each batch to the model's device.
        random_flip: flip train images horizontally with probability 1/2 (val and test never). In memory:
            per image of the batch, drawn from the epoch's seeded generator; per item:
            ``v2.RandomHorizontalFlip`` on each image.
        binarize: ``None``: grey levels in [0, 1]. ``"dynamic"``: binary images for Bernoulli models
            (zoo/data/binarize.py): train batches re-drawn as Bernoulli(intensity) on every read (from the
            epoch's seeded generator), val and test one static binarization with a fixed seed
            (:meth:`static_binarization`). In-memory path only.
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
        in_memory: bool | None = None,
        device: str | None = None,
        random_flip: bool = False,
        binarize: str | None = None,
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
        if not isinstance(random_flip, bool):
            raise ConfigError(f"random_flip must be true or false, got {random_flip!r}")
        in_memory = self._check_in_memory(in_memory)
        binarize = check_binarize(binarize)
        if binarize is not None and not in_memory:
            raise ConfigError(
                f"binarize={binarize!r} needs the in-memory path (it draws the bits batch-wise), but "
                f"{type(self).__name__} is on the per-item path; pass in_memory=True or drop binarize"
            )
        if device is not None:
            self._check_device(device, in_memory)

        # Every subclass's constructor arguments (all plain values), so a checkpoint records the data it saw.
        self.save_hyperparameters()
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.size = size
        self.seed = seed
        self.val_size = val_size
        self.in_memory = in_memory
        self.device = device
        self.random_flip = random_flip
        self.binarize = binarize
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

    def load_tensors(self, *, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The official train (``train=True``) or test split as (images, labels), for the in-memory path.

        images: (N, *self.shape), uint8 (0..255) or float32 in [0, 1], the same pixels and order as
        :meth:`load_train` / :meth:`load_test` yield; labels (N,) int64. A module whose splits fit in memory
        implements this (read the raw arrays, not the per-item dataset); one that does not, leaves it.
        """
        raise NotImplementedError

    @classmethod
    def supports_in_memory(cls) -> bool:
        """Whether this dataset module has the in-memory path (implements :meth:`load_tensors`)."""
        return cls.load_tensors is not ImageDataModule.load_tensors

    # --- Lightning hooks ------------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if stage in ("fit", "validate", None) and self.train_dataset is None:
            full = self._load_split(train=True)
            n_train, n_val = self._split_sizes(len(full))
            split_generator = torch.Generator().manual_seed(self.seed)
            self.train_dataset, self.val_dataset = random_split(
                full, [n_train, n_val], generator=split_generator
            )
            if self.binarize is not None:  # train stays grey (binarized per batch), val is static
                static = self.static_binarization("train")[0].to(self._data_device())
                self.val_dataset = Subset(static, self.val_dataset.indices)
        if stage in ("test", "predict", None) and self.test_dataset is None:
            if self.binarize is not None:
                self.test_dataset = self.static_binarization("test")[0].to(self._data_device())
            else:
                self.test_dataset = self._load_split(train=False)

    def static_binarization(self, split: str) -> tuple[TensorImages, str]:
        """The static binarization of the official ``split`` (``"train"`` or ``"test"``, whole) and the sha256
        of its bits (zoo/data/binarize.py): what validation, test and ``zoo evaluate --metrics nll`` score
        binary models on. The seed is fixed (not ``seed``), so every run sees the same bits."""
        if split not in ("train", "test"):
            raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
        if not self.supports_in_memory():
            raise ConfigError(f"{type(self).__name__} has no in-memory path, so no static binarization")
        images, labels = self.load_tensors(train=split == "train")
        bits = binarize_static(images)
        return TensorImages(bits, labels), binary_sha256(bits)

    def train_dataloader(self) -> DataLoader | TensorBatches:
        train = self._require(self.train_dataset, "train", "fit")
        if self.in_memory:
            return self._tensor_batches(train, train=True)
        # A fresh generator per call: re-creating the loader replays the same order, and successive
        # epochs of one loader still see different orders as the generator advances.
        generator = torch.Generator().manual_seed(self.seed)
        if self.random_flip:
            train = _Transformed(train, v2.RandomHorizontalFlip())
        return self._loader(train, shuffle=True, generator=generator)

    def val_dataloader(self) -> DataLoader | TensorBatches:
        return self._eval_loader(self._require(self.val_dataset, "val", "fit"))

    def test_dataloader(self) -> DataLoader | TensorBatches:
        return self._eval_loader(self._require(self.test_dataset, "test", "test"))

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

    def _check_in_memory(self, in_memory: bool | None) -> bool:
        """``in_memory`` resolved: None -> whether this module supports it; True where it cannot is refused."""
        if in_memory is not None and not isinstance(in_memory, bool):
            raise ConfigError(f"in_memory must be true, false or null (automatic), got {in_memory!r}")
        supported = self.supports_in_memory()
        if in_memory and not supported:
            raise ConfigError(
                f"in_memory=True: {type(self).__name__} has no in-memory path (it reads images one by one, "
                f"for datasets too large to hold as one tensor); pass in_memory=False or leave it unset"
            )
        return supported if in_memory is None else in_memory

    def _check_device(self, device: object, in_memory: bool) -> None:
        if not isinstance(device, str):
            raise ConfigError(f"device must be a device name such as 'cuda' or 'cuda:1', or None, got {device!r}")
        try:
            torch.device(device)
        except RuntimeError as error:
            raise ConfigError(f"device={device!r} is not a torch device ({error}); pass e.g. 'cuda' or None") from error
        if not in_memory:
            raise ConfigError(
                f"device={device!r} holds the in-memory split on a device, but {type(self).__name__} is on the "
                f"per-item path (in_memory=False or unsupported); drop device= (Lightning moves the batches)"
            )

    def _load_split(self, *, train: bool) -> Dataset:
        """The official train or test split: tensors on the data device (in memory) or a per-item dataset."""
        if not self.in_memory:
            return self.load_train() if train else self.load_test()
        images, labels = self.load_tensors(train=train)
        return TensorImages(images, labels).to(self._data_device())

    def _data_device(self) -> torch.device:
        """Where the in-memory split lives: CPU, or ``device``; a bare ``"cuda"`` under a Trainer on GPUs is
        the rank's own GPU (its strategy's root device; ``setup`` runs after the strategy picked it)."""
        if self.device is None:
            return torch.device("cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device={self.device!r} but CUDA is not available here; pass device=None (CPU)")
        root = self.trainer.strategy.root_device if self.trainer is not None else None
        if device.index is None and root is not None and root.type == device.type:
            return root
        return device

    def _rank_and_world_size(self) -> tuple[int, int]:
        """This process's rank and the number of processes, from the attached Trainer (0, 1 without one)."""
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def _pin_memory(self) -> bool:
        """Pin CPU batches when they will be copied to a GPU: Lightning's copy is then non-blocking."""
        if self.trainer is not None:
            return self.trainer.strategy.root_device.type == "cuda"
        return torch.cuda.is_available()

    def _tensor_batches(self, split: Dataset, *, train: bool) -> TensorBatches:
        """The in-memory loader of ``split`` (a TensorImages, or a Subset of one), sharded by the Trainer's rank."""
        indices = None
        if isinstance(split, Subset):
            split, indices = split.dataset, torch.as_tensor(split.indices, dtype=torch.int64)
        assert isinstance(split, TensorImages), f"in-memory splits are TensorImages, got {type(split).__name__}"
        rank, world_size = self._rank_and_world_size()
        return TensorBatches(
            split.images,
            split.labels,
            indices=indices,
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=train,  # only the train loader: val/test must see every image
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            random_flip=train and self.random_flip,
            binarize=train and self.binarize is not None,
            pin_memory=self._pin_memory(),
        )

    def _eval_loader(self, split: Dataset) -> DataLoader | TensorBatches:
        if self.in_memory:
            return self._tensor_batches(split, train=False)
        return self._loader(split, shuffle=False)

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
            pin_memory=self._pin_memory(),
            generator=generator,
        )

    def _require(self, dataset: Dataset | None, split: str, stage: str) -> Dataset:
        if dataset is None:
            raise RuntimeError(
                f"{type(self).__name__} has no {split} split yet: call setup({stage!r}) first "
                f"(a Trainer does this for you)"
            )
        return dataset


class _Transformed(Dataset):
    """``dataset`` with ``transform`` applied to each image (the per-item path's train augmentation), kept
    apart from ``train_dataset`` so that code reading the split directly sees the images unaugmented."""

    def __init__(self, dataset: Dataset, transform: v2.Transform) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, object]:
        x, y = self.dataset[index]
        return self.transform(x), y

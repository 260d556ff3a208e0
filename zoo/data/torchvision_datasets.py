"""MNIST, Fashion-MNIST, CIFAR-10, SVHN and CelebA through torchvision's dataset classes.

Files live under ``root`` = ``data_dir``, else ``$ZOO_HOME/data``, in torchvision's own layout
(``<root>/MNIST/raw``, ``<root>/FashionMNIST/raw``, ``<root>/cifar-10-batches-py``,
``<root>/{train,test}_32x32.mat``, ``<root>/celeba``), so a folder that torchvision already filled is reused
as is.
``prepare_data()`` makes the files available, downloading through torchvision when ``download=True``; a
dataset that is absent and cannot be downloaded raises :class:`~zoo.errors.DatasetNotFoundError` saying
what is missing, where it looked and how to get it.

Fashion-MNIST is also found offline: the Debian package ``dataset-fashion-mnist`` installs its four gz
files in ``/usr/share/datasets/fashion-mnist``; they (or the same files in a flat ``data_dir``) are
decompressed once into ``<root>/FashionMNIST/raw``, where torchvision reads them.

All four fit in memory, so the in-memory path (:mod:`zoo.data.memory`) is their default: a split is read
from the arrays torchvision loads (``.data``, uint8) rather than image by image. As uint8 the train splits
take 47 MB (MNIST, Fashion-MNIST), 154 MB (CIFAR-10) and 225 MB (SVHN). With ``size`` set they are resized
once at load and held as float32 (pixels equal to the per-item path's, which resizes after converting to
float): 4 bytes per value, so CIFAR-10 at 64×64 takes 2.5 GB.

CelebA (202599 face photos, 1.4 GB of JPEGs) does not fit: it is read image by image (the per-item path).
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import datasets
from torchvision.datasets import VisionDataset
from torchvision.transforms import v2

from zoo.data.base import ImageDataModule, image_transform
from zoo.data.memory import resize_images
from zoo.errors import ConfigError, DatasetNotFoundError

__all__ = [
    "CIFAR10DataModule", "CelebADataModule", "FASHION_MNIST_SYSTEM_DIRS", "FashionMNISTDataModule",
    "MNISTDataModule", "SVHNDataModule",
]

#: Where system packages put Fashion-MNIST (Debian's ``dataset-fashion-mnist``); searched after ``data_dir``.
FASHION_MNIST_SYSTEM_DIRS: list[str] = ["/usr/share/datasets/fashion-mnist"]

# The uncompressed names torchvision's MNIST/FashionMNIST read from <root>/<Class>/raw.
_IDX_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
)


class _TorchvisionDataModule(ImageDataModule):
    """A torchvision dataset with an official train and test split, found on disk or downloaded.

    A subclass sets the torchvision class, the native shape and the files (relative to ``root``) whose
    presence means the dataset is there, and says in :meth:`raw_tensors` how to read the class's arrays.
    """

    dataset_cls: ClassVar[type[VisionDataset]]
    required_files: ClassVar[tuple[str, ...]]
    #: how to get the files by hand, for the error message
    how_to_get: ClassVar[str] = ""
    num_classes = 10

    def __init__(
        self,
        *,
        data_dir: str | None = None,
        download: bool = True,
        batch_size: int = 128,
        num_workers: int = 0,
        size: int | None = None,
        seed: int = 0,
        val_size: int | float = 5000,
        in_memory: bool | None = None,
        device: str | None = None,
        random_flip: bool = False,
        binarize: str | None = None,
    ) -> None:
        super().__init__(
            data_dir=data_dir, batch_size=batch_size, num_workers=num_workers, size=size, seed=seed,
            val_size=val_size, in_memory=in_memory, device=device, random_flip=random_flip,
            binarize=binarize,
        )
        self.download = download

    @property
    def dataset_name(self) -> str:
        return self.dataset_cls.__name__

    def prepare_data(self) -> None:
        if not self._missing():
            return
        if not self.download:
            raise self._not_found("download=False, so nothing was downloaded")
        try:
            for train in (True, False):  # one call fetches both splits for most, SVHN needs one per split
                self._torchvision_dataset(train=train, download=True)
        # URLError is an OSError; torchvision turns some download failures into RuntimeError.
        except (OSError, RuntimeError) as error:
            raise self._not_found(f"the download failed: {error}") from error
        if self._missing():
            raise self._not_found("the download finished but left files missing")

    def load_train(self) -> Dataset:
        return self._dataset(train=True, transform=image_transform(size=self.size))

    def load_test(self) -> Dataset:
        return self._dataset(train=False, transform=image_transform(size=self.size))

    def load_tensors(self, *, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.raw_tensors(self._dataset(train=train, transform=None))
        if self.shape != self.native_shape:
            images = resize_images(images, self.size)
        return images, labels

    @staticmethod
    def raw_tensors(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images (N, C, H, W), int64 labels (N,)) of a loaded torchvision dataset, read from its arrays
        (MNIST and Fashion-MNIST: ``.data`` (N, H, W) tensor and ``.targets``)."""
        return dataset.data.unsqueeze(1), torch.as_tensor(dataset.targets, dtype=torch.int64)

    def _torchvision_dataset(self, *, train: bool, **kwargs: Any) -> VisionDataset:
        """The torchvision dataset of the train or test split; ``kwargs`` go to its constructor."""
        return self.dataset_cls(self.root, train=train, **kwargs)

    def _dataset(self, *, transform: Callable | None, **split: Any) -> VisionDataset:
        """The split ``split`` names (``train=True``/``False``, or what the subclass's
        :meth:`_torchvision_dataset` takes), checked to be present and accepted by torchvision."""
        if self._missing():
            raise self._not_found("prepare_data() has not made them available (a Trainer calls it first)")
        try:
            return self._torchvision_dataset(transform=transform, download=False, **split)
        except RuntimeError as error:  # torchvision's "not found or corrupted": a file fails its md5 check
            raise DatasetNotFoundError(
                f"{self.dataset_name} files under {self.root} are present but torchvision rejects them "
                f"({error}); delete them and run again with download=True"
            ) from error

    def _missing(self) -> list[Path]:
        return [path for path in (self.root / name for name in self.required_files) if not path.is_file()]

    def _searched_dirs(self) -> list[Path]:
        return sorted({path.parent for path in (self.root / name for name in self.required_files)})

    def _describe_missing(self) -> str:
        return ", ".join(path.name for path in self._missing())

    def _layout_hint(self) -> str:
        return "them under " + ", ".join(f"{path.relative_to(self.root)}/" for path in self._searched_dirs())

    def _not_found(self, reason: str) -> DatasetNotFoundError:
        missing = self._describe_missing()
        searched = ", ".join(str(path) for path in self._searched_dirs())
        fixes = [
            f"pass data_dir= a folder holding {self._layout_hint()}",
            "allow download=True (needs network access)",
        ] + ([self.how_to_get] if self.how_to_get else [])
        return DatasetNotFoundError(
            f"{self.dataset_name} not found: missing {missing}; looked in {searched}; {reason}. "
            f"To fix: {'; or '.join(fixes)}."
        )


class MNISTDataModule(_TorchvisionDataModule):
    """MNIST handwritten digits, (1, 28, 28); 60000 train (minus ``val_size``) / 10000 test."""

    dataset_cls = datasets.MNIST
    native_shape = (1, 28, 28)
    nominal_train_size = 60000
    required_files = tuple(f"MNIST/raw/{name}" for name in _IDX_FILES)


class CIFAR10DataModule(_TorchvisionDataModule):
    """CIFAR-10 colour images, (3, 32, 32); 50000 train (minus ``val_size``) / 10000 test."""

    dataset_cls = datasets.CIFAR10
    native_shape = (3, 32, 32)
    nominal_train_size = 50000
    required_files = tuple(
        f"cifar-10-batches-py/{name}"
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    )

    @staticmethod
    def raw_tensors(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
        # ``.data`` is a NumPy (N, H, W, C) array, ``.targets`` a list
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.as_tensor(dataset.targets, dtype=torch.int64)


class SVHNDataModule(_TorchvisionDataModule):
    """SVHN house-number digits, (3, 32, 32); 73257 train (minus ``val_size``) / 26032 test.

    torchvision's two files ``train_32x32.mat`` and ``test_32x32.mat`` directly in ``root``; the
    ``extra`` split (531131 easier images) is not used. Labels 0..9 (torchvision maps SVHN's 10 to 0).
    """

    dataset_cls = datasets.SVHN
    native_shape = (3, 32, 32)
    nominal_train_size = 73257
    required_files = ("train_32x32.mat", "test_32x32.mat")

    def _torchvision_dataset(self, *, train: bool, **kwargs: Any) -> VisionDataset:
        return self.dataset_cls(self.root, split="train" if train else "test", **kwargs)

    @staticmethod
    def raw_tensors(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
        # ``.data`` is a NumPy (N, C, H, W) transposed view of the file's (H, W, C, N); ``.labels`` NumPy int64
        images = torch.from_numpy(np.ascontiguousarray(dataset.data))
        return images, torch.from_numpy(dataset.labels).to(torch.int64)

    def _layout_hint(self) -> str:
        return "them directly in it"


#: CelebA's aligned images, and the annotation files torchvision reads (all five, even for images only).
_CELEBA_IMAGES = "celeba/img_align_celeba"
_CELEBA_LISTS = (
    "list_eval_partition.txt", "identity_CelebA.txt", "list_attr_celeba.txt", "list_bbox_celeba.txt",
    "list_landmarks_align_celeba.txt",
)


class CelebADataModule(_TorchvisionDataModule):
    """CelebA aligned faces, 178×218 (W×H) RGB, centre-cropped to 178×178 and resized to size×size.

    The images are torchvision's ``img_align_celeba``; each is centre-cropped to 178×178 (rows 20..197, the
    face and little background) and then resized to ``size``×``size``, bilinear and antialiased, after the
    conversion to float (as the other modules resize). This is the common recipe for DCGAN-style GANs on
    CelebA at 64×64 (PyTorch's DCGAN example frames it the same: ``Resize(64)`` then ``CenterCrop(64)``). It is not
    Karras et al.'s Progressive GAN setting, which takes a 128×128 centre crop of the aligned images;
    ``size=None`` keeps the 178×178 crop.

    Splits are torchvision's official ones (``list_eval_partition.txt``): train 162770, val = CelebA's
    ``valid`` 19867, test 19962; nothing is carved at random, so there is no ``val_size``.
    Files: ``<root>/celeba/`` holding ``img_align_celeba/*.jpg`` and the five annotation files
    (``list_eval_partition.txt``, ``identity_CelebA.txt``, ``list_attr_celeba.txt``, ``list_bbox_celeba.txt``,
    ``list_landmarks_align_celeba.txt``), which torchvision checks against their md5 sums.
    ``download=True`` fetches them from Google Drive through torchvision (needs the ``gdown`` package; Drive
    often refuses the 1.4 GB zip for quota, in which case fetch the files by hand).

    Per-item path only (``in_memory`` ``None`` or ``False``; ``binarize`` refused): the train split is
    19 GB as uint8 at full size and 8 GB as float32 at 64×64. Arguments otherwise as
    :class:`~zoo.data.base.ImageDataModule`'s.
    """

    dataset_cls = datasets.CelebA
    #: after the 178×178 centre crop, before the resize
    native_shape = (3, 178, 178)
    # The zoo's batches are (x, y) with y int64 (N,) (zoo/data/base.py). CelebA has no class label: its 40
    # binary attributes are a (N, 40) multi-label target, and its 10177 identities are not classes a
    # conditional model could use. So, as ImageFolderDataModule's flat folder of unlabelled images does,
    # every image is labelled 0 and num_classes is 1: unconditional models ignore y and class-conditional
    # ones refuse num_classes < 2 with a ConfigError instead of training on meaningless labels.
    num_classes = 1
    nominal_train_size = None  # val is the official split, not carved from train: nothing to check early
    crop = 178
    required_files = tuple(f"celeba/{name}" for name in _CELEBA_LISTS)
    how_to_get = (
        "download img_align_celeba.zip and the five .txt files from the CelebA page "
        "(https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, Google Drive) into <data_dir>/celeba/ and unzip the "
        "images there"
    )
    # No in-memory path (the splits do not fit in memory): keep the base's unimplemented load_tensors, so that
    # supports_in_memory() is False and in_memory=True, device= and binarize= are refused in __init__.
    load_tensors = ImageDataModule.load_tensors

    def __init__(
        self,
        *,
        data_dir: str | None = None,
        download: bool = True,
        batch_size: int = 128,
        num_workers: int = 0,
        size: int | None = 64,
        seed: int = 0,
        in_memory: bool | None = None,
        device: str | None = None,
        random_flip: bool = False,
    ) -> None:
        # val_size only sizes a random train/val split, which CelebA does not make; the base requires a valid one.
        super().__init__(
            data_dir=data_dir, download=download, batch_size=batch_size, num_workers=num_workers, size=size,
            seed=seed, val_size=1, in_memory=in_memory, device=device, random_flip=random_flip,
        )
        self.val_size = None
        # The base recorded its own arguments too (zoo evaluate reports them); drop those CelebA does not take.
        for record in (self.hparams, self._hparams_initial):
            for name in ("val_size", "binarize"):
                record.pop(name, None)

    def setup(self, stage: str | None = None) -> None:
        # The official splits as they are (the base would carve val out of train at random).
        if stage in ("fit", "validate", None) and self.train_dataset is None:
            train = self.load_train()
            if len(train) < self.batch_size:  # the train loader drops the last partial batch
                raise ConfigError(
                    f"batch_size={self.batch_size} is larger than the {len(train)} images of CelebA's train "
                    f"split; lower batch_size"
                )
            self.train_dataset, self.val_dataset = train, self.load_split("valid")
        if stage in ("test", "predict", None) and self.test_dataset is None:
            self.test_dataset = self.load_test()

    def load_train(self) -> Dataset:
        return self.load_split("train")

    def load_test(self) -> Dataset:
        return self.load_split("test")

    def load_split(self, split: str) -> Dataset:
        """The official ``split`` (``"train"``, ``"valid"`` or ``"test"``): (cropped, resized image, 0) items."""
        if split not in ("train", "valid", "test"):
            raise ConfigError(f"split must be 'train', 'valid' or 'test', got {split!r}")
        ops: list[v2.Transform] = [
            v2.CenterCrop(self.crop), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)
        ]
        if self.size is not None:
            ops.append(v2.Resize([self.size, self.size], antialias=True))
        dataset = self._dataset(split=split, transform=v2.Compose(ops))
        # torchvision only checks that the image folder exists; a partly extracted zip would fail mid-epoch.
        present = set(os.listdir(self.root / _CELEBA_IMAGES))
        absent = [name for name in dataset.filename if name not in present]
        if absent:
            raise DatasetNotFoundError(
                f"CelebA: {len(absent)} of the {len(dataset.filename)} {split} images listed in "
                f"list_eval_partition.txt are missing from {self.root / _CELEBA_IMAGES} (first: {absent[0]}); "
                f"unzip img_align_celeba.zip there again"
            )
        return _ZeroLabels(dataset)

    def _torchvision_dataset(
        self, *, train: bool | None = None, split: str | None = None, **kwargs: Any
    ) -> VisionDataset:
        # target_type=[]: no attribute, identity, box or landmark target (its items are (image, None)).
        split = split if split is not None else ("train" if train else "test")
        return self.dataset_cls(self.root, split=split, target_type=[], **kwargs)

    def _missing(self) -> list[Path]:
        images = self.root / _CELEBA_IMAGES
        return ([] if images.is_dir() else [images]) + super()._missing()

    def _describe_missing(self) -> str:
        return ", ".join(f"{path.name}/" if path.suffix == "" else path.name for path in self._missing())


class _ZeroLabels(Dataset):
    """``dataset``'s images with the label 0 (the zoo's label for unlabelled images)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.dataset[index][0], 0


class FashionMNISTDataModule(_TorchvisionDataModule):
    """Fashion-MNIST (Zalando's clothing images), (1, 28, 28); 60000 train (minus ``val_size``) / 10000 test.

    Looks for the four idx files (gz or not) in, in order: ``<root>/FashionMNIST/raw`` (torchvision's
    layout), ``<root>`` itself (a flat folder), then each of :data:`FASHION_MNIST_SYSTEM_DIRS`; files found
    outside torchvision's layout are decompressed once into it. Downloads only if none has them.
    """

    dataset_cls = datasets.FashionMNIST
    native_shape = (1, 28, 28)
    nominal_train_size = 60000
    required_files = tuple(f"FashionMNIST/raw/{name}" for name in _IDX_FILES)
    how_to_get = (
        "`apt-get install dataset-fashion-mnist` (installs them in /usr/share/datasets/fashion-mnist, "
        "where they are found offline)"
    )

    def prepare_data(self) -> None:
        raw = self.root / "FashionMNIST" / "raw"
        if not self._missing():
            return
        for folder in self._searched_dirs():
            sources = [_find_idx(folder, name) for name in _IDX_FILES]
            if all(source is not None for source in sources):
                for name, source in zip(_IDX_FILES, sources):
                    if source != raw / name:
                        _copy_atomically(source, raw / name)
                return
        super().prepare_data()

    def _searched_dirs(self) -> list[Path]:
        system_dirs = [Path(path) for path in FASHION_MNIST_SYSTEM_DIRS]
        return [self.root / "FashionMNIST" / "raw", self.root, *system_dirs]

    def _layout_hint(self) -> str:
        return "them (flat, or under FashionMNIST/raw/)"

    def _describe_missing(self) -> str:
        # Either form is accepted, so also name the .gz files that downloads and packages ship.
        return ", ".join(f"{path.name}.gz" for path in self._missing()) + " (gzipped or not)"


def _find_idx(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever exists (uncompressed first: no work to do)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy ``source`` (decompressing a .gz) to ``target`` via a temp file and a rename.

    The rename is atomic, so ``target`` exists only once complete: an interrupted copy, or a second process
    doing the same copy, never leaves a truncated file that a later run would take as the dataset.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if source.suffix == ".gz" else open
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with opener(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise

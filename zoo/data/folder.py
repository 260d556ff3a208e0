"""Your own images from a folder, resized and centre-cropped to size×size.

Layouts, decided from what ``root`` holds:

* ``root/train/`` and ``root/test/`` both present: the train split is ``root/train`` (val carved from it)
  and the test split ``root/test``; both must have the same class subfolders.
* otherwise ``root`` is the train split and the test split **is the val split** (so a test score is then
  not independent of model selection; add ``train/`` and ``test/`` when that matters).

Within a split folder, subfolders are classes as in :class:`torchvision.datasets.ImageFolder` (labels
follow the sorted folder names). A split folder with no subfolders is read as a flat folder of images of
a single class (label 0), the common case for unconditional generative models (e.g. a folder of faces).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader, find_classes, is_image_file

from zoo.data.base import ImageDataModule, image_transform
from zoo.errors import ConfigError, DatasetNotFoundError

__all__ = ["ImageFolderDataModule"]


class ImageFolderDataModule(ImageDataModule):
    """Images under ``root`` (see the module docstring for the layouts) as float [0, 1] tensors.

    Args:
        root: the folder of images.
        size: output side: the shorter side is resized to ``size``, then the centre size×size is cropped.
        channels: 3 for RGB, 1 to convert to greyscale.
        val_size: count or fraction of the train split held out for validation.
        batch_size, num_workers, seed, random_flip: as in :class:`~zoo.data.base.ImageDataModule`.
        in_memory: always the per-item path (a folder may hold more images than memory): ``None`` or
            ``False``; ``True`` is refused. ``device`` likewise stays ``None``.
    """

    def __init__(
        self,
        root: str,
        *,
        size: int,
        channels: int = 3,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
        val_size: int | float = 0.05,
        in_memory: bool | None = None,
        device: str | None = None,
        random_flip: bool = False,
    ) -> None:
        super().__init__(
            data_dir=root, batch_size=batch_size, num_workers=num_workers, size=size, seed=seed,
            val_size=val_size, in_memory=in_memory, device=device, random_flip=random_flip,
        )
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}")
        self.channels = channels
        self.native_shape = (channels, size, size)

        if not self.root.is_dir():
            raise DatasetNotFoundError(
                f"image folder {self.root} does not exist; pass root= a folder of images "
                f"(class subfolders optional, see zoo.data.folder)"
            )
        if (self.root / "train").is_dir() and (self.root / "test").is_dir():
            self.train_dir, self.test_dir = self.root / "train", self.root / "test"
        else:
            self.train_dir, self.test_dir = self.root, None
        for folder in (self.train_dir, self.test_dir):
            if folder is not None and not _has_image(folder):
                raise DatasetNotFoundError(
                    f"no images found under {folder} (looked for files ending in "
                    f"{', '.join(IMG_EXTENSIONS)}); put the images there or pass another root="
                )
        self.classes = _class_names(self.train_dir)
        if self.test_dir is not None and _class_names(self.test_dir) != self.classes:
            raise ConfigError(
                f"{self.test_dir} has class folders {_class_names(self.test_dir)} but {self.train_dir} has "
                f"{self.classes}; labels would not match: give both the same class subfolders"
            )
        self.num_classes = max(1, len(self.classes))

    def setup(self, stage: str | None = None) -> None:
        if self.test_dir is None and stage in ("test", "predict", None):
            super().setup("fit")  # the test split is the val split, which must exist first
        super().setup(stage)

    def load_train(self) -> Dataset:
        return self._folder(self.train_dir)

    def load_test(self) -> Dataset:
        return self.val_dataset if self.test_dir is None else self._folder(self.test_dir)

    def _folder(self, folder: Path) -> Dataset:
        transform = image_transform(size=self.size, center_crop=True, grayscale=self.channels == 1)
        if not self.classes:
            return _FlatImageFolder(folder, transform)
        try:
            return ImageFolder(folder, transform=transform)
        except FileNotFoundError as error:  # a class folder without images
            raise DatasetNotFoundError(
                f"{error}; remove the empty class folder or add images to it"
            ) from error


def _class_names(folder: Path) -> list[str]:
    """Sorted class subfolder names; [] when ``folder`` is flat (no subfolders)."""
    if not any(entry.is_dir() for entry in os.scandir(folder)):
        return []
    return find_classes(folder)[0]


def _has_image(folder: Path) -> bool:
    # Stops at the first image, so a large folder costs one directory listing, not a full walk.
    return any(is_image_file(name) for _, _, names in os.walk(folder) for name in names)


class _FlatImageFolder(Dataset):
    """The images directly in ``folder`` (sorted by name), all labelled 0."""

    def __init__(self, folder: Path, transform: Callable) -> None:
        self.files = sorted(path for path in folder.iterdir() if path.is_file() and is_image_file(path.name))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[object, int]:
        return self.transform(default_loader(self.files[index])), 0

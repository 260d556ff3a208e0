"""scikit-learn's bundled handwritten digits: the zoo's embedded default dataset.

1797 grey 8×8 images with 17 grey levels (0..16, scaled here to [0, 1] by /16), labels 0..9. The files
ship inside scikit-learn, so this module never downloads and never writes to disk; everything is held as
tensors. The dataset has no official split: a fixed 360-image test split (independent of ``seed``, so
numbers from different runs are comparable), then ``val_size`` images of the rest by ``seed``.

The whole dataset is 0.5 MB of float32, so it always fits in memory: the in-memory path (the default) serves
the very tensors :meth:`DigitsDataModule.load_train` and :meth:`~DigitsDataModule.load_test` wrap, float32
(the grey levels 0..16 divided by 16 are exact in float32), resized once at load when ``size`` is set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import Dataset, TensorDataset

from zoo.data.base import ImageDataModule

__all__ = ["DigitsDataModule"]

N_TEST = 360  # ~20% of 1797, the usual hold-out for this dataset
# Fixed on purpose, separate from ``seed``: the test images must be the same for every run and every method.
TEST_SPLIT_SEED = 1797


class DigitsDataModule(ImageDataModule):
    """scikit-learn digits as float [0, 1] tensors, shape (1, 8, 8) or (1, size, size).

    Splits: test 360 (fixed), val ``val_size`` (by ``seed``, default 180), train the rest (1257 by default).
    ``size`` resizes all images once at load (bilinear, antialiased when shrinking).
    Other arguments as in :class:`~zoo.data.base.ImageDataModule` (``in_memory`` defaults to in memory).
    """

    native_shape = (1, 8, 8)
    num_classes = 10
    nominal_train_size = 1797 - N_TEST

    def __init__(
        self,
        *,
        batch_size: int = 128,
        num_workers: int = 0,
        size: int | None = None,
        seed: int = 0,
        val_size: int | float = 180,
        in_memory: bool | None = None,
        device: str | None = None,
        random_flip: bool = False,
        binarize: str | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size, num_workers=num_workers, size=size, seed=seed, val_size=val_size,
            in_memory=in_memory, device=device, random_flip=random_flip,
            binarize=binarize,
        )
        self._splits: tuple[TensorDataset, TensorDataset] | None = None

    def load_train(self) -> Dataset:
        return self._load()[0]

    def load_test(self) -> Dataset:
        return self._load()[1]

    def load_tensors(self, *, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self._load()[0 if train else 1].tensors
        return images, labels

    def _load(self) -> tuple[TensorDataset, TensorDataset]:
        """(train, test) of the whole dataset, resized once; cached since both stages need it."""
        if self._splits is None:
            digits = load_digits()
            x = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
            y = torch.as_tensor(digits.target, dtype=torch.int64)
            if self.size is not None and self.size != x.shape[-1]:
                shrinking = self.size < x.shape[-1]
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=shrinking)
                x = x.clamp_(0.0, 1.0)  # interpolation may round a hair outside [0, 1]
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(TEST_SPLIT_SEED))
            test, train = order[:N_TEST], order[N_TEST:]
            self._splits = TensorDataset(x[train], y[train]), TensorDataset(x[test], y[test])
        return self._splits

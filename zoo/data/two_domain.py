"""Two image domains A and B in one datamodule, for the methods that learn between domains (CoGAN, CycleGAN,
UNIT, MUNIT, adversarial domain adaptation).

``TwoDomainDataModule(a, b)`` composes two image datamodules (any of zoo.data's, each with its own data,
splits, size and in-memory path); in a recipe::

    data:
      class_path: zoo.data.TwoDomainDataModule
      init_args:
        a: {class_path: zoo.data.DigitsDataModule, init_args: {batch_size: 64}}
        b: {class_path: zoo.data.DigitsDataModule, init_args: {batch_size: 64, seed: 1}}

Every batch is ``{"a": (x_a, y_a), "b": (x_b, y_b)}`` (a method reads it with ``ZooModule.domains``); an epoch
is as long as the shorter domain (Lightning's ``CombinedLoader`` in ``min_size`` mode).

- **Unpaired** (the default, as CycleGAN and its kin assume): each domain's order is its own loader's,
  seeded by (the domain's seed, epoch), and B's seed is mixed with the domain's name so that two domains
  with the same seed and size are still drawn in different orders.
- **Paired** (``paired=True``): image i of A goes with image i of B (e.g. a derived domain of the same
  images); both domains must hold the same number of images in the same splits, and share one order.
- **Epochs and DDP.** Lightning sets the epoch of each of the combined loaders, and each in-memory loader
  shards itself by the trainer's rank, so under DDP every rank sees its own disjoint shard of both domains
  (tests/data/test_two_domain.py).
"""
from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.utilities import CombinedLoader

from zoo.data.base import ImageDataModule
from zoo.data.memory import TensorBatches
from zoo.errors import ConfigError

__all__ = ["TwoDomainDataModule"]


class TwoDomainDataModule(L.LightningDataModule):
    """Batches ``{"a": (x, y), "b": (x, y)}`` from two image datamodules; see the module docstring.

    Args:
        a, b: the two domains' datamodules (their images must have the same shape).
        paired: pair image i of A with image i of B (same splits and order), instead of independent orders.
    """

    def __init__(self, a: ImageDataModule, b: ImageDataModule, *, paired: bool = False) -> None:
        super().__init__()
        for name, domain in (("a", a), ("b", b)):
            if not isinstance(domain, ImageDataModule):
                raise ConfigError(f"domain {name} must be an image datamodule of zoo.data, got {type(domain).__name__}")
        if a.shape != b.shape:
            raise ConfigError(
                f"the domains' images differ in shape: a {a.shape}, b {b.shape}; resize one (its size=) or pick "
                "data with the same channels"
            )
        if paired and (a.in_memory is False or b.in_memory is False):
            raise ConfigError("paired=True needs both domains on the in-memory path (in_memory not false)")
        self.a, self.b, self.paired = a, b, paired

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of both domains' images."""
        return self.a.shape

    @property
    def num_classes(self) -> int:
        """Domain A's number of classes (for a classifier trained on A and adapted to B)."""
        return self.a.num_classes

    def prepare_data(self) -> None:
        self.a.prepare_data()
        self.b.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        for domain in (self.a, self.b):
            domain.trainer = self.trainer  # each domain's in-memory loaders shard by the trainer's rank
            domain.setup(stage)
        if self.paired:
            for split in ("train_dataset", "val_dataset", "test_dataset"):
                a, b = getattr(self.a, split), getattr(self.b, split)
                if (a is None) != (b is None) or (a is not None and _indices(a) != _indices(b)):
                    raise ConfigError(
                        f"paired=True but the domains' {split.split('_')[0]} splits hold different images; give "
                        "both domains the same data size, val_size and seed"
                    )

    def train_dataloader(self) -> CombinedLoader:
        return self._combined(self.a.train_dataloader(), self.b.train_dataloader())

    def val_dataloader(self) -> CombinedLoader:
        return self._combined(self.a.val_dataloader(), self.b.val_dataloader())

    def test_dataloader(self) -> CombinedLoader:
        return self._combined(self.a.test_dataloader(), self.b.test_dataloader())

    def _combined(self, a: Any, b: Any) -> CombinedLoader:
        if isinstance(b, TensorBatches) and isinstance(a, TensorBatches):
            # paired: B draws A's order (same seed, same positions); unpaired: its own, different from A's
            b.seed = a.seed if self.paired else domain_seed(self.b.seed, "b")
        return CombinedLoader({"a": a, "b": b}, mode="min_size")


def domain_seed(seed: int, domain: str) -> int:
    """The order seed of a domain: its datamodule's seed mixed with the domain's name (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence([seed % 2**32, *domain.encode()]).generate_state(1)[0])


def _indices(split: Any) -> list[int]:
    return list(getattr(split, "indices", range(len(split))))

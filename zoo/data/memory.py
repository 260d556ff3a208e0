"""The in-memory tensor path: a whole split held as one tensor, batches gathered by index.

For datasets that fit in memory (digits, MNIST, Fashion-MNIST, CIFAR-10, SVHN) a per-item
``DataLoader`` spends nearly all its time decoding one PIL image at a time. Here the split is one
(N, C, H, W) tensor, uint8 as stored on disk (Fashion-MNIST's 60000 train images are 47 MB, CIFAR-10's
50000 are 154 MB), optionally on the training device; a batch is one ``index_select`` and one uint8 ->
float conversion of the whole batch, with augmentation done on the batch. No worker processes.

:class:`TensorBatches` is the loader. It honours the zoo's batch contract (``(x, y)``: x float32 in
[0, 1] of shape (N, C, H, W), y int64 (N,)) and makes three promises:

* **Order by (seed, epoch).** Each epoch's permutation comes from a generator seeded by ``(seed, epoch)``
  only, so a run resumed at epoch k sees the same order as an uninterrupted one. Lightning calls
  ``loader.sampler.set_epoch(epoch)`` at the start of every epoch (``_set_sampler_epoch`` in
  ``lightning.fabric.utilities.data``, called from the fit and evaluation loops); this loader is its own
  ``sampler``. A loop that never calls ``set_epoch`` still sees a new order on each pass: every pass
  moves to the next epoch. (A pass starts at its first ``next()``, not at ``iter()``: Lightning creates the
  first epoch's iterator before it calls ``set_epoch``.) The loader keeps no position within an epoch: a
  run resumed from a mid-epoch checkpoint replays that epoch's order from its start, as a ``DataLoader``.
* **Self-sharding.** Lightning injects a ``DistributedSampler`` only into torch ``DataLoader`` objects, so
  under DDP this loader shards itself: every rank draws the same permutation and takes positions
  ``rank, rank + world_size, ...`` of it. With ``drop_last`` every rank gets the same number of full
  batches and the ranks' images are disjoint, their union the permutation minus its last
  ``n mod (world_size * batch_size)`` images. Without ``drop_last`` (val/test) every image is seen exactly
  once over all ranks, nothing is duplicated, and every rank has the same number of batches,
  ``ceil((n // world_size) / batch_size)``; for that, when the shortest shard fills its batches exactly, a
  longer shard's one extra image joins its last batch (a batch of ``batch_size + 1``, on some ranks only).
  Shards differ by at most one image, so a ``sync_dist`` mean of per-rank means is within one image of
  the mean over the split (``DistributedSampler`` instead pads with repeated images).
* **Same pixels as the per-item path.** uint8 becomes float with torchvision's own conversion
  (``to_dtype(..., scale=True)``) and resizing uses torchvision's ``resize`` on float images, as
  :func:`zoo.data.base.image_transform` does per item; on CPU batch-wise and per-item results are equal
  bit for bit (tested).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from zoo.data.binarize import binarize_dynamic
from zoo.errors import ConfigError

__all__ = ["TensorBatches", "TensorImages", "epoch_generator", "resize_images", "to_float_images"]


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1] (x / 255, torchvision's conversion); float32 images pass through."""
    return v2.functional.to_dtype(images, torch.float32, scale=True)


def resize_images(images: torch.Tensor, size: int, *, chunk: int = 1024) -> torch.Tensor:
    """(N, C, H, W) uint8 or float images -> float32 (N, C, size, size), bilinear, antialiased.

    The per-item path's resize (float first, then torchvision's ``resize``), applied ``chunk`` images at a
    time so that only the output is held in full: float32, because rounding back to uint8 would change
    the pixels the per-item path yields. At 64×64 CIFAR-10's train split takes 2.5 GB this way.
    """
    out = torch.empty(len(images), images.shape[1], size, size, dtype=torch.float32, device=images.device)
    for start in range(0, len(images), chunk):
        part = to_float_images(images[start : start + chunk])
        out[start : start + chunk] = v2.functional.resize(part, [size, size], antialias=True)
    return out


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator seeded by (seed, epoch) alone, mixed by NumPy's SeedSequence (so seed 0 epoch 1 and
    seed 1 epoch 0 do not share an order, as they would with ``seed + epoch``)."""
    state = np.random.SeedSequence([seed % 2**64, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class TensorImages(Dataset):
    """A split as two tensors: ``images`` (N, C, H, W), uint8 (0..255) or float32 in [0, 1], and ``labels``
    (N,) int64. Indexing yields one image as float32 (C, H, W) and its 0-d int64 label, so code that reads a
    split item by item (``Subset``, a ``DataLoader``) sees what the per-item path yields."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.ndim != 4 or images.dtype not in (torch.uint8, torch.float32):
            raise ValueError(f"images must be (N, C, H, W) uint8 or float32, got {images.dtype} {tuple(images.shape)}")
        if labels.shape != (len(images),):
            raise ValueError(f"labels must be ({len(images)},), got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels.to(torch.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return to_float_images(self.images[index]), self.labels[index]

    def to(self, device: torch.device | str) -> TensorImages:
        """The same split on ``device`` (``self`` when it is already there)."""
        return TensorImages(self.images.to(device), self.labels.to(device))


class TensorBatches:
    """Batches ``(x, y)`` of ``images[indices]`` in a seeded order, sharded across ranks; see the module docs.

    Args:
        images: (N, C, H, W) uint8 or float32 in [0, 1], on any device; batches are made on that device.
        labels: (N,) int64 on the same device.
        indices: the images of this split (e.g. a ``random_split``'s ``Subset.indices``); ``None``: all.
        batch_size: images per batch on each rank (Lightning's convention: per device).
        shuffle: a new permutation each epoch; otherwise the split's own order.
        drop_last: drop the images that do not fill a batch on every rank (for training).
        seed: seeds the permutations (and the flips) together with the epoch.
        rank, world_size: this process's shard (``trainer.global_rank``, ``trainer.world_size``).
        random_flip: flip each image horizontally with probability 1/2, drawn from the epoch's generator.
        binarize: dynamic binarization: each pixel of each batch becomes 1 with probability its intensity,
            drawn from the epoch's generator after the order and the flips (zoo/data/binarize.py).
        pin_memory: pin CPU batches so a CUDA copy can be non-blocking (Lightning copies with
            ``non_blocking=True`` to CUDA).
    """

    #: Lightning's val/test shuffle check reads ``batch_sampler`` beside ``sampler``.
    batch_sampler = None

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        indices: torch.Tensor | None = None,
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        random_flip: bool = False,
        binarize: bool = False,
        pin_memory: bool = False,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        self.images, self.labels = images, labels
        self.indices = torch.arange(len(images)) if indices is None else torch.as_tensor(indices, dtype=torch.int64)
        self.batch_size = batch_size
        self.shuffle, self.drop_last, self.random_flip = shuffle, drop_last, random_flip
        self.binarize = binarize
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.pin_memory = pin_memory and images.device.type == "cpu"
        self.epoch = 0
        self._positions, self._sizes = self._rank_batches()

    @property
    def sampler(self) -> TensorBatches:
        """Lightning calls ``dataloader.sampler.set_epoch`` each epoch; this loader is its own sampler."""
        return self

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` on the next pass."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._sizes)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # A generator: the epoch is read at the first next(), not at iter(). Lightning creates the first
        # epoch's iterator (and calls iter() once just to check the loader) before set_epoch; the same
        # laziness is what makes DistributedSampler's set_epoch work there.
        epoch = self.epoch
        self.epoch += 1  # a loop that never calls set_epoch still gets a new order each pass
        yield from self._batches(epoch)

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not self._sizes:  # fewer images than world_size * batch_size with drop_last
            return
        n = len(self.indices)
        generator = epoch_generator(self.seed, epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        # drawn for every position of the epoch, so an image's flip does not depend on the sharding
        flips = torch.rand(n, generator=generator) < 0.5 if self.random_flip else None
        # this rank's images (and flips) for the whole epoch, moved to the data's device in one copy
        device = self.images.device
        index_batches = self.indices[order[self._positions]].to(device).split(self._sizes)
        flip_batches = flips[self._positions].to(device).split(self._sizes) if flips is not None else None
        for b, index in enumerate(index_batches):
            x = self.images.index_select(0, index)  # (B, C, H, W)
            if flip_batches is not None:
                x = torch.where(flip_batches[b].view(-1, 1, 1, 1), x.flip(-1), x)
            x, y = to_float_images(x), self.labels.index_select(0, index)
            if self.binarize:
                x = binarize_dynamic(x, generator)
            if self.pin_memory:
                x, y = x.pin_memory(), y.pin_memory()
            yield x, y

    def _rank_batches(self) -> tuple[torch.Tensor, list[int]]:
        """This rank's positions in the epoch's order, batch after batch, and the batch sizes (the same
        every epoch)."""
        n, world_size, batch_size = len(self.indices), self.world_size, self.batch_size
        if self.drop_last:
            per_rank = n // world_size // batch_size * batch_size
            return torch.arange(self.rank, per_rank * world_size, world_size), [batch_size] * (per_rank // batch_size)
        shortest = n // world_size
        if shortest == 0:
            raise ConfigError(
                f"a split of {n} images cannot give each of {world_size} ranks at least one image; "
                f"use fewer devices or a larger split"
            )
        mine = torch.arange(self.rank, n, world_size)  # shortest or shortest + 1 positions
        n_batches = math.ceil(shortest / batch_size)
        return mine, [batch_size] * (n_batches - 1) + [len(mine) - (n_batches - 1) * batch_size]

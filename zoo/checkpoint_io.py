"""Checkpoints written whole: a full disk or a kill never leaves a truncated file under a valid-looking name.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file lives in the
system's temp folder; its commit is a copy when that folder is on another file system (measured: a full disk
left a truncated ``epoch=1-step=24.ckpt``). ``AtomicCheckpointIO`` writes beside the target and renames
(``zoo.paths.write_atomically``). Zoo models install it on their trainer at setup (``ZooModule.setup``).
"""
from __future__ import annotations

from typing import Any

import lightning as L
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from zoo.paths import write_atomically


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with whole-file writes on local paths (remote URLs keep Lightning's path)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        write_atomically(path, lambda f: torch.save(checkpoint, f))


def install_atomic_checkpoint_io(trainer: L.Trainer) -> None:
    """Replace the trainer's stock ``TorchCheckpointIO`` (never a user's own plugin) by ``AtomicCheckpointIO``."""
    strategy = trainer.strategy
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()

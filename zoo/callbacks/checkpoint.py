"""A ``last.ckpt`` that is the last state.

Lightning 2.6's ``ModelCheckpoint(save_last=True, monitor=...)`` writes ``last.ckpt`` only at a step where a
top-k file is written too, so with a monitor ``last.ckpt`` is a copy of the best epoch: an interrupted run
resumed from it retrains every epoch after the best, and the final epoch of a finished run is saved nowhere
(measured on the VAE digits recipe: epoch 299 of 300 was in no file). Files are written whole by
``zoo.checkpoint_io.AtomicCheckpointIO``.
"""
from __future__ import annotations

import os
import warnings
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint as _LightningModelCheckpoint


class ModelCheckpoint(_LightningModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` whose ``last.ckpt`` is the latest state (``save_last`` on by default).

    With a ``monitor`` the top-k files keep the best epochs as in Lightning; ``last.ckpt`` is rewritten at
    the end of every training epoch (every ``every_n_epochs``), whether or not a top-k file was written, so a
    run interrupted at any point resumes from its latest epoch (``zoo fit --resume RUN_DIR``)."""

    def __init__(self, *args: Any, save_last: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, save_last=save_last, **kwargs)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.ckpt_path is None:
            return super().setup(trainer, pl_module, stage)
        with warnings.catch_warnings():  # a resumed run continues in its own folder: of course it is not empty
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            super().setup(trainer, pl_module, stage)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Lightning keeps the best-score tracking only when the folder is spelled as when it was saved; a run
        # resumed from another working folder (or with an absolute path) names the same folder differently.
        old = state_dict.get("dirpath")
        if old and self.dirpath and old != self.dirpath and os.path.realpath(old) == os.path.realpath(self.dirpath):
            state_dict = _moved(state_dict, old, self.dirpath)
        super().load_state_dict(state_dict)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        # Validation (and with it any top-k save) has run before this hook; if neither it nor Lightning
        # wrote last.ckpt at this step, write it now.
        every = max(self._every_n_epochs, 1)
        if (
            self.save_last
            and not self._should_skip_saving_checkpoint(trainer)  # includes "already saved at this step"
            and (trainer.current_epoch + 1) % every == 0
        ):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def _moved(state: Any, old: str, new: str) -> Any:
    """``state`` with every path under folder ``old`` (values and dict keys) spelled under ``new``."""
    if isinstance(state, str) and (state == old or state.startswith(old.rstrip(os.sep) + os.sep)):
        return os.path.join(new, os.path.relpath(state, old)) if state != old else new
    if isinstance(state, dict):
        return {_moved(k, old, new): _moved(v, old, new) for k, v in state.items()}
    return state

"""A training budget in CPU time: stop a fit once its process has used ``minutes`` of CPU.

Lightning's ``max_time`` counts wall-clock time, so a run that shares its machine with other jobs trains
fewer steps and ends worse; its result depends on the neighbours. This callback counts the CPU time of the
training process itself (``time.process_time``: all its threads, validation and callbacks included), so the
same recipe, budget and thread count train about the same number of steps on a busy machine as on an idle
one. It is a budget in core-minutes: with N busy torch threads it runs out about N times faster than the
wall clock. On GPUs, where the host mostly waits, use ``max_time`` instead.

The check runs after every training batch (the batch that crosses the budget finishes); the used time is
saved in checkpoints, so a resumed run gets only what is left, and under DDP rank 0 decides for all ranks.
"""
from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from zoo.errors import ConfigError


class CPUBudget(L.Callback):
    """Stop training after ``minutes`` of this process's CPU time (the training stage, resumes included).

    Args:
        minutes: the budget, > 0.
    """

    def __init__(self, *, minutes: float) -> None:
        if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or not minutes > 0:
            raise ConfigError(f"CPUBudget minutes must be a number > 0, got {minutes!r}")
        self.minutes = float(minutes)
        self._offset = 0.0  # CPU seconds used by the fits this one resumes
        self._start: float | None = None
        self.exhausted = False

    @property
    def used_s(self) -> float:
        """CPU seconds of training so far (this fit and the ones it resumes)."""
        running = time.process_time() - self._start if self._start is not None else 0.0
        return self._offset + running

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.process_time()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._offset, self._start = self.used_s, None

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        stop = trainer.strategy.broadcast(self.used_s >= self.minutes * 60, src=0)
        if stop and not self.exhausted:
            self.exhausted = True
            rank_zero_info(f"CPU budget of {self.minutes:g} min used ({self.used_s:.0f} s of CPU); stopping")
        trainer.should_stop = trainer.should_stop or stop

    def state_dict(self) -> dict[str, Any]:
        return {"used_s": self.used_s, "minutes": self.minutes, "exhausted": self.exhausted}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._offset = float(state_dict.get("used_s", 0.0))
        self.exhausted = bool(state_dict.get("exhausted", False))

"""A training budget in CPU time: stop a fit once its process has used ``minutes`` of CPU.

Lightning's ``max_time`` counts wall-clock time, so a run that shares its machine with other jobs trains
fewer steps and ends worse; its result depends on the neighbours. This callback counts the CPU time of the
training process itself (``time.process_time``: all its threads, validation and callbacks included), so the
same recipe, budget and thread count train about the same number of steps on a busy machine as on an idle
one. It is a budget in core-minutes: with N busy torch threads it runs out about N times faster than the
wall clock. On GPUs, where the host mostly waits, use ``max_time`` instead.

Contention: with several torch threads, OpenMP's workers spin while they wait for each other, and on a
busy machine they wait most of the time, so the process burns CPU time without progress (measured: a
budgeted run beside a heavy job used 644 s of CPU where alone it used 49 s for the same work). The budget
therefore runs training on ``threads`` torch threads, 1 by default: one thread has no one to wait for, so
its CPU time is its work, alone or not (benchmarks/reliability.py measures the epochs reached alone and
beside a CPU hog). One thread is also the most work per core-minute; a run wanting wall-clock speed on an
idle machine passes ``threads: null`` (torch's default) and accepts the budget's dependence on neighbours.

The check runs after every training batch (the batch that crosses the budget finishes); the used time is
saved in checkpoints, so a resumed run gets only what is left, and under DDP rank 0 decides for all ranks.
"""
from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from zoo.errors import ConfigError


class CPUBudget(L.Callback):
    """Stop training after ``minutes`` of this process's CPU time (the training stage, resumes included).

    Args:
        minutes: the budget, > 0.
        threads: torch threads while training (``torch.set_num_threads``; restored after); 1 by default so
            the budget does not depend on what else runs on the machine (see the module docstring); None
            leaves torch's setting.
    """

    def __init__(self, *, minutes: float, threads: int | None = 1) -> None:
        if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or not minutes > 0:
            raise ConfigError(f"CPUBudget minutes must be a number > 0, got {minutes!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"CPUBudget threads must be an int >= 1 or null, got {threads!r}")
        self.threads = threads
        self._threads_before: int | None = None
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
        if self.threads is not None:
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        self._start = time.process_time()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._offset, self._start = self.used_s, None
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        stop = trainer.strategy.broadcast(self.used_s >= self.minutes * 60, src=0)
        if stop and not self.exhausted:
            self.exhausted = True
            rank_zero_info(f"CPU budget of {self.minutes:g} min used ({self.used_s:.0f} s of CPU); stopping")
        trainer.should_stop = trainer.should_stop or stop

    def state_dict(self) -> dict[str, Any]:
        # the thread count training ran on: how far a budget goes depends on it (recorded, e.g. by the leaderboard)
        threads = self.threads if self.threads is not None else torch.get_num_threads()
        return {"used_s": self.used_s, "minutes": self.minutes, "exhausted": self.exhausted, "threads": threads}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._offset = float(state_dict.get("used_s", 0.0))
        self.exhausted = bool(state_dict.get("exhausted", False))

"""The three places where the zoo reads or changes Lightning state that is not public API, kept together so a
Lightning upgrade breaks one module (tests/methods/test_lightning_internals.py pins each behaviour).

- :func:`writes_logs_now`: whether Lightning writes step metrics after this training batch. Extra training
  diagnostics are logged only then: each ``self.log`` costs about a millisecond on CPU (Lightning moves its
  result object to the value's device on every call), and three of them were 4% of a DCGAN step on
  Fashion-MNIST-sized batches (benchmarks/speed.py: ratio to a hand-written loop 0.96 -> 1.0). The values
  Lightning writes are the same, since it writes step metrics only on those batches.
- :func:`expect_unused_parameters`: DDP must be told that a backward leaves some parameters out of the
  graph (a player's update never reaches the other players' nets). Lightning's documented remedy is the
  strategy string ``ddp_find_unused_parameters_true``; a method whose declaration implies it sets it here,
  so the same recipe runs with ``strategy=ddp``.
- :func:`inside_step`: whether a public method was called from a training/validation step (its input
  checks are skipped there) or by a user.
"""
from __future__ import annotations

import lightning as L
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_info


def writes_logs_now(trainer: L.Trainer | None) -> bool:
    """Lightning's own test (``LoggerConnector.should_update_logs``: every ``log_every_n_steps`` batches, and
    at the end); True without a trainer, or with a Lightning that lacks it (then every batch logs)."""
    if trainer is None:
        return True
    return bool(getattr(getattr(trainer, "_logger_connector", None), "should_update_logs", True))


def shows_progress(trainer: L.Trainer | None) -> bool:
    """Whether a progress bar displays the values logged on every batch (public API, kept beside the others)."""
    return trainer is not None and trainer.progress_bar_callback is not None


def expect_unused_parameters(trainer: L.Trainer, why: str) -> None:
    """Turn on DDP's ``find_unused_parameters`` before the model is wrapped (call from ``setup``)."""
    strategy = trainer.strategy
    if isinstance(strategy, DDPStrategy) and not strategy._ddp_kwargs.get("find_unused_parameters", False):
        strategy._ddp_kwargs["find_unused_parameters"] = True
        rank_zero_info(f"DDP: find_unused_parameters=True ({why})")


#: Lightning's step hooks; inside them the engine has already checked the batch.
STEP_HOOKS = ("training_step", "validation_step", "test_step", "predict_step")


def inside_step(module: L.LightningModule) -> bool:
    """True while Lightning runs one of ``module``'s steps: public methods it calls from there skip their
    input checks (the batch was checked once; a check is a device sync per call on a GPU). Reads
    ``_current_fx_name``, which Lightning sets around every hook it calls and restores after."""
    return getattr(module, "_current_fx_name", None) in STEP_HOOKS

"""CPUBudget: training stops once the process has used its CPU minutes; waiting does not count; resumes keep count."""
from __future__ import annotations

import time

import lightning as L
import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from zoo.callbacks import CPUBudget
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError


def fit(tmp_path, budget: CPUBudget, *, max_epochs: int, ckpt_path=None, callbacks=(), **kwargs) -> L.Trainer:
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=4)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = quiet_trainer(
        max_epochs=max_epochs, callbacks=[budget, checkpoint, *callbacks], enable_checkpointing=True,
        limit_val_batches=0, default_root_dir=tmp_path, **kwargs
    )
    trainer.fit(model, DigitsDataModule(batch_size=64), ckpt_path=ckpt_path)
    return trainer


def test_stops_when_the_cpu_budget_is_used_and_resumes_with_what_is_left(tmp_path):
    torch.set_num_threads(1)
    budget = CPUBudget(minutes=0.5 / 60)  # half a second of CPU
    trainer = fit(tmp_path, budget, max_epochs=10_000)
    assert budget.exhausted and 0.5 <= budget.used_s < 5.0
    assert 0 < trainer.current_epoch < 10_000  # stopped early, after at least one epoch's batches
    state = torch.load(tmp_path / "last.ckpt", weights_only=True)["callbacks"]["CPUBudget"]
    assert state["exhausted"] and state["used_s"] >= 0.5 and state["minutes"] == pytest.approx(0.5 / 60)
    # resumed: the used time comes back from the checkpoint, so the fit stops after one more batch
    step = trainer.global_step
    resumed = CPUBudget(minutes=0.5 / 60)
    trainer = fit(tmp_path, resumed, max_epochs=10_000, ckpt_path=tmp_path / "last.ckpt")
    assert resumed.exhausted and resumed.used_s >= state["used_s"]
    assert trainer.global_step - step <= 2


class Sleep(L.Callback):
    def on_train_batch_end(self, *args, **kwargs) -> None:
        time.sleep(0.2)


def test_waiting_does_not_count_and_max_epochs_can_come_first(tmp_path):
    # 4 batches with 0.8 s of sleeping, a fraction of that in CPU: wall time passes the budget, CPU time not
    budget = CPUBudget(minutes=0.6 / 60)
    start = time.monotonic()
    trainer = fit(tmp_path, budget, max_epochs=2, limit_train_batches=2, callbacks=[Sleep()])
    assert time.monotonic() - start > 0.6
    assert not budget.exhausted and budget.used_s < 0.6
    assert trainer.current_epoch == 2 and trainer.global_step == 4


@pytest.mark.parametrize("minutes", [0, -1, True, "5"])
def test_bad_budgets_are_refused(minutes):
    with pytest.raises(ConfigError, match=f"minutes must be a number > 0, got {minutes!r}"):
        CPUBudget(minutes=minutes)

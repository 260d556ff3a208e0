"""The uses of Lightning state that is not public API (zoo/methods/_lightning.py), pinned: a Lightning
upgrade that changes either fails here, not silently in every method."""
from __future__ import annotations

import types

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import quiet_trainer
from zoo.methods._lightning import expect_unused_parameters, inside_step, writes_logs_now


class Probe(L.LightningModule):
    """One weight fitted to the batch mean; ``record`` is called in each training step with the module."""

    def __init__(self, record) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.record = record

    def training_step(self, batch, batch_idx):
        self.record(self)
        return (self.w - batch[0].mean()) ** 2

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_writes_logs_now_follows_log_every_n_steps():
    seen = []

    data = DataLoader(TensorDataset(torch.rand(7, 1)), batch_size=1)
    quiet_trainer(max_epochs=1, log_every_n_steps=3).fit(Probe(lambda m: seen.append(writes_logs_now(m.trainer))), data)
    assert seen == [False, False, True, False, False, True, False]  # every 3rd batch
    assert writes_logs_now(None)


def test_expect_unused_parameters_sets_ddp_before_wrapping():
    strategy = DDPStrategy()
    expect_unused_parameters(types.SimpleNamespace(strategy=strategy), "two players")
    assert strategy._ddp_kwargs["find_unused_parameters"] is True
    other = types.SimpleNamespace(strategy=object())  # not DDP: nothing to do
    expect_unused_parameters(other, "two players")


def test_inside_step_is_true_in_steps_only():
    seen = []

    class Model(Probe):
        def validation_step(self, batch, batch_idx):
            seen.append(("val", inside_step(self)))

        def on_train_epoch_end(self):
            seen.append(("epoch_end", inside_step(self)))

    data = DataLoader(TensorDataset(torch.rand(2, 1)), batch_size=1)
    model = Model(lambda m: seen.append(("train", inside_step(m))))
    quiet_trainer(max_epochs=1, num_sanity_val_steps=0).fit(model, data, data)
    assert seen == [("train", True), ("train", True), ("val", True), ("val", True), ("epoch_end", False)]
    assert not inside_step(model)  # after fit, as for a user

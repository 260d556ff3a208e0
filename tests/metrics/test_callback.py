"""PeriodicFID: a small-n domain FID logged during training, at the epochs it should be, outside training_step."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from zoo.callbacks import PeriodicFID
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError, UnknownModelError


def test_logs_fid_every_n_epochs_and_at_the_last(monkeypatch, tmp_path):
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=4)
    callback = PeriodicFID(extractor="digits_cls", n=300, every_n_epochs=2)
    computed = []
    fid = callback._fid

    def spy(trainer, module):
        computed.append(trainer.current_epoch)
        return fid(trainer, module)

    monkeypatch.setattr(callback, "_fid", spy)
    trainer = quiet_trainer(
        max_epochs=3, limit_train_batches=3, limit_val_batches=1, callbacks=[callback], default_root_dir=tmp_path
    )
    trainer.fit(model, DigitsDataModule(batch_size=64))  # runs a sanity check first: no FID there
    assert computed == [1, 2]  # epoch 2 (period) and epoch 3 (last), counted from 0
    value = trainer.callback_metrics["val/fid_digits_cls"].item()
    assert math.isfinite(value) and value > 0
    # the curve the leaderboard plots: one row per computed FID, in the run's folder, time increasing
    record = json.loads((tmp_path / "fid_history.json").read_text())
    assert record["metric"] == "fid_digits_cls" and record["n"] == 300
    history = record["history"]
    assert [row["epoch"] for row in history] == [1, 2] and [row["step"] for row in history] == [6, 9]
    assert 0 < history[0]["time_s"] < history[1]["time_s"]
    torch.testing.assert_close(history[-1]["fid"], value, rtol=1e-6, atol=0)
    assert callback._real["features"].shape == (300, 64)  # real features computed once, from the train split
    # the same noise and the same weights give the same number: the value is the model's, not the seed's
    module_value = callback._fid(trainer, model.eval())
    torch.testing.assert_close(module_value, value, rtol=1e-5, atol=0)


def test_a_fast_dev_run_computes_no_fid(monkeypatch, tmp_path):
    """Lightning's one-batch smoke run skips the FID (an autoregressive sampler would take minutes for it)."""
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=4)
    callback = PeriodicFID(extractor="digits_cls", n=300)
    monkeypatch.setattr(callback, "_fid", lambda trainer, module: pytest.fail("FID computed in a fast_dev_run"))
    trainer = quiet_trainer(fast_dev_run=True, callbacks=[callback], default_root_dir=tmp_path)
    trainer.fit(model, DigitsDataModule(batch_size=64))
    assert trainer.global_step == 1 and "val/fid_digits_cls" not in trainer.callback_metrics


def test_bad_settings_fail_before_training():
    with pytest.raises(UnknownModelError, match="unknown extractor 'digit_cls'"):
        PeriodicFID(extractor="digit_cls")
    with pytest.raises(ConfigError, match="every_n_epochs must be >= 1, got 0"):
        PeriodicFID(extractor="digits_cls", every_n_epochs=0)
    model = zoo.create_model("vae", in_shape=(1, 28, 28), latent_dim=4)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=1, callbacks=[PeriodicFID(extractor="digits_cls")])
    with pytest.raises(ConfigError, match=r"reads \(1, 8, 8\) images but the model makes \(1, 28, 28\)"):
        trainer.fit(model, DigitsDataModule(batch_size=64, size=28))


def test_two_ddp_ranks_log_the_same_fid(tmp_path):
    """Rank 0 computes, the value is broadcast: both CPU ranks (gloo) log the same finite number."""
    out = tmp_path / "values.pt"
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("ddp_fid_worker.py")), str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    values = torch.load(out)
    assert values.shape == (2,) and torch.isfinite(values).all() and values[0] > 0
    torch.testing.assert_close(values[1], values[0], rtol=0, atol=0)


def test_image_grids_keep_at_most_max_files_spanning_the_run(tmp_path):
    """120 epochs with a grid every epoch and max_files=10: at most 10 PNGs, the last epoch kept, the rest
    spread over the run (no gap over 16 epochs), not the 10 latest."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    import zoo
    from zoo.callbacks import ImageGrids

    model = zoo.create_model("gan", in_shape=(1, 8, 8), latent_dim=2,
                             generator={"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [4]}},
                             discriminator={"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [4]}})
    trainer = L.Trainer(max_epochs=120, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=0,
                        callbacks=[ImageGrids(n=4, every_n_epochs=1, max_files=10)])
    trainer.fit(model, DataLoader(TensorDataset(torch.rand(4, 1, 8, 8)), batch_size=4))
    epochs = sorted(int(p.stem.split("=")[1]) for p in (tmp_path / "images").glob("samples_epoch=*.png"))
    assert len(epochs) <= 10 and epochs[-1] == 119 and epochs[0] <= 15
    assert max(b - a for a, b in zip(epochs, epochs[1:])) <= 16

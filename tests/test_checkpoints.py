"""Checkpoint files: ``last.ckpt`` is the last state even when the best is older, and a failed write (a full
disk) leaves the previous file whole and no partial file under a checkpoint's name."""
from __future__ import annotations

import errno

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

import zoo
import zoo.checkpoint_io
from tests.conftest import quiet_trainer
from zoo.callbacks import ModelCheckpoint
from zoo.checkpoint_io import AtomicCheckpointIO
from zoo.data import DigitsDataModule

TINY_VAE = {"latent_dim": 2, "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [8]}},
            "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [8]}}}


class FallingScore(L.Callback):
    """Logs ``score = -epoch``: a monitored value whose best epoch is known exactly (a real validation loss is
    noisy on 3 batches; the test must not depend on how one run's loss happened to move)."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log("score", -float(trainer.current_epoch))


def fit(root, max_epochs: int, **checkpoint_args):
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), **TINY_VAE)
    checkpoint = ModelCheckpoint(dirpath=root, **checkpoint_args)
    trainer = quiet_trainer(max_epochs=max_epochs, enable_checkpointing=True,
                            callbacks=[FallingScore(), checkpoint],
                            limit_train_batches=3, limit_val_batches=1)
    trainer.fit(model, DigitsDataModule(batch_size=32))
    return trainer, checkpoint


def test_last_is_the_last_epoch_and_the_best_keeps_its_own_file(tmp_path):
    # mode="max" on a falling score: the best is epoch 0, so Lightning's own callback would leave last.ckpt there
    trainer, checkpoint = fit(tmp_path, 4, monitor="score", mode="max")
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    best = torch.load(checkpoint.best_model_path, weights_only=True)
    assert last["epoch"] == 3 and last["global_step"] == trainer.global_step == 12
    assert best["epoch"] == 0 and checkpoint.best_model_path.endswith("epoch=0-step=3.ckpt")
    for key, value in trainer.lightning_module.state_dict().items():
        assert torch.equal(last["state_dict"][key], value), key


def test_zoo_models_write_checkpoints_whole(tmp_path, monkeypatch):
    trainer, _ = fit(tmp_path, 1)
    assert type(trainer.strategy.checkpoint_io) is AtomicCheckpointIO
    before = (tmp_path / "last.ckpt").read_bytes()

    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(100)  # part of the file was written, then the disk filled up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zoo.checkpoint_io.torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        trainer.save_checkpoint(tmp_path / "last.ckpt")
    with pytest.raises(OSError, match="No space left"):
        trainer.save_checkpoint(tmp_path / "epoch=1-step=24.ckpt")
    assert (tmp_path / "last.ckpt").read_bytes() == before  # the previous file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch=0-step=3.ckpt", "last.ckpt"]  # nothing partial


def test_a_users_own_checkpoint_io_is_kept(tmp_path):
    class Mine(TorchCheckpointIO):
        pass

    model = zoo.create_model("vae", in_shape=(1, 8, 8), **TINY_VAE)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=0, plugins=[Mine()])
    trainer.fit(model, DigitsDataModule(batch_size=32))
    assert type(trainer.strategy.checkpoint_io) is Mine

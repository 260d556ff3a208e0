"""A resumed run is bit-identical to an uninterrupted one on CPU: checkpoints carry every random number
generator's state (torch, NumPy, Python), data orders depend on (seed, epoch) only, and the engines' schedules
are buffers. Stopping after epoch 2 of 4 and resuming from last.ckpt must give the very same weights."""
from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

import zoo
from tests.conftest import quiet_trainer
from zoo.data import DigitsDataModule

SMALL = {
    "vae": {"latent_dim": 3, "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [16]}},
            "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [16]}}},
    "dae": {"latent_dim": 3, "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [16]}},
            "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [16]}}},
    "dcgan": {"latent_dim": 4, "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 4}},
              "discriminator": {"class_path": "zoo.nets.DCGANDiscriminator", "init_args": {"width": 4}}},
    "wgan_gp": {"latent_dim": 4, "n_critic": 3, "ema_decay": 0.9,
                "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 4}},
                "discriminator": {"class_path": "zoo.nets.DCGANDiscriminator",
                                  "init_args": {"width": 4, "norm": "layer"}}},
}


def fit(name: str, max_epochs: int, root, ckpt_path=None) -> L.LightningModule:
    L.seed_everything(0, verbose=False)  # as `zoo fit` does at every start, resumed or not
    model = zoo.create_model(name, in_shape=(1, 8, 8), **SMALL[name])
    trainer = quiet_trainer(max_epochs=max_epochs, enable_checkpointing=True, default_root_dir=root,
                            callbacks=[ModelCheckpoint(dirpath=root, save_last=True)],
                            limit_train_batches=5, limit_val_batches=2, num_sanity_val_steps=2)
    trainer.fit(model, DigitsDataModule(batch_size=32), ckpt_path=ckpt_path)
    return model


@pytest.mark.parametrize("name", list(SMALL))
def test_a_resumed_run_is_bit_identical(name, tmp_path):
    uninterrupted = fit(name, 4, tmp_path / "whole")
    fit(name, 2, tmp_path / "part")
    resumed = fit(name, 4, tmp_path / "resumed", ckpt_path=tmp_path / "part" / "last.ckpt")
    expected = uninterrupted.state_dict()
    for key, value in resumed.state_dict().items():
        assert torch.equal(value, expected[key]), f"{name}: {key} differs after the resume"

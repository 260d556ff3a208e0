"""A resumed run is bit-identical to an uninterrupted one on CPU: checkpoints carry every random number
generator's state (torch, NumPy, Python), data orders depend on (seed, epoch) only, and the engines' schedules
are buffers. Stopping after epoch 2 of 4 and resuming from last.ckpt must give the very same weights."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

import zoo
from zoo.cli import resume_arguments
from tests.conftest import quiet_trainer
from zoo.data import DigitsDataModule

SMALL = {
    "vae": {"latent_dim": 3, "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [16]}},
            "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [16]}}},
    "dae": {"latent_dim": 3, "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [16]}},
            "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [16]}}},
    # virtual batch norm in G (its reference batch is a buffer; Salimans et al. 2016), batch norm in D
    "dcgan": {"latent_dim": 4, "generator": {"class_path": "zoo.nets.DCGANGenerator",
                                             "init_args": {"width": 4, "norm": "virtual", "reference_batch": 4}},
              "discriminator": {"class_path": "zoo.nets.DCGANDiscriminator", "init_args": {"width": 4}}},
    # with a per-epoch LR schedule on one player: its steps must survive the resume too
    "wgan_gp": {"latent_dim": 4, "n_critic": 3, "ema_decay": 0.9,
                "lr_schedulers": {"generator": {"class_path": "torch.optim.lr_scheduler.StepLR",
                                                "init_args": {"step_size": 1, "gamma": 0.5}}},
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


def zoo_fit(args: list[str], cwd, kill_at: int | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["ZOO_HOME"] = str(cwd / "home")
    if kill_at is not None:
        env["ZOO_TEST_KILL_AT"] = str(kill_at)
    return subprocess.run([sys.executable, "-m", "zoo.cli", "fit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # three `zoo fit` processes, ~40 s; the default suite has the in-process resumes above
def test_zoo_fit_resume_after_kill_9_is_bit_identical(tmp_path):
    """`kill -9` at a random step of a run that monitors the validation loss, then `zoo fit --resume RUN_DIR`:
    the run continues in its own folder (same logger version, best-score tracking kept) from its latest epoch,
    not from its best, and ends with exactly the weights of an uninterrupted run; no partial file is left."""
    config = {
        "seed_everything": 0,
        "trainer": {
            "max_epochs": 4, "limit_train_batches": 5, "limit_val_batches": 2, "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "logs"}},
            "callbacks": [
                {"class_path": "zoo.callbacks.ModelCheckpoint", "init_args": {"monitor": "val/loss", "mode": "min"}},
                {"class_path": "tests.cli_models.KillAt"},
            ],
        },
        "model": {"class_path": "zoo.methods.VAE", "init_args": SMALL["vae"]},
        "data": {"class_path": "zoo.data.DigitsDataModule", "init_args": {"batch_size": 32}},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "tests").symlink_to(Path(__file__).resolve().parent)  # the KillAt callback, importable from cwd
    # all three runs as subprocesses: in this process, state left by earlier tests (thread counts, flags)
    # changed the float rounding of the uninterrupted run (measured in the full suite)
    whole = zoo_fit(["--config", "run.yaml", "--trainer.logger.init_args.name=whole"], tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    kill_at = random.Random(0).randint(7, 18)  # inside epoch 2 to 4 (5 steps each)
    killed = zoo_fit(["--config", "run.yaml", "--trainer.logger.init_args.name=killed"], tmp_path, kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run = tmp_path / "logs" / "killed" / "version_0"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    resumed = zoo_fit(["--resume", str(run)], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.strip().splitlines()[-1].endswith(f"zoo fit --resume {run}")  # how to go on
    assert sorted(p.name for p in (tmp_path / "logs" / "killed").iterdir()) == ["version_0"]  # no new folder
    assert not list(tmp_path.rglob("*.tmp"))

    expected = torch.load(tmp_path / "logs" / "whole" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    got = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert got["epoch"] == expected["epoch"] == 3 and got["global_step"] == expected["global_step"] == 20
    for key, value in expected["state_dict"].items():
        assert torch.equal(got["state_dict"][key], value), f"{key} differs after kill -9 at step {kill_at} and resume"
    # best-score tracking went on across the kill: the resumed run's best is the uninterrupted run's best
    best = [v for k, v in got["callbacks"].items() if k.startswith("ModelCheckpoint")][0]
    best_whole = [v for k, v in expected["callbacks"].items() if k.startswith("ModelCheckpoint")][0]
    torch.testing.assert_close(best["best_model_score"], best_whole["best_model_score"], rtol=0, atol=0)


def test_resume_arguments_continue_the_run_in_its_folder(tmp_path):
    """`zoo fit --resume RUN_DIR ...`: the run's config and last.ckpt, its logger version and save_dir (so the
    same folder and logger run go on from any working folder), then the user's overrides."""
    run = tmp_path / "logs" / "name" / "version_3"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"trainer": {"logger": {"class_path": "x.CSVLogger"}}}))
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    args = resume_arguments(["fit", "--resume", str(run), "--trainer.max_epochs=9"])
    assert args == ["fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
                    "--trainer.logger.init_args.version=version_3",
                    f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}", "--trainer.max_epochs=9"]
    assert resume_arguments(["fit", f"--resume={run}"])[:3] == ["fit", "--config", str(run / "config.yaml")]

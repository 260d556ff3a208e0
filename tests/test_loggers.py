"""The default logger works with no wandb account, and run_dir agrees with ModelCheckpoint."""
import logging
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

import zoo.loggers
from zoo.loggers import WandbLogger, run_dir
from zoo.registry import create_model

RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"


@pytest.fixture
def no_account(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(zoo.loggers, "wandb_has_credentials", lambda: False)


def test_credentials_come_from_the_environment_or_wandb_login(monkeypatch, tmp_path):
    """An API key in the environment, or the netrc entry `wandb login` writes for the server's host."""
    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    netrc_file = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc_file))
    assert not zoo.loggers.wandb_has_credentials()  # no file
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert zoo.loggers.wandb_has_credentials()
    monkeypatch.delenv("WANDB_API_KEY")
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    assert zoo.loggers.wandb_has_credentials()
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")  # a key for another server does not count
    assert not zoo.loggers.wandb_has_credentials()
    netrc_file.write_text("machine api.wandb.ai login")  # unreadable: offline, no crash
    monkeypatch.delenv("WANDB_BASE_URL")
    assert not zoo.loggers.wandb_has_credentials()


class _Records(logging.Handler):
    """Keeps every record it handles, in order."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def rank_zero_records():
    """Messages of Lightning's rank_zero_info/warn, each once, as emitted.

    A handler of our own on that logger, not caplog's: whether caplog's handler also sees the record through
    propagation differs between pytest versions (pytest 9 counted the one message twice), and a count of
    messages must not depend on it."""
    logger = logging.getLogger(RANK_ZERO_LOGGER)
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [r.getMessage() for r in handler.records]
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_no_account_means_offline_said_in_one_line(no_account, tmp_path, rank_zero_records):
    save_dir = tmp_path / "runs"
    logger = WandbLogger(save_dir=str(save_dir))
    assert logger._wandb_init["mode"] == "offline"
    lines = [m for m in rank_zero_records() if "offline" in m]
    assert len(lines) == 1
    assert "wandb" in lines[0] and str(save_dir / "wandb") in lines[0] and "wandb sync" in lines[0]

    run = logger.experiment  # a real offline run, written under tmp_path
    try:
        assert run.settings.mode == "offline"
        logger.log_metrics({"train/loss": 1.5}, step=0)
        run.log({"check": 2.0})
    finally:
        run.finish()
    assert list((save_dir / "wandb").glob("offline-run-*"))


def test_an_account_means_online(monkeypatch, tmp_path, rank_zero_records):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(zoo.loggers, "wandb_has_credentials", lambda: True)
    logger = WandbLogger(save_dir=str(tmp_path))
    assert logger._wandb_init["mode"] == "online"
    assert not [m for m in rank_zero_records() if "offline" in m]


@pytest.mark.parametrize("credentials", [True, False])
def test_wandb_mode_in_the_environment_wins(monkeypatch, tmp_path, credentials):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setattr(zoo.loggers, "wandb_has_credentials", lambda: credentials)
    assert WandbLogger(save_dir=str(tmp_path))._wandb_init["mode"] == "disabled"
    assert WandbLogger(save_dir=str(tmp_path), offline=True)._wandb_init["mode"] == "disabled"


def test_explicit_offline_flag(no_account, tmp_path):
    assert WandbLogger(save_dir=str(tmp_path), offline=True)._wandb_init["mode"] == "offline"
    assert WandbLogger(save_dir=str(tmp_path), offline=False)._wandb_init["mode"] == "online"


def test_run_dir_is_the_parent_of_the_checkpoint_folder(tmp_path):
    L.seed_everything(0)
    model = create_model("vae", in_shape=(1, 8, 8), latent_dim=2)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(x, torch.zeros(16, dtype=torch.long)), batch_size=8)
    checkpoint = ModelCheckpoint()
    trainer = L.Trainer(
        max_steps=1, logger=CSVLogger(tmp_path / "logs", name="vae"), callbacks=[checkpoint],
        default_root_dir=tmp_path, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    before_fit = run_dir(trainer)  # resolved from the logger, as ModelCheckpoint will resolve it
    trainer.fit(model, loader)
    assert checkpoint.dirpath is not None
    expected = Path(checkpoint.dirpath).parent
    assert expected == tmp_path / "logs" / "vae" / "version_0"
    assert run_dir(trainer) == expected
    assert before_fit == expected
    assert list((expected / "checkpoints").glob("*.ckpt"))


def test_run_dir_without_a_logger_is_the_default_root_dir(tmp_path):
    trainer = L.Trainer(logger=False, enable_checkpointing=False, default_root_dir=tmp_path)
    assert run_dir(trainer) == tmp_path

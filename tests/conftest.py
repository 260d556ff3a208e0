"""Shared test setup: an isolated $ZOO_HOME, no network, small deterministic training helpers."""
from __future__ import annotations

import ipaddress
import socket

import lightning as L
import pytest
import torch

from zoo.data import DigitsDataModule


def pytest_configure(config: pytest.Config) -> None:
    # Under pytest-xdist each worker has a core: one torch thread each, so two workers on two cores do not
    # oversubscribe them (spinning OpenMP threads then cost more than they bring; zoo/callbacks/budget.py).
    if hasattr(config, "workerinput"):
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Tests never download: any connection beyond this machine fails at once, naming the address.

    Loopback and Unix sockets stay open (wandb's offline service and DDP's gloo rendezvous use them)."""
    connect = socket.socket.connect

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                local = ipaddress.ip_address(host).is_loopback
            except ValueError:  # a host name: only localhost is allowed
                local = host == "localhost"
            if not local:
                raise OSError(f"tests may not use the network (tried to connect to {address})")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(autouse=True)
def isolated_zoo_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own $ZOO_HOME, so caches never leak between tests or into ~/.cache."""
    home = tmp_path_factory.mktemp("zoo_home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    return home


def quiet_trainer(**kwargs) -> L.Trainer:
    """A Trainer for tests: CPU, no logger, no checkpoints, no progress bar."""
    defaults = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return L.Trainer(**{**defaults, **kwargs})


@pytest.fixture(scope="session")
def digits_test_images() -> torch.Tensor:
    """The 360 held-out digits (the fixed test split), (360, 1, 8, 8) in [0, 1]."""
    dm = DigitsDataModule(batch_size=360)
    dm.setup("test")
    return torch.cat([x for x, _ in dm.test_dataloader()])


def on_grid(model, x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to the model's pixel grid: discrete-data models (``levels``: the autoregressive family)
    give off-grid images no probability and refuse them; every other model takes any value in [0, 1]."""
    levels = getattr(model, "levels", None)
    return x if levels is None else (x * (levels - 1)).round() / (levels - 1)

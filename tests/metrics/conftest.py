"""Shared fixtures of the metrics tests: a VAE trained briefly on the bundled digits, and an untrained one."""
from __future__ import annotations

import lightning as L
import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from zoo.data import DigitsDataModule

VAE_EPOCHS = 15  # about 5 s on 2 CPU cores; -ELBO on the test digits falls from 44 to about 26 nats


def digits_vae(*, epochs: int, seed: int = 0):
    L.seed_everything(seed, verbose=False)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=8)
    if epochs:
        quiet_trainer(max_epochs=epochs).fit(model, DigitsDataModule(batch_size=100))
    return model.eval()


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """The metrics tests run many small ops (tiny nets, Inception on a handful of images). With another process
    busy on one of 2 cores, OpenMP's second thread spin-waits at every op: measured 30-50x slower (IWAE test
    25 s vs 0.7 s, Inception test 53 s vs 2.5 s). One thread is as fast when the machine is idle."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def trained_vae():
    return digits_vae(epochs=VAE_EPOCHS)


@pytest.fixture(scope="package")
def untrained_vae():
    return digits_vae(epochs=0)

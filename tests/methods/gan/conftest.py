"""Shared learning-test setup for the GAN family: the ring of 8 Gaussians and small MLP nets."""
from __future__ import annotations

from collections.abc import Callable

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.conftest import quiet_trainer
from zoo.data.toys import Ring

# Modes of std 0.02 on a ring of radius 0.35 in [0, 1]^2: 13 std apart, so a sample between two modes
# is neither's; tighter modes (std 0.01) needed 3x longer runs for the same share of good samples.
RING = Ring(modes=8, radius=0.35, std=0.02)
BATCH = 256
MLP = {
    "generator": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [128, 128]}},
    "discriminator": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [128, 128], "activation": "leaky_relu"}},
}


def adam(lr: float, betas: tuple[float, float]) -> dict:
    return {"class_path": "torch.optim.Adam", "init_args": {"lr": lr, "betas": list(betas)}}


@pytest.fixture
def train_on_ring() -> Callable[..., tuple[int, float, float]]:
    """Train a GAN-family method on fresh ring batches for ``steps`` batches; return (modes covered,
    share of samples within 3 std of a mode, share within 6 std) of 2000 samples."""

    def train(name: str, *, steps: int, seed: int, **kwargs) -> tuple[int, float, float]:
        L.seed_everything(seed, verbose=False)
        # Nets of 128 units: a second thread only adds synchronisation (measured 75 s instead of 1 s for 200
        # steps when the other core was busy), so these runs use one.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return _train(name, steps=steps, seed=seed, **kwargs)
        finally:
            torch.set_num_threads(threads)

    def _train(name: str, *, steps: int, seed: int, **kwargs) -> tuple[int, float, float]:
        points, _ = RING.sample(steps * BATCH, torch.Generator().manual_seed(seed))  # every batch is new data
        model = zoo.create_model(name, in_shape=(2, 1, 1), latent_dim=2, **{**MLP, **kwargs})
        quiet_trainer(max_epochs=1).fit(model, DataLoader(TensorDataset(points), batch_size=BATCH))
        samples = model.eval().sample(2000, generator=torch.Generator().manual_seed(0))
        covered, good = RING.coverage(samples)
        _, fair = RING.coverage(samples, max_std=6.0)
        return covered, good, fair

    return train

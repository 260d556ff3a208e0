"""Methods train under DDP on 2 CPU ranks (gloo) and the ranks stay in step.

The same recipes then run on GPUs and multi-node without change."""
import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.conftest import quiet_trainer


class GatherChecksums(L.Callback):
    """After training, every rank's checksums of all parameters and buffers, written by rank 0 to a file
    (the test process cannot see the spawned ranks' memory)."""

    def __init__(self, path) -> None:
        self.path = path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state = torch.cat([v.detach().double().flatten() for v in pl_module.state_dict().values()])
        checksums = trainer.strategy.all_gather(torch.stack([state.sum(), state.abs().sum(), state.pow(2).sum()]))
        if trainer.is_global_zero:
            torch.save(checksums.cpu(), self.path)


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_two_cpu_ranks_stay_identical(name, tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=(1, 8, 8), latent_dim=4)
    data = TensorDataset(torch.rand(128, 1, 8, 8), torch.zeros(128, dtype=torch.long))
    trainer = quiet_trainer(
        max_steps=4,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        default_root_dir=tmp_path,
        callbacks=[GatherChecksums(tmp_path / "checksums.pt")],
    )
    trainer.fit(model, DataLoader(data, batch_size=16))
    checksums = torch.load(tmp_path / "checksums.pt")
    assert checksums.shape == (2, 3)  # two ranks reported
    torch.testing.assert_close(checksums[1], checksums[0], rtol=0, atol=0)

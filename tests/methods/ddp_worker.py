"""Trains a registered method for a few steps under DDP on 2 CPU ranks (gloo); run by test_ddp.py.

    python tests/methods/ddp_worker.py <model name | module:Class> <checksums.pt> [<model kwargs as JSON>]

A ``module:Class`` builds a method that is not registered (the engine tests' three-player toy).

A script, not an in-process ``ddp_spawn`` run: Lightning's ``ddp`` launcher starts rank 1 by running
this file again, as it does for a user's ``zoo fit --trainer.strategy=ddp``.
"""
import importlib
import json
import sys
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for ``tests.*`` classes
import zoo  # noqa: E402
from zoo.lightning_cli import close_process_group  # noqa: E402


class GatherChecksums(L.Callback):
    """After training, every rank's checksums of all parameters and buffers, saved by rank 0."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Batch norm's running statistics are left out: DDP broadcasts rank 0's buffers at every forward, so the
        # ranks differ only by their last local update (a conditional G's batch holds each rank's own labels),
        # and the checkpoint is rank 0's. Every other buffer (the AE's code moments, a reference batch) counts.
        state = torch.cat([v.detach().double().flatten() for k, v in pl_module.state_dict().items()
                           if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))])
        checksums = trainer.strategy.all_gather(torch.stack([state.sum(), state.abs().sum(), state.pow(2).sum()]))
        if trainer.is_global_zero:
            torch.save(checksums.cpu(), self.path)


def main(name: str, path: str, kwargs: str = "{}") -> None:
    L.seed_everything(0, verbose=False)
    # latent_dim 4 unless the case sets it (null: the method derives it, as InfoGAN does from its codes)
    args = {k: v for k, v in {"in_shape": (1, 8, 8), "latent_dim": 4, **json.loads(kwargs)}.items() if v is not None}
    if ":" in name:
        module, _, cls = name.partition(":")
        model = getattr(importlib.import_module(module), cls)(**args)
    else:
        model = zoo.create_model(name, **args)
    # labels 0..9 for the conditional methods (the others never read them)
    data = TensorDataset(torch.rand(128, 1, 8, 8), torch.arange(128) % 10)
    trainer = L.Trainer(
        max_steps=8,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[GatherChecksums(path)],
    )
    trainer.fit(model, DataLoader(data, batch_size=16))
    close_process_group()  # as `zoo fit` does: gloo may abort at exit otherwise


if __name__ == "__main__":
    main(*sys.argv[1:4])

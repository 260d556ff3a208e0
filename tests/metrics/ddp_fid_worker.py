"""Trains a VAE on digits under DDP on 2 CPU ranks with PeriodicFID; run by test_callback.py.

    python tests/metrics/ddp_fid_worker.py <values.pt>

Saves, from rank 0, the ``val/fid_digits_cls`` every rank logged, gathered: (2,) tensor.
"""
import sys

import lightning as L
import torch

import zoo
from zoo.callbacks import PeriodicFID
from zoo.lightning_cli import close_process_group
from zoo.data import DigitsDataModule


class GatherFID(L.Callback):
    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics["val/fid_digits_cls"].double().reshape(1)
        values = trainer.strategy.all_gather(value).flatten()
        if trainer.is_global_zero:
            torch.save(values.cpu(), self.path)


def main(path: str) -> None:
    torch.set_num_threads(1)
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=4)
    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=2,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[PeriodicFID(extractor="digits_cls", n=200, every_n_epochs=1), GatherFID(path)],
    )
    trainer.fit(model, DigitsDataModule(batch_size=32))
    close_process_group()


if __name__ == "__main__":
    main(sys.argv[1])

"""Train a domain feature extractor and export it as shipped weights.

    python -m zoo.metrics.train_extractor fit --config recipes/extractors/fashion_mnist.yaml

LightningCLI (any zoo datamodule; the classifier's ``in_shape`` and ``num_classes`` follow the data).
After ``fit`` the command measures top-1 accuracy on the official test split, writes the classifier to
``--export`` (a safetensors file with its sha256 printed) and prints the registry entry for
zoo/metrics/extractors.py, accuracy included. Under ``--trainer.fast_dev_run`` nothing is exported.

The objective is plain cross-entropy with Adam and a one-cycle learning-rate schedule (Smith & Topin 2017,
arXiv:1708.07120), which reaches a good accuracy in few epochs; ``hflip`` adds random horizontal flips
(right for clothes, wrong for digits).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from zoo.data import ImageDataModule
from zoo.errors import ConfigError
from zoo.metrics.extractors import save_classifier
from zoo.nets.classifier import Classifier


class ExtractorTraining(L.LightningModule):
    """Cross-entropy training of a :class:`~zoo.nets.classifier.Classifier` (the system; the net is plain).

    Args:
        name: the extractor's registry name (``fmnist_cls``), written into the exported file.
        dataset: the zoo dataset name (``fashion_mnist``) the extractor is for.
        in_shape, num_classes: set from the datamodule by the CLI.
        width, feature_dim, dropout: the classifier's (see zoo/nets/classifier.py).
        lr: peak learning rate of the one-cycle schedule (Adam).
        weight_decay: Adam's L2 penalty.
        hflip: flip each training image horizontally with probability 1/2.
    """

    def __init__(
        self,
        *,
        name: str,
        dataset: str,
        in_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 10,
        width: int = 16,
        feature_dim: int = 128,
        dropout: float = 0.2,
        lr: float = 4e-3,
        weight_decay: float = 0.0,
        hflip: bool = False,
    ) -> None:
        super().__init__()
        if lr <= 0:
            raise ConfigError(f"lr must be > 0, got {lr}")
        self.save_hyperparameters()
        self.net = Classifier(in_shape, num_classes, width=width, feature_dim=feature_dim, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.hparams.hflip:
            flip = torch.rand(len(x), device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/accuracy", (logits.argmax(1) == y).float().mean())
        return loss

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: Sequence[torch.Tensor], stage: str) -> None:
        x, y = batch
        logits = self(x)
        # summed counts, not batch means: the last batch is smaller, and the accuracy must be exact
        self.log(f"{stage}/loss", F.cross_entropy(logits, y), prog_bar=True, sync_dist=True)
        self.log(f"{stage}/correct", (logits.argmax(1) == y).float().sum(), reduce_fx="sum", sync_dist=True)
        self.log(f"{stage}/count", float(len(y)), reduce_fx="sum", sync_dist=True)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.hparams.lr, total_steps=int(self.trainer.estimated_stepping_batches)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class ExtractorCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.shape", "model.in_shape", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_argument("--export", type=str | None, default=None, help="safetensors file to write after fit")

    def after_fit(self) -> None:
        if self.trainer.fast_dev_run:
            print("fast_dev_run: the extractor is not tested on the full test split nor exported")
            return
        self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)
        metrics = self.trainer.callback_metrics
        n = int(metrics["test/count"].item())
        accuracy = round(metrics["test/correct"].item() / n, 4)
        export = self.config[self.subcommand].get("export")
        config_file = self.config[self.subcommand].get("config")
        recipe = str(config_file[0]) if config_file else None
        hp = self.model.hparams
        print(f"{hp.name}: test accuracy {accuracy:.4f} on {n} test images")
        if export is None:
            print("no --export given: weights not written")
            return
        net = self.model.net.cpu().eval()
        info = {"name": hp.name, "dataset": hp.dataset, "test_accuracy": accuracy, "n_test": n, "recipe": recipe}
        sha256 = save_classifier(net, export, info=info)
        num_params = sum(p.numel() for p in net.parameters())
        entry = {
            "name": hp.name,
            "file": f"metrics/weights/{hp.name}.safetensors",
            "sha256": sha256,
            "meta": {
                "dataset": hp.dataset,
                "recipe": recipe,
                "metrics": {"test_accuracy": accuracy, "protocol": {"split": "test", "n": n}},
                "num_params": num_params,
                "in_shape": list(net.in_shape),
            },
        }
        print(f"wrote {export} (sha256 {sha256}); registry entry for zoo/metrics/extractors.py:")
        print(json.dumps(entry, indent=4))


def main(args: Sequence[str] | None = None) -> None:
    ExtractorCLI(
        ExtractorTraining,
        ImageDataModule,
        subclass_mode_data=True,
        args=list(sys.argv[1:] if args is None else args),
        save_config_kwargs={"overwrite": True},
    )


if __name__ == "__main__":
    main()

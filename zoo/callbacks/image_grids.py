"""Sample and reconstruction grids, written as PNG to the run folder and sent to the logger each epoch."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torchvision.utils import make_grid, save_image

from zoo.capabilities import CONDITIONAL, RECONSTRUCT, SAMPLE, capabilities_of
from zoo.errors import ConfigError
from zoo.loggers import run_dir


class ImageGrids(L.Callback):
    """Every ``every_n_epochs`` epochs, for models that sample: ``images/samples_epoch=EEE.png`` from a fixed noise
    seed (the same z every epoch, so progress is visible; for conditional models one row of ``nrow`` per class)
    and, for models that reconstruct, ``images/reconstructions_epoch=EEE.png``: rows of validation images
    alternating with their reconstructions; plus the method's own grids (``extra_grids``: InfoGAN writes
    ``traversal_categorical0_epoch=EEE.png``, one row per code value, and one continuous sweep per code).
    Nothing is drawn in a ``fast_dev_run`` (Lightning's one-batch smoke run).

    Args:
        n: images per grid (rows of ``nrow``).
        nrow: images per row.
        every_n_epochs: grid period in epochs; the last epoch always gets one.
        seed: seed of the sample noise.
        min_side: images smaller than this (8x8 digits) are enlarged by an integer factor, nearest
            neighbour, so the PNG is readable; the pixels themselves are unchanged.
        max_files: at most this many PNGs per run (over all kinds; None: no cap). Past it, the period of
            the kept grids doubles (every 2nd, 4th ... grid stays), so what stays spans the whole run evenly;
            the latest is always kept (a 300-epoch run with a grid every epoch wrote 600 files).
    """

    def __init__(
        self, *, n: int = 64, nrow: int = 8, every_n_epochs: int = 1, seed: int = 0, min_side: int = 32,
        max_files: int | None = 50,
    ) -> None:
        for name, value in (("n", n), ("nrow", nrow), ("every_n_epochs", every_n_epochs), ("min_side", min_side)):
            if value < 1:
                raise ConfigError(f"ImageGrids {name} must be >= 1, got {value}")
        if max_files is not None and max_files < 4:
            raise ConfigError(f"ImageGrids max_files must be >= 4 (or null for no cap), got {max_files}")
        self.max_files = max_files
        self.n, self.nrow, self.every_n_epochs, self.seed, self.min_side = n, nrow, every_n_epochs, seed, min_side
        self._originals: torch.Tensor | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # held-out images only for models that reconstruct them (a two-domain batch is not one image set)
        self._originals = self._first_images(trainer) if RECONSTRUCT in capabilities_of(pl_module) else None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fast_dev_run:  # Lightning's one-batch smoke run: an autoregressive sampler would take minutes
            return
        epoch = trainer.current_epoch
        last = epoch + 1 >= (trainer.max_epochs or 0) or trainer.should_stop
        if (epoch + 1) % self.every_n_epochs == 0 or last:
            self._write(trainer, pl_module, epoch)

    @rank_zero_only
    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        folder = run_dir(trainer) / "images"
        folder.mkdir(parents=True, exist_ok=True)
        was_training = pl_module.training
        pl_module.eval()
        grids = {}
        with torch.no_grad():
            generator = torch.Generator().manual_seed(self.seed)
            if SAMPLE in capabilities_of(pl_module) and CONDITIONAL in capabilities_of(pl_module):
                # one row per class: nrow samples of class 0, then of class 1, ...
                y = torch.arange(pl_module.num_classes).repeat_interleave(self.nrow)
                grids["samples"] = pl_module.sample(len(y), y=y, generator=generator), self.nrow
            elif SAMPLE in capabilities_of(pl_module):
                grids["samples"] = pl_module.sample(self.n, generator=generator), self.nrow
            if self._originals is not None:
                x = self._originals.to(pl_module.device)
                grids["reconstructions"] = _interleave_rows(x, pl_module.reconstruct(x), self.nrow), self.nrow
            # the method's own grids (InfoGAN's code traversals), from the same fixed noise every time
            grids.update(pl_module.extra_grids(nrow=self.nrow, generator=torch.Generator().manual_seed(self.seed)))
        pl_module.train(was_training)
        for key, (images, nrow) in grids.items():
            images = images.float().cpu()
            factor = -(-self.min_side // min(images.shape[-2:]))  # ceil division
            if factor > 1:
                images = images.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
            grid = make_grid(images, nrow=nrow, padding=2, pad_value=0.5)
            path = folder / f"{key}_epoch={epoch:03d}.png"
            save_image(grid, path)
            _log_image(trainer, key, grid, path)
            if self.max_files is not None:
                _thin(folder.glob(f"{key}_epoch=*.png"), self.every_n_epochs, keep=max(2, self.max_files // len(grids)))

    def _first_images(self, trainer: L.Trainer) -> torch.Tensor | None:
        """The first ``n`` validation images (training ones if there is no validation set), kept fixed."""
        datamodule = trainer.datamodule
        for name in ("val_dataloader", "train_dataloader"):
            loader_fn = getattr(datamodule, name, None)
            if loader_fn is None:
                continue
            try:
                loader = loader_fn()
            except Exception:  # a datamodule without this split raises; try the next one
                continue
            images = []
            for batch in loader:
                images.append(batch[0] if isinstance(batch, (list, tuple)) else batch)
                if sum(len(b) for b in images) >= self.n:
                    break
            if images:
                return torch.cat(images)[: self.n]
        return None


def _thin(paths: Iterable[Path], every: int, keep: int) -> None:
    """Keep the grids of epochs e with (e + 1) a multiple of the smallest period every * 2**k that leaves at
    most ``keep`` of them (the latest always stays); delete the others."""
    by_epoch = {int(p.stem.rsplit("=", 1)[1]): p for p in paths}
    latest, period = max(by_epoch, default=0), every
    while len([e for e in by_epoch if (e + 1) % period == 0 or e == latest]) > keep:
        period *= 2
    for epoch, path in by_epoch.items():
        if (epoch + 1) % period and epoch != latest:
            path.unlink(missing_ok=True)


def _interleave_rows(x: torch.Tensor, x_hat: torch.Tensor, nrow: int) -> torch.Tensor:
    """Rows of originals followed by rows of their reconstructions: (N, ...) x 2 -> (2N, ...)."""
    n = (x.shape[0] // nrow) * nrow or x.shape[0]
    x, x_hat = x[:n], x_hat[:n]
    rows = max(n // nrow, 1)
    pairs = torch.stack([x.reshape(rows, -1, *x.shape[1:]), x_hat.reshape(rows, -1, *x.shape[1:])], dim=1)
    return pairs.reshape(-1, *x.shape[1:])


def _log_image(trainer: L.Trainer, key: str, grid: torch.Tensor, path: Path) -> None:
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):  # wandb
            logger.log_image(key=key, images=[str(path)], step=trainer.global_step)
        elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
            logger.experiment.add_image(key, grid, global_step=trainer.global_step)

"""A small-n FID on a domain feature extractor, computed during training and logged as ``val/fid_<extractor>``.

The full protocol (50,000 samples, recorded with its protocol) is ``zoo evaluate``; this callback is the
training curve: ``n`` samples from a fixed noise seed against the first ``n`` training images, every
``every_n_epochs`` epochs and at the last epoch. Small-n FID is biased upwards (Chong & Forsyth 2020,
arXiv:1911.07023), so compare its values only with each other, not with published numbers.

It runs at the end of the validation epoch (a run without validation batches logs none), outside
``training_step`` where torchmetrics warns that accumulating states grows memory, with the model in eval
mode, and not during the sanity check nor a ``fast_dev_run`` (Lightning's one-batch smoke run: an FID of
``n`` samples there measures nothing and, for a sampler that draws one pixel at a time, costs minutes).

Each value is also appended, with the epoch, the step, and the wall-clock and CPU seconds (of this
process: see :class:`zoo.callbacks.CPUBudget`) since training started, to
``fid_history.json`` in the run's folder (beside ``checkpoints/``): the leaderboard plots FID against
training time from it.

DDP: only global rank 0 samples and computes; the value is broadcast so every rank logs the same number
(no rank waits on a metric sync it did not take part in, and the n samples are not split across ranks).
"""
from __future__ import annotations

import json
import time

import lightning as L
import torch

from zoo.errors import ConfigError
from zoo.paths import write_json


class PeriodicFID(L.Callback):
    """Log ``val/fid_<extractor>`` from ``n`` samples every ``every_n_epochs`` epochs.

    Args:
        extractor: a domain extractor name (``digits_cls``, ``fmnist_cls``; see zoo/metrics/extractors.py)
            or ``inception`` (its weights must be available: see zoo/metrics/inception.py).
        n: number of generated samples, and of real training images (fewer if the split is smaller).
        every_n_epochs: period in epochs; the last epoch always gets one.
        seed: seed of the sample noise (the same noise every time, so the curve shows the model changing).
        batch_size: images per sampling/extraction batch.
    """

    def __init__(
        self, *, extractor: str, n: int = 1000, every_n_epochs: int = 10, seed: int = 0, batch_size: int = 500
    ) -> None:
        for name, value in (("n", n), ("every_n_epochs", every_n_epochs), ("batch_size", batch_size)):
            if value < 1:
                raise ConfigError(f"PeriodicFID {name} must be >= 1, got {value}")
        if n < 2:
            raise ConfigError(f"PeriodicFID n must be >= 2 (FID needs covariances), got {n}")
        from zoo.metrics.extractors import get_extractor_weights, list_extractors

        if extractor not in list_extractors():
            get_extractor_weights(extractor)  # raises the unknown-name error, with suggestions
        self.extractor_name, self.n, self.every_n_epochs = extractor, n, every_n_epochs
        self.seed, self.batch_size = seed, batch_size
        self.key = f"val/fid_{extractor}"
        self._extractor = None
        self._real: dict[str, torch.Tensor] | None = None
        #: [{"epoch", "step", "time_s", "cpu_s", "fid"}] of this fit, in order
        self.history: list[dict[str, float]] = []
        self._start: float | None = None
        self._cpu_start = 0.0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or self._extractor is not None:
            return
        from zoo.metrics.extractors import get_extractor

        self._extractor = get_extractor(self.extractor_name)
        shape = getattr(pl_module, "in_shape", None)
        if self._extractor.in_shape is not None and shape is not None and tuple(shape) != self._extractor.in_shape:
            raise ConfigError(
                f"PeriodicFID: extractor {self.extractor_name!r} reads {self._extractor.in_shape} images but the "
                f"model makes {tuple(shape)}; use the extractor of this dataset at its native size"
            )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a resumed fit continues the clock of the run it resumes (the history in its folder)
        previous = self._read_history(trainer)
        self.history = previous
        self._start = time.monotonic() - (previous[-1]["time_s"] if previous else 0.0)
        self._cpu_start = time.process_time() - (previous[-1].get("cpu_s", 0.0) if previous else 0.0)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        epoch = trainer.current_epoch
        last = epoch + 1 >= (trainer.max_epochs or 0) or trainer.should_stop
        if (epoch + 1) % self.every_n_epochs != 0 and not last:
            return
        value = self._fid(trainer, pl_module) if trainer.is_global_zero else 0.0
        value = trainer.strategy.broadcast(value, src=0)
        pl_module.log(self.key, value, rank_zero_only=False, sync_dist=False)
        if trainer.is_global_zero and self._start is not None:
            elapsed, cpu = time.monotonic() - self._start, time.process_time() - self._cpu_start
            row = {"epoch": epoch, "step": trainer.global_step, "time_s": elapsed, "cpu_s": cpu, "fid": value}
            seen = getattr(pl_module, "images_seen", None)  # a method whose schedule counts images (ProGAN)
            if isinstance(seen, torch.Tensor):
                row["images_seen"] = int(seen)
            self.history.append(row)
            self._write_history(trainer)

    def _history_path(self, trainer: L.Trainer):
        from zoo.loggers import run_dir

        return run_dir(trainer) / "fid_history.json"

    def _read_history(self, trainer: L.Trainer) -> list[dict[str, float]]:
        path = self._history_path(trainer)
        if not trainer.ckpt_path or not path.is_file():  # a fresh fit starts a fresh curve
            return []
        return [row for row in json.loads(path.read_text())["history"] if row["epoch"] < trainer.current_epoch]

    def _write_history(self, trainer: L.Trainer) -> None:
        record = {"metric": f"fid_{self.extractor_name}", "n": self.n, "seed": self.seed, "history": self.history}
        write_json(self._history_path(trainer), record, indent=1)  # valid JSON (a nan FID is null), whole

    def _fid(self, trainer: L.Trainer, pl_module: L.LightningModule) -> float:
        from zoo.metrics.sample_quality import SampleQuality

        assert self._extractor is not None, "setup('fit') loads the extractor"
        extractor = self._extractor.to(pl_module.device)
        if self._real is None:
            self._real = self._real_outputs(trainer, extractor)
        quality = SampleQuality(extractor, ["fid"])
        quality.update_outputs(self._real, real=True)
        was_training = pl_module.training
        pl_module.eval()
        generator = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            for start in range(0, self.n, self.batch_size):
                images = pl_module.sample(min(self.batch_size, self.n - start), generator=generator)
                quality.update(images.float(), real=False)
        pl_module.train(was_training)
        return quality.compute()[f"fid_{self.extractor_name}"]

    def _real_outputs(self, trainer: L.Trainer, extractor) -> dict[str, torch.Tensor]:
        """The extractor's outputs on the first ``n`` training images (once per fit)."""
        dataset = getattr(trainer.datamodule, "train_dataset", None)
        if dataset is None:
            raise ConfigError("PeriodicFID needs a zoo datamodule (its train_dataset holds the real images)")
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, range(min(self.n, len(dataset)))), batch_size=self.batch_size
        )
        outputs: dict[str, list[torch.Tensor]] = {"features": [], "logits": []}
        device = next(iter(extractor.parameters())).device
        with torch.no_grad():
            for x, *_ in loader:
                for name, value in extractor(x.to(device)).items():
                    outputs[name].append(value.cpu())
        return {name: torch.cat(values) for name, values in outputs.items()}

"""Loggers that work with no account, and the run folder every artefact of a run goes to."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_info


def wandb_has_credentials() -> bool:
    """True when wandb can log online: an API key in the environment or from ``wandb login``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        import wandb

        return bool(wandb.login(prompt=False, verify=False))  # reads netrc/settings; no network with verify=False
    except Exception:
        return False


class WandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger that falls back to offline mode by itself when no account is configured.

    ``offline=None`` (the default) means: online if ``wandb login`` was run or ``WANDB_API_KEY`` is set,
    else offline, said in one line; ``WANDB_MODE`` in the environment wins over both. Offline runs are
    kept under ``<save_dir>/wandb`` and can be uploaded later with ``wandb sync``.
    """

    def __init__(self, *, offline: bool | None = None, save_dir: str = "runs", project: str = "zoo", **kwargs: Any):
        mode = os.environ.get("WANDB_MODE")
        if mode is None:
            if offline is None:
                offline = not wandb_has_credentials()
                if offline:
                    rank_zero_info(
                        f"wandb: no account configured (no `wandb login`, no WANDB_API_KEY); logging offline to "
                        f"{save_dir}/wandb -- upload later with `wandb sync`"
                    )
            mode = "offline" if offline else "online"
        # wandb looks for the git commit from save_dir, and warns when that folder does not exist yet
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        # Lightning's own `offline` flag does not reach wandb.init (which then demands a key) and sets
        # WANDB_MODE in the process environment behind wandb's back: pass `mode` to wandb.init instead.
        super().__init__(save_dir=save_dir, project=project, mode=mode, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            del self._wandb_init["anonymous"]  # wandb warns that the setting is deprecated even when None


def run_dir(trainer: L.Trainer) -> Path:
    """The run's folder: ModelCheckpoint writes ``checkpoints/`` into it; config.yaml and images/ go beside.

    Resolved as ModelCheckpoint resolves its ``dirpath``: ``<logger save_dir>/<name>/<version>``, or the
    trainer's ``default_root_dir`` when there is no logger."""
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and getattr(checkpoint, "dirpath", None):
        return Path(checkpoint.dirpath).parent
    if not trainer.loggers:
        return Path(trainer.default_root_dir)
    logger = trainer.loggers[0]
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return Path(logger.save_dir or trainer.default_root_dir) / str(logger.name) / version

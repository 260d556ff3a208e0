"""Loggers that work with no account, and the run folder every artefact of a run goes to."""
from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import lightning as L
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_info


def wandb_has_credentials() -> bool:
    """True when wandb can log online: an API key in the environment or saved by ``wandb login`` (in the
    netrc file, for the host of ``WANDB_BASE_URL``), or an identity token file.

    Read without importing wandb: asking ``wandb.login`` starts wandb's process-wide session, whose settings
    then can no longer be changed, so an offline run could not be made quiet."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname
    try:
        auth = netrc.netrc(os.environ.get("NETRC")).authenticators(host or "")
    except (OSError, netrc.NetrcParseError):  # no netrc file, or one wandb could not read either
        return False
    return bool(auth and auth[2])


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
        if mode == "offline":
            # Offline, wandb's banner and end-of-run summary (~35 lines) say nothing the line above and the
            # progress bar do not; online, its output (the run's link) is kept. wandb's own switch for it is
            # the environment variable (measured with wandb 0.31: `settings=Settings(silent=True)` given to
            # wandb.init through Lightning still printed them); a user's WANDB_SILENT wins.
            os.environ.setdefault("WANDB_SILENT", "true")
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

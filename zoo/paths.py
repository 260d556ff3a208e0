"""Where zoo keeps files it fetches or derives: ``$ZOO_HOME`` (default ``~/.cache/zoo``)."""
from __future__ import annotations

import os
from pathlib import Path


def zoo_home() -> Path:
    """Read on every call, so a test or a user can point it elsewhere at run time."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()

"""Where zoo keeps files it fetches or derives (``$ZOO_HOME``, default ``~/.cache/zoo``), and how it writes the
JSON files it leaves (valid JSON, written whole or not at all)."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def zoo_home() -> Path:
    """Read on every call, so a test or a user can point it elsewhere at run time."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (nan, inf) replaced by None, so that it is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: str | os.PathLike, value: Any, *, indent: int = 2) -> None:
    """Write ``value`` as valid JSON (non-finite numbers become null), whole or not at all: to a temporary
    file beside ``path``, then renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(value), indent=indent, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

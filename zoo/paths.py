"""Where zoo keeps files it fetches or derives (``$ZOO_HOME``, default ``~/.cache/zoo``), and how it writes the
JSON files it leaves (valid JSON, written whole or not at all)."""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


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
    """Write ``value`` as valid JSON (non-finite numbers become null), whole or not at all."""
    text = json.dumps(json_safe(value), indent=indent, allow_nan=False) + "\n"
    write_atomically(path, lambda f: f.write(text.encode()))


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, flush it to disk, then rename it over ``path``
    (``os.replace`` is atomic on POSIX and Windows): ``path`` holds the old file or the whole new one, never
    part of one, whatever happens meanwhile (a full disk, a kill)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are read by others (shipped weights, runs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

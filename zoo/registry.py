"""The model registry: ``@register_model`` entry points, ``create_model`` and ``list_models`` (timm's shape).

An entry point is a function returning a LightningModule; its name is the registry name. Adding a model
touches one file (the entry point beside its class) and one import line (``zoo/methods/__init__.py``).
"""
from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import lightning as L

from zoo.errors import ConfigError, UnknownModelError

EntryPoint = Callable[..., L.LightningModule]
F = TypeVar("F", bound=EntryPoint)

_entry_points: dict[str, EntryPoint] = {}


def register_model(fn: F) -> F:
    """Register ``fn`` under ``fn.__name__``; a second registration of the same name is an error."""
    name = fn.__name__
    if name in _entry_points:
        other = _entry_points[name]
        raise ConfigError(
            f"model name {name!r} is already registered by {other.__module__}.{other.__qualname__}; "
            "choose another name for the entry point"
        )
    _entry_points[name] = fn
    return fn


def filter_names(names: Iterable[str], pattern: str | Sequence[str] = "*") -> list[str]:
    """Sorted ``names`` matching ``pattern`` (fnmatch wildcards; a list means any of them)."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    return sorted(name for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns))


def list_models(pattern: str | Sequence[str] = "*") -> list[str]:
    """Sorted registered names matching ``pattern`` (fnmatch wildcards; a list means any of them)."""
    return filter_names(_entry_points, pattern)


def is_model(name: str) -> bool:
    return name in _entry_points


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """``"did you mean 'vae'? "`` for the registered names closest to a mistyped one, else ``""``."""
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    return f"did you mean {', '.join(map(repr, close))}? " if close else ""


def model_entrypoint(name: str) -> EntryPoint:
    """The entry point registered as ``name``; an unknown name suggests the closest registered ones."""
    try:
        return _entry_points[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; {did_you_mean(name, _entry_points)}"
            "`zoo list` (or zoo.list_models()) shows the registered names"
        ) from None


def create_model(name: str, **kwargs: Any) -> L.LightningModule:
    """Build the registered model ``name`` with keyword hyperparameters, e.g.
    ``create_model("vae", in_shape=(1, 28, 28), latent_dim=16)``."""
    return model_entrypoint(name)(**kwargs)

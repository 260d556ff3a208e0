"""Injected factories (nets, optimizers) as plain values.

Methods take their nets and optimizers as *factories* (``Callable[..., nn.Module]``), LightningCLI's
dependency-injection pattern: the method owns the bookkeeping of sizes (a VAE's encoder must output
2 x latent_dim features), a recipe only picks the class and its options::

    encoder:
      class_path: zoo.nets.ConvEncoder
      init_args: {width: 32}

A factory reaches a method in one of four forms: a class, ``functools.partial(cls, **options)``, the
partial jsonargparse builds from the YAML above, or that YAML as a dict (from a checkpoint). ``to_spec``
turns each into the dict ``{"class_path": ..., "init_args": {...}}`` so hyperparameters stay plain values
(checkpoints load under ``torch.load(weights_only=True)``); ``from_spec`` turns it back into a callable.
"""
from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from zoo.errors import ConfigError

Spec = dict[str, Any]


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"cannot import class_path {path!r}; give a full dotted path such as 'zoo.nets.MLPEncoder'")
    if not isinstance(obj, type):
        raise ConfigError(f"class_path {path!r} names {obj!r}, which is not a class")
    return obj


def to_spec(factory: Any, name: str) -> Spec | None:
    """A plain ``{"class_path", "init_args"}`` dict for ``factory`` (None stays None)."""
    if factory is None:
        return None
    if isinstance(factory, dict):
        if "class_path" not in factory:
            raise ConfigError(f"{name} as a dict needs a 'class_path' key, got {factory!r}")
        return {"class_path": factory["class_path"], "init_args": dict(factory.get("init_args") or {})}
    if isinstance(factory, type):
        return {"class_path": class_path(factory), "init_args": {}}
    if isinstance(factory, functools.partial):
        if isinstance(factory.func, type) and not factory.args:  # partial(cls, **init_args)
            return {"class_path": class_path(factory.func), "init_args": dict(factory.keywords)}
        # jsonargparse builds partial(call_without_instantiate_context, instantiator, cls, **init_args)
        classes = [a for a in factory.args if isinstance(a, type)]
        if len(classes) == 1 and factory.args[-1] is classes[0]:
            return {"class_path": class_path(classes[0]), "init_args": dict(factory.keywords)}
    raise ConfigError(
        f"{name}={factory!r} cannot be stored as a plain hyperparameter; pass a class, "
        f"functools.partial(Class, **options), or {{'class_path': ..., 'init_args': {{...}}}}"
    )


def from_spec(spec: Spec | None, default: Spec) -> Callable[..., Any]:
    """The callable a spec describes (``default`` when ``spec`` is None)."""
    spec = spec or default
    return functools.partial(import_class(spec["class_path"]), **spec.get("init_args", {}))


def check_optimizer_spec(name: str, spec: Spec) -> None:
    """Refuse an optimizer spec whose learning rate is not a positive number (``lr=0`` trains nothing silently;
    a negative one ascends the loss)."""
    lr = spec.get("init_args", {}).get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0):
        raise ConfigError(f"{name} lr must be a number > 0, got {lr!r}")

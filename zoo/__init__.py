"""zoo: a PyTorch Lightning model zoo of deep generative models.

    import zoo
    zoo.list_models()                                   # ['ae', 'ae_conv', 'dae', ..., 'vae', 'vae_conv']
    model = zoo.create_model("vae", in_shape=(1, 28, 28), latent_dim=16)
    x = model.sample(16)                                # (16, 1, 28, 28), float in [0, 1]
    model = zoo.load("runs/vae/digits/.../checkpoints/last.ckpt")

``import zoo`` is light: the API's names and the subpackages load on first use (PEP 562), so the ``zoo``
command answers ``--help`` and ``list`` without importing torch. The registry imports the shipped methods,
and the weights the shipped index, the first time they are asked for a name.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_API = {
    "create_model": "zoo.registry",
    "list_models": "zoo.registry",
    "register_model": "zoo.registry",
    "Weights": "zoo.weights",
    "list_pretrained": "zoo.weights",
    "load": "zoo.weights",
}
_SUBPACKAGES = frozenset({
    "callbacks", "capabilities", "checkpoint_io", "data", "distributions", "errors", "factories", "images",
    "latent", "loggers", "losses", "methods", "metrics", "nets", "paths", "pretrained", "registry", "weights",
})

__all__ = ["Weights", "create_model", "list_models", "list_pretrained", "load", "register_model"]

if TYPE_CHECKING:
    from zoo.registry import create_model, list_models, register_model
    from zoo.weights import Weights, list_pretrained, load


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"zoo.{name}")
    else:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API, *_SUBPACKAGES})

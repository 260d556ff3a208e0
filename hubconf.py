"""torch.hub entry points: the zoo's registered models, with its shipped pretrained weights.

    model = torch.hub.load("<owner>/zoo", "dcgan", pretrained="fashion_mnist")   # weights: zoo.load("dcgan.fashion_mnist")
    model = torch.hub.load("<owner>/zoo", "vae", in_shape=(1, 28, 28))          # untrained: zoo.create_model("vae", ...)
    model = torch.hub.load("<owner>/zoo", "load", "dcgan.fashion_mnist")        # any name of `zoo list --pretrained`
    torch.hub.list("<owner>/zoo")

Each registered model name is an entry point (``torch.hub.list`` shows them); ``pretrained=<dataset>`` loads
the weights ``<model>.<dataset>`` (hash-checked, eval mode), anything else builds a fresh model from keyword
hyperparameters. The same names as ``zoo.list_models()`` and ``zoo.list_pretrained()``.
"""
from __future__ import annotations

from typing import Any as _Any

import zoo as _zoo

dependencies = ["torch", "torchvision", "lightning", "torchmetrics", "safetensors", "jsonargparse", "sklearn"]


def load(name: str, **kwargs: _Any):
    """A pretrained model by its full name (``"dcgan.fashion_mnist"``), in eval mode."""
    return _zoo.load(name, **kwargs)


def _entry_point(model_name: str):
    def entry(pretrained: str | None = None, **kwargs: _Any):
        if pretrained is not None:
            if kwargs:
                raise TypeError(f"pretrained weights fix the hyperparameters; drop {sorted(kwargs)}")
            return _zoo.load(f"{model_name}.{pretrained}")
        return _zoo.create_model(model_name, **kwargs)

    datasets = sorted(name.split(".", 1)[1] for name in _zoo.list_pretrained(f"{model_name}.*"))
    entry.__name__ = entry.__qualname__ = model_name
    entry.__doc__ = (
        f"zoo's {model_name!r}: ``pretrained=`` one of {datasets} loads shipped weights (eval mode); "
        f"otherwise ``zoo.create_model({model_name!r}, **kwargs)``."
    )
    return entry


for _name in _zoo.list_models():
    globals()[_name] = _entry_point(_name)

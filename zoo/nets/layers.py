"""Small building blocks shared by the nets."""
from __future__ import annotations

import math

from torch import nn

from zoo.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


def activation_layer(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def positive(name: str, value: int) -> int:
    if int(value) < 1:
        raise ConfigError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)

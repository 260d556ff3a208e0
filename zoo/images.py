"""The image contract in one place: public images are float tensors in [0, 1], shape (N, C, H, W)."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from zoo.errors import ConfigError

ImageShape = tuple[int, int, int]


def image_shape(value: Sequence[int], name: str = "in_shape") -> ImageShape:
    """Validate and normalise a (C, H, W) shape; lists from YAML become a tuple of ints."""
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be (channels, height, width), got {value!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"{name} must be three positive ints (channels, height, width), got {value!r}")
    return shape  # type: ignore[return-value]


def check_images(x: torch.Tensor, shape: ImageShape) -> torch.Tensor:
    """Refuse a batch whose per-image shape is not ``shape``, saying how to make them agree."""
    if x.dim() != 4 or tuple(x.shape[1:]) != shape:
        raise ConfigError(
            f"images of shape {tuple(x.shape[1:])} do not match the model's in_shape {shape}; build the model "
            f"with in_shape={tuple(x.shape[1:])} or resize the data (e.g. the datamodule's size=)"
        )
    return x


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1], for nets with a tanh output (DCGAN's convention)."""
    return x * 2 - 1


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped: the public range."""
    return ((x + 1) / 2).clamp(0, 1)

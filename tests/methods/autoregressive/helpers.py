"""What the autoregressive family's tests share: every image of a tiny grid (to sum probabilities over), sample
frequencies over that support, and the one-line check of an error."""
from __future__ import annotations

import itertools

import pytest
import torch


def all_images(channels: int, height: int, width: int, levels: int) -> torch.Tensor:
    """Every image of (channels, height, width) on the ``levels`` grid: (levels ** D, C, H, W)."""
    grid = [i / (levels - 1) for i in range(levels)]
    images = list(itertools.product(grid, repeat=channels * height * width))
    return torch.tensor(images).view(-1, channels, height, width)


def frequencies(images: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """The share of ``images`` equal to each image of ``support``; asserts that none is off the support."""
    matches = (images.flatten(1)[:, None, :] == support.flatten(1)[None]).all(-1)  # (n, |support|)
    assert bool(matches.any(1).all()), "a sample off the support"
    return matches.double().mean(0)


def one_line(error: pytest.ExceptionInfo) -> str:
    """The error's message, asserted to be one line."""
    message = str(error.value)
    assert "\n" not in message
    return message

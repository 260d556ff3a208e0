"""A small convolutional classifier: the domain feature extractor of zoo/metrics for small grey datasets.

Inception features of 8x8 or 28x28 grey images are weak (they are upsampled ~10-40x to 299x299), and the
Inception weights are unavailable offline; a classifier trained on the dataset itself gives features that
separate its classes. FID/KID/precision-recall read its penultimate features, IS its logits.

Layout (all 3x3 convolutions, batch norm, ReLU):

    stem conv (C -> width) at full resolution
    stages: stride-2 conv (doubling channels) + conv, until both sides are <= 7   (28 -> 14 -> 7, 8 -> 4)
    flatten -> linear -> ReLU               = the penultimate features, (N, feature_dim)
    dropout -> linear                       = the logits, (N, num_classes)

Kept small so its weights ship in the repository: 47,610 parameters for the digits (width 16, 64 features)
and 118,626 for Fashion-MNIST (width 8, 64 features), 0.2 and 0.5 MB as float32 safetensors.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo.images import image_shape
from zoo.nets.layers import positive

MAX_SIDE = 7  # stop downsampling once both sides are this small: MNIST-like 28 -> 14 -> 7


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class Classifier(nn.Module):
    """(N, C, H, W) images in [0, 1] -> logits (N, num_classes), with the penultimate features exposed.

    Args:
        in_shape: (C, H, W) of the images.
        num_classes: number of labels.
        width: channels of the stem; each downsampling stage doubles them.
        feature_dim: size of the penultimate layer (the features FID/KID read).
        dropout: dropout before the last linear layer (training only).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int = 10,
        *,
        width: int = 16,
        feature_dim: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        c, h, w = self.in_shape = image_shape(in_shape)
        self.num_classes = positive("num_classes", num_classes)
        self.feature_dim = positive("feature_dim", feature_dim)
        channels = positive("width", width)
        # what rebuilds this net from a weights file (zoo/metrics/extractors.py)
        self.init_args = {
            "in_shape": [c, h, w], "num_classes": num_classes, "width": width, "feature_dim": feature_dim,
            "dropout": dropout,
        }
        layers = _conv_bn_relu(c, channels)
        while max(h, w) > MAX_SIDE:
            layers += _conv_bn_relu(channels, 2 * channels, stride=2) + _conv_bn_relu(2 * channels, 2 * channels)
            channels, h, w = 2 * channels, (h + 1) // 2, (w + 1) // 2
        self.body = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(channels * h * w, feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features, (N, feature_dim), non-negative (after ReLU)."""
        return self.embed(self.body(x))  # (N, C', h, w) -> (N, C' * h * w) -> (N, feature_dim)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) from the penultimate features."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

"""Feature extractors: the networks FID, KID, IS and precision/recall read images through.

Input contract (every extractor): zoo images, float in [0, 1], shape (N, C, H, W) — the same tensors
``model.sample`` returns and the datamodules yield. Each extractor converts them to what its network
expects (Inception: uint8 RGB; a domain classifier: the float images as they are) and returns

    {"features": (N, feature_dim), "logits": (N, num_classes)}

from one forward pass: FID, KID and precision/recall read ``features``, IS reads ``logits``.

torchmetrics takes a custom network as ``feature=``: an ``nn.Module`` whose output is (N, d). Each metric
gets a :class:`FeatureView` of the *same* extractor (one set of weights for FID, KID and IS). A view run on
images runs the extractor; a view given an (N, d) tensor of that extractor's own outputs passes it through,
so :class:`zoo.metrics.SampleQuality` runs the network once per batch for all metrics and feeds cached
real-data features without recomputing them. Views return float64, so torchmetrics accumulates the
statistics (means, covariances, kernels, softmaxes) in float64.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.errors import ConfigError
from zoo.images import ImageShape
from zoo.nets.classifier import Classifier

OUTPUTS = ("features", "logits")


class FeatureExtractor(nn.Module):
    """Base: zoo images -> ``{"features", "logits"}``. Subclasses set the attributes and ``extract``.

    Attributes:
        name: how metric names call it (``fid_<name>``).
        sha256: hash of its weights file (recorded with every number).
        feature_dim, num_classes: widths of the two outputs.
        in_shape: (C, H, W) it reads, or None when it resizes any size itself.
        resize: what happens to the images before the network, in words (recorded with every number).
    """

    name: str
    sha256: str
    feature_dim: int
    num_classes: int
    in_shape: ImageShape | None = None
    resize: str = "none"

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dim() != 4 or not images.is_floating_point():
            raise ConfigError(
                f"extractor {self.name!r} reads float images (N, C, H, W) in [0, 1], got a {images.dtype} tensor "
                f"of shape {tuple(images.shape)}"
            )
        if self.in_shape is not None and tuple(images.shape[1:]) != self.in_shape:
            raise ConfigError(
                f"extractor {self.name!r} reads {self.in_shape} images, got {tuple(images.shape[1:])}; evaluate at "
                f"the size it was trained on, or use the inception extractor, which resizes any size"
            )
        with torch.no_grad():
            return self.extract(images)

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def view(self, output: str) -> FeatureView:
        return FeatureView(self, output)

    def protocol(self) -> dict[str, object]:
        """What a reported number needs to say about the extractor."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "feature_dim": self.feature_dim,
            "num_classes": self.num_classes,
            "resize": self.resize,
        }


class FeatureView(nn.Module):
    """One output of a shared extractor as torchmetrics' ``feature=`` module: (N, d) float64.

    Called on images (N, C, H, W) it runs the extractor; called on an (N, d) tensor — this extractor's own
    ``output`` for some images, computed earlier — it returns it unchanged (as float64).
    """

    def __init__(self, extractor: FeatureExtractor, output: str) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ConfigError(f"unknown extractor output {output!r}; choose one of {OUTPUTS}")
        self.extractor = extractor
        self.output = output
        # torchmetrics' FID reads this instead of running a dummy image through the network
        self.num_features = extractor.feature_dim if output == "features" else extractor.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            if x.shape[1] != self.num_features:
                raise ConfigError(
                    f"precomputed {self.output} of width {x.shape[1]} do not come from extractor "
                    f"{self.extractor.name!r}, whose {self.output} have width {self.num_features}"
                )
            return x.double()
        return self.extractor(x)[self.output].double()


class ClassifierFeatures(FeatureExtractor):
    """A domain classifier (zoo/nets/classifier.py): its penultimate features and its logits.

    The images go in as they are (float [0, 1], the classifier's training input), at the size it was
    trained on; no resize."""

    def __init__(self, net: Classifier, *, name: str, sha256: str) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.name, self.sha256 = name, sha256
        self.feature_dim, self.num_classes = net.feature_dim, net.num_classes
        self.in_shape = net.in_shape
        self.resize = f"none (native {net.in_shape[1]}x{net.in_shape[2]})"

    def train(self, mode: bool = True) -> ClassifierFeatures:
        return super().train(False)  # batch norm must keep its running statistics, whoever calls .train()

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.net.forward_features(images.to(self.net.head[-1].weight))
        return {"features": features, "logits": self.net.forward_head(features)}

"""The Inception feature extractor of FID/KID/IS, with the protocol of torch-fidelity and the TF original.

FID: Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium",
NeurIPS 2017, arXiv:1706.08500. IS: Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
arXiv:1606.03498. KID: Binkowski et al., "Demystifying MMD GANs", ICLR 2018, arXiv:1801.01401.

Protocol (that of torch-fidelity, which reproduces the TensorFlow reference numbers):

- network: torch-fidelity's ``FeatureExtractorInceptionV3`` (the class torchmetrics' FID wraps) with the
  2015-12-05 TF Inception weights converted by torch-fidelity, ``weights-inception-2015-12-05-6726825d.pth``;
- input: zoo images in [0, 1] rounded to uint8 (nearest level, as ``save_image`` writes PNGs, so a dataset's
  8-bit images come back exactly), grey images repeated to 3 channels;
- resize: bilinear to 299x299 without antialiasing, TF1-compatible (torchmetrics' ``antialias=False``);
- outputs: the 2048-d pool features (FID, KID, precision/recall) and the 1008 ``logits_unbiased`` (IS,
  as torch-fidelity and torchmetrics compute it), both from one forward pass.

Where the weights come from, in order: the ``path`` argument (``zoo evaluate --inception-weights``),
``$ZOO_INCEPTION_WEIGHTS``, then ``$ZOO_HOME/weights/`` — downloaded there from torch-fidelity's release
when missing and allowed, its sha256 checked against the prefix in its name (torch.hub's convention). A file
is read with ``torch.load(weights_only=True)`` before torch-fidelity loads it, so a file that would run code
is refused. Its full sha256 is recorded with every number; a file whose hash does not start with the
published prefix (a converted copy, a test's random weights) gives a warning, since its numbers are not
comparable with published ones.
"""
from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_inceptionv3 import (
    URL_INCEPTION_V3,
    FeatureExtractorInceptionV3,
)

from zoo.errors import ConfigError, WeightsError
from zoo.metrics.features import FeatureExtractor
from zoo.paths import zoo_home
from zoo.weights import sha256_of

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = URL_INCEPTION_V3
INCEPTION_SHA256_PREFIX = "6726825d"  # the hash in the file name: the first 8 hex digits of its sha256
INCEPTION_ENV = "ZOO_INCEPTION_WEIGHTS"
INCEPTION_SIZE = FeatureExtractorInceptionV3.INPUT_IMAGE_SIZE  # 299
FEATURES, LOGITS = "2048", "logits_unbiased"  # torch-fidelity's layer names


def inception_weights_path(path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """The Inception weights file: ``path``, else ``$ZOO_INCEPTION_WEIGHTS``, else the cached (or now
    downloaded) copy under ``$ZOO_HOME/weights``. A directory stands for the file of that name in it."""
    given = path if path is not None else os.environ.get(INCEPTION_ENV) or None
    if given is not None:
        where = Path(given).expanduser()
        where = where / INCEPTION_FILE if where.is_dir() else where
        source = "--inception-weights" if path is not None else f"${INCEPTION_ENV}"
        if not where.is_file():
            raise WeightsError(_missing(where, f"{source} names {where}, which does not exist"))
        return where
    where = zoo_home() / "weights" / INCEPTION_FILE
    if not where.is_file():
        if not download:
            raise WeightsError(_missing(where, "downloads are off"))
        _download(where)
    return where


def _missing(where: Path, reason: str) -> str:
    return (
        f"Inception weights {INCEPTION_FILE} not found ({reason}); download {INCEPTION_URL} on a machine with "
        f"network access and put it at {where}, or point --inception-weights or ${INCEPTION_ENV} at the file"
    )


def _download(where: Path) -> None:
    """Fetch the weights through a temporary file; keep them only if their hash has the published prefix."""
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = where.with_name(where.name + ".part")
    try:
        torch.hub.download_url_to_file(INCEPTION_URL, str(tmp), hash_prefix=INCEPTION_SHA256_PREFIX, progress=True)
        os.replace(tmp, where)
    except (OSError, RuntimeError, ValueError) as err:  # URLError, HTTPError, timeouts; a bad hash: RuntimeError
        raise WeightsError(_missing(where, f"the download failed: {err}")) from None
    finally:
        tmp.unlink(missing_ok=True)


class InceptionFeatures(FeatureExtractor):
    """torch-fidelity's InceptionV3: zoo images -> 2048-d pool features and 1008 unbiased logits."""

    name = "inception"
    feature_dim = 2048
    num_classes = 1008
    resize = (
        f"uint8 (rounded), grey repeated to RGB, bilinear to {INCEPTION_SIZE}x{INCEPTION_SIZE} without "
        "antialiasing (torch-fidelity's TF1-compatible resize)"
    )

    def __init__(self, path: str | os.PathLike | None = None, *, download: bool = True) -> None:
        super().__init__()
        self.weights_path = inception_weights_path(path, download=download)
        try:  # refuse anything but plain tensors before torch-fidelity unpickles the file
            torch.load(self.weights_path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
            raise WeightsError(
                f"{self.weights_path} is not a readable weights file ({err}); download {INCEPTION_URL} again"
            ) from None
        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", [FEATURES, LOGITS], feature_extractor_weights_path=str(self.weights_path)
            )
        except RuntimeError as err:  # load_state_dict: missing or mismatched keys
            raise WeightsError(
                f"{self.weights_path} does not hold torch-fidelity's InceptionV3 weights ({err}); "
                f"download {INCEPTION_URL}"
            ) from None
        self.sha256 = sha256_of(self.weights_path)
        if not self.sha256.startswith(INCEPTION_SHA256_PREFIX):
            warnings.warn(
                f"{self.weights_path} has sha256 {self.sha256}, not the published {INCEPTION_FILE} "
                f"(sha256 {INCEPTION_SHA256_PREFIX}...): its FID/KID/IS are not comparable with published numbers",
                stacklevel=2,
            )

    def train(self, mode: bool = True) -> InceptionFeatures:
        return super().train(False)  # batch norm keeps the TF statistics

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        channels = images.shape[1]
        if channels not in (1, 3):
            raise ConfigError(f"Inception reads grey or RGB images, got {channels} channels")
        x = (images.clamp(0, 1) * 255).round().to(torch.uint8)  # (N, C, H, W) uint8
        if channels == 1:
            x = x.expand(-1, 3, -1, -1)
        features, logits = self.net(x)
        return {"features": features, "logits": logits}

    def protocol(self) -> dict[str, object]:
        return {
            **super().protocol(),
            "weights": INCEPTION_FILE,
            "official_weights": self.sha256.startswith(INCEPTION_SHA256_PREFIX),
        }

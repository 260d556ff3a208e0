"""The Inception path, through the real loading code, with a weights file made here (random weights, the
real file name and format: torch-fidelity's InceptionV3 state dict saved with torch.save). No download."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

from zoo.errors import WeightsError
from zoo.metrics import SampleQuality, get_extractor
from zoo.metrics.inception import (
    INCEPTION_FILE,
    INCEPTION_URL,
    InceptionFeatures,
    inception_weights_path,
)

NOT_OFFICIAL = "not comparable with published numbers"


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory) -> Path:
    """torch-fidelity's architecture with its random initial weights, in the published file's format."""
    torch.manual_seed(0)
    with pytest.MonkeyPatch.context() as mp:  # build the net without fetching or loading any weights
        mp.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        mp.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state_dict: None)
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / INCEPTION_FILE
    torch.save(net.state_dict(), path)
    return path


def test_features_of_grey_images_through_the_real_loading_code(random_inception_weights):
    with pytest.warns(UserWarning, match=NOT_OFFICIAL):
        extractor = InceptionFeatures(random_inception_weights)
    assert extractor.sha256 == hashlib.sha256(random_inception_weights.read_bytes()).hexdigest()
    assert extractor.protocol()["official_weights"] is False
    grey = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = extractor(grey)
    assert out["features"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    assert torch.isfinite(out["features"]).all() and torch.isfinite(out["logits"]).all()
    # the protocol: [0, 1] rounded to uint8, grey repeated to RGB, then torch-fidelity's own network and
    # resize; its FID layer, loaded from the same file by torch-fidelity itself, gives the same features
    uint8_rgb = (grey * 255).round().to(torch.uint8).expand(-1, 3, -1, -1)
    reference = tf_inception.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(random_inception_weights)
    )
    torch.testing.assert_close(reference(uint8_rgb)[0], out["features"])


def test_fid_kid_and_is_share_the_configured_network(random_inception_weights):
    with pytest.warns(UserWarning, match=NOT_OFFICIAL):
        extractor = get_extractor("inception", inception_weights=str(random_inception_weights))
    quality = SampleQuality(extractor, ["fid", "kid", "is"], kid_subset_size=2, kid_subsets=2, is_splits=2)
    for module in (quality.fid.inception, quality.kid.inception, quality.inception_score.inception):
        assert module.extractor is extractor  # one set of weights, not torchmetrics' default download
    # one forward pass for all three metrics (4 images at 299x299 on CPU), fed as outputs
    outputs = extractor(torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1)))
    quality.update_outputs({k: v[:2] for k, v in outputs.items()}, real=True)
    quality.update_outputs({k: v[2:] for k, v in outputs.items()}, real=False)
    values = quality.compute()
    assert set(values) >= {"fid_inception", "kid_inception", "is_inception"}
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())


def test_weights_are_found_through_the_environment_and_zoo_home(
    random_inception_weights, monkeypatch, isolated_zoo_home
):
    monkeypatch.setenv("ZOO_INCEPTION_WEIGHTS", str(random_inception_weights))
    assert inception_weights_path() == random_inception_weights
    monkeypatch.setenv("ZOO_INCEPTION_WEIGHTS", str(random_inception_weights.parent))  # a folder holding it
    assert inception_weights_path() == random_inception_weights
    monkeypatch.delenv("ZOO_INCEPTION_WEIGHTS")
    cached = isolated_zoo_home / "weights" / INCEPTION_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(random_inception_weights.read_bytes())
    assert inception_weights_path(download=False) == cached


def test_missing_weights_name_the_file_the_url_and_where_to_put_them(isolated_zoo_home, monkeypatch):
    monkeypatch.delenv("ZOO_INCEPTION_WEIGHTS", raising=False)
    target = isolated_zoo_home / "weights" / INCEPTION_FILE
    with pytest.raises(WeightsError) as error:
        inception_weights_path(download=False)
    for part in (INCEPTION_FILE, INCEPTION_URL, str(target), "--inception-weights", "$ZOO_INCEPTION_WEIGHTS"):
        assert part in str(error.value)
    # allowed to download, but offline (the suite refuses connections): the same advice, and no partial file
    with pytest.raises(WeightsError, match="the download failed") as error:
        inception_weights_path()
    assert INCEPTION_URL in str(error.value) and str(target) in str(error.value)
    assert not list(target.parent.glob("*"))
    with pytest.raises(WeightsError, match="names /no/such.pth, which does not exist"):
        inception_weights_path("/no/such.pth")


def test_a_download_is_kept_only_with_the_published_hash_prefix(
    random_inception_weights, isolated_zoo_home, monkeypatch
):
    """The real download function is called with the hash prefix; torch.hub refuses a file without it."""
    monkeypatch.delenv("ZOO_INCEPTION_WEIGHTS", raising=False)
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        Path(dst).write_bytes(random_inception_weights.read_bytes())
        digest = hashlib.sha256(Path(dst).read_bytes()).hexdigest()
        if hash_prefix is not None and not digest.startswith(hash_prefix):  # what torch.hub does
            raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{digest}")')

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(WeightsError, match="invalid hash value"):
        inception_weights_path()
    assert calls == [(INCEPTION_URL, "6726825d")]
    assert not (isolated_zoo_home / "weights" / INCEPTION_FILE).exists()


def test_a_file_that_is_not_plain_tensors_is_refused(tmp_path):
    path = tmp_path / INCEPTION_FILE
    torch.save({"net": torch.nn.Linear(2, 2)}, path)  # a pickled module: loading it could run code
    with pytest.raises(WeightsError, match="is not a readable weights file"):
        InceptionFeatures(path)
    torch.save({"fc.weight": torch.zeros(3)}, path)
    with pytest.raises(WeightsError, match="does not hold torch-fidelity's InceptionV3 weights"):
        InceptionFeatures(path)

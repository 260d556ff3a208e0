"""FID/KID/IS/precision-recall through torchmetrics and torch-fidelity, on features given directly.

FID is checked against a float64 NumPy/SciPy reference (scipy.linalg.sqrtm) computed here."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from zoo.errors import ConfigError
from zoo.metrics import FeatureExtractor, SampleQuality, precision_recall


class PixelFeatures(FeatureExtractor):
    """Features = the flattened pixels, logits = the same: lets a test choose the features exactly."""

    name = "pixels"
    sha256 = "0" * 64

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.feature_dim = self.num_classes = dim

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = images.flatten(1)
        return {"features": flat, "logits": flat}


def gaussian(n: int, mean: torch.Tensor, scale: torch.Tensor, seed: int) -> torch.Tensor:
    """n samples of N(mean, scale scale^T), float64."""
    eps = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return mean.double() + eps @ scale.double().T


def reference_fid(x: np.ndarray, y: np.ndarray) -> float:
    """||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2)), as in Heusel et al. 2017, in float64."""
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_x @ s_y).real
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(s_x + s_y - 2 * covmean))


def fid_of(real: torch.Tensor, fake: torch.Tensor) -> float:
    quality = SampleQuality(PixelFeatures(real.shape[1]), ["fid"])
    quality.update_outputs({"features": real}, real=True)
    quality.update_outputs({"features": fake}, real=False)
    return quality.compute()["fid_pixels"]


def test_fid_of_a_feature_set_against_itself_is_zero():
    x = gaussian(1000, torch.zeros(8), torch.eye(8) + 0.3, seed=0)
    torch.testing.assert_close(fid_of(x, x), 0.0, atol=1e-6, rtol=0)


def test_fid_between_two_gaussians_matches_a_scipy_reference():
    d = 8
    scale_a = torch.eye(d) + 0.2 * torch.randn(d, d, generator=torch.Generator().manual_seed(1))
    x = gaussian(2000, torch.zeros(d), scale_a, seed=2)
    y = gaussian(2000, torch.full((d,), 0.5), 0.7 * torch.eye(d), seed=3)
    expected = reference_fid(x.numpy(), y.numpy())
    assert expected > 2.0  # the two distributions really differ: the check below is not 0 == 0
    torch.testing.assert_close(fid_of(x, y), expected, rtol=1e-6, atol=1e-8)


def test_fid_from_images_equals_fid_from_their_features():
    """The FeatureView given to torchmetrics runs the extractor on images, or passes its outputs through."""
    extractor = PixelFeatures(4)
    real, fake = torch.rand(300, 1, 2, 2, generator=torch.Generator().manual_seed(0)), torch.rand(300, 1, 2, 2) * 0.8
    from_images = SampleQuality(extractor, ["fid"])
    from_images.update(real, real=True)
    from_images.update(fake, real=False)
    torch.testing.assert_close(from_images.compute()["fid_pixels"], fid_of(real.flatten(1), fake.flatten(1)))


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    d = 4
    real = gaussian(1000, torch.zeros(d), torch.eye(d), seed=0).float()
    same = gaussian(1000, torch.zeros(d), torch.eye(d), seed=1).float()
    other = gaussian(1000, torch.ones(d), torch.eye(d), seed=2).float()
    values = {}
    for name, fake in (("same", same), ("other", other)):
        quality = SampleQuality(PixelFeatures(d), ["kid"], kid_subsets=20, kid_subset_size=500)
        quality.update_outputs({"features": real}, real=True)
        quality.update_outputs({"features": fake}, real=False)
        values[name] = quality.compute(seed=0)
    # unbiased MMD^2: mean 0 for one distribution; measured 0.0004 +- 0.004 vs 1.3 for a shift of 1 per dim
    assert abs(values["same"]["kid_pixels"]) < 0.02
    assert values["other"]["kid_pixels"] > 0.5
    # seeded subsets: the same seed gives the same value
    quality = SampleQuality(PixelFeatures(d), ["kid"], kid_subsets=20, kid_subset_size=500)
    quality.update_outputs({"features": real}, real=True)
    quality.update_outputs({"features": other}, real=False)
    assert quality.compute(seed=0) == values["other"]


def test_kid_refuses_fewer_samples_than_its_subset_size():
    quality = SampleQuality(PixelFeatures(2), ["kid"], kid_subset_size=100)
    quality.update_outputs({"features": torch.randn(200, 2)}, real=True)
    quality.update_outputs({"features": torch.randn(50, 2)}, real=False)
    with pytest.raises(ConfigError, match="subsets of 100 samples but got 200 real and 50 generated"):
        quality.compute()


def test_inception_score_of_confident_balanced_logits_is_the_number_of_classes():
    """p(y|x) one-hot and p(y) uniform: IS = exp(KL) = exp(log 10) = 10; one class only: IS = 1."""
    labels = torch.arange(10).repeat(1000)  # 10000 samples; each of the 10 shuffled splits is near balanced
    logits = 50.0 * torch.nn.functional.one_hot(labels, 10).double()
    quality = SampleQuality(PixelFeatures(10), ["is"])
    quality.update_outputs({"features": logits, "logits": logits}, real=False)
    # a shuffled split of 1000 is not exactly balanced: exp(H(p(y))) falls short of 10 by about 10 * 9 / 2000
    # (the entropy bias of a multinomial sample); measured 9.965
    torch.testing.assert_close(quality.compute(seed=0)["is_pixels"], 10.0, atol=0.1, rtol=0)
    collapsed = 50.0 * torch.nn.functional.one_hot(torch.zeros(1000, dtype=torch.long), 10).double()
    quality = SampleQuality(PixelFeatures(10), ["is"])
    quality.update_outputs({"features": collapsed, "logits": collapsed}, real=False)
    torch.testing.assert_close(quality.compute(seed=0)["is_pixels"], 1.0, atol=1e-6, rtol=0)


def test_precision_and_recall_separate_quality_from_coverage():
    real = gaussian(1000, torch.zeros(2), torch.eye(2), seed=0).float()
    same = gaussian(1000, torch.zeros(2), torch.eye(2), seed=1).float()
    far = same + 20.0
    collapsed = 0.05 * gaussian(1000, torch.zeros(2), torch.eye(2), seed=2).float()  # all near the mode
    p_same, r_same = precision_recall(real, same)
    assert p_same > 0.9 and r_same > 0.9  # measured 0.98 / 0.98
    assert precision_recall(real, far) == (0.0, 0.0)
    p_collapsed, r_collapsed = precision_recall(real, collapsed)
    assert p_collapsed == 1.0 and r_collapsed < 0.2  # good samples, little of the data covered (measured 0.05)


def test_sample_quality_names_its_metrics_after_the_extractor():
    quality = SampleQuality(PixelFeatures(3), ["fid", "kid", "is", "pr"], kid_subset_size=50, kid_subsets=5)
    for real in (True, False):
        quality.update(torch.rand(100, 1, 1, 3), real=real)
    assert set(quality.compute()) == {
        "fid_pixels", "kid_pixels", "kid_pixels_std", "is_pixels", "is_pixels_std", "precision_pixels", "recall_pixels",
    }
    with pytest.raises(ConfigError, match=r"unknown sample-quality metric\(s\) \['fdi'\]"):
        SampleQuality(PixelFeatures(3), ["fdi"])


def test_precomputed_features_of_another_width_are_refused():
    quality = SampleQuality(PixelFeatures(3), ["fid"])
    with pytest.raises(ConfigError, match="width 5 do not come from extractor 'pixels'"):
        quality.update_outputs({"features": torch.randn(10, 5)}, real=True)

"""Bottleneck autoencoder: learns to reconstruct held-out digits; samples come from the fitted code Gaussian."""
import lightning as L
import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError
from zoo.losses import squared_error


def test_learns_to_reconstruct_held_out_digits(digits_test_images):
    """Measured (seeds 0 and 1, 15 epochs): squared error per test image 1.35-1.48, against 4.71 for the
    best constant prediction (the mean image). Threshold: half the baseline, 2.36 (a margin of ~0.9)."""
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("ae", in_shape=(1, 8, 8), latent_dim=16)
    quiet_trainer(max_epochs=15).fit(model, DigitsDataModule(batch_size=100))
    x = digits_test_images
    with torch.no_grad():
        error = squared_error(model.eval().reconstruct(x), x).mean()
    baseline = squared_error(x.mean(0, keepdim=True).expand_as(x), x).mean()
    assert error < 0.5 * baseline, f"test reconstruction error {error:.2f} vs mean-image baseline {baseline:.2f}"

    # The running code statistics that ``sample`` draws from match the codes of the data.
    with torch.no_grad():
        codes = model.encode(x)
    torch.testing.assert_close(model.latent_mean, codes.mean(0), atol=0.5 * codes.std(0).mean().item(), rtol=0)


def test_latent_dim_must_be_positive():
    with pytest.raises(ConfigError, match="latent_dim must be >= 1, got 0"):
        zoo.create_model("ae", in_shape=(1, 8, 8), latent_dim=0)

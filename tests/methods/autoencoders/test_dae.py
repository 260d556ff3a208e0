"""Denoising autoencoder: the corruptions are what they claim, and the trained model denoises."""
import lightning as L
import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError
from zoo.losses import squared_error
from zoo.methods.autoencoders.dae import corrupt


def test_masking_noise_zeroes_the_requested_fraction():
    x = torch.full((200, 1, 8, 8), 0.7)
    x_tilde = corrupt(x, "masking", 0.25, torch.Generator().manual_seed(0))
    zeroed = (x_tilde == 0).float().mean()
    torch.testing.assert_close(zeroed, torch.tensor(0.25), atol=0.01, rtol=0)  # 12,800 pixels: sd ~0.004
    assert torch.equal(x_tilde[x_tilde != 0], x[x_tilde != 0])  # the rest is untouched


def test_salt_and_pepper_sets_half_of_the_hits_to_each_extreme():
    x = torch.full((200, 1, 8, 8), 0.5)
    x_tilde = corrupt(x, "salt_and_pepper", 0.4, torch.Generator().manual_seed(0))
    torch.testing.assert_close((x_tilde == 0).float().mean(), torch.tensor(0.2), atol=0.01, rtol=0)
    torch.testing.assert_close((x_tilde == 1).float().mean(), torch.tensor(0.2), atol=0.01, rtol=0)
    assert set(x_tilde.unique().tolist()) == {0.0, 0.5, 1.0}


def test_gaussian_noise_has_the_requested_std():
    x = torch.zeros(200, 1, 8, 8)
    noise = corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(0)) - x
    torch.testing.assert_close(noise.std(), torch.tensor(0.3), atol=0.01, rtol=0)
    torch.testing.assert_close(noise.mean(), torch.tensor(0.0), atol=0.01, rtol=0)


def test_denoises_held_out_digits_better_than_the_identity(digits_test_images):
    """Measured (seeds 0 and 1, 15 epochs, 25% masking): squared error of dae(x~) against x is 2.10-2.11
    per test image; the identity map (x~ itself) scores 3.72. Threshold: 0.75 x identity = 2.79."""
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("dae", in_shape=(1, 8, 8), latent_dim=32, noise="masking", noise_level=0.25)
    quiet_trainer(max_epochs=15).fit(model, DigitsDataModule(batch_size=100))
    x = digits_test_images
    x_tilde = corrupt(x, "masking", 0.25, torch.Generator().manual_seed(123))
    with torch.no_grad():
        denoised = squared_error(model.eval().reconstruct(x_tilde), x).mean()
    identity = squared_error(x_tilde, x).mean()
    assert denoised < 0.75 * identity, f"denoised error {denoised:.2f} vs identity {identity:.2f}"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"noise": "speckle"}, "unknown noise 'speckle'"),
        ({"noise": "masking", "noise_level": 1.5}, r"must be in \(0, 1\), got 1.5"),
        ({"noise": "gaussian", "noise_level": 0.0}, "must be > 0, got 0.0"),
    ],
)
def test_bad_noise_is_a_clear_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        zoo.create_model("dae", in_shape=(1, 8, 8), **kwargs)

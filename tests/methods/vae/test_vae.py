"""VAE: the ELBO is the bound it claims to be, and a short run on digits learns."""
import math

import lightning as L
import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError, InputError
from zoo.losses import bernoulli_log_likelihood, gaussian_kl


def negative_elbo(model, x: torch.Tensor) -> float:
    with torch.no_grad():
        return -model.eval().elbo(x, generator=torch.Generator().manual_seed(0)).mean().item()


def test_elbo_is_reconstruction_minus_kl_with_the_reparameterised_sample():
    torch.manual_seed(0)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=3).eval()
    x = torch.rand(6, 1, 8, 8)
    elbo = model.elbo(x, generator=torch.Generator().manual_seed(7))
    # the same computation spelled out: z = mu + sigma * eps with eps from the same seed
    mu, logvar = model.posterior(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(7))
    z = mu + torch.exp(0.5 * logvar) * eps
    expected = bernoulli_log_likelihood(model.decoder(z), x) - gaussian_kl(mu, logvar)
    torch.testing.assert_close(elbo, expected)
    assert elbo.shape == (6,)


def test_elbo_lower_bounds_a_brute_force_log_likelihood():
    """With a 1-D latent, log p(x) = log E_{p(z)} p(x|z) is computable by quadrature; ELBO must be below it."""
    torch.manual_seed(0)
    model = zoo.create_model("vae", in_shape=(1, 2, 2), latent_dim=1).eval()
    x = torch.rand(3, 1, 2, 2)
    z = torch.linspace(-8, 8, 4001).unsqueeze(1)  # grid over the prior's mass
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).squeeze(1)
    with torch.no_grad():
        log_px_z = torch.stack([bernoulli_log_likelihood(model.decoder(z), xi.expand(len(z), -1, -1, -1)) for xi in x])
        log_px = torch.logsumexp(log_px_z + log_prior, dim=1) + math.log(16 / 4000)
        elbos = torch.stack([model.elbo(x, generator=torch.Generator().manual_seed(s)) for s in range(200)]).mean(0)
    assert (elbos < log_px).all(), (elbos, log_px)


def test_learns_on_digits(digits_test_images):
    """Measured (seeds 0 and 1, 15 epochs, latent 8): -ELBO on the test digits falls from 44.3 nats
    (untrained) to 25.9-26.4. Thresholds: below 30 nats (margin ~3.6) and at least 10 nats better."""
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=8)
    untrained = negative_elbo(model, digits_test_images)
    quiet_trainer(max_epochs=15).fit(model.train(), DigitsDataModule(batch_size=100))
    trained = negative_elbo(model, digits_test_images)
    assert trained < 30.0, f"-ELBO {trained:.1f} nats after training"
    assert untrained - trained > 10.0, f"-ELBO went from {untrained:.1f} to {trained:.1f}"


def test_gaussian_decoder_learns_on_digits(digits_test_images):
    """Measured (seeds 0 and 1, 15 epochs): -ELBO 66.7 -> 50.7 nats. Threshold: 10 nats better."""
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=8, likelihood="gaussian")
    untrained = negative_elbo(model, digits_test_images)
    quiet_trainer(max_epochs=15).fit(model.train(), DigitsDataModule(batch_size=100))
    trained = negative_elbo(model, digits_test_images)
    assert untrained - trained > 10.0, f"-ELBO went from {untrained:.1f} to {trained:.1f}"
    assert model.log_std.item() < 0.0  # sigma shrank from its initial 1


def test_logs_both_elbo_terms():
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=4)
    # every batch a logging batch: the ELBO's parts are logged on those only
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, log_every_n_steps=1)
    trainer.fit(model, DigitsDataModule(batch_size=32))
    metrics = trainer.callback_metrics
    for key in ("train/loss", "train/reconstruction", "train/kl", "val/loss", "val/elbo", "val/kl"):
        assert key in metrics, key
    torch.testing.assert_close(metrics["val/loss"], metrics["val/reconstruction"] + metrics["val/kl"])


def test_training_logs_the_elbo_parts_only_on_logging_batches():
    """Lightning writes step metrics every log_every_n_steps batches; the ELBO's parts are logged then only
    (each self.log costs ~1.7 ms), the loss every batch while a progress bar shows it."""
    seen = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            metrics = trainer.callback_metrics
            seen.append(("train/kl" in metrics, float(metrics["train/loss"])))

    torch.manual_seed(0)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=4)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=4, log_every_n_steps=3, callbacks=[Record()],
                            enable_progress_bar=True)
    trainer.fit(model, DigitsDataModule(batch_size=32))
    assert [logged for logged, _ in seen] == [False, False, True, True]  # first written after batch 3
    assert len({loss for _, loss in seen}) == 4  # the loss is fresh every batch


def test_discretized_logistic_decoder_learns_digits_grey_levels():
    """p(x|z) a probability of digits' 17 grey levels, so the importance-weighted NLL (K = 100) is in nats of
    those very images (the uniform model: 64 ln 17 = 181.3). Measured (seeds 0 and 1, 15 epochs, latent 8):
    226.0 / 222.0 nats untrained -> 99.7 / 95.2 (the shared log scale from log 0.1 = -2.30 to -2.18 / -2.19).
    Thresholds: below 110 nats (margin ~10) and below the uniform model by 70."""
    dm = DigitsDataModule()
    dm.setup("test")
    x = torch.cat([batch[0] for batch in dm.test_dataloader()])
    L.seed_everything(0, verbose=False)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=8, likelihood="discretized_logistic", levels=17)
    assert model.likelihood_data == "n-level"
    quiet_trainer(max_epochs=15).fit(model.train(), DigitsDataModule(batch_size=100))
    nll = -model.eval().log_likelihood(x, k=100, generator=torch.Generator().manual_seed(0)).mean().item()
    assert nll < 110.0, f"NLL {nll:.1f} nats after training"
    assert 64 * math.log(17) - nll > 70.0
    # off the 17-level grid there is no probability: one line naming the quantisation
    with pytest.raises(InputError, match=r"models 17-level images \(pixels i/16 for i = 0..16\), got a pixel of 0.03"):
        model.log_likelihood(torch.full((1, 1, 8, 8), 0.03), k=2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"latent_dim": 0}, "latent_dim must be >= 1, got 0"),
        ({"likelihood": "poisson"}, "unknown likelihood 'poisson'"),
        ({"likelihood": "discretized_logistic", "levels": 1}, "levels must be an int >= 2"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        zoo.create_model("vae", in_shape=(1, 8, 8), **kwargs)


def test_lightning_load_from_checkpoint_rebuilds_injected_nets(tmp_path):
    from functools import partial

    from zoo.methods import VAE
    from zoo.nets import ConvDecoder, ConvEncoder

    model = VAE(
        in_shape=(1, 8, 8), latent_dim=4, encoder=partial(ConvEncoder, width=8), decoder=partial(ConvDecoder, width=8)
    )
    trainer = quiet_trainer(max_steps=1)
    trainer.fit(model, DigitsDataModule(batch_size=32))
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = VAE.load_from_checkpoint(tmp_path / "m.ckpt", weights_only=True)
    assert isinstance(loaded.encoder, ConvEncoder) and loaded.hparams["encoder"]["init_args"] == {"width": 8}
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)

"""beta-VAE: the two objectives against hand values, the capacity schedule, the nets, what stays a VAE (the ELBO
and the likelihood), bad input."""
from __future__ import annotations

import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from zoo.cli import main
from zoo.errors import ConfigError
from zoo.methods.vae.beta_vae import beta_vae_loss, capacity_at
from zoo.nets import BurgessDecoder, BurgessEncoder


def test_the_beta_objective_and_the_capacity_objective_against_hand_values():
    log_px_z, kl = torch.tensor([-100.0, -50.0]), torch.tensor([10.0, 30.0])
    torch.testing.assert_close(beta_vae_loss(log_px_z, kl, beta=4.0), torch.tensor([140.0, 170.0]))
    torch.testing.assert_close(beta_vae_loss(log_px_z, kl, beta=1.0), -(log_px_z - kl))  # the VAE's -ELBO
    # gamma |KL - C| with C = 25: |10 - 25| = 15, |30 - 25| = 5
    torch.testing.assert_close(beta_vae_loss(log_px_z, kl, beta=4.0, gamma=2.0, capacity=25.0),
                               torch.tensor([130.0, 60.0]))


def test_capacity_grows_linearly_then_stays():
    assert [capacity_at(s, 25.0, 100) for s in (0, 40, 100, 10_000)] == [0.0, 10.0, 25.0, 25.0]


@pytest.mark.parametrize("side, stages", [(64, 4), (32, 3)])
def test_burgess_nets_halve_to_4x4_and_come_back(side, stages):
    encoder, decoder = BurgessEncoder((1, side, side), 20), BurgessDecoder(10, (1, side, side))
    assert sum(isinstance(m, torch.nn.Conv2d) for m in encoder.modules()) == stages
    assert encoder(torch.zeros(2, 1, side, side)).shape == (2, 20)
    assert decoder(torch.zeros(2, 10)).shape == (2, 1, side, side)


def test_the_logged_elbo_is_the_true_elbo_and_the_likelihood_is_the_vaes():
    torch.manual_seed(0)
    model = zoo.create_model("beta_vae", in_shape=(1, 32, 32), latent_dim=4, beta=4.0).eval()
    x = (torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    torch.manual_seed(1)
    terms = model.objective(x)
    torch.manual_seed(1)
    log_px_z, kl = model.elbo_terms(x)
    torch.testing.assert_close(terms["elbo"], (log_px_z - kl).mean())
    torch.testing.assert_close(terms["loss"], (-log_px_z + 4.0 * kl).mean())
    vae = zoo.create_model("vae", in_shape=(1, 32, 32), latent_dim=4, encoder=model.hparams["encoder"],
                           decoder=model.hparams["decoder"]).eval()
    vae.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(0)
    expected = vae.log_likelihood(x, k=8, generator=g)
    torch.testing.assert_close(model.log_likelihood(x, k=8, generator=torch.Generator().manual_seed(0)), expected)


def test_the_capacity_follows_the_optimizer_steps_of_a_run():
    model = zoo.create_model("beta_vae", in_shape=(1, 32, 32), latent_dim=2, capacity=10.0, capacity_steps=4)
    assert model.current_capacity() == 0.0
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(16, 1, 32, 32).round()), batch_size=4)
    quiet_trainer(max_steps=3).fit(model, data)
    assert model.global_step == 3 and model.current_capacity() == pytest.approx(7.5)
    assert zoo.create_model("beta_vae", in_shape=(1, 32, 32)).current_capacity() is None


@pytest.mark.parametrize("kwargs, message", [
    ({"beta": -1.0}, "beta must be a number >= 0"),
    ({"capacity": -5.0}, "capacity must be >= 0 nats or null"),
    ({"capacity_steps": 0}, "capacity_steps must be an int >= 1"),
    ({"gamma": -1.0}, "gamma must be >= 0"),
    ({"in_shape": (1, 28, 28)}, "take square images of side 4 \\* 2\\^k"),
])
def test_bad_settings_are_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message) as error:
        zoo.create_model("beta_vae", **{"in_shape": (1, 64, 64), **kwargs})
    assert "\n" not in str(error.value)


def test_cli_refuses_a_negative_beta_in_one_line(capsys):
    assert main(["fit", "--config", "recipes/beta_vae/sprites.yaml", "--model.init_args.beta=-2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "beta must be a number >= 0" in err and "-2" in err, err


class CodeImage:
    """decode(z) = z itself as a (1, 1, D) image: a traversal's codes can be read off its images."""

    latent_dim = 3

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(-1, 1, 1, self.latent_dim)


def test_a_traversal_sweeps_one_dimension_per_row_and_holds_the_others():
    from zoo.latent import traversal_grid

    codes = traversal_grid(CodeImage(), 3, limit=2.0, base=torch.tensor([0.5, 0.6, 0.7])).view(3, 3, 3)
    expected = torch.tensor([[[-2.0, 0.6, 0.7], [0.0, 0.6, 0.7], [2.0, 0.6, 0.7]],
                             [[0.5, -2.0, 0.7], [0.5, 0.0, 0.7], [0.5, 2.0, 0.7]],
                             [[0.5, 0.6, -2.0], [0.5, 0.6, 0.0], [0.5, 0.6, 2.0]]])
    torch.testing.assert_close(codes, expected)
    torch.testing.assert_close(traversal_grid(CodeImage(), 2).view(3, 2, 3)[0, :, 1:], torch.zeros(2, 2))
    for kwargs, message in (({"steps": 1}, "steps must be >= 2"), ({"steps": 3, "limit": 0.0}, "limit must be > 0"),
                            ({"steps": 3, "base": torch.zeros(2)}, "base must be one code of 3 values, got 2")):
        with pytest.raises(ConfigError, match=message):
            traversal_grid(CodeImage(), **kwargs)


def test_zoo_sample_traverse_writes_one_row_per_latent(tmp_path, capsys):
    from PIL import Image

    from zoo.weights import save_safetensors

    torch.manual_seed(0)
    save_safetensors(zoo.create_model("beta_vae", in_shape=(1, 32, 32), latent_dim=5), tmp_path / "m.safetensors")
    out = tmp_path / "traversal.png"
    assert main(["sample", str(tmp_path / "m.safetensors"), "--traverse", "--steps", "7", "--out", str(out)]) == 0
    assert "latent traversals (5 rows" in capsys.readouterr().out
    with Image.open(out) as grid:  # torchvision's grid: 2-pixel padding around 32x32 images
        assert grid.size == (7 * 34 + 2, 5 * 34 + 2)
    assert main(["sample", str(tmp_path / "m.safetensors"), "--traverse", "--limit", "-1", "--out", str(out)]) == 2
    assert "limit must be > 0" in capsys.readouterr().err


def sprites_elbo_after_training(seed: int, steps: int = 900) -> float:
    """The one-sample test ELBO (nats, 500 test sprites) of a beta-VAE (beta = 4, 10 latents, Adam 1e-3, batch 64)
    trained ``steps`` steps on the 32x32 sprites, on one thread."""
    import lightning as L

    from zoo.data import SpritesDataModule

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        L.seed_everything(seed, verbose=False)
        data = SpritesDataModule(variant="xy_rotation", batch_size=64, seed=seed)
        model = zoo.create_model("beta_vae", in_shape=(1, 32, 32), latent_dim=10, beta=4.0,
                                 optimizer={"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3}})
        quiet_trainer(max_steps=steps, limit_val_batches=0).fit(model, data)
    finally:
        torch.set_num_threads(threads)
    data.setup("test")
    x = next(iter(torch.utils.data.DataLoader(data.load_test(), batch_size=500)))[0]
    with torch.no_grad():
        return model.eval().elbo(x, generator=torch.Generator().manual_seed(0)).mean().item()


# seed 1 runs with -m slow: each seed is ~50 s of the default suite's budget
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_learns_the_sprites(seed):
    """900 steps (~55 CPU seconds): the test ELBO reaches -41.7 and -42.1 nats (seeds 0 and 1). The best model
    that ignores the image, the per-pixel mean (lit fraction) as a Bernoulli, scores -191.3 nats, where runs sit
    for their first few hundred steps (seed 0 at 300 steps, with Adam 1e-3 or the recipe's 5e-4) until the code
    starts to carry the position: at 600 steps one run was at -43.5 and another at -100.1. Threshold -120: far
    from the mean image."""
    elbo = sprites_elbo_after_training(seed)
    assert elbo > -120.0, f"test ELBO {elbo:.1f} nats"

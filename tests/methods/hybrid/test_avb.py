"""Adversarial variational Bayes: the adversary learns the KL of a Gaussian encoder (known in closed form), the
two players' objectives, the likelihood estimate against a brute-force integral, bad input in one line, and the
model learning on digits."""
import math

import lightning as L
import pytest
import torch
from torch import nn

import zoo
from tests.conftest import quiet_trainer
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError
from zoo.losses import gaussian_kl
from zoo.methods import AdversarialVariationalBayes

JOINT = {"class_path": "zoo.nets.JointDiscriminator", "init_args": {"x_features": 32, "hidden": [32], "dropout": 0.0}}
NETS = {"encoder": JOINT, "adversary": JOINT,
        "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [32]}}}


def small_model(latent_dim: int = 2, **kwargs) -> AdversarialVariationalBayes:
    L.seed_everything(0, verbose=False)
    return zoo.create_model("avb", in_shape=(1, 8, 8), latent_dim=latent_dim, **{**NETS, **kwargs})


class GaussianEncoder(nn.Module):
    """E(x, eps) = A x + sigma * eps: q(z|x) = N(A x, sigma^2 I), so KL(q || p) is known in closed form."""

    def __init__(self, in_features: int, latent_dim: int, sigma: float) -> None:
        super().__init__()
        self.a = nn.Linear(in_features, latent_dim, bias=False)
        nn.init.normal_(self.a.weight, 0.0, 0.15)
        self.sigma = sigma

    def mean(self, x_signed: torch.Tensor) -> torch.Tensor:
        return self.a(x_signed.flatten(1))

    def forward(self, x_signed: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.mean(x_signed) + self.sigma * eps


def adversary_kl_estimate(seed: int, steps: int = 3000) -> tuple[torch.Tensor, torch.Tensor]:
    """(E_q T(x, z), the analytic mean KL) for a fixed Gaussian encoder q(z|x) = N(0, 0.5^2 I) (latent 2) on
    the digits, after ``steps`` adversary steps of 512 images (Adam 1e-3, then 1e-4)."""
    model = small_model(adversary={"class_path": "zoo.nets.JointDiscriminator", "init_args": {
        "x_features": 16, "hidden": [64, 64], "dropout": 0.0,
        "x_net": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [64]}}}})
    torch.manual_seed(seed)
    model.encoder = GaussianEncoder(64, 2, sigma=0.5).requires_grad_(False)
    torch.nn.init.zeros_(model.encoder.a.weight)
    dm = DigitsDataModule(batch_size=256)
    dm.setup("fit")
    x = torch.cat([b[0] for b in dm.train_dataloader()])
    optimizer = torch.optim.Adam(model.adversary.parameters(), lr=1e-3)
    # the last third at lr 1e-4: the final T is not one of the noisy iterates of a constant rate
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [2 * steps // 3], gamma=0.1)
    for _ in range(steps):
        loss = model.objective("adversary", (x[torch.randint(len(x), (512,))], torch.zeros(512)), {})["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        x = x.repeat(4, 1, 1, 1)
        estimate = model.log_ratio(x, model.posterior_sample(x)).mean()
        mu = model.encoder.mean(x * 2 - 1)
        analytic = gaussian_kl(mu, torch.full_like(mu, math.log(0.25))).mean()
    return estimate, analytic


def test_adversary_learns_the_kl_of_a_gaussian_encoder():
    """T's optimum is log q(z|x) - log p(z), so E_q T(x, z) is KL(q(z|x) || p(z)) (Proposition 1). A fixed
    Gaussian encoder on the digits, q(z|x) = N(0, 0.5^2 I) in 2-D (KL 0.636 nats; T reads x too and must learn to
    ignore it), 3000 adversary steps of 512 images (about 15 CPU-seconds): E_q T = 0.646, 0.604, 0.589 (seeds 0, 1,
    2: +1.5%, -5.1%, -7.5%; the test runs seed 0). Threshold: within 10%, the issue's. With a mean linear in x
    (q(z|x) = N(A x, 0.5^2 I), KL 0.93) the estimate lagged at 0.70-0.95 after 1500-4000 steps (75-100%): T learns
    the x-dependent part of the ratio slowly."""
    estimate, analytic = adversary_kl_estimate(0)
    torch.testing.assert_close(analytic, torch.tensor(0.6363), rtol=0, atol=1e-4)  # 1/2 * 2 * (1/4 - 1 - log 1/4)
    torch.testing.assert_close(estimate, analytic, rtol=0.10, atol=0.0)


def test_autoencoder_loss_is_the_elbo_with_t_in_place_of_the_kl():
    model = small_model()
    batch = (torch.rand(5, 1, 8, 8), torch.zeros(5))
    terms = model.objective("autoencoder", batch, {})
    torch.testing.assert_close(terms["loss"], terms["reconstruction"] + terms["kl"])
    torch.testing.assert_close(terms["elbo"], -terms["loss"])
    terms = model.objective("adversary", batch, {})
    assert terms["loss"] > 0


def test_adaptive_contrast_adds_the_exact_log_ratio_of_r_to_the_prior(monkeypatch):
    """With adaptive contrast the KL term is T(x, (z - mu) / sigma) + log r(z|x) - log p(z): with T's last layer
    zeroed (T = 0) and r's moments fixed, it is log N(z; mu, sigma^2) - log N(z; 0, I) for the same z."""
    model = small_model(adaptive_contrast=True)
    joint = model.adversary.joint[-1]
    torch.nn.init.zeros_(joint.weight)
    torch.nn.init.zeros_(joint.bias)
    mu, sigma = torch.tensor([[0.5, -1.0]]).expand(4, 2), torch.tensor([[0.3, 2.0]]).expand(4, 2)
    monkeypatch.setattr(model, "contrast_moments", lambda x: (mu, sigma))
    batch = (torch.rand(4, 1, 8, 8), torch.zeros(4))
    torch.manual_seed(0)
    terms = model.objective("autoencoder", batch, {})
    torch.manual_seed(0)
    with torch.no_grad():
        z = model.posterior_sample(batch[0])
    log_r = (-0.5 * ((z - mu) / sigma).pow(2) - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(1)
    log_p = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(1)
    torch.testing.assert_close(terms["kl"], (log_r - log_p).mean())


def test_likelihood_matches_a_brute_force_integral_over_a_1d_latent(monkeypatch):
    """latent_dim 1: log p(x) = log of the integral of p(x|z) N(z; 0, 1) over a fine grid of z. With a proposal
    near the posterior (the grid's posterior moments, the standard deviation widened 1.5x) the importance estimate
    (K = 2000) agrees within 0.05 nats; with the untrained encoder's own proposal (far narrower than the posterior)
    it is a lower bound, as it must be in expectation."""
    model = small_model(latent_dim=1, noise_dim=1).eval()
    torch.manual_seed(0)
    x = (torch.rand(3, 1, 8, 8) > 0.5).float()
    grid = torch.linspace(-8, 8, 4001)
    with torch.no_grad():
        log_joint = torch.stack([model.log_px_given_z(x, g.expand(3, 1)) for g in grid], 0) \
            + (-0.5 * grid.pow(2) - 0.5 * math.log(2 * math.pi))[:, None]  # (G, 3)
        exact = torch.logsumexp(log_joint, 0) + math.log(grid[1] - grid[0])
        posterior = log_joint.softmax(0)
        mean = (posterior * grid[:, None]).sum(0)
        var = (posterior * grid[:, None].pow(2)).sum(0) - mean.pow(2)
    loose = model.log_likelihood(x, k=2000, generator=torch.Generator().manual_seed(0))
    assert (loose < exact + 0.05).all(), (loose, exact)
    monkeypatch.setattr(model, "proposal", lambda xb, generator=None: (mean[:, None], (var * 1.5**2).log()[:, None]))
    estimate = model.log_likelihood(x, k=2000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(estimate, exact, rtol=0.0, atol=0.05)


def test_players_step_and_the_contract_holds():
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quiet_trainer(max_steps=2, limit_train_batches=1, limit_val_batches=0).fit(model, DigitsDataModule(batch_size=32))
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert {"encoder", "decoder", "adversary"} <= changed
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(model.encode(x), model.encode(x))  # a fixed noise seed: deterministic
    assert model.encode(x).shape == (5, 2) and model.reconstruct(x).shape == (5, 1, 8, 8)
    assert model.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, 1, 8, 8)


def test_bad_input_is_one_line():
    with pytest.raises(ConfigError, match="proposal_scale must be >= 1 .* got 0.5"):
        small_model(proposal_scale=0.5)
    with pytest.raises(ConfigError, match="noise_dim must be an int >= 1, got 0"):
        small_model(noise_dim=0)
    with pytest.raises(ConfigError, match=r"AVB's adversary must read \(x, v\) pairs as net\(x, v\)"):
        small_model(adversary={"class_path": "zoo.nets.MLPEncoder", "init_args": {}})


def test_learns_digits_with_adaptive_contrast():
    """The digits recipe (adaptive contrast), 60 epochs (about 40 CPU-seconds), measured (seeds 0 and 1): NLL
    (K = 1000 importance samples, the 360 statically binarized test digits) 25.51, 25.75 nats (FID 125, 307: the
    samples vary); 64 independent fair coins score 44.4 and the VAE recipe 22.5 (300 epochs). Threshold: NLL < 30."""
    L.seed_everything(0, verbose=False)
    joint = {"class_path": "zoo.nets.JointDiscriminator",
             "init_args": {"x_features": 256, "hidden": [256], "dropout": 0.0}}
    model = zoo.create_model("avb", in_shape=(1, 8, 8), latent_dim=8, adaptive_contrast=True, encoder=joint,
                             adversary=joint, decoder={"class_path": "zoo.nets.MLPDecoder",
                                                       "init_args": {"hidden": [128, 256]}})
    quiet_trainer(max_epochs=60, limit_val_batches=0).fit(model, DigitsDataModule(batch_size=100))
    dm = DigitsDataModule(batch_size=360)
    dm.setup("test")
    static, _ = dm.static_binarization("test")
    x = torch.stack([static[i][0] for i in range(len(static))])  # (image, label) pairs
    nll = -model.eval().log_likelihood(x, k=1000, generator=torch.Generator().manual_seed(0)).mean().item()
    assert nll < 30.0, nll

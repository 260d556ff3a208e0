"""InfoGAN: the mutual-information term reaches G and Q (and D's shared body in D's update) and never the real
labels, the losses match hand values, the code accuracy metric finds the best assignment, bad input is one
clear line, and a short run on the bundled digits makes the categorical code informative about the class.

Learning test: the default InfoGAN (1 categorical code of 10 values, 2 continuous codes, 62 noise dims, Adam
2e-4 for D and 1e-3 for G/Q, beta1 0.5) with DCGAN nets of width 32 (D's body features 128) trained 20 epochs
on the bundled digits (minibatch 64, ~560 batches, one thread, ~11-14 s of CPU time). Measured unsupervised code
accuracy (Q's argmax on the 360 real test digits, best one-to-one assignment): seed 0: 0.317, seed 1: 0.314,
seed 2: 0.331 (seed 0 at 40 epochs: 0.389, 26 s of CPU). Untrained: 0.19 (the best assignment of a random code is above
1/10 chance). This is weak next to the paper's 95% on MNIST at full budget: the threshold 0.25 only checks the
code became informative: 0.06 above the untrained value, 0.06 below the lowest seed."""
from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

import zoo
from tests.conftest import quiet_trainer
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError
from zoo.losses import info_categorical_nll, info_continuous_nll
from zoo.methods import InfoGAN
from zoo.metrics.codes import code_accuracy, measure_code_accuracy

SHAPE = (1, 8, 8)
TINY = {
    "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 8}},
    "discriminator": {"class_path": "zoo.nets.InfoGANDiscriminator", "init_args": {"width": 8, "features": 16}},
}


def tiny(**kwargs) -> InfoGAN:
    torch.manual_seed(0)
    return zoo.create_model("infogan", in_shape=SHAPE, **{**TINY, "q_hidden": 8, **kwargs})


# -- losses and metric against hand values -------------------------------------------------------------------
def test_categorical_nll_is_minus_log_softmax_of_the_sampled_value():
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    expected = torch.tensor([torch.log(torch.tensor(2.0)), torch.log(1 + torch.exp(torch.tensor(-2.0)))])
    torch.testing.assert_close(info_categorical_nll(logits, torch.tensor([1, 0])), expected)


def test_continuous_nll_is_a_unit_gaussian_summed_over_codes():
    mean, code = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])
    half_log_2pi = 0.5 * torch.log(torch.tensor(2 * torch.pi))
    torch.testing.assert_close(info_continuous_nll(mean, code), torch.stack([0.5 + 2 * half_log_2pi]))


def test_code_accuracy_finds_the_best_one_to_one_assignment():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert code_accuracy(torch.tensor([2, 2, 0, 0, 1, 1]), labels, 3, 3) == 1.0  # a permutation is perfect
    torch.testing.assert_close(code_accuracy(torch.tensor([2, 2, 0, 1, 1, 1]), labels, 3, 3), 5 / 6)
    # two values cannot both map to class 0: one-to-one, so merging classes costs
    torch.testing.assert_close(code_accuracy(torch.tensor([0, 0, 0, 0, 1, 1]), labels, 3, 3), 4 / 6)


# -- the mutual-information term -----------------------------------------------------------------------------
def test_information_loss_reaches_g_and_q_and_d_loss_does_not_touch_q():
    model = tiny().train()
    cat, cont = model.sample_codes(6)
    fake = model(model.code_latents(model.randn(6, model.noise_dim), cat, cont))
    info = model.information_loss(fake, cat, cont)["loss"]
    grads = torch.autograd.grad(info, [*model.generator.parameters(), *model.q_head.parameters()], allow_unused=True)
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    d_only = model.discriminator_loss(model.scores(fake.detach()), model.scores(fake.detach())).mean()
    q_grads = torch.autograd.grad(d_only, list(model.q_head.parameters()), allow_unused=True)
    assert all(g is None for g in q_grads)


def test_information_loss_targets_the_sampled_codes():
    model = tiny().eval()
    cat, cont = model.sample_codes(5)
    fake = model(model.code_latents(model.randn(5, model.noise_dim), cat, cont))
    logits, mean = model.q_params(fake)
    expected = info_categorical_nll(logits[0], cat[:, 0]).mean() + info_continuous_nll(mean, cont).mean()
    torch.testing.assert_close(model.information_loss(fake, cat, cont)["loss"], expected)


class PoisonLabels(torch.utils.data.Dataset):
    """Images with labels that raise when read: InfoGAN must train without them."""

    def __init__(self, n: int = 16) -> None:
        self.x = torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(1))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], torch.tensor(10**6)  # out of any class range: reading it as a label fails


def test_trains_without_reading_the_labels(monkeypatch):
    model = tiny()
    monkeypatch.setattr(InfoGAN, "labels", lambda self, batch: pytest.fail("InfoGAN read the labels"))
    before = {k: v.clone() for k, v in model.q_head.state_dict().items()}
    quiet_trainer(max_steps=4, limit_val_batches=0).fit(model, DataLoader(PoisonLabels(), batch_size=8))
    assert any(not torch.equal(before[k], v) for k, v in model.q_head.state_dict().items())  # Q was stepped


# -- public API --------------------------------------------------------------------------------------------
def test_latent_layout_sample_encode_and_traversal():
    model = tiny().eval()
    assert model.latent_dim == 62 + 10 + 2
    x = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, *SHAPE) and 0 <= x.min() and x.max() <= 1
    torch.testing.assert_close(x, model.sample(4, generator=torch.Generator().manual_seed(0)))
    codes = model.encode(x)
    assert codes.categorical[0].shape == (4, 10) and codes.continuous.shape == (4, 2)
    torch.testing.assert_close(codes.categorical[0].sum(1), torch.ones(4))
    grid, ncol = model.traversal_grid(3, generator=torch.Generator().manual_seed(0))
    assert grid.shape == (30, *SHAPE) and ncol == 3
    assert not torch.allclose(grid[:3], grid[3:6])  # the code value changes the images


def test_continuous_traversal_sweeps_one_code_from_minus_span_to_span(monkeypatch):
    """Each row keeps z and the other codes and moves only continuous code 1 over -2 ... 2 (Fig. 2c)."""
    model = tiny().eval()
    seen = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda latent: seen.append(latent) or decode(latent))
    grid, ncol = model.traversal_grid(2, code=1, continuous=True, steps=5, generator=torch.Generator().manual_seed(0))
    assert grid.shape == (10, *SHAPE) and ncol == 5
    latent = seen[0].view(2, 5, -1)
    torch.testing.assert_close(latent[:, :, -1], torch.linspace(-2, 2, 5).repeat(2, 1))  # code 1: the last column
    torch.testing.assert_close(latent[:, :, :-1], latent[:, :1, :-1].expand(-1, 5, -1))  # the rest held per row
    assert not torch.equal(latent[0, 0, :62], latent[1, 0, :62])  # rows differ in z
    with pytest.raises(ConfigError, match="code 2 is outside the 2 continuous codes"):
        model.traversal_grid(2, code=2, continuous=True)


def test_extra_grids_are_one_traversal_per_code_and_image_grids_writes_them(tmp_path):
    from zoo.callbacks import ImageGrids

    model = tiny(categorical_codes=[10, 3], continuous_codes=1)
    grids = model.eval().extra_grids(nrow=4, generator=torch.Generator().manual_seed(0))
    assert {k: (v.shape[0], nrow) for k, (v, nrow) in grids.items()} == {
        "traversal_categorical0": (40, 4), "traversal_categorical1": (12, 4), "traversal_continuous0": (16, 4)}
    trainer = quiet_trainer(max_epochs=1, max_steps=2, limit_val_batches=0, default_root_dir=tmp_path,
                            callbacks=[ImageGrids(n=8, nrow=4)])
    trainer.fit(model.train(), DataLoader(PoisonLabels(), batch_size=8))
    written = sorted(p.name.split("_epoch")[0] for p in (tmp_path / "images").glob("*.png"))
    assert written == ["samples", "traversal_categorical0", "traversal_categorical1", "traversal_continuous0"]


def test_evaluate_codes_scores_the_test_split_under_a_recorded_protocol():
    from zoo.metrics import model_metric
    from zoo.metrics.codes import evaluate_codes

    assert model_metric("code_accuracy") is evaluate_codes
    model = tiny()
    result = evaluate_codes(model, data="digits")
    dm = DigitsDataModule(batch_size=1000)
    dm.setup("test")
    x, y = next(iter(dm.test_dataloader()))
    torch.testing.assert_close(result["metrics"]["code_accuracy"], measure_code_accuracy(model, x, y)["code_accuracy"])
    assert result["protocol"]["code_accuracy"]["n"] == len(y) == 360
    assert result["protocol"]["code_accuracy"]["split"] == "test"
    with pytest.raises(ConfigError, match="has no categorical code"):
        evaluate_codes(tiny(categorical_codes=[], continuous_codes=2), data="digits")
    with pytest.raises(ConfigError, match="unknown model metric 'code_acc'"):
        model_metric("code_acc")


@pytest.mark.parametrize("bad, message", [
    ({"categorical_codes": [1]}, "each categorical code needs >= 2 values, got 1"),
    ({"continuous_codes": -1}, "continuous_codes must be >= 0, got -1"),
    ({"noise_dim": -2}, "noise_dim must be >= 0, got -2"),
    ({"categorical_codes": [], "continuous_codes": 0}, "at least one code"),
    ({"lambda_categorical": -1.0}, "lambda_categorical must be >= 0, got -1.0"),
])
def test_bad_codes_are_one_clear_error(bad, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        tiny(**bad)


# -- learning ------------------------------------------------------------------------------------------------
LEARNING_NETS = {
    "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 32}},
    "discriminator": {"class_path": "zoo.nets.InfoGANDiscriminator", "init_args": {"width": 32, "features": 128}},
}


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_categorical_code_finds_digit_classes(seed):
    dm = DigitsDataModule(batch_size=360)
    dm.setup("test")
    x, y = next(iter(dm.test_dataloader()))
    L.seed_everything(seed, verbose=False)
    model = zoo.create_model("infogan", in_shape=SHAPE, **LEARNING_NETS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        quiet_trainer(max_epochs=20, limit_val_batches=0).fit(model, DigitsDataModule(batch_size=64, seed=seed))
    finally:
        torch.set_num_threads(threads)
    accuracy = measure_code_accuracy(model.eval(), x, y)["code_accuracy"]
    assert accuracy > 0.25, f"code accuracy {accuracy:.3f}"

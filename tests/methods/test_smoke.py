"""Every registered method: builds, trains two steps, samples (n, C, H, W) in [0, 1] with no NaN.

Parametrized over the registry, so a new method is covered the moment it is registered."""
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.conftest import on_grid, quiet_trainer

SHAPE = (1, 8, 8)
#: Smaller nets for methods whose paper-sized defaults make two CPU steps slow: ProGAN's 512-channel nets (22M
#: parameters at 8x8) took 44 s for two bf16-mixed steps (the gradient penalty's double backward).
SMALL = {"progan": {net: {"class_path": f"zoo.nets.ProGAN{net.title()}", "init_args": {"max_channels": 32}}
                    for net in ("generator", "discriminator")}}


@pytest.mark.parametrize("name", zoo.list_models())
def test_builds_trains_and_samples(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=SHAPE, **SMALL.get(name, {}))
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    data = TensorDataset(on_grid(model, torch.rand(64, *SHAPE)), torch.zeros(64, dtype=torch.long))
    quiet_trainer(max_steps=2).fit(model, DataLoader(data, batch_size=32))

    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, f"{name}: two training steps changed no parameter"
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())

    x = model.eval().sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, *SHAPE)
    assert x.dtype == torch.float32
    assert not torch.isnan(x).any()
    assert x.min() >= 0 and x.max() <= 1


@pytest.mark.parametrize("name", zoo.list_models())
def test_trains_under_bf16_mixed_precision(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=SHAPE, **SMALL.get(name, {}))
    data = TensorDataset(on_grid(model, torch.rand(64, *SHAPE)), torch.zeros(64, dtype=torch.long))
    trainer = quiet_trainer(max_steps=2, precision="bf16-mixed", log_every_n_steps=1)
    trainer.fit(model, DataLoader(data, batch_size=32))
    losses = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("train/") and "loss" in k}
    assert losses, f"{name}: no train/*loss* metric logged"
    assert all(torch.isfinite(v) for v in losses.values()), losses
    assert all(p.dtype == torch.float32 for p in model.parameters())  # mixed: weights stay float32


@pytest.mark.parametrize("name", zoo.list_models())
def test_sample_is_reproducible_for_a_seed(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=SHAPE).eval()
    a = model.sample(4, generator=torch.Generator().manual_seed(1))
    b = model.sample(4, generator=torch.Generator().manual_seed(1))
    c = model.sample(4, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name", zoo.list_models())
def test_hyperparameters_are_plain_and_rebuild_the_model(name):
    model = zoo.create_model(name, in_shape=SHAPE)
    hparams = dict(model.hparams)
    rebuilt = type(model)(**hparams)
    assert dict(rebuilt.hparams) == hparams
    assert [k for k, _ in rebuilt.named_parameters()] == [k for k, _ in model.named_parameters()]


@pytest.mark.parametrize("name", zoo.list_models())
def test_wrong_image_shape_is_a_clear_error(name):
    model = zoo.create_model(name, in_shape=(1, 16, 16))  # a side every net takes (the beta-VAE's: 4 * 2^k)
    data = TensorDataset(torch.rand(4, *SHAPE), torch.zeros(4, dtype=torch.long))
    with pytest.raises(zoo.errors.ConfigError, match=r"\(1, 8, 8\) do not match the model's in_shape \(1, 16, 16\)"):
        quiet_trainer(max_steps=1).fit(model, DataLoader(data, batch_size=4))

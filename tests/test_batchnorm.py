"""Reference and virtual batch norm (Salimans et al. 2016): the layers compute the paper's statistics (hand
values), a DCGAN generator using them gives each example an output that does not depend on the rest of its
batch, and the reference batch is part of the model (saved, loaded, resumed, the same on every DDP rank: see
tests/methods/test_ddp.py's ``wgan_gp`` case, tests/test_resume.py's ``dcgan``)."""
from __future__ import annotations

import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from zoo.errors import ConfigError
from zoo.nets import ConditionalDCGANGenerator, DCGANDiscriminator, DCGANGenerator, ReferenceBatchNorm2d, \
    VirtualBatchNorm2d
from zoo.weights import load_safetensors, save_safetensors


def column(*values: float) -> torch.Tensor:
    """Values as (N, 1, 1, 1) activations: one channel, one position, one value per example."""
    return torch.tensor(values).view(-1, 1, 1, 1)


# -- the layers, against hand values --------------------------------------------------------------------------
def test_reference_batch_norm_normalises_with_the_reference_rows_only():
    # reference rows 1 and 3: mean 2, variance 1; the example 5 is (5 - 2) / 1 = 3, whatever else is in the batch
    layer = ReferenceBatchNorm2d(1, reference_size=2, eps=0.0)
    out = layer(column(1.0, 3.0, 5.0, 100.0))
    torch.testing.assert_close(out.flatten(), torch.tensor([-1.0, 1.0, 3.0, 98.0]))


def test_virtual_batch_norm_adds_each_example_to_the_reference_batch():
    # example 5 beside reference rows 1, 3: mean (1 + 3 + 5) / 3 = 3, mean square (1 + 9 + 25) / 3 = 35/3,
    # variance 35/3 - 9 = 8/3, so (5 - 3) / sqrt(8/3); the reference rows keep the reference statistics
    layer = VirtualBatchNorm2d(1, reference_size=2, eps=0.0)
    out = layer(column(1.0, 3.0, 5.0, 2.0))
    # example 2: mean 2, mean square 14/3, variance 2/3, so (2 - 2) / sqrt(2/3) = 0
    torch.testing.assert_close(out.flatten(), torch.tensor([-1.0, 1.0, 2.0 / (8.0 / 3.0) ** 0.5, 0.0]))


def test_statistics_are_per_channel_over_examples_and_positions_and_the_affine_applies():
    torch.manual_seed(0)
    a = torch.randn(5, 3, 4, 4) * 3 + 1
    layer = ReferenceBatchNorm2d(3, reference_size=5)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        layer.bias.copy_(torch.tensor([0.0, -1.0, 3.0]))
    # on the reference rows alone it is batch norm in training mode, with the same affine
    bn = torch.nn.BatchNorm2d(3, eps=layer.eps)
    with torch.no_grad():
        bn.weight.copy_(layer.weight)
        bn.bias.copy_(layer.bias)
    torch.testing.assert_close(layer(a), bn.train()(a), rtol=1e-4, atol=1e-4)


def test_the_layer_refuses_a_too_small_reference_and_a_batch_without_it():
    with pytest.raises(ConfigError, match="reference_size must be an int >= 2"):
        ReferenceBatchNorm2d(4, reference_size=1)
    with pytest.raises(ValueError, match="expects the 4 reference rows first"):
        ReferenceBatchNorm2d(1, reference_size=4)(column(1.0, 2.0))


# -- in DCGAN's generator ---------------------------------------------------------------------------------
def generator(norm: str, **kwargs) -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(16, (1, 28, 28), width=8, norm=norm, reference_batch=8, **kwargs)


@pytest.mark.parametrize("norm", ["reference", "virtual"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_an_examples_output_does_not_depend_on_the_rest_of_its_batch(norm, mode):
    g = generator(norm).train(mode == "train")
    g_z = torch.Generator().manual_seed(1)
    z, others, more = (torch.randn(n, 16, generator=g_z) for n in (4, 12, 1))
    alone = g(z)
    torch.testing.assert_close(g(torch.cat([z, others]))[:4], alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g(torch.cat([more, z]))[1:], alone, rtol=1e-5, atol=1e-5)


def test_batch_norm_in_training_does_depend_on_the_batch():
    # the contrast that makes the test above mean something: batch norm's output moves with its batch
    g = generator("batch").train()
    z, others = torch.randn(4, 16), torch.randn(12, 16)
    assert (g(torch.cat([z, others]))[:4] - g(z)).abs().max() > 1e-2


def test_the_reference_batch_is_fixed_seeded_and_matters():
    a, b = generator("virtual"), generator("virtual")
    torch.testing.assert_close(a.reference_z, b.reference_z, rtol=0, atol=0)  # drawn by its own seed
    other = generator("virtual", reference_seed=1)
    assert not torch.equal(other.reference_z, a.reference_z)
    z = torch.randn(4, 16)
    # same weights (same global seed), another reference batch: other statistics, other images
    assert (other(z) - a(z)).abs().max() > 1e-3
    assert list(a.state_dict()).count("reference_z") == 1  # a buffer: saved with the weights


def test_gradients_reach_the_weights_through_the_reference_statistics():
    g = generator("virtual")
    g(torch.randn(4, 16)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_bf16_autocast_keeps_the_batch_independence():
    g = generator("virtual").eval()
    z, others = torch.randn(4, 16), torch.randn(4, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        alone, batched = g(z), g(torch.cat([z, others]))[:4]
    assert alone.dtype == torch.bfloat16
    torch.testing.assert_close(batched, alone, rtol=0, atol=0)


def test_only_the_unconditional_generator_has_reference_norms():
    with pytest.raises(ConfigError, match="reference and virtual batch norm are the generator's"):
        DCGANDiscriminator((1, 28, 28), norm="virtual")
    with pytest.raises(ConfigError, match="conditional generator"):
        ConditionalDCGANGenerator(16, (1, 28, 28), 10, norm="reference")
    with pytest.raises(ConfigError, match="reference_batch must be an int >= 2, got 1"):
        DCGANGenerator(16, (1, 28, 28), norm="virtual", reference_batch=1)
    with pytest.raises(ConfigError, match="unknown norm 'virtaul'"):
        DCGANGenerator(16, (1, 28, 28), norm="virtaul")


# -- in a DCGAN: saved, loaded, resumed ---------------------------------------------------------------------
def virtual_dcgan() -> torch.nn.Module:
    torch.manual_seed(0)
    return zoo.create_model(
        "dcgan", in_shape=(1, 8, 8), latent_dim=8,
        generator={"class_path": "zoo.nets.DCGANGenerator",
                   "init_args": {"width": 8, "norm": "virtual", "reference_batch": 16}},
        discriminator={"class_path": "zoo.nets.DCGANDiscriminator", "init_args": {"width": 8}},
    )


def test_a_trained_virtual_bn_dcgan_saves_and_loads_its_reference_batch(tmp_path, digits_test_images):
    model = virtual_dcgan()
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(digits_test_images[:128]), batch_size=32)
    quiet_trainer(max_epochs=1).fit(model, data)
    path = tmp_path / "virtual.safetensors"
    save_safetensors(model, path)
    loaded = load_safetensors(path)
    torch.testing.assert_close(loaded.generator.reference_z, model.generator.reference_z, rtol=0, atol=0)
    seed = torch.Generator().manual_seed(3)
    expected = model.sample(8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(loaded.sample(8, generator=seed), expected, rtol=0, atol=0)
    # one sample at a time or eight together: the same images
    singles = torch.cat([model.decode(z[None]) for z in torch.randn(8, 8, generator=torch.Generator().manual_seed(3))])
    torch.testing.assert_close(singles, expected, rtol=1e-5, atol=1e-5)

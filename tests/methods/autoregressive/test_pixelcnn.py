"""PixelCNN: causal by gradient, normalised, samples and completions from its own conditionals, one-line errors,
and a short run on binarized digits that learns."""
from __future__ import annotations

import itertools
import math

import lightning as L
import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from tests.methods.autoregressive.helpers import all_images, frequencies, one_line
from zoo.data import DigitsDataModule
from zoo.distributions import discrete_pixel_log_likelihood
from zoo.errors import ConfigError, InputError
from zoo.nets.pixelcnn import causal_mask




def test_discrete_pixel_log_likelihood_against_hand_values():
    # Bernoulli: logit 0 is p = 1/2 for either value; logit log 3 is p(1) = 3/4
    logits = torch.tensor([0.0, 0.0, math.log(3), math.log(3)]).view(1, 1, 1, 2, 2)
    bits = torch.tensor([0, 1, 1, 0]).view(1, 1, 2, 2)
    expected = 2 * math.log(0.5) + math.log(0.75) + math.log(0.25)
    torch.testing.assert_close(discrete_pixel_log_likelihood(logits, bits), torch.tensor([expected]))
    # categorical over 3 levels: logits (0, log 2, log 5) are probabilities (1/8, 2/8, 5/8)
    logits = torch.tensor([0.0, math.log(2), math.log(5)]).view(1, 1, 3, 1, 1).expand(2, 1, 3, 1, 2)
    levels = torch.tensor([[0, 2], [1, 1]]).view(2, 1, 1, 2)
    expected = torch.tensor([math.log(1 / 8 * 5 / 8), math.log(2 / 8 * 2 / 8)])
    torch.testing.assert_close(discrete_pixel_log_likelihood(logits, levels), expected)


@pytest.mark.parametrize(("channels", "levels"), [(1, 2), (3, 2), (3, 4)])
def test_output_at_a_pixel_has_zero_gradient_wrt_that_pixel_and_later_ones(channels, levels):
    """d logits(c, i, j) / d x(c', i', j') = 0 unless (i', j', c') comes strictly before (i, j, c) in raster then
    channel order; and it is nonzero for the pixel just before, so the test can tell a blind model too."""
    torch.manual_seed(0)
    size = 4
    model = zoo.create_model("pixelcnn", in_shape=(channels, size, size), levels=levels, h=24, n_blocks=2,
                             output_hidden=24)
    x = torch.rand(1, channels, size, size, requires_grad=True)
    out = model.conditionals(x)  # (1, C, K, H, W)
    order = lambda c, i, j: (i * size + j) * channels + c  # noqa: E731  position in the generation order
    ranks = torch.tensor([[[order(c, i, j) for j in range(size)] for i in range(size)] for c in range(channels)])
    for c, i, j in itertools.product(range(channels), range(size), range(size)):
        (grad,) = torch.autograd.grad(out[0, c, :, i, j].sum(), x, retain_graph=True)
        here = order(c, i, j)
        assert (grad[0][ranks >= here] == 0).all(), f"output ({c}, {i}, {j}) sees the present or the future"
        if here > 0:
            assert (grad[0][ranks == here - 1] != 0).all(), f"output ({c}, {i}, {j}) misses the previous value"


def test_causal_mask_a_and_b_differ_only_at_the_centre_of_a_group():
    a, b = causal_mask("A", 3, 6, 3, 3), causal_mask("B", 3, 6, 3, 3)
    assert torch.equal((b - a)[:, :, 1, 1], torch.eye(3).repeat_interleave(2, dim=0))
    assert (a[:, :, 2] == 0).all() and (a[:, :, 1, 2] == 0).all()  # the row below, the pixel to the right


@pytest.mark.parametrize(("channels", "levels"), [(1, 2), (2, 3)])
def test_probabilities_of_every_image_sum_to_one(channels, levels):
    """Exactness: on 2x2 images, exp(log_likelihood) over all levels ** (C * 4) images sums to 1."""
    torch.manual_seed(0)
    model = zoo.create_model("pixelcnn", in_shape=(channels, 2, 2), levels=levels, h=4, n_blocks=1,
                             output_hidden=4).eval()
    images = all_images(channels, 2, 2, levels)
    total = model.log_likelihood(images).double().exp().sum()
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64), rtol=0, atol=1e-5)


def test_samples_follow_the_model_distribution():
    """4000 samples of a 2x2 binary model: each image's frequency within 0.035 of its probability (the standard
    error of a frequency is at most 0.008, so 4.4 sigma)."""
    torch.manual_seed(0)
    model = zoo.create_model("pixelcnn", in_shape=(1, 2, 2), h=4, n_blocks=1, output_hidden=4).eval()
    with torch.no_grad():  # sharpen the conditionals so the distribution is far from uniform
        model.net.net[-1].bias.fill_(1.0)
    support = all_images(1, 2, 2, 2)
    probabilities = model.log_likelihood(support).double().exp()
    samples = model.sample(4000, generator=torch.Generator().manual_seed(0))
    assert (probabilities.max() - probabilities.min()) > 0.05
    assert (frequencies(samples, support) - probabilities).abs().max() < 0.035


def test_complete_samples_the_missing_pixels_from_the_conditional_and_keeps_the_rest():
    """The bottom row of 2x2 binary images given the top row (1, 0): kept exactly, the four completions at
    the frequencies p(bottom | top) = p(image) / sum over bottoms (tolerance as above)."""
    torch.manual_seed(1)
    model = zoo.create_model("pixelcnn", in_shape=(1, 2, 2), h=4, n_blocks=1, output_hidden=4).eval()
    support = all_images(1, 2, 2, 2)
    given = support[:, 0, 0, 0].eq(1) & support[:, 0, 0, 1].eq(0)
    conditional = model.log_likelihood(support[given]).double().exp()
    conditional = conditional / conditional.sum()
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).expand(4000, 1, 2, 2)
    mask = torch.tensor([[1, 1], [0, 0]]).view(1, 1, 2, 2)
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :, 0], x[:, :, 0])
    assert (frequencies(out, support[given]) - conditional).abs().max() < 0.035


def test_sample_contract_and_seeding(one_thread):
    model = zoo.create_model("pixelcnn", in_shape=(1, 8, 8), levels=17, h=4, n_blocks=1, output_hidden=8)
    a = model.sample(3, generator=torch.Generator().manual_seed(5))
    assert a.shape == (3, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a * 16, (a * 16).round())  # on the 17-level grid
    assert torch.equal(a, model.sample(3, generator=torch.Generator().manual_seed(5)))


def test_off_grid_pixels_are_a_one_line_error_naming_the_quantisation():
    model = zoo.create_model("pixelcnn", in_shape=(1, 8, 8))
    grey = torch.full((2, 1, 8, 8), 0.5)
    with pytest.raises(InputError) as error:
        model.log_likelihood(grey)
    assert "models 2-level images (pixels 0 or 1), got a pixel of 0.5; binarize the data" in one_line(error)
    with pytest.raises(InputError) as error:
        model.objective((grey, torch.zeros(2, dtype=torch.long)))
    assert "binarize" in one_line(error)
    digits = zoo.create_model("pixelcnn", in_shape=(1, 8, 8), levels=17)
    with pytest.raises(InputError) as error:
        digits.log_likelihood(torch.full((1, 1, 8, 8), 0.01))
    assert "pixels i/16 for i = 0..16" in one_line(error)


@pytest.mark.parametrize("shape", [(8, 8), (1, 1, 4, 8), (3, 1, 8, 8), (1, 2, 8, 8)])
def test_a_mask_of_the_wrong_shape_is_a_one_line_error(shape):
    model = zoo.create_model("pixelcnn", in_shape=(1, 8, 8))
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(InputError) as error:
        model.complete(x, torch.ones(shape))
    assert "mask must have the images' shape (2, 1, 8, 8)" in one_line(error) and str(shape) in str(error.value)
    with pytest.raises(InputError) as error:
        model.complete(torch.full((2, 1, 8, 8), 0.3), torch.ones(1, 1, 8, 8))
    assert "binarize" in one_line(error)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"levels": 1}, "levels must be an int >= 2"), ({"in_shape": (3, 8, 8), "h": 4}, "multiple of the 3 data")],
)
def test_bad_hyperparameters_are_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        zoo.create_model("pixelcnn", **{"in_shape": (1, 8, 8), **kwargs})


def test_learns_on_binarized_digits(one_thread):
    """Measured (25 epochs of dynamically binarized digits, batch 100, one CPU thread, 12 s): exact NLL on
    the static binarized test split from 45.2 / 42.6 nats (untrained) to 24.85 (seed 0) and 24.79 (seed 1);
    10 epochs reach 26.2. Independent Bernoulli pixels with the train split's marginals score 27.2, so the
    threshold, 26.0 nats (margin 1.15), also asks that the model learnt dependencies between pixels."""
    L.seed_everything(0, verbose=False)
    test, _ = DigitsDataModule().static_binarization("test")
    x = test.images.float() / 255
    model = zoo.create_model("pixelcnn", in_shape=(1, 8, 8))
    quiet_trainer(max_epochs=25, limit_val_batches=0).fit(
        model.train(), DigitsDataModule(batch_size=100, binarize="dynamic")
    )
    nll = -model.eval().log_likelihood(x).mean().item()
    assert nll < 26.0, f"test NLL {nll:.2f} nats after training"

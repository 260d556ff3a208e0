"""PixelRNN's Row LSTM and Diagonal BiLSTM: causal by gradient, their receptive fields (a triangle; the whole
past), normalised, samples and completions from their own conditionals, one-line errors, and a short run on
binarized digits that learns."""
from __future__ import annotations

import itertools

import lightning as L
import pytest
import torch

import zoo
from tests.conftest import quiet_trainer
from tests.methods.autoregressive.helpers import all_images, frequencies, one_line
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError, InputError
from zoo.nets.pixelrnn import skew, unskew

MODELS = ("row_lstm", "diagonal_bilstm")




def _seen(model, shape: tuple[int, int, int]) -> dict[tuple[int, int, int], torch.Tensor]:
    """For every output (c, i, j): where d logits(c, i, j) / d x is nonzero, a bool (C, H, W) map, at a random x.
    One backward pass for all: copy k of x in a batch carries output k's gradient (images do not interact)."""
    outputs = list(itertools.product(*(range(n) for n in shape)))
    x = torch.rand(1, *shape).repeat(len(outputs), 1, 1, 1).requires_grad_()
    c, i, j = torch.tensor(outputs).T
    logits = model.conditionals(x)[torch.arange(len(outputs)), c, :, i, j]  # (C * H * W, K)
    (grad,) = torch.autograd.grad(logits.sum(), x)
    return {output: g != 0 for output, g in zip(outputs, grad)}


def _ranks(channels: int, height: int, width: int) -> torch.Tensor:
    """(C, H, W): each value's position in the generation order, raster then channel."""
    c, i, j = torch.meshgrid(torch.arange(channels), torch.arange(height), torch.arange(width), indexing="ij")
    return (i * width + j) * channels + c


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("channels", "levels"), [(1, 2), (3, 2), (3, 4)])
def test_output_at_a_pixel_has_zero_gradient_wrt_that_pixel_and_later_ones(name, channels, levels, one_thread):
    """d logits(c, i, j) / d x(c', i', j') = 0 unless (i', j', c') comes strictly before (i, j, c) in raster then
    channel order; and it is nonzero for the value just before, so a blind model fails too. On 4x4 images both
    models reach it: from (i, 0) the previous pixel (i - 1, 3) lies in the 7x7 first layer's window (on wider
    images neither does from a row's start, see the receptive-field tests below)."""
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=(channels, 4, 4), levels=levels, h=12, n_layers=2, output_hidden=24)
    ranks = _ranks(channels, 4, 4)
    for (c, i, j), seen in _seen(model, (channels, 4, 4)).items():
        here = ranks[c, i, j]
        assert not seen[ranks >= here].any(), f"{name}: output ({c}, {i}, {j}) sees the present or the future"
        if here > 0:
            assert seen[ranks == here - 1].all(), f"{name}: output ({c}, {i}, {j}) misses the previous value"


def test_row_lstm_sees_a_triangle(one_thread):
    """Row LSTM (Sec. 3.1): rows reach a pixel only through the state of the row above (K_ss spans 3 columns),
    so going up a row widens the field by one column each side; on its own row it sees the 7x7 layer's 3
    columns plus one per layer (K_is, 1 x 3). The last pixel of a 5x10 image with 2 layers sees exactly the
    pixels (r, c) before it with c >= 9 - 5 - (4 - r): not the left of the last rows."""
    torch.manual_seed(0)
    model = zoo.create_model("row_lstm", in_shape=(1, 5, 10), h=12, n_layers=2, output_hidden=24)
    seen = _seen(model, (1, 5, 10))[0, 4, 9][0]  # (H, W)
    r, c = torch.meshgrid(torch.arange(5), torch.arange(10), indexing="ij")
    triangle = (c >= 9 - (3 + 2) - (4 - r)) & ((r < 4) | (c < 9))
    assert torch.equal(seen, triangle), f"seen:\n{seen.int()}\nexpected:\n{triangle.int()}"
    assert not seen[4, :4].any() and not seen[1, 0]  # blind to the left of its row and the row above's corner


def test_diagonal_bilstm_sees_the_whole_past(one_thread):
    """Diagonal BiLSTM (Sec. 3.2): the last pixel depends on every pixel before it; so does every other pixel
    but for one the 7x7 mask-A first layer hides: the last pixel of the row above, (i - 1, W - 1), enters the
    features at row i, columns >= W - 4 only (those whose 7x7 window holds it), so outputs (i, j < W - 4) miss
    it (a one-pixel gap of the paper's architecture, not drawn in its Figure 4). On 4x10 images with 2 layers."""
    torch.manual_seed(0)
    height, width = 4, 10
    model = zoo.create_model("diagonal_bilstm", in_shape=(1, height, width), h=12, n_layers=2, output_hidden=24)
    ranks = _ranks(1, height, width)[0]
    seen = _seen(model, (1, height, width))
    assert seen[0, height - 1, width - 1][0].equal(ranks < ranks[-1, -1])  # the last pixel: everything before
    for (_, i, j), where in seen.items():
        expected = ranks < ranks[i, j]
        if i > 0 and j < width - 4:
            expected[i - 1, width - 1] = False
        assert torch.equal(where[0], expected), f"output ({i}, {j}) sees\n{where[0].int()}"


def test_skew_shifts_row_i_right_by_i_and_unskew_undoes_it():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    torch.testing.assert_close(skew(x), torch.tensor([[[[0.0, 1, 2, 0], [0, 3, 4, 5]]]]))
    torch.testing.assert_close(unskew(skew(x), 3), x)


@pytest.mark.parametrize("name", MODELS)
def test_conditionals_of_the_first_rows_do_not_depend_on_the_rows_below(name):
    """Sampling runs the net on the rows so far (x[:, :, :i + 1]); their conditionals must be those of the
    whole image (the Diagonal BiLSTM's skew and shift depend on the height)."""
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=(2, 5, 6), levels=3, h=4, output_hidden=8)
    x = torch.randint(0, 3, (3, 2, 5, 6)) / 2
    full = model.conditionals(x)
    for rows in (1, 3):
        torch.testing.assert_close(model.conditionals(x[:, :, :rows]), full[..., :rows, :])


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("channels", "height", "width", "levels"), [(1, 2, 2, 2), (1, 2, 3, 2), (2, 2, 2, 3)])
def test_probabilities_of_every_image_sum_to_one(name, channels, height, width, levels, one_thread):
    """Exactness: exp(log_likelihood) over all levels ** (C * H * W) images sums to 1 (on a non-square image
    too, where the Diagonal BiLSTM's skew is not symmetric)."""
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=(channels, height, width), levels=levels, h=4, n_layers=1,
                             output_hidden=4).eval()
    total = model.log_likelihood(all_images(channels, height, width, levels)).double().exp().sum()
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_samples_follow_the_model_distribution(name, one_thread):
    """4000 samples of a 2x2 binary model: each image's frequency within 0.035 of its probability (the standard
    error of a frequency is at most 0.008, so 4.4 sigma)."""
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=(1, 2, 2), h=4, n_layers=1, output_hidden=4).eval()
    with torch.no_grad():  # sharpen the conditionals so the distribution is far from uniform
        model.net.output[-1].bias.fill_(1.0)
    support = all_images(1, 2, 2, 2)
    probabilities = model.log_likelihood(support).double().exp()
    samples = model.sample(4000, generator=torch.Generator().manual_seed(0))
    assert (probabilities.max() - probabilities.min()) > 0.05
    assert (frequencies(samples, support) - probabilities).abs().max() < 0.035


@pytest.mark.parametrize("name", MODELS)
def test_sample_contract_and_seeding(name, one_thread):
    model = zoo.create_model(name, in_shape=(1, 8, 8), levels=17, h=4, n_layers=1, output_hidden=8)
    a = model.sample(3, generator=torch.Generator().manual_seed(5))
    assert a.shape == (3, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a * 16, (a * 16).round())  # on the 17-level grid
    assert torch.equal(a, model.sample(3, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(a, model.sample(3, generator=torch.Generator().manual_seed(6)))


@pytest.mark.parametrize("name", MODELS)
def test_complete_keeps_the_known_pixels_and_samples_the_rest_on_the_grid(name, one_thread):
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=(1, 8, 8), h=4, n_layers=1, output_hidden=8).eval()
    x = (torch.rand(6, 1, 8, 8) < 0.5).float()
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1  # the top half known, the bottom half sampled
    mask[..., 6, 2] = 1  # and one pixel below it
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0))
    keep = mask.bool().expand_as(x)
    assert torch.equal(out[keep], x[keep])
    assert ((out == 0) | (out == 1)).all()
    assert torch.equal(out, model.complete(x, mask, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("name", MODELS)
def test_off_grid_pixels_are_a_one_line_error_naming_the_quantisation(name):
    model = zoo.create_model(name, in_shape=(1, 8, 8))
    grey = torch.full((2, 1, 8, 8), 0.5)
    cls = type(model).__name__
    with pytest.raises(InputError) as error:
        model.log_likelihood(grey)
    assert f"{cls}.log_likelihood: {cls} models 2-level images (pixels 0 or 1), got a pixel of 0.5; binarize" in (
        one_line(error))
    with pytest.raises(InputError) as error:
        model.complete(grey, torch.ones(1, 1, 8, 8))
    assert "binarize" in one_line(error)
    digits = zoo.create_model(name, in_shape=(1, 8, 8), levels=17)
    with pytest.raises(InputError) as error:
        digits.log_likelihood(torch.full((1, 1, 8, 8), 0.01))
    assert "pixels i/16 for i = 0..16" in one_line(error)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"levels": 1}, "levels must be an int >= 2"),
        ({"in_shape": (3, 8, 8), "h": 4}, "h=4 must be a multiple of the 3 data channels"),
        ({"in_shape": (3, 8, 8), "h": 6, "output_hidden": 8}, "output_hidden=8 must be a multiple of the 3"),
        ({"n_layers": 0}, "n_layers >= 1"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(name, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        zoo.create_model(name, **{"in_shape": (1, 8, 8), **kwargs})


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", MODELS)
def test_learns_on_binarized_digits(name, seed, one_thread):
    """Measured (20 epochs of dynamically binarized digits, batch 100, default sizes, one CPU thread; 17-25 s
    for the Row LSTM and 24-31 s for the Diagonal BiLSTM on a shared machine): exact NLL on the static
    binarized test split from 43.8 / 45.2 (Row LSTM) and 43.9 / 47.9 (Diagonal BiLSTM) nats untrained to
    24.96 (seed 0) and 24.95 (seed 1) for the Row LSTM, 24.78 and 24.83 for the Diagonal BiLSTM (PixelCNN's
    recipe size: 25.48 after 15 epochs, 24.85 after 25). Independent Bernoulli pixels with the train split's
    marginals score 27.2, so the threshold, 26.0 nats (margin 1.04 and 1.17), also asks that the model learnt
    dependencies between pixels."""
    L.seed_everything(seed, verbose=False)
    test, _ = DigitsDataModule().static_binarization("test")
    x = test.images.float() / 255
    model = zoo.create_model(name, in_shape=(1, 8, 8))
    quiet_trainer(max_epochs=20, limit_val_batches=0).fit(
        model.train(), DigitsDataModule(batch_size=100, binarize="dynamic")
    )
    nll = -model.eval().log_likelihood(x).mean().item()
    assert nll < 26.0, f"{name} (seed {seed}): test NLL {nll:.2f} nats after training"

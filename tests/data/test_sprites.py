"""Sprites (zoo/data/sprites.py): dSprites' factor grid, the renderer, and the datamodule, procedural and on a tiny
dSprites .npz written in DeepMind's layout. Nothing here touches the network.

Pixel geometry the expectations below are computed from (see the module docstring): at 64×64 a sprite of scale 1
has radius R = 10 px, and position class k puts the centre at R + k/31 · (64 − 2R) = 10 + k · 44/31 px.
"""

from __future__ import annotations

import math
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
import zoo.data.sprites as sprites_module
from zoo.data import Sprites, SpritesDataModule
from zoo.data.sprites import DSPRITES_FILE, DSPRITES_MD5, DSPRITES_URL
from zoo.errors import ConfigError, DatasetNotFoundError

DSPRITES = Sprites("dsprites")
XY = Sprites("xy_rotation")
SQUARE, ELLIPSE, HEART = 0, 1, 2
TRAVEL = 64 - 2 * 10  # px between position classes 0 and 31 at 64×64


def _classes(*rows: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.int64)


def _lit(images: torch.Tensor) -> torch.Tensor:
    return images.sum(dim=(1, 2, 3))


def _differ(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((a != b).sum())


def _centroid(image: torch.Tensor) -> tuple[float, float]:
    """(column, row) centroid of a (1, H, W) binary image, in pixels."""
    rows, cols = image[0].nonzero(as_tuple=True)
    return cols.double().mean().item(), rows.double().mean().item()


# --- the grid -------------------------------------------------------------------------------------------------


def test_the_two_grids():
    assert DSPRITES.names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert DSPRITES.sizes == (3, 6, 40, 32, 32) and DSPRITES.side == 64 and DSPRITES.num_images == 737280
    assert XY.names == ("orientation", "pos_x", "pos_y")
    assert XY.sizes == (40, 32, 32) and XY.side == 32 and XY.num_images == 40960


def test_index_is_dsprites_row_order():
    # dSprites' own formula: latents_bases over latents_sizes (colour 1, shape 3, scale 6, orientation 40, x, y)
    latents_sizes = np.array([1, 3, 6, 40, 32, 32])
    latents_bases = np.concatenate((latents_sizes[::-1].cumprod()[::-1][1:], np.array([1])))
    classes = DSPRITES.sample(500, torch.Generator().manual_seed(0))
    with_colour = np.concatenate([np.zeros((500, 1), dtype=np.int64), classes.numpy()], axis=1)
    assert DSPRITES.index(classes).tolist() == (with_colour @ latents_bases).tolist()

    unit_steps = _classes((0, 0, 0, 0, 1), (0, 0, 0, 1, 0), (0, 0, 1, 0, 0), (0, 1, 0, 0, 0), (1, 0, 0, 0, 0))
    assert DSPRITES.index(unit_steps).tolist() == [1, 32, 1024, 40960, 245760]
    assert DSPRITES.index(_classes((0, 0, 0, 0, 0), (2, 5, 39, 31, 31))).tolist() == [0, 737279]


def test_index_and_classes_round_trip_including_the_corners():
    corners = torch.cartesian_prod(*[torch.tensor([0, size - 1]) for size in DSPRITES.sizes])  # (32, 5)
    assert DSPRITES.classes(DSPRITES.index(corners)).tolist() == corners.tolist()
    every = torch.arange(0, DSPRITES.num_images, 97)
    assert torch.equal(DSPRITES.index(DSPRITES.classes(every)), every)
    whole = torch.arange(XY.num_images)  # the whole 32×32 grid, each index once
    classes = XY.classes(whole)
    assert torch.equal(XY.index(classes), whole)
    assert classes.min(0).values.tolist() == [0, 0, 0] and classes.max(0).values.tolist() == [39, 31, 31]
    assert classes.dtype == torch.int64


def test_values_are_dsprites_latent_values():
    values = DSPRITES.values(_classes((2, 5, 39, 31, 31), (0, 0, 0, 0, 0), (1, 1, 20, 16, 1)))
    assert values.dtype == torch.float64
    expected = torch.tensor([
        [3.0, 1.0, 2 * math.pi, 1.0, 1.0],
        [1.0, 0.5, 0.0, 0.0, 0.0],
        [2.0, 0.6, 2 * math.pi * 20 / 39, 16 / 31, 1 / 31],
    ], dtype=torch.float64)
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(XY.values(_classes((39, 31, 0))), torch.tensor([[2 * math.pi, 1.0, 0.0]],
                                                                              dtype=torch.float64))


def test_sample_is_uniform_seeded_and_on_the_grid():
    first = DSPRITES.sample(30000, torch.Generator().manual_seed(1))
    assert torch.equal(first, DSPRITES.sample(30000, torch.Generator().manual_seed(1)))
    assert first.shape == (30000, 5) and first.dtype == torch.int64
    assert first.min(0).values.tolist() == [0] * 5 and first.max(0).values.tolist() == [2, 5, 39, 31, 31]
    # each shape 1/3; the std of a frequency over 30000 draws is 0.0027, so 0.02 is a 7-sigma margin
    shares = torch.bincount(first[:, 0], minlength=3).double() / len(first)
    torch.testing.assert_close(shares, torch.full((3,), 1 / 3, dtype=torch.float64), rtol=0, atol=0.02)
    assert XY.sample(0).shape == (0, 3)


# --- the renderer ---------------------------------------------------------------------------------------------


def test_render_is_binary_float32_with_lit_pixels_everywhere():
    # the smallest sprites (scale 0.5) at every orientation in the four corners of the position grid
    grid = torch.cartesian_prod(torch.arange(3), torch.tensor([0]), torch.arange(40), torch.tensor([0, 31]),
                                torch.tensor([0, 31]))
    images = DSPRITES.render(grid)
    assert images.dtype == torch.float32 and images.shape == (len(grid), 1, 64, 64)
    assert set(images.unique().tolist()) == {0.0, 1.0}
    # measured over every orientation and position at scale 0.5: at least 34 lit pixels (the ellipse)
    assert _lit(images).min() >= 30
    xy = XY.render(XY.classes(torch.arange(0, XY.num_images, 7)))
    assert xy.shape == (len(range(0, XY.num_images, 7)), 1, 32, 32) and _lit(xy).min() >= 30


def test_the_largest_sprites_stay_inside_the_image():
    # position class 31 is exactly 44 px from class 0, so an unclipped sprite there is the class-0 image moved by
    # 44 px; a sprite cut off at any edge would lose pixels in one of the two
    near = DSPRITES.render(torch.cartesian_prod(torch.arange(3), torch.tensor([5]), torch.arange(40),
                                                torch.tensor([0]), torch.tensor([0])))
    for corner_x, corner_y in ((31, 0), (0, 31), (31, 31)):
        far = DSPRITES.render(torch.cartesian_prod(torch.arange(3), torch.tensor([5]), torch.arange(40),
                                                   torch.tensor([corner_x]), torch.tensor([corner_y])))
        moved = torch.roll(near, shifts=(TRAVEL * (corner_y > 0), TRAVEL * (corner_x > 0)), dims=(2, 3))
        assert torch.equal(far, moved), (corner_x, corner_y)


def test_lit_area_grows_with_scale():
    for shape in (SQUARE, ELLIPSE, HEART):
        lit = _lit(DSPRITES.render(_classes(*[(shape, scale, 3, 16, 16) for scale in range(6)])))
        assert (lit[1:] > lit[:-1]).all(), (shape, lit.tolist())
        # area grows as the radius squared: (1 / 0.5)^2 = 4, with a margin for pixel rounding at 7 px
        assert 3.3 < (lit[-1] / lit[0]).item() < 4.7, (shape, lit.tolist())


def test_position_moves_the_centroid_by_the_mapped_pixels():
    for shape in (SQUARE, ELLIPSE, HEART):
        images = DSPRITES.render(_classes((shape, 4, 7, 0, 12), (shape, 4, 7, 31, 12), (shape, 4, 7, 10, 12),
                                          (shape, 4, 7, 0, 31)))
        (x0, y0), (x31, y31), (x10, y10), (xd, yd) = (_centroid(image) for image in images)
        assert x31 - x0 == pytest.approx(TRAVEL, abs=1e-9) and y31 == pytest.approx(y0, abs=1e-9)
        # 10 classes are 10 * 44/31 = 14.19 px: the pixel grid rounds the sprite's outline, not its travel
        assert x10 - x0 == pytest.approx(10 * TRAVEL / 31, abs=0.6) and y10 == pytest.approx(y0, abs=0.6)
        # pos_y moves the sprite down the rows (19 classes: 19 * 44/31 = 26.97 px), not sideways
        assert yd - y0 == pytest.approx(19 * TRAVEL / 31, abs=0.6) and xd == pytest.approx(x0, abs=0.6)


def test_rotation_respects_each_shapes_symmetry():
    # dSprites' 40 orientations are linspace(0, 2pi, 40): class 10 is 92.3 degrees, class 20 is 184.6, and class 39
    # is 2pi, the same image as class 0. Bounds: measured at scale 1 over 66 positions, the square at class 10 and
    # the ellipse at class 20 differ from class 0 in at most 11% of the lit pixels, the heart at class 20 in at
    # least 27%, the square at class 5 in at least 32%.
    def variants(shape: int, orientations: tuple[int, ...], scale: int = 5) -> torch.Tensor:
        return DSPRITES.render(_classes(*[(shape, scale, o, 13, 18) for o in orientations]))

    for shape in (SQUARE, ELLIPSE, HEART):
        upright, full_turn = variants(shape, (0, 39))
        assert torch.equal(upright, full_turn)

    square, quarter, eighth = variants(SQUARE, (0, 10, 5))
    lit = square.sum().item()
    assert _differ(square, quarter) <= 0.15 * lit  # a quarter turn and 2.3 degrees: only the outline moves
    assert _differ(square, eighth) >= 0.25 * lit  # 46 degrees: a diamond

    ellipse, half, quarter = variants(ELLIPSE, (0, 20, 10))
    assert _differ(ellipse, half) <= 0.15 * ellipse.sum().item()  # 2-fold symmetric
    assert _differ(ellipse, quarter) >= 0.5 * ellipse.sum().item()  # lying across

    heart, upside_down = variants(HEART, (0, 20))
    assert _differ(heart, upside_down) >= 0.2 * heart.sum().item()  # the heart alone is not symmetric
    # upright, the lobes are on top and the tip below, so the mass sits above the middle of the heart's height: by
    # 0.175 of the curve's units (centroid y 0.293, extent -1 to 1.237), 1.35 px at radius 10 px; turned, below it
    for image, sign in ((heart, 1.0), (upside_down, -1.0)):
        rows = image[0].sum(dim=1).nonzero().squeeze(1)
        middle = (rows[0] + rows[-1]).item() / 2
        assert sign * (middle - _centroid(image)[1]) == pytest.approx(1.35, abs=0.5)


def test_the_three_shapes_differ():
    for scale in (0, 5):
        square, ellipse, heart = DSPRITES.render(_classes(*[(shape, scale, 0, 16, 16) for shape in range(3)]))
        lit = min(square.sum(), ellipse.sum(), heart.sum()).item()
        for a, b in ((square, ellipse), (square, heart), (ellipse, heart)):
            assert _differ(a, b) >= 0.2 * lit, scale


def test_render_is_deterministic_and_batch_invariant(monkeypatch):
    classes = DSPRITES.sample(200, torch.Generator().manual_seed(3))
    together = DSPRITES.render(classes)
    assert torch.equal(together, DSPRITES.render(classes))
    assert torch.equal(together, torch.cat([DSPRITES.render(row.unsqueeze(0)) for row in classes]))
    monkeypatch.setattr(sprites_module, "CHUNK_PIXELS", 7 * 64 * 64)  # chunks of 7 images, the last one short
    assert torch.equal(together, DSPRITES.render(classes))
    assert torch.equal(together.flip(0), DSPRITES.render(classes.flip(0)))


@pytest.mark.parametrize("call, message", [
    (lambda: DSPRITES.render(torch.zeros(2, 5)), r"integer tensor \(N, 5\) .*got torch.float32 \(2, 5\)"),
    (lambda: DSPRITES.index(torch.zeros(2, 3, dtype=torch.int64)), r"\(N, 5\) .*got torch.int64 \(2, 3\)"),
    (lambda: DSPRITES.values(_classes((0, 6, 0, 0, 0))), r"scale classes must lie in \[0, 6\), got 6"),
    (lambda: XY.render(_classes((-1, 0, 0))), r"orientation classes must lie in \[0, 40\), got -1"),
    (lambda: XY.classes(torch.tensor([40960])), r"index 40960 is outside the grid \[0, 40960\)"),
    (lambda: XY.sample(-1), r"n must be an int >= 0, got -1"),
    (lambda: Sprites("dsprite"), r"unknown sprites variant 'dsprite'; choose 'dsprites' .* or 'xy_rotation'"),
])
def test_bad_factor_input_is_a_one_line_error(call, message):
    with pytest.raises(ConfigError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


# --- the datamodule, procedural ---------------------------------------------------------------------------------


def _rows(dataset) -> torch.Tensor:
    """Grid rows of a split: a SpriteImages, or the base's Subset of one."""
    if isinstance(dataset, torch.utils.data.Subset):
        return dataset.dataset.rows[torch.as_tensor(dataset.indices)]
    return dataset.rows


def test_splits_cover_the_grid_and_the_test_split_ignores_seed():
    dm = SpritesDataModule(batch_size=32, val_size=1000, seed=0)
    assert dm.shape == (1, 64, 64) and dm.num_classes == 3 and not dm.in_memory
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (737280 - 73728 - 1000, 1000, 73728)
    rows = torch.cat([_rows(dm.train_dataset), _rows(dm.val_dataset), _rows(dm.test_dataset)])
    assert torch.equal(rows.sort().values, torch.arange(737280))  # disjoint, and every image in one split

    other = SpritesDataModule(batch_size=32, val_size=1000, seed=1)
    other.setup("fit")
    other.setup("test")
    assert torch.equal(_rows(other.test_dataset), _rows(dm.test_dataset))  # fixed test split, in a fixed order
    assert not torch.equal(_rows(other.val_dataset), _rows(dm.val_dataset))  # val follows seed
    # the test split is in random order, so a prefix is a uniform sample: each shape about 1/3 of the first 6000
    shares = torch.bincount(DSPRITES.classes(_rows(dm.test_dataset)[:6000])[:, 0], minlength=3) / 6000
    torch.testing.assert_close(shares, torch.full((3,), 1 / 3), rtol=0, atol=0.03)


def test_batches_are_the_rendered_factors():
    dm = SpritesDataModule(batch_size=16, val_size=100)
    dm.setup("fit")
    dm.setup("test")
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        batch = next(iter(loader))
        assert len(batch) == 3
        x, y, factors = batch
        assert x.dtype == torch.float32 and x.shape == (16, 1, 64, 64) and set(x.unique().tolist()) == {0.0, 1.0}
        assert y.dtype == torch.int64 and y.shape == (16,) and factors.dtype == torch.int64 and factors.shape == (16, 5)
        assert torch.equal(x, DSPRITES.render(factors))
        assert torch.equal(y, factors[:, 0])
    # the test loader is the test split in order
    assert torch.equal(factors, DSPRITES.classes(_rows(dm.test_dataset)[:16]))
    x, y, factors = dm.test_dataset[5]  # the per-item path agrees with the batched one
    assert x.shape == (1, 64, 64) and y.dim() == 0 and factors.shape == (5,)
    assert torch.equal(x, DSPRITES.render(factors.unsqueeze(0))[0]) and y == factors[0]


def test_xy_rotation_variant():
    dm = SpritesDataModule(variant="xy_rotation", batch_size=8, val_size=0.1)
    assert dm.shape == (1, 32, 32) and dm.num_classes == 1 and dm.sprites.variant == "xy_rotation"
    dm.setup("fit")
    dm.setup("test")
    n_test = 4096  # 10% of 40960
    assert len(dm.test_dataset) == n_test and len(dm.val_dataset) == round(0.1 * (40960 - n_test))
    x, y, factors = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 1, 32, 32) and x.dtype == torch.float32 and y.tolist() == [0] * 8
    assert factors.shape == (8, 3) and torch.equal(x, XY.render(factors))
    # a checkpoint rebuilds the data from the recorded arguments: only ones this module takes are recorded
    rebuilt = SpritesDataModule(**dict(dm.hparams))
    assert rebuilt.variant == "xy_rotation" and rebuilt.val_size == 0.1 and "random_flip" not in dm.hparams


def test_models_read_the_three_tuple():
    """A zoo model takes batch[0] as the images; the VAE's MLP nets accept 64×64."""
    dm = SpritesDataModule(batch_size=4, val_size=10)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    model = zoo.create_model("vae", in_shape=(1, 64, 64), latent_dim=4)
    x = model.images(batch)
    assert torch.equal(x, batch[0])
    assert torch.equal(model.labels(batch), batch[1])  # a conditional model would read the shape as its label
    with torch.no_grad():
        elbo = model.elbo(x, generator=torch.Generator().manual_seed(0))
    assert elbo.shape == (4,) and torch.isfinite(elbo).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(variant="dsprite"), r"unknown sprites variant 'dsprite'; choose 'dsprites'"),
    (dict(source="png"), r"unknown sprites source 'png'; choose 'procedural' .* or 'npz'"),
    (dict(variant="xy_rotation", source="npz"), r"no 'xy_rotation' variant; pass variant='dsprites' or "
                                                 r"source='procedural'"),
    (dict(size=28), r"size=28: dsprites sprites are binary 64x64 .* leave size unset"),
    (dict(in_memory=True), r"in_memory=True: .* pass in_memory=False or leave it unset"),
    (dict(download="yes", source="npz"), r"download must be true or false, got 'yes'"),
    (dict(val_size=700000), r"val_size=700000 asks for 700000 validation images .* pass a smaller val_size"),
])
def test_bad_datamodule_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        SpritesDataModule(**kwargs)
    assert "\n" not in str(info.value)


# --- the real file's layout --------------------------------------------------------------------------------------


def _write_fake_dsprites(path: Path, n: int = 40, *, drop: str | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """A dSprites .npz of ``n`` grid rows in DeepMind's layout; returns (imgs, factor classes without colour).

    The images are random bits rather than renders, so a loader that drew them instead of reading them would fail.
    """
    classes = DSPRITES.sample(n, torch.Generator().manual_seed(5))
    imgs = np.random.default_rng(5).integers(0, 2, size=(n, 64, 64), dtype=np.uint8)
    colour = np.zeros((n, 1), dtype=np.int64)
    arrays = {
        "imgs": imgs,
        "latents_classes": np.concatenate([colour, classes.numpy()], axis=1),
        "latents_values": np.concatenate([colour + 1.0, DSPRITES.values(classes).numpy()], axis=1),
        "metadata": np.array({"latents_sizes": np.array([1, 3, 6, 40, 32, 32]),
                              "latents_names": ("color", "shape", "scale", "orientation", "posX", "posY")},
                             dtype=object),
    }
    if drop is not None:
        del arrays[drop]
    np.savez_compressed(path, **arrays)
    return imgs, classes


def test_npz_is_read_in_dsprites_layout(tmp_path):
    imgs, classes = _write_fake_dsprites(tmp_path / DSPRITES_FILE)
    dm = SpritesDataModule(source="npz", data_dir=str(tmp_path), download=False, batch_size=8, val_size=4)
    dm.prepare_data()  # the file is there: nothing to do
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (32, 4, 4)
    rows = torch.cat([_rows(dm.train_dataset), _rows(dm.val_dataset), _rows(dm.test_dataset)])
    assert torch.equal(rows.sort().values, torch.arange(40))

    for loader, split in ((dm.test_dataloader(), dm.test_dataset), (dm.val_dataloader(), dm.val_dataset)):
        x, y, factors = next(iter(loader))
        expected_rows = _rows(split)
        assert x.dtype == torch.float32 and x.shape == (4, 1, 64, 64)
        torch.testing.assert_close(x, torch.from_numpy(imgs[expected_rows.numpy()]).unsqueeze(1).float())
        assert torch.equal(factors, classes[expected_rows])  # the colour column dropped, the rest as in the file
        assert torch.equal(y, factors[:, 0])
    x, y, factors = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 1, 64, 64) and factors.shape == (8, 5) and torch.equal(y, factors[:, 0])


def test_npz_missing_is_a_one_line_error_saying_how_to_get_it(tmp_path):
    dm = SpritesDataModule(source="npz", data_dir=str(tmp_path), download=False)
    for call in (dm.prepare_data, lambda: dm.setup("test")):
        with pytest.raises(DatasetNotFoundError, match="download=True") as info:
            call()
        message = str(info.value)
        assert "\n" not in message and DSPRITES_FILE in message and str(tmp_path) in message
        assert DSPRITES_URL in message and "source='procedural'" in message


def test_npz_download_uses_torchvisions_download_url(tmp_path, monkeypatch):
    calls = []

    def no_network(url, root, filename=None, md5=None):  # what urllib raises on a machine without network
        calls.append((url, root, filename, md5))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(sprites_module, "download_url", no_network)
    dm = SpritesDataModule(source="npz", data_dir=str(tmp_path), download=True, batch_size=4, val_size=2)
    with pytest.raises(DatasetNotFoundError, match="download failed.*name resolution") as info:
        dm.prepare_data()
    assert "\n" not in str(info.value)
    assert calls == [(DSPRITES_URL, str(tmp_path), DSPRITES_FILE, DSPRITES_MD5)]

    def fake_download(url, root, filename=None, md5=None):  # a download that succeeds: the file appears in root
        _write_fake_dsprites(Path(root) / filename, n=20)

    monkeypatch.setattr(sprites_module, "download_url", fake_download)
    dm.prepare_data()
    dm.setup("test")
    assert len(dm.test_dataset) == 2


@pytest.mark.parametrize("drop", ["imgs", "latents_classes"])
def test_npz_lacking_an_array_names_it(tmp_path, drop):
    _write_fake_dsprites(tmp_path / DSPRITES_FILE, drop=drop)
    dm = SpritesDataModule(source="npz", data_dir=str(tmp_path), download=False, batch_size=4, val_size=2)
    with pytest.raises(ConfigError, match=f"is not dSprites' file: it has no '{drop}' array .* download=True") as info:
        dm.setup("fit")
    assert "\n" not in str(info.value)


def test_npz_that_is_no_npz_or_has_grey_pixels(tmp_path):
    path = tmp_path / DSPRITES_FILE
    path.write_bytes(b"not a zip archive")
    dm = SpritesDataModule(source="npz", data_dir=str(tmp_path), download=False, batch_size=4, val_size=2)
    with pytest.raises(ConfigError, match="numpy cannot read it as an .npz"):
        dm.setup("test")
    imgs, classes = _write_fake_dsprites(path, n=10)
    np.savez(path, imgs=imgs * 255, latents_classes=np.concatenate([np.zeros((10, 1), np.int64), classes], 1))
    with pytest.raises(ConfigError, match="'imgs' holds values up to 255; dSprites' pixels are 0 or 1"):
        SpritesDataModule(source="npz", data_dir=str(tmp_path), download=False, batch_size=4, val_size=2).setup("test")

"""Sprites with exact ground-truth factors, on dSprites' factor grid: data for disentanglement.

dSprites (Matthey, Higgins, Hassabis & Lerchner 2017, https://github.com/deepmind/dsprites-dataset; the data of
Higgins et al., "beta-VAE", ICLR 2017) is every combination of five factors drawn as a 64×64 binary image:
shape (square, ellipse, heart), scale (6 values in [0.5, 1]), orientation (40 values in [0, 2π]), position x
and y (32 values each in [0, 1]): 3·6·40·32·32 = 737280 images. Because each image's factors are known
exactly, disentanglement metrics can draw images with chosen factors held fixed (zoo/metrics/disentanglement.py).

:class:`Sprites` is that grid and a vectorised renderer. Its images follow dSprites' factor grid, factor values
and array layout (flat index = row of dSprites' ``imgs``, last factor fastest) but are **drawn by this code, not
pixel-identical to DeepMind's bitmaps**: the shapes are analytic regions tested at pixel centres. Geometry
(``S`` the image side, pixel ``p`` covering [p, p + 1), so its centre is p + 0.5):

* each shape is defined in sprite units inside the unit disc about its rotation centre: the square of half-side
  1/√2 (its corners on the circle), the ellipse of semi-axes 1 × 0.5 (major axis horizontal at orientation 0),
  and the upright heart (x² + y² − 1)³ − x²y³ ≤ 0, rotated about (0, 0.3), near its area centroid,
  and shrunk by 1.3 so that its bottom tip lies on the unit circle;
* the sprite's radius in pixels is ``scale · 5/32 · S``: 10 px at 64×64 for scale 1 (the square is then 14 px
  wide, the heart 18 px, the ellipse 20×10 px), 5 px at scale 0.5 (square 7 px, heart 9 px, ellipse 10×5 px);
* the orientation turns the sprite counter-clockwise as seen on screen;
* the centre is at ``R + pos · (S − 2R)`` with ``R = 5/32 · S``, the radius at scale 1, for x (columns, left to
  right) and y (rows, top to bottom): 10 px to 54 px at 64×64, 44/31 ≈ 1.42 px per position class, so the
  largest sprite at any rotation stays inside the image.

Like dSprites, orientation 0 and orientation 2π (classes 0 and 39) are the same image, and the ellipse (2-fold)
and the square (4-fold) repeat under rotation; only the heart is asymmetric.

The ``xy_rotation`` variant (the lecture's example of images explained by three factors) is the heart alone at
scale 1 on a 32×32 image: orientation (40) × x (32) × y (32) = 40960 images, radius 5 px, centres 5 to 27 px.

:class:`SpritesDataModule` serves the grid (``source="procedural"``, offline, each batch rendered on demand) or
DeepMind's real ``.npz`` (``source="npz"``, downloaded into ``data_dir`` with ``download=True``). Batches are
``(x, y, factors)``: x float32 (N, 1, S, S) in {0, 1}, y the shape class (0 for ``xy_rotation``), factors the
(N, K) int64 factor classes (:meth:`Sprites.values` maps them to dSprites' latent values).
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.datasets.utils import download_url

from zoo.data.base import ImageDataModule
from zoo.errors import ConfigError, DatasetNotFoundError

__all__ = ["DSPRITES_FILE", "DSPRITES_MD5", "DSPRITES_URL", "SpriteImages", "Sprites", "SpritesDataModule"]

VARIANTS = ("dsprites", "xy_rotation")
SOURCES = ("procedural", "npz")

#: DeepMind's file: (737280, 64, 64) uint8 images and their factors; 26 MB compressed, 3 GB loaded.
DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_URL = f"https://raw.githubusercontent.com/deepmind/dsprites-dataset/master/{DSPRITES_FILE}"
DSPRITES_MD5 = "7da33b31b13a06f4b04a70402ce90c2e"  # of the file at master, as torchvision-style loaders check it

#: sprite radius at scale 1 as a fraction of the image side: 10 px at 64×64 (dSprites' sprites span ~10-20 px)
RADIUS_FRACTION = 5 / 32
SQUARE_HALF_SIDE = 1 / math.sqrt(2)  # corners on the unit circle
ELLIPSE_MINOR = 0.5  # semi-minor axis; the semi-major is 1
HEART_CENTRE = 0.3  # rotation centre (0, 0.3) in the curve's own units, near its area centroid (0, 0.293)
HEART_RADIUS = 1.3  # distance from that centre to the farthest point, the bottom tip (0, -1)
SQUARE, ELLIPSE, HEART = 0, 1, 2  # dSprites' shape classes (its values 1., 2., 3.)

# The fixed test split: 10% of the grid (dSprites has no official split), the same for every run and every method.
TEST_FRACTION = 0.1
TEST_SPLIT_SEED = 737280  # separate from ``seed`` on purpose, as digits' TEST_SPLIT_SEED
#: images rendered at once: float64 work arrays of this many pixels (32 MB each) bound the renderer's memory
CHUNK_PIXELS = 2**22


class Sprites:
    """dSprites' factor grid (or the ``xy_rotation`` one) and a deterministic, vectorised renderer.

    Args:
        variant: ``"dsprites"``: factors (shape, scale, orientation, pos_x, pos_y) of sizes (3, 6, 40, 32, 32),
            64×64 images; ``"xy_rotation"``: (orientation, pos_x, pos_y) of sizes (40, 32, 32), the heart at
            scale 1, 32×32 images.

    Factor *classes* are int64 indices into each factor's values; the values are dSprites' ``latents_values``:
    shape 1., 2., 3. (square, ellipse, heart), scale ``linspace(0.5, 1, 6)``, orientation
    ``linspace(0, 2π, 40)``, positions ``linspace(0, 1, 32)``.
    """

    def __init__(self, variant: str = "dsprites") -> None:
        if variant == "dsprites":
            self.names: tuple[str, ...] = ("shape", "scale", "orientation", "pos_x", "pos_y")
            self.sizes: tuple[int, ...] = (3, 6, 40, 32, 32)
            self.side = 64
        elif variant == "xy_rotation":
            self.names, self.sizes, self.side = ("orientation", "pos_x", "pos_y"), (40, 32, 32), 32
        else:
            raise ConfigError(
                f"unknown sprites variant {variant!r}; choose 'dsprites' (shape, scale, orientation, x, y; 64x64) "
                f"or 'xy_rotation' (the heart's orientation, x, y; 32x32)"
            )
        self.variant = variant
        self.num_images = math.prod(self.sizes)
        # mixed radix, last factor fastest: dSprites' latents_bases without its one-valued colour factor
        self._bases = torch.tensor([math.prod(self.sizes[k + 1 :]) for k in range(len(self.sizes))])
        self._sizes = torch.tensor(self.sizes)
        tables = {
            "shape": torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
            "scale": torch.linspace(0.5, 1.0, 6, dtype=torch.float64),
            "orientation": torch.linspace(0.0, 2 * math.pi, 40, dtype=torch.float64),
            "pos_x": torch.linspace(0.0, 1.0, 32, dtype=torch.float64),
            "pos_y": torch.linspace(0.0, 1.0, 32, dtype=torch.float64),
        }
        self._values = [tables[name] for name in self.names]
        # Pixel geometry as lookup tables over the classes, computed once: render() then only adds, multiplies and
        # compares, exactly rounded per element, so an image does not depend on the batch it is drawn in (a
        # vectorised cos of N angles may differ by an ulp from the scalar one used for a batch's tail).
        radius = RADIUS_FRACTION * self.side
        self._radius = radius * tables["scale"]  # (6,) pixels; xy_rotation reads its last entry, scale 1
        self._centre = radius + tables["pos_x"] * (self.side - 2 * radius)  # (32,) pixel coordinate per class
        self._cos, self._sin = torch.cos(tables["orientation"]), torch.sin(tables["orientation"])

    def __repr__(self) -> str:
        return f"Sprites({self.variant!r})"

    # --- the grid --------------------------------------------------------------------------------------------

    def values(self, classes: torch.Tensor) -> torch.Tensor:
        """(N, K) int64 factor classes -> (N, K) float64 factor values, as dSprites' ``latents_values``."""
        classes = self._check_classes(classes)
        return torch.stack([table.to(classes.device)[classes[:, k]] for k, table in enumerate(self._values)], 1)

    def index(self, classes: torch.Tensor) -> torch.Tensor:
        """(N, K) factor classes -> (N,) int64 flat index into the grid: the row of dSprites' ``imgs``."""
        classes = self._check_classes(classes)
        return (classes * self._bases.to(classes.device)).sum(1)

    def classes(self, index: torch.Tensor) -> torch.Tensor:
        """(N,) flat indices -> (N, K) int64 factor classes; the inverse of :meth:`index`."""
        if not isinstance(index, torch.Tensor) or index.dtype.is_floating_point or index.dim() != 1:
            raise ConfigError(f"index must be a 1-d integer tensor, got {_describe(index)}")
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= self.num_images):
            bad = int(index.min()) if int(index.min()) < 0 else int(index.max())
            raise ConfigError(f"index {bad} is outside the grid [0, {self.num_images}) of {self!r}")
        index = index.to(torch.int64)
        return index.unsqueeze(1) // self._bases.to(index.device) % self._sizes.to(index.device)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, K) int64 factor classes drawn uniformly from the grid (each factor uniform and independent)."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"n must be an int >= 0, got {n!r}")
        return self.classes(torch.randint(self.num_images, (n,), generator=generator))

    # --- the images ------------------------------------------------------------------------------------------

    def render(self, classes: torch.Tensor) -> torch.Tensor:
        """(N, K) int64 factor classes -> (N, 1, side, side) float32 images in {0, 1}, on ``classes``' device.

        Deterministic and batch-invariant: an image is the same whether drawn alone or with others.
        """
        classes = self._check_classes(classes)
        out = torch.empty(len(classes), 1, self.side, self.side, dtype=torch.float32, device=classes.device)
        chunk = max(1, CHUNK_PIXELS // self.side**2)
        for start in range(0, len(classes), chunk):
            out[start : start + chunk, 0] = self._draw(classes[start : start + chunk])
        return out

    def _draw(self, classes: torch.Tensor) -> torch.Tensor:
        """(n, K) factor classes -> (n, side, side) bool masks."""
        device = classes.device
        factor = dict(zip(self.names, classes.unbind(1)))
        n = len(classes)
        shape = factor.get("shape", torch.full((n,), HEART, device=device))
        scale = factor.get("scale", torch.full((n,), len(self._radius) - 1, device=device))
        radius = self._radius.to(device)[scale].view(n, 1, 1)
        cos = self._cos.to(device)[factor["orientation"]].view(n, 1, 1)
        sin = self._sin.to(device)[factor["orientation"]].view(n, 1, 1)
        centre = self._centre.to(device)
        pixels = torch.arange(self.side, dtype=torch.float64, device=device) + 0.5  # pixel centres
        dx = pixels.view(1, 1, -1) - centre[factor["pos_x"]].view(n, 1, 1)  # (n, 1, S) rightwards
        dy = centre[factor["pos_y"]].view(n, 1, 1) - pixels.view(1, -1, 1)  # (n, S, 1) upwards: rows grow down
        # into the sprite's frame: rotate back by the orientation, divide by the radius
        u = (cos * dx + sin * dy) / radius  # (n, S, S)
        v = (cos * dy - sin * dx) / radius
        mask = torch.zeros(n, self.side, self.side, dtype=torch.bool, device=device)
        for kind, inside in ((SQUARE, _square), (ELLIPSE, _ellipse), (HEART, _heart)):
            rows = (shape == kind).nonzero().squeeze(1)
            if len(rows):
                mask[rows] = inside(u[rows], v[rows])
        return mask

    def _check_classes(self, classes: torch.Tensor) -> torch.Tensor:
        k = len(self.sizes)
        if (
            not isinstance(classes, torch.Tensor) or classes.dtype.is_floating_point or classes.dtype == torch.bool
            or classes.dim() != 2 or classes.shape[1] != k
        ):
            raise ConfigError(
                f"factor classes must be an integer tensor (N, {k}) with columns {', '.join(self.names)}, "
                f"got {_describe(classes)}"
            )
        classes = classes.to(torch.int64)
        if len(classes):
            low, high = classes.min(0).values.tolist(), classes.max(0).values.tolist()
            for name, size, lo, hi in zip(self.names, self.sizes, low, high):
                if lo < 0 or hi >= size:
                    raise ConfigError(f"{name} classes must lie in [0, {size}), got {lo if lo < 0 else hi}")
        return classes


def _square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u.abs() <= SQUARE_HALF_SIDE) & (v.abs() <= SQUARE_HALF_SIDE)


def _ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    w = v / ELLIPSE_MINOR
    return u * u + w * w <= 1.0


def _heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    x, y = HEART_RADIUS * u, HEART_CENTRE + HEART_RADIUS * v
    r = x * x + y * y - 1.0
    return r * r * r - x * x * y * y * y <= 0.0


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} {tuple(value.shape)}"
    return repr(value)


class SpriteImages(Dataset):
    """Sprites at ``rows`` of a grid (or of a file), rendered on demand or read from ``images``.

    Items are ``(x, y, factors)``: x float32 (1, S, S) in {0, 1}, y the int64 shape class (0 when the shape is
    fixed), factors the (K,) int64 factor classes. Without ``images`` a row is a flat grid index and its image is
    drawn by ``sprites``; with ``images`` (M, S, S) uint8 in {0, 1} and ``factors`` (M, K), it is read from them.
    :meth:`__getitems__` fetches a whole batch at once (torch's ``DataLoader`` calls it, ``Subset`` forwards it),
    so a batch is one vectorised render or one gather, not N single ones.
    """

    def __init__(
        self,
        sprites: Sprites,
        rows: torch.Tensor,
        *,
        images: torch.Tensor | None = None,
        factors: torch.Tensor | None = None,
    ) -> None:
        if (images is None) != (factors is None):
            raise ConfigError("SpriteImages takes images and factors together (a file), or neither (rendered)")
        self.sprites, self.rows, self.images, self.factors = sprites, rows, images, factors
        self._shape_column = sprites.names.index("shape") if "shape" in sprites.names else None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.__getitems__([position])[0]

    def __getitems__(self, positions: list[int]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        rows = self.rows[torch.as_tensor(positions, dtype=torch.int64)]
        if self.images is None:
            factors = self.sprites.classes(rows)
            x = self.sprites.render(factors)
        else:
            assert self.factors is not None
            factors = self.factors[rows]
            x = self.images[rows].unsqueeze(1).to(torch.float32)  # dSprites stores 0/1, not 0/255
        if self._shape_column is None:
            y = torch.zeros(len(rows), dtype=torch.int64)
        else:
            y = factors[:, self._shape_column].clone()
        # torch's contract for __getitems__ is a list of items; the default collate stacks them back (a copy of
        # one batch, cheap next to drawing it)
        return list(zip(x.unbind(0), y.unbind(0), factors.unbind(0)))


class SpritesDataModule(ImageDataModule):
    """Sprites on dSprites' factor grid, batches ``(x, y, factors)``; dataset name ``sprites``.

    Args:
        variant: ``"dsprites"`` (64×64, 737280 images, 3 classes = the shapes) or ``"xy_rotation"`` (32×32,
            40960 images of the heart, 1 class). See :class:`Sprites`.
        source: ``"procedural"`` (default, offline): each batch drawn by :class:`Sprites` when loaded, nothing is
            held in memory; ``"npz"``: DeepMind's real file :data:`DSPRITES_FILE` in ``data_dir`` (its 737280
            images loaded once, 3 GB), variant ``dsprites`` only.
        download: ``source="npz"`` only: fetch the file from :data:`DSPRITES_URL` into ``data_dir`` (md5-checked)
            when it is absent; with ``False`` an absent file is an error saying how to get it.
        size: ``None`` or the variant's own side; sprites are binary images drawn at their size, and resizing
            would make them grey, so other sizes are refused (pick the variant instead).
        in_memory: ``None`` or ``False``: the in-memory path yields ``(x, y)`` only and would drop the factors.

    Splits: dSprites has no official one. The test split is a fixed 10% of the rows (73728 of the grid) drawn with
    :data:`TEST_SPLIT_SEED`, independent of ``seed``, and kept in that random order, so any prefix of it is a
    uniform sample of the grid; the real file's rows are the grid's, so both sources test on the same factors.
    Validation is ``val_size`` rows of the rest, by ``seed`` (the base); train is what remains.
    Other arguments as in :class:`~zoo.data.base.ImageDataModule`; the per-item path's ``random_flip`` and
    ``binarize`` are not offered: a flip would change the factors, and the images are binary already.
    """

    def __init__(
        self,
        *,
        variant: str = "dsprites",
        source: str = "procedural",
        data_dir: str | None = None,
        download: bool = True,
        batch_size: int = 128,
        num_workers: int = 0,
        size: int | None = None,
        seed: int = 0,
        val_size: int | float = 5000,
        in_memory: bool | None = None,
    ) -> None:
        sprites = Sprites(variant)
        if source not in SOURCES:
            raise ConfigError(
                f"unknown sprites source {source!r}; choose 'procedural' (drawn here, offline) or 'npz' "
                f"(DeepMind's {DSPRITES_FILE})"
            )
        if source == "npz" and variant != "dsprites":
            raise ConfigError(
                f"source='npz' is DeepMind's dSprites file, which has no {variant!r} variant; pass "
                f"variant='dsprites' or source='procedural'"
            )
        if not isinstance(download, bool):
            raise ConfigError(f"download must be true or false, got {download!r}")
        if size is not None and size != sprites.side:
            raise ConfigError(
                f"size={size!r}: {variant} sprites are binary {sprites.side}x{sprites.side} images and are not "
                f"resized; leave size unset (variant='dsprites' is 64x64, 'xy_rotation' 32x32)"
            )
        if in_memory is not None and not isinstance(in_memory, bool):
            raise ConfigError(f"in_memory must be false or null (automatic), got {in_memory!r}")
        if in_memory:
            raise ConfigError(
                f"in_memory={in_memory!r}: SpritesDataModule draws or gathers each batch with its factors "
                f"(x, y, factors), which the in-memory path cannot carry; pass in_memory=False or leave it unset"
            )
        # read by the base's __init__: the shape, and the train split's size for its early val_size check
        self.native_shape = (1, sprites.side, sprites.side)
        self.num_classes = 3 if "shape" in sprites.names else 1
        self.nominal_train_size = sprites.num_images - _n_test(sprites.num_images) if source == "procedural" else None
        super().__init__(
            data_dir=data_dir, batch_size=batch_size, num_workers=num_workers, size=size, seed=seed,
            val_size=val_size, in_memory=False,
        )
        # The base recorded its own arguments too (a checkpoint rebuilds the data from them); drop those this
        # module does not take, as CelebADataModule does.
        for record in (self.hparams, self._hparams_initial):
            for name in ("device", "random_flip", "binarize"):
                record.pop(name, None)
        self.sprites = sprites  # the factor source the disentanglement metrics draw from
        self.variant, self.source, self.download = variant, source, download
        self._file: tuple[torch.Tensor, torch.Tensor] | None = None  # (images, factors) of the npz, once loaded

    @property
    def path(self) -> Path:
        """Where ``source="npz"`` looks for (and downloads) DeepMind's file."""
        return self.root / DSPRITES_FILE

    def prepare_data(self) -> None:
        if self.source != "npz" or self.path.is_file():
            return
        if not self.download:
            raise self._not_found("download=False, so nothing was downloaded")
        try:
            download_url(DSPRITES_URL, str(self.root), filename=DSPRITES_FILE, md5=DSPRITES_MD5)
        # URLError is an OSError; torchvision raises RuntimeError when the md5 does not match
        except (OSError, RuntimeError) as error:
            raise self._not_found(f"the download failed: {error}") from error
        if not self.path.is_file():
            raise self._not_found("the download finished but left no file")

    def load_train(self) -> Dataset:
        return self._split(train=True)

    def load_test(self) -> Dataset:
        return self._split(train=False)

    # --- helpers ---------------------------------------------------------------------------------------------

    def _split(self, *, train: bool) -> SpriteImages:
        if self.source == "procedural":
            images = factors = None
            n_rows = self.sprites.num_images
        else:
            images, factors = self._load_file()
            n_rows = len(images)
        order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(TEST_SPLIT_SEED))
        n_test = _n_test(n_rows)
        rows = order[n_test:] if train else order[:n_test]
        return SpriteImages(self.sprites, rows, images=images, factors=factors)

    def _load_file(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images (N, 64, 64) uint8 in {0, 1}, factors (N, 5) int64) of the npz, checked; cached."""
        if self._file is not None:
            return self._file
        if not self.path.is_file():
            raise self._not_found("prepare_data() has not fetched it (a Trainer calls it first)")
        try:
            # allow_pickle=False: only the plain arrays are read; ``metadata`` (a pickled dict) is never touched
            with np.load(self.path, allow_pickle=False) as archive:
                keys = archive.files
                arrays = {key: archive[key] for key in ("imgs", "latents_classes") if key in keys}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise self._bad_file(f"numpy cannot read it as an .npz ({error})") from error
        for key in ("imgs", "latents_classes"):
            if key not in arrays:
                raise self._bad_file(f"it has no {key!r} array (it has {', '.join(keys) or 'none'})")
        imgs, latents = arrays["imgs"], arrays["latents_classes"]
        side = self.sprites.side
        if imgs.dtype != np.uint8 or imgs.ndim != 3 or imgs.shape[1:] != (side, side):
            raise self._bad_file(f"'imgs' is {imgs.dtype} {imgs.shape}, not uint8 (N, {side}, {side})")
        k = len(self.sprites.sizes)
        if latents.ndim != 2 or latents.shape != (len(imgs), k + 1) or not np.issubdtype(latents.dtype, np.integer):
            raise self._bad_file(
                f"'latents_classes' is {latents.dtype} {latents.shape}, not integer ({len(imgs)}, {k + 1}): "
                f"colour, then {', '.join(self.sprites.names)}"
            )
        if len(imgs) and int(imgs.max()) > 1:
            raise self._bad_file(f"'imgs' holds values up to {int(imgs.max())}; dSprites' pixels are 0 or 1")
        # the colour column is constant (one colour), so it is no factor; the rest are the grid's classes
        factors = torch.from_numpy(latents[:, 1:].astype(np.int64))
        self.sprites._check_classes(factors)  # out-of-range classes would break values()/render() downstream
        self._file = torch.from_numpy(imgs), factors
        return self._file

    def _not_found(self, reason: str) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            f"dSprites file {DSPRITES_FILE} not found in {self.root}; {reason}. To fix: pass download=True (needs "
            f"network access); or download {DSPRITES_URL} into data_dir; or use source='procedural' "
            f"(the same factor grid, drawn offline)"
        )

    def _bad_file(self, problem: str) -> ConfigError:
        return ConfigError(
            f"{self.path} is not dSprites' file: {problem}; delete it and run again with download=True"
        )


def _n_test(n_rows: int) -> int:
    """Rows in the fixed test split of ``n_rows``: 10%, at least one (73728 of the full grid)."""
    return max(1, round(TEST_FRACTION * n_rows))

"""The image contract in one place: public images are float tensors in [0, 1], shape (N, C, H, W)."""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from zoo.errors import ConfigError, InputError

ImageShape = tuple[int, int, int]


def image_shape(value: Sequence[int], name: str = "in_shape") -> ImageShape:
    """Validate and normalise a (C, H, W) shape; lists from YAML become a tuple of ints."""
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be (channels, height, width), got {value!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"{name} must be three positive ints (channels, height, width), got {value!r}")
    return shape  # type: ignore[return-value]


def check_images(x: torch.Tensor, shape: ImageShape) -> torch.Tensor:
    """Refuse a batch whose per-image shape is not ``shape``, saying how to make them agree."""
    if x.dim() != 4 or tuple(x.shape[1:]) != shape:
        raise ConfigError(
            f"images of shape {tuple(x.shape[1:])} do not match the model's in_shape {shape}; build the model "
            f"with in_shape={tuple(x.shape[1:])} or resize the data (e.g. the datamodule's size=)"
        )
    return x


def check_image_input(x: object, shape: ImageShape, *, where: str) -> None:
    """The public image contract, checked where a user hands images to a model (``encode``, ``elbo`` ...):
    a float tensor (N, C, H, W) with (C, H, W) == ``shape``, finite, in [0, 1]. Raises InputError naming the
    value given, the value expected and the fix."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{where}: expected a torch.Tensor of images {('N', *shape)}, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        fix = "divide by 255 (x.float() / 255)" if x.dtype == torch.uint8 else "convert with x.float()"
        raise InputError(f"{where}: images must be floats in [0, 1], got dtype {x.dtype}; {fix}")
    given = tuple(x.shape)
    if given == shape:
        raise InputError(f"{where}: got one image of shape {given}; add the batch dimension: x[None] or x.unsqueeze(0)")
    if x.dim() == 2 and given[1] == shape[0] * shape[1] * shape[2]:
        raise InputError(f"{where}: got flat images {given}; reshape them to (N, C, H, W): "
                         f"x.view(-1, {', '.join(map(str, shape))})")
    if x.dim() != 4 or given[1:] != shape:
        raise InputError(f"{where}: images must have shape (N, {', '.join(map(str, shape))}), got {given}; resize "
                         f"them, or use a model built for in_shape={given[1:] if x.dim() == 4 else '(C, H, W)'}")
    if x.numel() == 0:
        raise InputError(f"{where}: got an empty batch {given}; pass at least one image")
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise InputError(f"{where}: {bad} of {x.numel()} pixel values are nan or inf; images must be finite")
    low, high = (float(v) for v in torch.aminmax(x))
    if low < 0 or high > 1:
        fix = ("divide 8-bit values by 255" if high > 1.5 else "map [-1, 1] images with (x + 1) / 2" if low < 0
               else "clamp them with x.clamp(0, 1)")
        raise InputError(f"{where}: pixel values span [{low:.4g}, {high:.4g}], outside [0, 1]; {fix}")


def check_code_input(z: object, latent_dim: int, *, where: str) -> None:
    """Codes handed to ``decode``: a finite float tensor (N, latent_dim)."""
    if not isinstance(z, torch.Tensor) or not z.dtype.is_floating_point:
        what = f"dtype {z.dtype}" if isinstance(z, torch.Tensor) else type(z).__name__
        raise InputError(f"{where}: codes must be a float tensor (N, {latent_dim}), got {what}")
    if z.dim() != 2 or z.shape[1] != latent_dim or z.shape[0] == 0:
        fix = "; add the batch dimension: z[None]" if tuple(z.shape) == (latent_dim,) else ""
        raise InputError(f"{where}: codes must have shape (N, latent_dim={latent_dim}) with N >= 1, got "
                         f"{tuple(z.shape)}{fix}")
    if not bool(torch.isfinite(z).all()):
        raise InputError(f"{where}: codes hold nan or inf; they must be finite")


def check_count(n: object, *, where: str) -> None:
    """A number of samples: an int >= 1 (a bool or a float is refused, not truncated)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise InputError(f"{where}: n must be an int >= 1, got {n!r}")


def check_labels(y: object, n: int, num_classes: int, *, where: str) -> torch.Tensor:
    """Class labels for ``n`` images of a class-conditional model: one int for all, or n of them (a sequence or
    an integer tensor), each in [0, num_classes). Returns them as (n,) int64; an InputError naming the fix."""
    try:
        labels = torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"{where}: y must be class indices (an int or a LongTensor), got {type(y).__name__}") from None
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise InputError(f"{where}: y must be class indices (an int or a LongTensor), got {labels.dtype} values")
    labels = labels.long()
    if labels.dim() == 0:  # one class for every image
        labels = labels.expand(n)
    if labels.dim() != 1 or len(labels) != n:
        what = f"{len(labels)} labels" if labels.dim() == 1 else f"shape {tuple(labels.shape)}"
        raise InputError(f"{where}: y has {what} for {n} images; pass one label per image (a LongTensor of length "
                         f"{n}) or one int for all")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        raise InputError(f"{where}: label {bad} is outside [0, num_classes={num_classes}); pass classes "
                         f"0..{num_classes - 1}")
    return labels


#: how far (in level units) a pixel may sit from its level and still count as on it: float32 rounding of i/(n-1)
GRID_TOLERANCE = 1e-3


def to_levels(x: torch.Tensor, levels: int, *, where: str) -> torch.Tensor:
    """Images in [0, 1] -> level indices (N, C, H, W) int64 of the grid i / (levels - 1); a one-line InputError
    naming the expected quantisation when a pixel is off it (a model of discrete pixels gives it no
    probability)."""
    scaled = x * (levels - 1)
    index = scaled.round()
    off = (scaled - index).abs() > GRID_TOLERANCE
    if bool(off.any()):
        value = x[off][0].item()
        grid = "0 or 1" if levels == 2 else f"i/{levels - 1} for i = 0..{levels - 1}"
        fix = ("binarize the data (the datamodule's binarize: dynamic)" if levels == 2
               else f"quantise the data to {levels} levels")
        raise InputError(f"{where} models {levels}-level images (pixels {grid}), got a pixel of {value:.6g}; {fix}")
    return index.long()


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1], for nets with a tanh output (DCGAN's convention)."""
    return x * 2 - 1


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped: the public range."""
    return ((x + 1) / 2).clamp(0, 1)

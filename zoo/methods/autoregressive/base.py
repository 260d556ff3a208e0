"""The autoregressive family: models of discrete images as a product of per-pixel conditionals,

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

pixels in raster order (row by row, left to right) and channels in order within a pixel (van den Oord et al.
2016, arXiv:1601.06759, Eq. 1-2). A method supplies only ``conditionals(x)``: the logits of every pixel's
conditional, computed in one pass from the pixels before it (teacher forcing). This base turns them into

- ``log_likelihood(x)``: the exact log-probability of each image, in nats (the sum of the conditionals' log
  probabilities; bits/dim through zoo.distributions.bits_per_dim, the one conversion);
- the training objective: the negative log-likelihood per image;
- ``sample(n)``: pixel by pixel in raster order, each pixel's conditional from the network's sampling cache
  (zoo/nets/autoregressive.py: every layer's features kept and each position computed once, Ramachandran et
  al. 2017, arXiv:1704.06001), the same conditionals as a pass over the whole image at a fraction of the
  cost; ``cache=False`` re-runs the network over the rows so far for every pixel and channel instead
  (H * W * C passes), the reference the cache is tested and benchmarked against;
- ``complete(x, mask)``: the pixels where ``mask`` is 1 kept, the others sampled in raster order given
  everything before them (kept or sampled). A conditional sees only the past, so a kept pixel after a missing
  one informs nothing before it (the bottom half given the top is exact; the top given the bottom is not
  conditioning on the bottom).

The data are discrete: ``levels`` = 2 is binary data (pixels 0 or 1; Bernoulli conditionals; train on
``binarize: dynamic`` data, zoo/data/binarize.py), ``levels`` = n > 2 is n-level data (pixel values
i / (n - 1); categorical conditionals; 17 for scikit-learn's digits, 256 for 8-bit images). A pixel off that
grid has no probability under the model and is refused with a one-line error.

A class-conditional method (``num_classes`` set) models p(x | y) = prod_i p(x_i | x_<i, y): its conditionals
read the labels y (N,) too, it trains on the batch's labels, and ``log_likelihood``, ``sample`` and ``complete``
take ``y=`` (one int for all images, or one label per image), which an unconditional one refuses. Only
``sample`` does without: it then draws the classes uniformly, as cGAN's (every generative model answers
``sample(n)``: the sample grids and FID callbacks ask that).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.capabilities import COMPLETE, LIKELIHOOD, SAMPLE
from zoo.distributions import bits_per_dim, discrete_pixel_log_likelihood
from zoo.errors import ConfigError, InputError
from zoo.images import check_image_input, check_labels, to_levels
from zoo.methods.base import Batch, GenerativeModel, Terms
from zoo.nets.autoregressive import PixelCache

class AutoregressiveModel(GenerativeModel):
    """A product of per-pixel discrete conditionals; subclasses write ``conditionals``. See the module doc.

    Args:
        in_shape: (C, H, W) of the images.
        levels: values a pixel takes: 2 (binary, Bernoulli conditionals) or n > 2 (i / (n - 1), categorical).
        optimizer, lr_scheduler, channels_last, compile: see ``ZooModule``.
    """

    capabilities = frozenset({SAMPLE, LIKELIHOOD, COMPLETE})
    likelihood_kind = "exact_discrete"
    family = "autoregressive"
    #: labels y in [0, num_classes) of a class-conditional model; None: unconditional (a subclass sets it)
    num_classes: int | None = None

    def __init__(
        self,
        *,
        in_shape: Sequence[int],
        levels: int,
        optimizer: OptimizerCallable | None,
        lr_scheduler: LRSchedulerCallable | None,
        channels_last: bool,
        compile: bool,
    ) -> None:
        super().__init__(
            in_shape=in_shape, optimizer=optimizer, lr_scheduler=lr_scheduler, channels_last=channels_last,
            compile=compile,
        )
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
            raise ConfigError(f"levels must be an int >= 2 (2: binary images; 17: digits' grey levels), got {levels!r}")
        self.levels = levels

    @property
    def likelihood_data(self) -> str:  # type: ignore[override]
        return "binary" if self.levels == 2 else "n-level"

    @property
    def outputs_per_channel(self) -> int:
        """K values per channel and pixel: one Bernoulli logit for binary data, else one logit per level."""
        return 1 if self.levels == 2 else self.levels

    # -- what a method writes ---------------------------------------------------------------------------
    def conditionals(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, C, K, H, W) of p(x_i | x_<i) for every pixel and channel of ``x`` (N, C, H, W), each
        computed from the pixels and channels before it only; of p(x_i | x_<i, y) given the labels ``y`` (N,)
        of a class-conditional model (None for an unconditional one: the public methods make sure)."""
        raise NotImplementedError

    def pixel_cache(self, y: torch.Tensor | None = None) -> PixelCache:
        """The network's sampling cache (zoo/nets/autoregressive.py) for images of the checked labels ``y``
        (None for an unconditional model): outputs at one position at a time equal to ``conditionals``'."""
        raise NotImplementedError

    # -- the labels -------------------------------------------------------------------------------------
    def class_labels(self, y: Any, n: int, *, where: str) -> torch.Tensor | None:
        """The labels (n,) on the model's device for a class-conditional model (``y`` one int or n labels),
        None for an unconditional one; a one-line InputError when ``y`` is missing, extra or out of range."""
        name = type(self).__name__
        if self.num_classes is None:
            if y is not None:
                raise InputError(f"{where}: {name} is unconditional (it models p(x), not p(x | y)) and takes no "
                                 "labels y; drop y, or train a class-conditional model")
            return None
        if y is None:
            raise InputError(f"{where}: {name} is class-conditional (num_classes={self.num_classes}); pass y= (one "
                             f"int for all {n} images, or a LongTensor of {n} labels in 0..{self.num_classes - 1})")
        return check_labels(y, n, self.num_classes, where=where).to(self.device)

    # -- the data grid ----------------------------------------------------------------------------------
    def to_levels(self, x: torch.Tensor, *, where: str) -> torch.Tensor:
        """Images in [0, 1] -> level indices (N, C, H, W) int64; an InputError when a pixel is off the grid."""
        return to_levels(x, self.levels, where=f"{where}: {type(self).__name__}")

    def from_levels(self, index: torch.Tensor) -> torch.Tensor:
        """Level indices -> pixel values i / (levels - 1) in [0, 1], in the model's dtype."""
        return index.to(self.dtype) / (self.levels - 1)

    # -- the likelihood ---------------------------------------------------------------------------------
    def log_prob(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, where: str = "log_likelihood"
    ) -> torch.Tensor:
        """log p(x) (or log p(x | y) given checked labels ``y`` (N,)) per image, (N,), in nats; differentiable
        (the training objective)."""
        levels = self.to_levels(x, where=f"{type(self).__name__}.{where}")
        return discrete_pixel_log_likelihood(self.conditionals(x, y), levels)

    @torch.no_grad()
    def log_likelihood(
        self, x: torch.Tensor, k: int | None = None, *, y: Any = None, batch_size: int = 1024,
        generator: Any = None,
    ) -> torch.Tensor:
        """The exact log p(x) per image, (N,), in nats; log p(x | y) for a class-conditional model, which needs
        ``y`` (one int for all images, or one label per image). ``k`` and ``generator`` are accepted for the
        shared ``zoo evaluate`` protocol and unused (nothing is estimated); ``batch_size`` images per pass."""
        x = self.images(x)
        labels = self.class_labels(y, len(x), where=f"{type(self).__name__}.log_likelihood")
        chunks = x.split(max(1, batch_size))
        label_chunks = labels.split(max(1, batch_size)) if labels is not None else [None] * len(chunks)
        return torch.cat([self.log_prob(xb, yb) for xb, yb in zip(chunks, label_chunks)])

    # -- training ---------------------------------------------------------------------------------------
    def objective(self, batch: Batch) -> Terms:
        y = self.labels(batch) if self.num_classes is not None else None  # p(x | y): the batch's own labels
        nll = -self.log_prob(self.images(batch), y, where="objective").mean()
        return {"loss": nll, "nll": nll.detach(), "bits_per_dim": bits_per_dim(nll.detach(), self.num_dims)}

    @property
    def num_dims(self) -> int:
        channels, height, width = self.in_shape
        return channels * height * width

    # -- sampling ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self, n: int, *, y: Any = None, generator: torch.Generator | None = None, cache: bool = True
    ) -> torch.Tensor:
        """``n`` images drawn pixel by pixel in raster order, channel by channel: (n, C, H, W) in [0, 1]. A
        class-conditional model draws from p(x | y) for ``y``: one int for all, or n labels (None: each
        class drawn uniformly, with ``generator``). ``cache=False``: the same images (same seed), one pass of
        the network per pixel and channel instead of the sampling cache's one position."""
        if y is None and self.num_classes is not None:  # sample(n): classes uniform, drawn before any pixel
            device = generator.device if generator is not None else self.device
            y = torch.randint(self.num_classes, (n,), generator=generator, device=device)
        labels = self.class_labels(y, n, where=f"{type(self).__name__}.sample")
        x = torch.zeros(n, *self.in_shape, device=self.device, dtype=self.dtype)
        return self._fill(x, torch.zeros_like(x, dtype=torch.bool), generator, labels, cache)

    @torch.no_grad()
    def complete(
        self, x: torch.Tensor, mask: torch.Tensor, *, y: Any = None, generator: torch.Generator | None = None,
        cache: bool = True,
    ) -> torch.Tensor:
        """``x`` with the pixels where ``mask`` is 0 sampled in raster order, those where it is 1 kept.

        x: (N, C, H, W) in [0, 1], on the model's level grid where kept. mask: 0/1 or bool, shape (N, C, H, W)
        or broadcastable to it with the same (H, W), e.g. (1, 1, H, W). y: the classes of a class-conditional
        model (one int for all, or N labels). cache: as ``sample``'s."""
        where = f"{type(self).__name__}.complete"
        check_image_input(x, self.in_shape, where=where)
        labels = self.class_labels(y, len(x), where=where)
        if not isinstance(mask, torch.Tensor) or mask.dim() != 4 or mask.shape[-2:] != x.shape[-2:] or any(
            m not in (1, s) for m, s in zip(mask.shape[:2], x.shape[:2])
        ):
            got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise InputError(
                f"{where}: mask must have the images' shape {tuple(x.shape)} or broadcast to it with the same "
                f"height and width (e.g. (1, 1, {x.shape[-2]}, {x.shape[-1]})), got {got}"
            )
        if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
            raise InputError(f"{where}: mask must hold 0 (missing: sample it) or 1 (known: keep it) only")
        keep = mask.to(device=self.device, dtype=torch.bool).expand(x.shape)
        x = x.to(self.device, self.dtype)
        self.to_levels(torch.where(keep, x, torch.zeros_like(x)), where=where)  # kept pixels on the grid
        return self._fill(torch.where(keep, x, torch.zeros_like(x)), keep, generator, labels, cache)

    def _fill(
        self, x: torch.Tensor, keep: torch.Tensor, generator: torch.Generator | None, y: torch.Tensor | None,
        cache: bool,
    ) -> torch.Tensor:
        """Sample every pixel of ``x`` where ``keep`` is False, in raster then channel order, in place (given
        the checked labels ``y`` of a class-conditional model), from the sampling cache or, without ``cache``,
        one pass of the network per pixel and channel."""
        channels, height, width = self.in_shape
        pixel_cache = self.pixel_cache(y) if cache else None
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    missing = ~keep[:, c, i, j]  # (N,)
                    if pixel_cache is not None:  # every position, kept ones too: later ones read its features
                        logits = pixel_cache.logits_at(x, i, j)[:, c]  # (N, K)
                    elif bool(missing.any()):
                        # rows below i cannot reach row i (the masks zero them), so the net reads rows 0..i only
                        logits = self.conditionals(x[:, :, : i + 1], y)[:, c, :, i, j]  # (N, K)
                    if not bool(missing.any()):
                        continue
                    drawn = self.from_levels(self._draw(logits, generator))
                    x[:, c, i, j] = torch.where(missing, drawn, x[:, c, i, j])
        return x

    def _draw(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One level index per row of ``logits`` (N, K), by the inverse CDF of u ~ U[0, 1) drawn on the
        generator's device, so a seeded CPU generator gives the same images on any device."""
        device = generator.device if generator is not None else self.device
        u = torch.rand(len(logits), 1, generator=generator, device=device).to(logits.device, torch.float32)
        if logits.shape[1] == 1:  # Bernoulli: 1 when u < p(1)
            return (u < torch.sigmoid(logits.float())).long().squeeze(1)
        cdf = torch.softmax(logits.float(), dim=1).cumsum(1)
        return (cdf < u).sum(1).clamp(max=logits.shape[1] - 1)

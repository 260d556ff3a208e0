"""The autoregressive family: models of discrete images as a product of per-pixel conditionals,

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

pixels in raster order (row by row, left to right) and channels in order within a pixel (van den Oord et al.
2016, arXiv:1601.06759, Eq. 1-2). A method supplies only ``conditionals(x)``: the logits of every pixel's
conditional, computed in one pass from the pixels before it (teacher forcing). This base turns them into

- ``log_likelihood(x)``: the exact log-probability of each image, in nats (the sum of the conditionals' log
  probabilities; bits/dim through zoo.distributions.bits_per_dim, the one conversion);
- the training objective: the negative log-likelihood per image;
- ``sample(n)``: pixel by pixel, one pass of the network per pixel and channel over the rows so far (no
  cached activations: H * W * C passes);
- ``complete(x, mask)``: the pixels where ``mask`` is 1 kept, the others sampled in raster order given
  everything before them (kept or sampled). A conditional sees only the past, so a kept pixel after a missing
  one informs nothing before it (the bottom half given the top is exact; the top given the bottom is not
  conditioning on the bottom).

The data are discrete: ``levels`` = 2 is binary data (pixels 0 or 1; Bernoulli conditionals; train on
``binarize: dynamic`` data, zoo/data/binarize.py), ``levels`` = n > 2 is n-level data (pixel values
i / (n - 1); categorical conditionals; 17 for scikit-learn's digits, 256 for 8-bit images). A pixel off that
grid has no probability under the model and is refused with a one-line error.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from zoo.capabilities import LIKELIHOOD, SAMPLE
from zoo.distributions import bits_per_dim, discrete_pixel_log_likelihood
from zoo.errors import ConfigError, InputError
from zoo.images import check_image_input
from zoo.methods.base import Batch, GenerativeModel, Terms

#: how far (in level units) a pixel may sit from its level and still count as on it: float32 rounding of i/(n-1)
GRID_TOLERANCE = 1e-3


class AutoregressiveModel(GenerativeModel):
    """A product of per-pixel discrete conditionals; subclasses write ``conditionals``. See the module doc.

    Args:
        in_shape: (C, H, W) of the images.
        levels: values a pixel takes: 2 (binary, Bernoulli conditionals) or n > 2 (i / (n - 1), categorical).
        optimizer, lr_scheduler, channels_last, compile: see ``ZooModule``.
    """

    capabilities = frozenset({SAMPLE, LIKELIHOOD})
    likelihood_kind = "exact_discrete"
    family = "autoregressive"

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
    def outputs_per_channel(self) -> int:
        """K values per channel and pixel: one Bernoulli logit for binary data, else one logit per level."""
        return 1 if self.levels == 2 else self.levels

    # -- what a method writes ---------------------------------------------------------------------------
    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, C, K, H, W) of p(x_i | x_<i) for every pixel and channel of ``x`` (N, C, H, W), each
        computed from the pixels and channels before it only."""
        raise NotImplementedError

    # -- the data grid ----------------------------------------------------------------------------------
    def to_levels(self, x: torch.Tensor, *, where: str) -> torch.Tensor:
        """Images in [0, 1] -> level indices (N, C, H, W) int64; an InputError when a pixel is off the grid."""
        scaled = x * (self.levels - 1)
        index = scaled.round()
        off = (scaled - index).abs() > GRID_TOLERANCE
        if bool(off.any()):
            value = x[off][0].item()
            grid = "0 or 1" if self.levels == 2 else f"i/{self.levels - 1} for i = 0..{self.levels - 1}"
            fix = ("binarize the data (the datamodule's binarize: dynamic)" if self.levels == 2
                   else f"quantise the data to {self.levels} levels")
            raise InputError(
                f"{where}: {type(self).__name__} models {self.levels}-level images (pixels {grid}), got a pixel "
                f"of {value:.6g}; {fix}"
            )
        return index.long()

    def from_levels(self, index: torch.Tensor) -> torch.Tensor:
        """Level indices -> pixel values i / (levels - 1) in [0, 1], in the model's dtype."""
        return index.to(self.dtype) / (self.levels - 1)

    # -- the likelihood ---------------------------------------------------------------------------------
    def log_prob(self, x: torch.Tensor, *, where: str = "log_likelihood") -> torch.Tensor:
        """log p(x) per image, (N,), in nats; differentiable (the training objective)."""
        levels = self.to_levels(x, where=f"{type(self).__name__}.{where}")
        return discrete_pixel_log_likelihood(self.conditionals(x), levels)

    @torch.no_grad()
    def log_likelihood(
        self, x: torch.Tensor, k: int | None = None, *, batch_size: int = 1024, generator: Any = None
    ) -> torch.Tensor:
        """The exact log p(x) per image, (N,), in nats. ``k`` and ``generator`` are accepted for the shared
        ``zoo evaluate`` protocol and unused (nothing is estimated); ``batch_size`` images per pass."""
        x = self.images(x)
        return torch.cat([self.log_prob(xb) for xb in x.split(max(1, batch_size))])

    # -- training ---------------------------------------------------------------------------------------
    def objective(self, batch: Batch) -> Terms:
        nll = -self.log_prob(self.images(batch), where="objective").mean()
        return {"loss": nll, "nll": nll.detach(), "bits_per_dim": bits_per_dim(nll.detach(), self.num_dims)}

    @property
    def num_dims(self) -> int:
        channels, height, width = self.in_shape
        return channels * height * width

    # -- sampling ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images drawn pixel by pixel in raster order, channel by channel: (n, C, H, W) in [0, 1]."""
        x = torch.zeros(n, *self.in_shape, device=self.device, dtype=self.dtype)
        return self._fill(x, torch.zeros_like(x, dtype=torch.bool), generator)

    @torch.no_grad()
    def complete(
        self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``x`` with the pixels where ``mask`` is 0 sampled in raster order, those where it is 1 kept.

        x: (N, C, H, W) in [0, 1], on the model's level grid where kept. mask: 0/1 or bool, shape (N, C, H, W)
        or broadcastable to it with the same (H, W), e.g. (1, 1, H, W)."""
        where = f"{type(self).__name__}.complete"
        check_image_input(x, self.in_shape, where=where)
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
        return self._fill(torch.where(keep, x, torch.zeros_like(x)), keep, generator)

    def _fill(self, x: torch.Tensor, keep: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Sample every pixel of ``x`` where ``keep`` is False, in raster then channel order, in place."""
        channels, height, width = self.in_shape
        for i in range(height):
            for j in range(width):
                for c in range(channels):
                    missing = ~keep[:, c, i, j]  # (N,)
                    if not bool(missing.any()):
                        continue
                    # rows below i cannot reach row i (the masks zero them), so the net reads rows 0..i only
                    logits = self.conditionals(x[:, :, : i + 1])[:, c, :, i, j]  # (N, K)
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

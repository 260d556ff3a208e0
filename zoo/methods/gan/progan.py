"""Progressive GAN: Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018, arXiv:1710.10196.

G and D start at 4x4 and grow by one resolution at a time (8, 16, 32 ...) up to the images' side (Sec. 2).
Each new block **fades in**: alpha rises linearly from 0 to 1 over ``fade_images`` real images shown to D,
blending the new block's output with the previous resolution's (zoo/nets/progan.py), then the nets train
stably for ``stable_images`` before the next block comes. The real images are brought to the current
resolution by average pooling and, during a fade, blended with their own half-resolution version upsampled
(``(1 - alpha) * up(down(x)) + alpha * x``), so D compares like with like.

The schedule is a function of one buffer, the count of real images shown (``images_seen``): a run resumed
mid-phase is at the same resolution and alpha, and the weights carry their place in the schedule.

**Batch size per resolution** (``batch_sizes``, the paper's ``minibatch_dict``, e.g. ``{64: 16, 128: 16, 256: 14}``):
the loader yields its own batch (the datamodule's ``batch_size``, which must be a multiple of each of them) and a
resolution with a smaller batch size takes several steps per loader batch, one per consecutive slice, so every
image is shown once per epoch and the schedule (a count of images) is unchanged. A resolution not named uses the
loader's batch.

The loss is WGAN-GP's (zoo/methods/gan/wgan_gp.py; lambda = 10) with the paper's **drift term**
epsilon * E[D(x)^2], epsilon = 0.001 (Appendix A.1), which keeps the critic's output from drifting far from
zero. Adam (lr 1e-3, betas (0, 0.99), eps 1e-8), one critic update per G update (the authors' code), an EMA of G
with decay 0.999 used for sampling (Appendix A.1). The nets' parts (equalized learning rate, pixel norm,
minibatch stddev, nearest up / average down) are in zoo/nets/progan.py.

Images whose side is not 4 * 2^k (Fashion-MNIST's 28) are padded with the background (0) to the next one
(``resolution``, 32); ``sample`` and ``decode`` crop back, so they return images of the data's shape in [0, 1].
While the nets are below the final resolution, samples are the current resolution upsampled (nearest). A run's
``ImageGrids`` also writes ``samples_<side>x<side>`` at the nets' own side, so a grid of each resolution stays, and
``PeriodicFID``'s ``fid_history.json`` records ``images_seen`` with each FID: the curve over images shown.

DDP: the blocks of resolutions not reached yet get no gradient; the engine declares unused parameters for every
method with more than one player, so they are expected (tests/methods/test_ddp.py grows during a 2-rank run).

Measured (benchmarks/README.md): on digits (4x4 -> 8x8, 300 epochs) FID 37.2 on the leaderboard, the best GAN
row (DCGAN 52.7, WGAN-GP 59.9). On Fashion-MNIST at 8 CPU-minutes FID 149, and the paper's claim (growing trains
faster and better) does not hold at this budget: the same nets at 32x32 throughout score 142.7 and 148.8 against
growing's 148.8 and 157.3 (seeds 0 and 1; benchmarks/progan_growth.py).

Deviations from the paper:
- Smaller nets for the CPU recipes (channel_base, max_channels in the recipe; the paper: 8192 // side capped at
  512) and far fewer images per phase (the paper: 800k per fade and per stable phase).
- The recipes use one batch size for every resolution (16 as the paper's, 64 on digits, whose 300 epochs are ~6k
  steps at 64): the paper keeps 16 up to 128x128 and lowers it above only to fit GPU memory. ``batch_sizes``
  sets one per resolution when wanted.
- The Fashion-MNIST recipe's EMA decay is 0.99: its run is a few thousand G steps, where 0.999 would still average
  in the weights of the lower-resolution phases.
- The output is clamped to [-1, 1] when sampling (the paper's G has a linear output, kept in training).
- No label conditioning and none of the paper's CelebA-HQ preprocessing.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ConfigError
from zoo.images import image_shape, to_signed, to_unit
from zoo.losses import gradient_penalty, interpolate
from zoo.methods.base import Batch, Terms
from zoo.methods.gan.base import TwoPlayerGAN
from zoo.methods.gan.wgan import WassersteinObjective
from zoo.nets.progan import growth_levels
from zoo.registry import Paper, register_model

ADAM_PROGAN = {"class_path": "torch.optim.Adam", "init_args": {"lr": 1e-3, "betas": [0.0, 0.99], "eps": 1e-8}}
PROGAN_NETS = {
    "generator": {"class_path": "zoo.nets.ProGANGenerator", "init_args": {}},
    "discriminator": {"class_path": "zoo.nets.ProGANDiscriminator", "init_args": {}},
}


def growth_schedule(images_seen: int, max_level: int, fade_images: int, stable_images: int) -> tuple[int, float]:
    """(level, alpha) after ``images_seen`` real images: level 0 (4x4) for ``stable_images``, then for each level
    k = 1..max_level a fade (alpha from 0 to 1 over ``fade_images``) and a stable phase (alpha = 1); the last
    level stays for good."""
    if images_seen < stable_images:
        return 0, 1.0
    level, into = divmod(images_seen - stable_images, fade_images + stable_images)
    level += 1
    if level > max_level:
        return max_level, 1.0
    return level, min(1.0, into / fade_images)


def default_resolution(height: int, width: int) -> int:
    """The smallest 4 * 2^k that holds the images (28 -> 32, 8 -> 8)."""
    return 4 * 2 ** max(0, math.ceil(math.log2(max(height, width, 4) / 4)))


class ProGAN(WassersteinObjective, TwoPlayerGAN):
    """Progressive GAN.

    Args:
        latent_dim: dimension of z (512, the paper's).
        resolution: the side the nets grow to, 4 * 2^k >= the images' side (default: the smallest such).
        fade_images: real images over which a new block fades in (> 0; the paper: 800k).
        stable_images: real images each resolution trains after its fade, and 4x4 before the first (>= 0).
        progressive: grow (True); False trains the final nets at the final resolution from the first step: the
            non-progressive baseline of the paper's Table 1, WGAN-GP with the same nets.
        batch_sizes: minibatch size per resolution side ({side: size}; sides 4 * 2^k up to ``resolution``); a
            side not named uses the loader's batch, which must be a multiple of every size named.
        penalty_weight: WGAN-GP's lambda (10).
        drift: epsilon of the drift term epsilon * E[D(x)^2] (0.001).
        n_critic: critic updates per generator update (1).
        **kwargs: ``in_shape``, the nets (default ProGAN nets) and the engine's options (see ``TwoPlayerGAN``);
            ``ema_decay`` defaults to 0.999 (the paper's); default optimizers Adam 1e-3, (0, 0.99).
    """

    paper = Paper("Progressive growing of GANs for improved quality, stability, and variation", "Karras et al.",
                  2018, "1710.10196")
    default_nets = PROGAN_NETS
    default_optimizers = {"discriminator": ADAM_PROGAN, "generator": ADAM_PROGAN}

    def __init__(
        self,
        *,
        latent_dim: int = 512,
        resolution: int | None = None,
        fade_images: int = 800_000,
        stable_images: int = 800_000,
        progressive: bool = True,
        batch_sizes: Mapping[int, int] | None = None,
        penalty_weight: float = 10.0,
        drift: float = 0.001,
        n_critic: int = 1,
        in_shape: Sequence[int] = (1, 28, 28),
        **kwargs: Any,
    ) -> None:
        _, height, width = image_shape(in_shape)
        # a new name, not ``resolution``: the hyperparameters record the argument as given (None: derived)
        side = default_resolution(height, width) if resolution is None else int(resolution)
        # not "levels": that name means pixel levels to the zoo (the autoregressive family's discrete data)
        self.max_level = growth_levels(side)
        if side < max(height, width):
            raise ConfigError(f"resolution {side} is smaller than the images ({height}x{width}); use "
                              f"{default_resolution(height, width)} or more")
        if fade_images <= 0:
            raise ConfigError(f"fade_images must be > 0 (the paper fades over 800000 images), got {fade_images}")
        if stable_images < 0:
            raise ConfigError(f"stable_images must be >= 0 (the paper: 800000), got {stable_images}")
        if penalty_weight < 0:
            raise ConfigError(f"penalty_weight must be >= 0 (the paper uses 10), got {penalty_weight}")
        if drift < 0:
            raise ConfigError(f"drift must be >= 0 (the paper uses 0.001), got {drift}")
        self.batch_sizes = {int(k): int(v) for k, v in (batch_sizes or {}).items()}
        for key, size in self.batch_sizes.items():
            if key not in {4 * 2**level for level in range(self.max_level + 1)}:
                raise ConfigError(f"batch_sizes names side {key}, which the nets never run at; use sides of "
                                  f"{[4 * 2**level for level in range(self.max_level + 1)]}")
            if size < 1:
                raise ConfigError(f"batch_sizes[{key}] must be >= 1, got {size}")
        self.resolution, self.fade_images, self.stable_images = side, int(fade_images), int(stable_images)
        self.penalty_weight, self.drift, self.progressive = penalty_weight, drift, bool(progressive)
        kwargs.setdefault("ema_decay", 0.999)
        super().__init__(latent_dim=latent_dim, n_critic=n_critic, in_shape=in_shape, **kwargs)
        # real images shown to D (all ranks): the schedule's clock, saved with the weights
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.long))
        self._step_growth: tuple[int, float] | None = None
        self._images_seen = 0  # host-side copy during training (no GPU sync per batch)
        self._sizes_checked = False

    def build_nets(self, generator: Any, discriminator: Any) -> None:
        shape = (self.in_shape[0], self.resolution, self.resolution)
        self.generator = self.make_net("generator", generator)(self.latent_dim, shape)
        self.discriminator = self.make_net("discriminator", discriminator)(shape, 1)

    def compiled_nets(self) -> list[nn.Module]:
        # The level and alpha change the graph (and alpha every batch of a fade): compiling would recompile
        # each batch. ``compile=True`` compiles nothing here.
        return []

    # -- the schedule ---------------------------------------------------------------------------------------
    def growth(self) -> tuple[int, float]:
        """(level, alpha) now: the nets run at side 4 * 2^level, the newest block blended in with weight alpha."""
        if self._step_growth is not None:
            return self._step_growth
        return self.schedule(int(self.images_seen))

    def schedule(self, images_seen: int) -> tuple[int, float]:
        if not self.progressive:
            return self.max_level, 1.0
        return growth_schedule(images_seen, self.max_level, self.fade_images, self.stable_images)

    @property
    def current_resolution(self) -> int:
        return 4 * 2 ** self.growth()[0]

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        # One (level, alpha) for every player of a step; a side with a smaller batch size takes one step per slice
        # of the loader's batch. Each step counts its real images on all ranks.
        n, start = self.images(batch).shape[0], 0
        if not self._sizes_checked:  # the first batch of a fit is a full one
            for side, size in self.batch_sizes.items():
                if n % size:
                    raise ConfigError(f"batch_sizes[{side}] = {size} does not divide the loader's batch of {n}; "
                                      "use a data batch_size that is a multiple of every size in batch_sizes")
            self._sizes_checked = True
        while start < n:
            self._step_growth = self.schedule(self._images_seen)
            size = self.batch_sizes.get(4 * 2 ** self._step_growth[0], n)
            part = batch if size >= n and start == 0 else self.slice_batch(batch, start, start + size)
            try:
                super().training_step(part, batch_idx)
            finally:
                self._step_growth = None
            shown = self.images(part).shape[0] * (self.trainer.world_size if self._trainer is not None else 1)
            self._images_seen += shown
            self.images_seen += shown
            start += size

    @staticmethod
    def slice_batch(batch: Batch, start: int, stop: int) -> Batch:
        """Images (and labels) ``start:stop`` of a batch ``x`` or ``(x, y, ...)``."""
        if isinstance(batch, torch.Tensor):
            return batch[start:stop]
        return [part[start:stop] for part in batch]  # type: ignore[index]

    def on_train_start(self) -> None:
        super().on_train_start()
        self._images_seen = int(self.images_seen)  # after a checkpoint restore
        self._sizes_checked = False

    # -- the objective ------------------------------------------------------------------------------------
    def real_at(self, x: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        """Real images in [-1, 1] at the full size, padded to ``resolution``, pooled to side 4 * 2^level and,
        during a fade, blended with their half-resolution version."""
        x = self.pad(x)
        factor = self.resolution // (4 * 2**level)
        if factor > 1:
            x = F.avg_pool2d(x, factor)
        if level > 0 and alpha < 1.0:
            x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)
        return x

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] padded with the background (-1) to resolution x resolution, centred."""
        height, width = x.shape[-2:]
        top, left = (self.resolution - height) // 2, (self.resolution - width) // 2
        pads = (left, self.resolution - width - left, top, self.resolution - height - top)
        return F.pad(x, pads, value=-1.0) if any(pads) else x

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of ``pad``: a resolution x resolution image back to the data's shape."""
        _, height, width = self.in_shape
        top, left = (self.resolution - height) // 2, (self.resolution - width) // 2
        return x[..., top:top + height, left:left + width]

    def scores(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """D(x) at the current level and alpha, one score per image (N,); x at the current side."""
        level, alpha = self.growth()
        return self.discriminator(x, level, alpha).view(x.shape[0])

    def generate(self, z: torch.Tensor, net: nn.Module | None = None) -> torch.Tensor:
        """G(z) at the current level and alpha, (N, C, side, side), linear output."""
        level, alpha = self.growth()
        return (net or self.generator)(z, level, alpha)

    def objective(self, player: str, batch: Batch, cache: dict[str, torch.Tensor]) -> Terms:  # type: ignore[override]
        x = self.images(batch)
        n = x.shape[0]
        if player == "discriminator":
            level, alpha = self.growth()
            real = self.real_at(to_signed(x), level, alpha)
            with torch.no_grad():
                fake = self.generate(self.randn(n, self.latent_dim))
            cache["fake"] = fake
            real_scores, fake_scores = self.scores(real), self.scores(fake)
            drift = real_scores.float().pow(2)
            loss = (self.discriminator_loss(real_scores, fake_scores) + self.drift * drift).mean()
            terms: Terms = {}
            if torch.is_grad_enabled():
                eps = torch.rand(n, device=x.device)
                penalty = gradient_penalty(self.scores, interpolate(real, fake, eps), scale=self.loss_scale()).mean()
                loss = loss + self.penalty_weight * penalty
                terms["gradient_penalty"] = penalty
            if not self.training or self.writes_logs_now():
                with torch.no_grad():
                    terms.update(self.score_metrics(real_scores, fake_scores))
                    terms["drift"] = drift.mean()
                    terms["resolution"] = torch.tensor(4.0 * 2**level)
                    terms["alpha"] = torch.tensor(float(alpha))
            return {"loss": loss, **terms}
        fake = self.generate(self.randn(n, self.latent_dim)) if self.training else cache["fake"]
        return {"loss": self.generator_loss(self.scores(fake)).mean()}

    # -- the model -----------------------------------------------------------------------------------------
    def full_size(self, images: torch.Tensor) -> torch.Tensor:
        """Images at the current side brought to the data's shape: upsampled (nearest) to ``resolution``, cropped."""
        factor = self.resolution // images.shape[-1]
        if factor > 1:
            images = F.interpolate(images, scale_factor=factor, mode="nearest")
        return self.crop(images)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) with the training generator at the current level, brought to the data's shape, in [-1, 1]
        (clamped; G's output is linear)."""
        return self.full_size(self.generate(z)).clamp(-1.0, 1.0)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] of the data's shape from codes z (N, latent_dim), with the EMA generator
        at the current level (upsampled while below the final resolution)."""
        images = self.generate(z.to(self.device, self.dtype), self.sampling_net("generator"))
        return to_unit(self.full_size(images).clamp(-1.0, 1.0).float())


    @torch.no_grad()
    def extra_grids(self, *, nrow: int, generator: torch.Generator | None = None
                    ) -> dict[str, tuple[torch.Tensor, int]]:
        """The EMA generator's samples at the nets' current side, not upsampled: ``samples_<side>x<side>``, one
        name per resolution, so a run keeps a grid of each resolution it grew through."""
        side = self.current_resolution
        z = self.randn(nrow * nrow, self.latent_dim, generator=generator)
        images = self.generate(z.to(self.device, self.dtype), self.sampling_net("generator"))
        return {f"samples_{side}x{side}": (to_unit(images.clamp(-1.0, 1.0).float()), nrow)}


@register_model
def progan(**kwargs) -> ProGAN:
    """Progressive GAN: nets growing 4x4 -> the images' side with fade-in, WGAN-GP loss with drift 0.001,
    minibatch stddev, equalized LR, pixel norm, Adam 1e-3 (0, 0.99), EMA of G 0.999."""
    return ProGAN(**kwargs)

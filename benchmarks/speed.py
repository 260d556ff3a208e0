"""Speed benchmark: the zoo's training step against a hand-written PyTorch loop of the same computation, for
every registered method with a Fashion-MNIST recipe whose engine shape has a hand loop (AE, DAE, VAE, GAN,
DCGAN, WGAN, WGAN-GP today); plus the Fashion-MNIST data path and sampling throughput.

    python benchmarks/speed.py                        # CPU, Fashion-MNIST-sized batches (1x28x28, batch 128)
    python benchmarks/speed.py --quick                # tiny sizes, a few seconds per method: checks the script runs
    python benchmarks/speed.py --methods dcgan --device cuda --precision bf16-mixed --image-size 64 --channels 3 \\
        --batch-size 256                              # the GPU run (add --channels-last / --compile to measure them)

**Training (``methods``).** For each method both sides train the nets of its Fashion-MNIST recipe
(``recipes/<method>/fashion_mnist.yaml``'s ``model.init_args``, built by ``zoo.create_model`` from one seed;
the hand loop trains ``copy.deepcopy``s of them) on the same in-memory batches (uint8-derived floats in
[0, 1], already on the device, so data loading is not measured) with the same noise stream. There is one
hand loop per engine shape (what is measured is the engine's overhead), written out in plain PyTorch with
the loss functions of ``zoo.losses``, each paper's optimizer and hyperparameters (written out, and checked
against the recipe's: a recipe that drifts stops the benchmark) and ``zero_grad(set_to_none=True)``:

- AE and DAE (the single-objective loop): the DAE's corruption, ``sum ||x - sigmoid(dec(enc(x~)))||^2`` per
  image, batch mean; Adam(1e-3); the running mean and second moment of the codes ``sample`` draws from.
- VAE: one reparameterised z per image, Bernoulli log-likelihood and closed-form KL per image, loss
  ``-mean(log p(x|z) - KL)``; Adam(1e-3).
- GAN, DCGAN, WGAN, WGAN-GP (the two-player engine): per batch one discriminator (critic) update on real
  images and G(z) drawn under no_grad (BCE with logits, or ``f(G(z)) - f(x)`` plus 10 x the gradient penalty
  at a per-sample interpolate, or the critic's weights clamped to [-0.01, 0.01] after the step), then, after
  every n_critic-th critic update, one generator update (non-saturating or ``-f(G(z))``) while D is frozen
  (what Lightning's ``toggled_optimizer`` does); tanh on G, images in [-1, 1]; each paper's optimizer
  (``TWO_PLAYER``). Images/s count the critic's batches.

The hand loops log nothing: whatever the zoo does beyond the updates (its logged metrics, Lightning's loop
and hooks) counts as framework overhead. Throughput is images/s over ``--steps`` batches after
``--warmup`` batches, timed from the end of the last warm-up batch to the end of the last batch (for the
zoo, in a Callback, so the Trainer's setup and teardown are not timed; on CUDA the device is synchronized
before each clock read). The sides run interleaved, zoo, hand, zoo, hand, ..., so a slow phase of a shared
machine hits both; the medians and their ratio zoo/hand (target >= 0.97) are recorded.
``overhead_ms_per_batch`` is the difference of the two medians' step times: the zoo's cost per batch is a
fixed one, so the ratio depends on how long the step itself takes (the tiny ``--quick`` batches show it far
more than batch 128). As a check that both sides compute the same thing, ``max_weight_diff`` is the largest
difference between the two sides' weights and buffers after each repeat: 0 on CPU, where both run the same
kernels in the same order.

**Data path (``data``).** Images/s of iterating Fashion-MNIST training batches of ``--batch-size`` from
``FashionMNISTDataModule(in_memory=True)`` (the whole split as one uint8 tensor, batches cut from it) and
from ``in_memory=False`` (torchvision's dataset, one PIL image and transform per item, a DataLoader with no
workers), interleaved; ``ratio`` = in-memory / per-item (target >= 20 at batch 128), and
``percent_of_step`` = the in-memory path's time per batch as a percentage of the zoo's DCGAN step time
(target <= 3%). Batches stay on the host; the transfer to a GPU is part of the training step.
``--quick`` writes a tiny Fashion-MNIST in torchvision's layout to a temporary folder; otherwise the
datamodule finds the real one (``--data-dir``, ``$ZOO_HOME/data``, or Debian's
``/usr/share/datasets/fashion-mnist``). Missing files skip this part, with the reason recorded.

**Sampling (``sampling``).** Images/s of ``model.sample(n)`` (``--sample-size`` images per call, eval mode,
freshly initialised nets: the speed does not depend on the weights) per method.

The record goes to ``benchmarks/results/speed-<device>.json`` (``--out`` elsewhere): per-method results, the
data path, sampling, the config, versions, hardware, thread count, date and git commit.
"""
from __future__ import annotations

import argparse
import copy
import inspect
import json
import logging
import os
import platform
import re
import statistics
import struct
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from torch import nn

import zoo
from zoo.data import FashionMNISTDataModule
from zoo.errors import DatasetNotFoundError
from zoo.losses import (
    bernoulli_log_likelihood,
    discriminator_loss,
    gaussian_kl,
    generator_non_saturating_loss,
    gradient_penalty,
    interpolate,
    squared_error,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from zoo.methods import VAE, Autoencoder, GenerativeModel, TwoPlayerGAN
from zoo.methods.autoencoders.dae import corrupt
from zoo.capabilities import CONDITIONAL
from zoo.registry import model_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
def speed_methods() -> list[str]:
    """Every registered method with a Fashion-MNIST recipe whose engine shape has a hand loop (the registry's
    classes decide; no list to keep)."""
    return [name for name in zoo.list_models() if recipe(name).is_file() and hand_loop(model_info(name).cls)]



POOL_BATCHES = 8  # distinct batches held in memory and cycled: enough that no batch is reused back to back
TARGET_RATIO, TARGET_DATA_RATIO, TARGET_DATA_PERCENT = 0.97, 20.0, 3.0  # the targets of issue 6


def recipe(method: str) -> Path:
    return ROOT / "recipes" / method / "fashion_mnist.yaml"


def build_model(method: str, args: argparse.Namespace) -> GenerativeModel:
    """The zoo's ``method`` with its Fashion-MNIST recipe's hyperparameters (nets, optimizers), seeded so every
    repeat and both sides start from the same weights."""
    init_args = yaml.safe_load(recipe(method).read_text())["model"]["init_args"]
    torch.manual_seed(args.seed)
    return zoo.create_model(method, in_shape=image_shape(args), channels_last=args.channels_last,
                            compile=args.compile, **init_args)


def image_shape(args: argparse.Namespace) -> tuple[int, int, int]:
    return args.channels, args.image_size, args.image_size


# -- the hand-written loops ------------------------------------------------------------------------------
class Updater:
    """``zero_grad``, backward and step as Lightning's precision plugin does them, with the autocast context."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.autocast, self.scaler = mixed_precision(precision, device)

    def __call__(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:  # Lightning's 16-mixed plugin: unscale, step, update the scale after every step
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
            self.scaler.step(optimizer)
            self.scaler.update()

    def loss_scale(self) -> float | None:
        """The grad scaler's scale (16-mixed), which the gradient penalty's ``autograd.grad`` needs."""
        return None if self.scaler is None else float(self.scaler.get_scale())


def mixed_precision(precision: str, device: torch.device) -> tuple[AbstractContextManager, torch.amp.GradScaler | None]:
    """The autocast context and grad scaler Lightning's precision plugin uses for ``precision``."""
    if precision == "32-true":
        return nullcontext(), None
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    scaler = torch.amp.GradScaler(device.type) if precision == "16-mixed" else None
    # without the cast cache, as Lightning: a cache kept over the whole step would hold D's weights from
    # before its update into the generator's update
    return torch.autocast(device.type, dtype=dtype, cache_enabled=False), scaler


# One hand loop per engine shape, not per method: what is measured is the engine's overhead. Each builder
# takes a freshly built zoo model (for its nets and its paper hyperparameters, checked against what the loop
# writes out) and returns the hand loop's copies of the nets, as a module whose state_dict keys are the zoo
# model's (so the two can be compared), and the step.
Step = Callable[[torch.Tensor], None]


def hand_autoencoder(model: nn.Module, device: torch.device, update: Updater) -> tuple[nn.Module, Step]:
    """AE and DAE (single objective, automatic optimization): the code statistics ``sample`` uses are kept too."""
    check_optimizer(model.optimizer_spec, "torch.optim.Adam", lr=1e-3)
    nets = nn.Module()
    nets.encoder, nets.decoder = copy.deepcopy(model.encoder), copy.deepcopy(model.decoder)
    d = model.latent_dim
    nets.register_buffer("latent_mean", torch.zeros(d))
    nets.register_buffer("latent_second_moment", torch.eye(d))
    nets.to(device)
    optimizer = torch.optim.Adam(nets.parameters(), lr=1e-3)
    momentum = model.latent_momentum
    noise = getattr(model, "noise", None)  # the DAE's corruption q_D(x~|x), else none
    updates = 0

    def step(x: torch.Tensor) -> None:  # x: (N, C, H, W) in [0, 1]
        nonlocal updates
        with update.autocast:
            x_tilde = x if noise is None else corrupt(x, noise, model.noise_level)
            z = nets.encoder(x_tilde)
            loss = squared_error(torch.sigmoid(nets.decoder(z)), x).mean()
        # the running moments of the codes: a cumulative average, then an exponential one (rate >= momentum)
        updates += 1
        rate = max(1.0 / updates, momentum)
        with torch.no_grad():
            z = z.detach().float()
            nets.latent_mean.lerp_(z.mean(0), rate)
            nets.latent_second_moment.lerp_(z.T @ z / z.shape[0], rate)
        update(loss, optimizer)

    return nets, step


def hand_vae(model: nn.Module, device: torch.device, update: Updater) -> tuple[nn.Module, Step]:
    if model.likelihood != "bernoulli":
        raise SystemExit(f"the hand-written VAE loop has a Bernoulli decoder; the recipe asks for {model.likelihood}")
    check_optimizer(model.optimizer_spec, "torch.optim.Adam", lr=1e-3)
    nets = nn.Module()
    nets.encoder, nets.decoder = copy.deepcopy(model.encoder), copy.deepcopy(model.decoder)
    nets.to(device)
    optimizer = torch.optim.Adam(nets.parameters(), lr=1e-3)

    def step(x: torch.Tensor) -> None:
        with update.autocast:
            mu, logvar = nets.encoder(x).chunk(2, dim=1)  # (N, D) each
            eps = torch.randn(mu.shape, device=device).to(mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
            elbo = bernoulli_log_likelihood(nets.decoder(z), x) - gaussian_kl(mu, logvar)  # (N,)
            loss = -elbo.mean()
        update(loss, optimizer)

    return nets, step


#: Each GAN's objective and optimizers as its paper writes them (Algorithm 1 of each): discriminator and
#: generator losses of the scores, the critic's Lipschitz constraint, and the optimizer both players use.
TWO_PLAYER: dict[str, dict[str, Any]] = {
    "GAN": {"d_loss": discriminator_loss, "g_loss": generator_non_saturating_loss,
            "optimizer": ("torch.optim.Adam", {"lr": 2e-4, "betas": (0.5, 0.999)})},
    "DCGAN": {"d_loss": discriminator_loss, "g_loss": generator_non_saturating_loss,
              "optimizer": ("torch.optim.Adam", {"lr": 2e-4, "betas": (0.5, 0.999)})},
    "WGAN": {"d_loss": wasserstein_critic_loss, "g_loss": wasserstein_generator_loss, "clip_value": 0.01,
             "optimizer": ("torch.optim.RMSprop", {"lr": 5e-5})},
    "WGANGP": {"d_loss": wasserstein_critic_loss, "g_loss": wasserstein_generator_loss, "penalty_weight": 10.0,
               "optimizer": ("torch.optim.Adam", {"lr": 1e-4, "betas": (0.0, 0.9)})},
}


def hand_two_player_gan(model: nn.Module, device: torch.device, update: Updater) -> tuple[nn.Module, Step]:
    """GAN, DCGAN, WGAN, WGAN-GP: per batch one discriminator (critic) update on real and G(z) drawn under
    no_grad, plus a gradient penalty or a weight clamp; the generator after every n_critic-th critic update,
    with D frozen (what Lightning's ``toggled_optimizer`` does); tanh on G, images in [-1, 1]."""
    paper = TWO_PLAYER.get(type(model).__name__)
    if paper is None:
        raise SystemExit(f"no hand-written loop for {type(model).__name__}; add its objective to TWO_PLAYER")
    bce = paper["d_loss"] is discriminator_loss
    expected = {"clip_value": paper.get("clip_value"), "penalty_weight": paper.get("penalty_weight"),
                "label_smoothing": 0.0 if bce else None, "generator_loss_name": "non_saturating" if bce else None}
    drift = {k: (getattr(model, k, None), v) for k, v in expected.items() if getattr(model, k, None) != v}
    if drift:
        raise SystemExit(f"the recipe's {type(model).__name__} differs from the hand-written loop (given, written): "
                         f"{drift}")
    optimizer_class, optimizer_args = paper["optimizer"]
    for player in ("discriminator", "generator"):
        check_optimizer(model.optimizer_specs[player], optimizer_class, **optimizer_args)
    n_critic, clip_value, penalty_weight = model.n_critic, paper.get("clip_value"), paper.get("penalty_weight")
    nets = nn.Module()
    nets.generator, nets.discriminator = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
    nets.to(device)
    generator, critic, latent_dim = nets.generator, nets.discriminator, model.latent_dim
    make = import_optimizer(optimizer_class)
    d_opt = make(critic.parameters(), **optimizer_args)
    g_opt = make(generator.parameters(), **optimizer_args)
    critic_steps = 0

    def scores(x: torch.Tensor) -> torch.Tensor:
        return critic(x).view(x.shape[0])  # (N,)

    def step(x: torch.Tensor) -> None:
        nonlocal critic_steps
        with update.autocast:
            real = x * 2 - 1  # (N, C, H, W) in [-1, 1]
            n = real.shape[0]
            # discriminator update: G's output is a constant here
            with torch.no_grad():
                fake = torch.tanh(generator(torch.randn(n, latent_dim, device=device)))
            loss = paper["d_loss"](scores(real), scores(fake)).mean()
            if penalty_weight is not None:
                eps = torch.rand(n, device=device)  # one interpolation coefficient per sample
                penalty = gradient_penalty(scores, interpolate(real, fake, eps), scale=update.loss_scale()).mean()
                loss = loss + penalty_weight * penalty
            update(loss, d_opt)
            if clip_value is not None:
                with torch.no_grad():
                    for p in critic.parameters():
                        p.clamp_(-clip_value, clip_value)
            critic_steps += 1
            if critic_steps % n_critic == 0:  # the generator after every n_critic-th critic update
                critic.requires_grad_(False)  # D is frozen, so the backward skips D's weight gradients
                fake = torch.tanh(generator(torch.randn(n, latent_dim, device=device)))
                update(paper["g_loss"](scores(fake)).mean(), g_opt)
                critic.requires_grad_(True)

    return nets, step


def hand_loop(cls: type) -> Callable[[nn.Module, torch.device, Updater], tuple[nn.Module, Step]] | None:
    """The hand loop of a method class's engine shape, or None (conditional models, InfoGAN, MAD-GAN and the
    autoregressive family: no hand loop written yet)."""
    if CONDITIONAL in cls.capabilities:
        return None
    if issubclass(cls, VAE):
        return hand_vae
    if issubclass(cls, Autoencoder):
        return hand_autoencoder
    if issubclass(cls, TwoPlayerGAN):  # the GAN objectives written out in TWO_PLAYER; others have none yet
        return hand_two_player_gan if cls.__name__ in TWO_PLAYER else None
    return None


def check_optimizer(spec: dict[str, Any], class_path: str, **init_args: Any) -> None:
    """Refuse a recipe whose optimizer is not the one the hand loop writes out."""
    given = spec.get("init_args", {})
    mismatch = {k: (given.get(k), v) for k, v in init_args.items() if tuple(np_list(given.get(k))) != tuple(np_list(v))}
    if spec["class_path"] != class_path or mismatch:
        raise SystemExit(f"the recipe's optimizer {spec} is not the hand loop's {class_path}({init_args})")


def np_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def import_optimizer(class_path: str) -> Callable[..., torch.optim.Optimizer]:
    return getattr(torch.optim, class_path.rsplit(".", 1)[1])


# -- the two sides ---------------------------------------------------------------------------------------
class InMemoryBatches:
    """``n_batches`` batches of shape (batch_size, C, H, W), float in [0, 1], cut as views from a pool of
    random uint8-derived images already on ``device``: iterating costs nothing but slicing."""

    def __init__(self, n_batches: int, batch_size: int, shape: tuple[int, int, int], device: torch.device) -> None:
        pool = torch.randint(0, 256, (POOL_BATCHES * batch_size, *shape), dtype=torch.uint8,
                             generator=torch.Generator().manual_seed(0))
        self.images = pool.to(device).float().div_(255)
        self.n_batches, self.batch_size = n_batches, batch_size

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[torch.Tensor]:
        for i in range(self.n_batches):
            start = (i % POOL_BATCHES) * self.batch_size
            yield self.images[start:start + self.batch_size]


class SteadyStateTimer(L.Callback):
    """Clock reads at the end of batch ``warmup - 1`` and at the end of the last batch: the steady state of
    a Trainer run, without its setup and teardown."""

    def __init__(self, warmup: int, last: int, sync: Callable[[], None]) -> None:
        self.warmup, self.last, self.sync = warmup, last, sync
        self.start = self.end = float("nan")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup - 1:
            self.sync()
            self.start = time.perf_counter()
        if batch_idx == self.last:
            self.sync()
            self.end = time.perf_counter()


def run_zoo(method: str, args: argparse.Namespace, data: InMemoryBatches,
            sync: Callable[[], None]) -> tuple[float, GenerativeModel]:
    """Images/s of ``Trainer.fit`` on the zoo's ``method``, and the trained model."""
    model = build_model(method, args)
    timer = SteadyStateTimer(args.warmup, args.warmup + args.steps - 1, sync)
    trainer = L.Trainer(
        accelerator=args.device,
        devices=1,
        precision=args.precision,
        # global_step counts optimizer steps, two per batch for a GAN when G steps: the data's length ends the run
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    torch.manual_seed(args.seed + 1)  # the noise stream, the same as the hand-written loop's
    trainer.fit(model, train_dataloaders=data)
    return args.steps * args.batch_size / (timer.end - timer.start), model


def run_hand(method: str, args: argparse.Namespace, data: InMemoryBatches,
             sync: Callable[[], None]) -> tuple[float, nn.Module]:
    """Images/s of the plain PyTorch loop for ``method``, and its trained nets."""
    device = torch.device(args.device)
    model = build_model(method, args)  # only for its freshly initialised nets
    nets, step = hand_loop(type(model))(model, device, Updater(args.precision, device))
    nets.train()
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:
        nets.to(memory_format=torch.channels_last)
    if args.compile:  # the nets the zoo compiles, e.g. not WGAN-GP's critic
        compiled = {id(net) for net in model.compiled_nets()}
        for name, net in nets.named_children():
            if id(getattr(model, name)) in compiled:
                net.compile()

    last = args.warmup + args.steps - 1
    start = end = float("nan")
    torch.manual_seed(args.seed + 1)
    for i, x in enumerate(data):
        step(x.to(device, non_blocking=True).contiguous(memory_format=memory_format))
        if i == args.warmup - 1:
            sync()
            start = time.perf_counter()
        if i == last:
            sync()
            end = time.perf_counter()
    return args.steps * args.batch_size / (end - start), nets


def max_weight_diff(trained: nn.Module, hand: nn.Module) -> float:
    """The largest absolute difference between the hand loop's weights and buffers and the zoo model's."""
    reference = trained.state_dict()
    return max((value.detach().float() - reference[key].detach().float()).abs().max().item()
               for key, value in hand.state_dict().items() if value.is_floating_point())


def median_of(values: list[float]) -> dict[str, Any]:
    return {"images_per_s": values, "median": statistics.median(values)}


def benchmark_method(method: str, args: argparse.Namespace, sync: Callable[[], None]) -> dict[str, Any]:
    data = InMemoryBatches(args.warmup + args.steps, args.batch_size, image_shape(args), torch.device(args.device))
    zoo_ips, hand_ips, diffs = [], [], []
    for r in range(args.repeats):
        zoo_r, zoo_model = run_zoo(method, args, data, sync)
        hand_r, hand_nets = run_hand(method, args, data, sync)
        zoo_ips.append(zoo_r)
        hand_ips.append(hand_r)
        diffs.append(max_weight_diff(zoo_model, hand_nets))
        print(f"{method:8s} repeat {r + 1}/{args.repeats}: zoo {zoo_r:8.1f} img/s   hand {hand_r:8.1f} img/s",
              flush=True)
    zoo_median, hand_median = statistics.median(zoo_ips), statistics.median(hand_ips)
    return {
        "recipe": str(recipe(method).relative_to(ROOT)),
        "zoo": median_of(zoo_ips),
        "hand": median_of(hand_ips),
        "ratio": zoo_median / hand_median,
        "overhead_ms_per_batch": 1000 * args.batch_size * (1 / zoo_median - 1 / hand_median),
        "max_weight_diff": diffs,
    }


# -- data path -------------------------------------------------------------------------------------------
def benchmark_data(args: argparse.Namespace, step_method: str, step_ms: float) -> dict[str, Any]:
    """Images/s of Fashion-MNIST's training batches through the in-memory and the per-item path, or why not."""
    if "in_memory" not in inspect.signature(FashionMNISTDataModule).parameters:
        return {"skipped": "zoo.data.FashionMNISTDataModule has no in_memory option (no in-memory data path)"}
    with tempfile.TemporaryDirectory(prefix="zoo-speed-") as tmp:
        options: dict[str, Any] = {"data_dir": args.data_dir}
        if args.quick:  # a tiny Fashion-MNIST, so the check needs no dataset (data batches + 1 to train, 1 to validate)
            options = {"data_dir": tmp, "val_size": args.batch_size}
            n_train = args.batch_size * (args.data_batches + 2)
            write_tiny_fashion_mnist(Path(tmp) / "FashionMNIST" / "raw", n_train=n_train)
        loaders = {}
        for path, in_memory in (("in_memory", True), ("torchvision", False)):
            datamodule = FashionMNISTDataModule(batch_size=args.batch_size, in_memory=in_memory, download=False,
                                                **options)
            try:
                datamodule.prepare_data()
                datamodule.setup("fit")
            except DatasetNotFoundError as error:
                return {"skipped": str(error)}
            loaders[path] = datamodule.train_dataloader()
            check_batch(next(iter(loaders[path])), args.batch_size, path)
        n_batches = min(args.data_batches, *(len(loader) for loader in loaders.values()))
        ips: dict[str, list[float]] = {path: [] for path in loaders}
        for _ in range(args.repeats):  # interleaved, as the training sides
            for path, loader in loaders.items():
                ips[path].append(n_batches * args.batch_size / time_batches(loader, n_batches))
    in_memory, per_item = statistics.median(ips["in_memory"]), statistics.median(ips["torchvision"])
    ms_per_batch = 1000 * args.batch_size / in_memory
    return {
        "dataset": "fashion_mnist" if not args.quick else "tiny fashion_mnist (random idx files)",
        "batches": n_batches,
        "in_memory": median_of(ips["in_memory"]),
        "torchvision": median_of(ips["torchvision"]),
        "ratio": in_memory / per_item,
        "ms_per_batch": ms_per_batch,
        "step_method": step_method,
        "step_ms": step_ms,
        "percent_of_step": 100 * ms_per_batch / step_ms,
    }


def time_batches(loader: Iterable, n_batches: int) -> float:
    """Seconds to draw ``n_batches`` batches from a fresh iterator (its start, e.g. a shuffle, included)."""
    start = time.perf_counter()
    for i, _ in enumerate(loader):
        if i == n_batches - 1:
            break
    return time.perf_counter() - start


def check_batch(batch: Any, batch_size: int, path: str) -> None:
    x, y = batch
    if x.dtype != torch.float32 or tuple(x.shape) != (batch_size, 1, 28, 28) or y.dtype != torch.int64:
        raise SystemExit(f"the {path} path yields {x.dtype} {tuple(x.shape)} and {y.dtype} labels; expected "
                         f"float32 ({batch_size}, 1, 28, 28) and int64")


def write_tiny_fashion_mnist(raw: Path, *, n_train: int, n_test: int = 16) -> None:
    """Random images and labels as the four uncompressed idx files torchvision reads from ``raw``
    (``<root>/FashionMNIST/raw``)."""
    generator = torch.Generator().manual_seed(0)
    raw.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, 10, (n,), dtype=torch.uint8, generator=generator)
        # idx: magic 2051 (images, 3 dims) or 2049 (labels, 1 dim), then the sizes, big-endian
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">4I", 2051, n, 28, 28) + images.numpy().tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">2I", 2049, n) + labels.numpy().tobytes())


# -- sampling --------------------------------------------------------------------------------------------
def benchmark_sampling(method: str, args: argparse.Namespace, sync: Callable[[], None]) -> dict[str, Any]:
    device = torch.device(args.device)
    model = build_model(method, args)
    model.configure_model()  # the switches, as a Trainer applies them
    model.to(device).eval()
    autocast, _ = mixed_precision(args.precision, device)
    ips = []
    with torch.no_grad(), autocast:
        model.sample(args.sample_size)  # warm-up: allocations (and compilation with --compile)
        for _ in range(args.repeats):
            sync()
            start = time.perf_counter()
            model.sample(args.sample_size)
            sync()
            ips.append(args.sample_size / (time.perf_counter() - start))
    return median_of(ips)


# -- the record ------------------------------------------------------------------------------------------
def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else cpu_name()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def slug(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def parse_methods(value: str) -> list[str]:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    available = speed_methods()
    unknown = [m for m in methods if m not in available]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"unknown method(s) {unknown}; choose from {','.join(available)}")
    return list(dict.fromkeys(methods))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", type=parse_methods, default=speed_methods(),
                        help=f"comma-separated, from {','.join(speed_methods())} (default all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (batch 16, 5 steps, 2 repeats, tiny dataset): seconds per method")
    parser.add_argument("--steps", type=int, help="timed batches per repeat (default 30; quick 5)")
    parser.add_argument("--warmup", type=int, help="untimed batches before them, >= 1 (default 5; quick 1)")
    parser.add_argument("--repeats", type=int, help="repeats per side, interleaved (default 5; quick 2)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default="32-true")
    parser.add_argument("--batch-size", type=int, help="default 128 (the recipes' minibatch); quick 16")
    parser.add_argument("--image-size", type=int, default=28, help="side of the square images (8, 28, 32, 64, ...)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true",
                        help="both sides in the channels-last memory format (the methods' channels_last=True)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the nets on both sides (the methods' compile=True); raise --warmup")
    parser.add_argument("--sample-size", type=int, help="images per sample() call (default 1024; quick 64)")
    parser.add_argument("--data-batches", type=int, help="batches per data-path repeat (default 100; quick 3)")
    parser.add_argument("--data-dir", help="where Fashion-MNIST is (default: the datamodule's search path)")
    parser.add_argument("--no-data", action="store_true", help="skip the data-path part")
    parser.add_argument("--no-sampling", action="store_true", help="skip the sampling part")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/speed-<device>.json)")
    args = parser.parse_args(argv)
    defaults = ({"steps": 5, "warmup": 1, "repeats": 2, "batch_size": 16, "sample_size": 64, "data_batches": 3}
                if args.quick else
                {"steps": 30, "warmup": 5, "repeats": 5, "batch_size": 128, "sample_size": 1024, "data_batches": 100})
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in defaults:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.device == "cpu" and args.precision == "16-mixed":
        # Lightning would train in bf16-mixed instead (fp16 autocast is not supported on CPU), which the
        # hand-written loop would not
        parser.error("--precision 16-mixed needs --device cuda; on CPU use --precision bf16-mixed")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available; use --device cpu")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    # Lightning's per-fit banners ("GPU available: ...") and its small-dataset advice, repeated every repeat
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*(does not have many workers|smaller than the logging interval"
                            "|no `val_dataloader`|LeafSpec|litlogger).*")
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    methods = {method: benchmark_method(method, args, sync) for method in args.methods}
    step_method = "dcgan" if "dcgan" in methods else args.methods[0]
    step_ms = 1000 * args.batch_size / methods[step_method]["zoo"]["median"]
    data = {"skipped": "--no-data"} if args.no_data else benchmark_data(args, step_method, step_ms)
    sampling = {} if args.no_sampling else {m: benchmark_sampling(m, args, sync) for m in args.methods}

    name = device_name(args.device)
    result = {
        "methods": methods,
        "data": data,
        "sampling": sampling,
        "config": {
            "methods": args.methods,
            "device": args.device,
            "precision": args.precision,
            "batch_size": args.batch_size,
            "in_shape": list(image_shape(args)),
            "steps": args.steps,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "channels_last": args.channels_last,
            "compile": args.compile,
            "sample_size": args.sample_size,
            "data_batches": args.data_batches,
            "seed": args.seed,
            "quick": args.quick,
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "lightning": L.__version__},
        "cpu": cpu_name(),
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": None if (status := git("status", "--porcelain")) is None else bool(status),
    }
    out = args.out or RESULTS / f"speed-{slug(name) if args.device == 'cuda' else 'cpu'}.json"  # speed-cpu.json
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_summary(result, name, out)
    return result


def print_summary(result: dict, device: str, out: Path) -> None:
    config = result["config"]
    print(f"\n{'x'.join(map(str, config['in_shape']))} batch {config['batch_size']} {config['precision']} on "
          f"{device}, {result['threads']} threads" + ", channels_last" * config["channels_last"]
          + ", compile" * config["compile"])
    print(f"{'method':8s} {'zoo img/s':>10s} {'hand img/s':>11s} {'ratio':>6s} {'ms/batch':>9s} {'weight diff':>11s}")
    for method, r in result["methods"].items():
        flag = "" if r["ratio"] >= TARGET_RATIO else f"  < {TARGET_RATIO}"
        print(f"{method:8s} {r['zoo']['median']:10.1f} {r['hand']['median']:11.1f} {r['ratio']:6.3f} "
              f"{r['overhead_ms_per_batch']:+9.2f} {max(r['max_weight_diff']):11.1e}{flag}")
    data = result["data"]
    if "skipped" in data:
        print(f"data path: skipped ({data['skipped']})")
    else:
        print(f"data path: in-memory {data['in_memory']['median']:.0f} img/s, torchvision per-item "
              f"{data['torchvision']['median']:.0f} img/s, ratio {data['ratio']:.1f} "
              f"(target >= {TARGET_DATA_RATIO:g}); "
              f"{data['ms_per_batch']:.2f} ms per batch = {data['percent_of_step']:.2f}% of a {data['step_method']} "
              f"step (target <= {TARGET_DATA_PERCENT:g}%)")
    if result["sampling"]:
        print("sampling img/s: " + ", ".join(f"{m} {s['median']:.0f}" for m, s in result["sampling"].items()))
    print(f"-> {out}")


if __name__ == "__main__":
    main()

"""Speed benchmark: the zoo's DCGAN training step against a hand-written PyTorch loop of the same computation.

    python benchmarks/speed.py                        # CPU, Fashion-MNIST-sized batches (1x28x28, batch 128)
    python benchmarks/speed.py --quick                # tiny sizes, a few seconds: checks the script runs
    python benchmarks/speed.py --device cuda --precision bf16-mixed --image-size 64 --channels 3 --batch-size 256

Both sides train the same DCGAN (``zoo.create_model("dcgan")``'s nets, built from the same seed) on the
same in-memory batches (uint8-derived floats in [0, 1], already on the device, so data loading is not
measured), with the same noise stream. Per batch both do what ``AdversarialModel.training_step`` does with
``n_critic = 1``: one discriminator update on real + fake (fake generated under no_grad), BCE with logits;
then one generator update with the non-saturating loss while D's parameters are frozen (what Lightning's
``toggled_optimizer`` does); tanh on G's output, images mapped to [-1, 1], Adam(2e-4, (0.5, 0.999)),
``zero_grad(set_to_none=True)``. The hand-written loop logs nothing: whatever the zoo computes beyond the
two updates (its logged metrics, Lightning's hooks) counts as framework overhead.

Throughput is images/s over ``--steps`` batches after ``--warmup`` batches, timed from the end of the last
warm-up batch to the end of the last batch (for the zoo, in a Callback, so the Trainer's setup and teardown
are not timed; on CUDA the device is synchronized before each clock read). The sides run interleaved,
zoo, hand, zoo, hand, ..., so a slow phase of a shared machine hits both; the medians and their ratio
zoo/hand (target >= 0.97) are printed and written to ``benchmarks/results/speed-<device>.json``.

As a check that the two loops compute the same thing, the largest difference between the zoo's and the
hand loop's generator weights after each repeat is recorded (``max_weight_diff``; 0 on CPU, where both
run the same kernels in the same order). ``overhead_ms_per_batch`` is the difference of the two medians'
step times: the zoo's cost per batch is a fixed one (Lightning's loop and hooks, ``self.log``), so the
ratio depends on how long the step itself takes (batch 16 in ``--quick`` shows it far more than batch 128).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import lightning as L
import torch
from torch import nn

import zoo
from zoo.losses import discriminator_loss, generator_non_saturating_loss

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
METHOD = "dcgan"
LR, BETAS = 2e-4, (0.5, 0.999)  # DCGAN's Adam (Radford et al. 2016, Sec. 4), the zoo's default for dcgan
POOL_BATCHES = 8  # distinct batches held in memory and cycled: enough that no batch is reused back to back


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


def build_model(args: argparse.Namespace) -> L.LightningModule:
    """The zoo's DCGAN, seeded so every repeat and both sides start from the same weights."""
    torch.manual_seed(args.seed)
    return zoo.create_model(METHOD, in_shape=(args.channels, args.image_size, args.image_size))


def run_zoo(args: argparse.Namespace, data: InMemoryBatches, sync: Callable[[], None]) -> tuple[float, nn.Module]:
    """Images/s of ``Trainer.fit`` on the zoo's DCGAN, and its trained generator."""
    model = build_model(args)
    timer = SteadyStateTimer(args.warmup, args.warmup + args.steps - 1, sync)
    trainer = L.Trainer(
        accelerator=args.device,
        devices=1,
        precision=args.precision,
        # global_step counts optimizer steps, two per batch here (D and G): the data's length ends the run
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    torch.manual_seed(args.seed + 1)  # the noise stream, the same as the hand-written loop's
    trainer.fit(model, train_dataloaders=data)
    return args.steps * args.batch_size / (timer.end - timer.start), model.generator


def run_hand(args: argparse.Namespace, data: InMemoryBatches, sync: Callable[[], None]) -> tuple[float, nn.Module]:
    """Images/s of a plain PyTorch loop doing the zoo's training step, and its trained generator."""
    device = torch.device(args.device)
    model = build_model(args)  # only for its freshly initialised nets
    generator, discriminator = model.generator.to(device).train(), model.discriminator.to(device).train()
    latent_dim = model.latent_dim
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=LR, betas=BETAS)
    g_opt = torch.optim.Adam(generator.parameters(), lr=LR, betas=BETAS)
    autocast, scaler = mixed_precision(args.precision, device)

    def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:  # what Lightning's 16-mixed plugin does: unscale, step, update the scale after every step
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            scaler.step(optimizer)
            scaler.update()

    last = args.warmup + args.steps - 1
    start = end = float("nan")
    torch.manual_seed(args.seed + 1)
    for i, x in enumerate(data):
        x = x.to(device, non_blocking=True)
        with autocast:
            real = x * 2 - 1  # (N, C, H, W) in [-1, 1]
            n = real.shape[0]
            # discriminator update: G's output is a constant here
            with torch.no_grad():
                fake = torch.tanh(generator(torch.randn(n, latent_dim, device=device)))
            real_scores, fake_scores = discriminator(real).view(n), discriminator(fake).view(n)
            d_loss = discriminator_loss(real_scores, fake_scores).mean()
            d_opt.zero_grad(set_to_none=True)
            backward_and_step(d_loss, d_opt)
            # generator update: D is frozen, so the backward skips D's weight gradients
            discriminator.requires_grad_(False)
            fake = torch.tanh(generator(torch.randn(n, latent_dim, device=device)))
            g_loss = generator_non_saturating_loss(discriminator(fake).view(n)).mean()
            g_opt.zero_grad(set_to_none=True)
            backward_and_step(g_loss, g_opt)
            discriminator.requires_grad_(True)
        if i == args.warmup - 1:
            sync()
            start = time.perf_counter()
        if i == last:
            sync()
            end = time.perf_counter()
    return args.steps * args.batch_size / (end - start), generator


def mixed_precision(precision: str, device: torch.device) -> tuple[AbstractContextManager, torch.amp.GradScaler | None]:
    """The autocast context and grad scaler Lightning's precision plugin uses for ``precision``."""
    if precision == "32-true":
        return nullcontext(), None
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    scaler = torch.amp.GradScaler(device.type) if precision == "16-mixed" else None
    # without the cast cache, as Lightning: a cache kept over the whole step would hold D's weights from
    # before its update into the generator's update
    return torch.autocast(device.type, dtype=dtype, cache_enabled=False), scaler


def max_weight_diff(a: nn.Module, b: nn.Module) -> float:
    """The largest absolute difference between corresponding parameters of two copies of one net."""
    return max((pa.detach() - pb.detach()).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters()))


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (batch 16, 3 steps, 2 repeats): seconds")
    parser.add_argument("--steps", type=int, help="timed batches per repeat (default 30; quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed batches before them, >= 1 (default 5; quick 1)")
    parser.add_argument("--repeats", type=int, help="repeats per side, interleaved (default 5; quick 2)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default="32-true")
    parser.add_argument("--batch-size", type=int, help="default 128 (DCGAN's minibatch); quick 16")
    parser.add_argument("--image-size", type=int, default=28, help="side of the square images (8, 28, 32, 64, ...)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/speed-<device>.json)")
    args = parser.parse_args(argv)
    defaults = {"steps": 3, "warmup": 1, "repeats": 2, "batch_size": 16} if args.quick else {
        "steps": 30, "warmup": 5, "repeats": 5, "batch_size": 128}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("steps", "warmup", "repeats", "batch_size"):
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
                            "|no `val_dataloader`|LeafSpec).*")
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    shape = (args.channels, args.image_size, args.image_size)
    data = InMemoryBatches(args.warmup + args.steps, args.batch_size, shape, device)

    zoo_ips, hand_ips, diffs = [], [], []
    for r in range(args.repeats):
        zoo_r, zoo_g = run_zoo(args, data, sync)
        hand_r, hand_g = run_hand(args, data, sync)
        zoo_ips.append(zoo_r)
        hand_ips.append(hand_r)
        diffs.append(max_weight_diff(zoo_g, hand_g))
        print(f"repeat {r + 1}/{args.repeats}: zoo {zoo_r:8.1f} img/s   hand {hand_r:8.1f} img/s", flush=True)
    zoo_median, hand_median = statistics.median(zoo_ips), statistics.median(hand_ips)
    ratio = zoo_median / hand_median
    overhead_ms = 1000 * args.batch_size * (1 / zoo_median - 1 / hand_median)

    name = device_name(args.device)
    result = {
        "method": METHOD,
        "config": {
            "device": args.device,
            "precision": args.precision,
            "batch_size": args.batch_size,
            "in_shape": list(shape),
            "steps": args.steps,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "seed": args.seed,
            "quick": args.quick,
        },
        "zoo": {"images_per_s": zoo_ips, "median": zoo_median},
        "hand": {"images_per_s": hand_ips, "median": hand_median},
        "ratio": ratio,
        "overhead_ms_per_batch": overhead_ms,
        "max_weight_diff": diffs,
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
    print(f"{METHOD} {'x'.join(map(str, shape))} batch {args.batch_size} {args.precision} on {name}, "
          f"{torch.get_num_threads()} threads")
    print(f"zoo  median {zoo_median:8.1f} img/s (range {min(zoo_ips):.1f}-{max(zoo_ips):.1f})")
    print(f"hand median {hand_median:8.1f} img/s (range {min(hand_ips):.1f}-{max(hand_ips):.1f})")
    print(f"ratio zoo/hand {ratio:.3f} (target >= 0.97), zoo overhead {overhead_ms:.2f} ms per batch, "
          f"max weight diff {max(diffs):.1e} -> {out}")
    return result


if __name__ == "__main__":
    main()

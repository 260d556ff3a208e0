"""Sampling the autoregressive models with their caches against re-running the network for every pixel.

    python benchmarks/ar_sampling.py                       # the four models of the Fashion-MNIST recipes, 28x28
    python benchmarks/ar_sampling.py --quick               # the digits recipes' models, 8x8 (seconds)

For each model (the net of ``recipes/<method>/<recipe>.yaml``, seeded random weights: the cost of a sample
does not depend on what the weights learned), ``model.sample(n)`` twice from generators of the same seed:
with the sampling cache (zoo/nets/autoregressive.py, Ramachandran et al. 2017, arXiv:1704.06001: every
layer's features kept, each position computed once) and with ``cache=False`` (the whole network over the
rows so far for every pixel, H * W passes). Both in one run, interleaved cached, naive, cached, naive, ...;
the record holds every repeat's CPU seconds, the medians' ratio naive / cached (the target: >= 10 at 28x28
on CPU), and whether the two drew exactly the same images (they must: the same conditionals, the same
uniforms). Writes ``benchmarks/results/ar_sampling-<device>.json`` (``--out`` to change).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

import zoo

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("pixelcnn", "gated_pixelcnn", "row_lstm", "diagonal_bilstm")
SHAPES = {"digits": (1, 8, 8), "fashion_mnist": (1, 28, 28)}


def recipe_model(method: str, recipe: str) -> tuple[dict, torch.nn.Module]:
    """The recipe's model arguments (without optimizer and scheduler) and the model they build."""
    config = yaml.safe_load((ROOT / "recipes" / method / f"{recipe}.yaml").read_text())
    kwargs = {k: v for k, v in config["model"]["init_args"].items() if k not in ("optimizer", "lr_scheduler")}
    return kwargs, zoo.create_model(method, in_shape=SHAPES[recipe], **kwargs).eval()


def cpu_seconds(fn) -> tuple[float, torch.Tensor]:
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def measure(method: str, recipe: str, *, n: int, repeats: int, seed: int) -> dict:
    torch.manual_seed(seed)
    kwargs, model = recipe_model(method, recipe)
    times: dict[str, list[float]] = {"cached": [], "naive": []}
    identical = True
    for _ in range(repeats):
        draws = {}
        for mode in ("cached", "naive"):
            generator = torch.Generator().manual_seed(seed)
            seconds, draws[mode] = cpu_seconds(
                lambda: model.sample(n, generator=generator, cache=mode == "cached"))  # noqa: B023
            times[mode].append(seconds)
        identical = identical and torch.equal(draws["cached"], draws["naive"])
    cached, naive = statistics.median(times["cached"]), statistics.median(times["naive"])
    return {"recipe": f"recipes/{method}/{recipe}.yaml", "model": kwargs, "in_shape": list(SHAPES[recipe]),
            "parameters": sum(p.numel() for p in model.parameters()), "n": n,
            "cached_cpu_s": times["cached"], "naive_cpu_s": times["naive"],
            "ratio": naive / cached, "identical": identical}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--n", type=int, default=8, help="images per sample call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the digits recipes' models (8x8), one repeat")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/ar_sampling-cpu.json")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"ar_sampling: unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}", file=sys.stderr)
        return 2
    recipe, repeats = ("digits", 1) if args.quick else ("fashion_mnist", args.repeats)
    torch.set_num_threads(args.threads)
    results = {}
    for method in methods:
        results[method] = measure(method, recipe, n=args.n, repeats=repeats, seed=args.seed)
        r = results[method]
        print(f"{method}: cached {statistics.median(r['cached_cpu_s']):.2f} s, naive "
              f"{statistics.median(r['naive_cpu_s']):.2f} s of CPU for {args.n} images: {r['ratio']:.1f}x, "
              f"identical: {r['identical']}")
    record = {"protocol": "model.sample(n) with the cache vs cache=False, same seed, CPU seconds (process time), "
                          "median of the repeats, interleaved", "threads": args.threads, "repeats": repeats,
              "seed": args.seed, "quick": args.quick, "torch": torch.__version__,
              "cpu": platform.processor() or platform.machine(), "results": results}
    out = args.out or ROOT / "benchmarks" / "results" / "ar_sampling-cpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["identical"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Batch, reference and virtual batch norm in DCGAN's generator at the same CPU budget (Salimans et al. 2016,
arXiv:1606.03498, Sec. 3.4): one command, one JSON.

    python benchmarks/norms.py [--dataset fashion_mnist] [--budget-minutes 8] [--norms batch,reference,virtual]

Each norm trains the DCGAN recipe of the dataset (``recipes/dcgan/<dataset>.yaml``, only the generator's
``norm`` overridden) with the leaderboard's training stage (benchmarks/leaderboard.py: the same CPU-time
budget per run, the recipe's epochs as the cap), then is scored by ``zoo evaluate`` under the leaderboard's
pinned protocol for that dataset (float32 weights). Reference and virtual batch norm run the generator's
reference batch (64 codes) beside every minibatch, so within the same budget they train fewer epochs: the
comparison is at equal cost, as the issue asks, not at equal epochs. Runs go to
``benchmarks/runs/norms/<dataset>/<norm>/`` (reused when finished); the result to
``benchmarks/results/norms-<dataset>.json``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import leaderboard  # noqa: E402


def run_norm(norm: str, dataset: str, budget_minutes: float, n_fake: int | None, runs: Path) -> dict[str, Any]:
    from zoo.metrics.evaluate import evaluate
    from zoo.weights import load, save_safetensors

    run_dir = runs / dataset / norm
    overrides = [f"--model.init_args.generator.init_args.norm={norm}"]
    print(f"{norm}: training")
    trained = leaderboard.train("dcgan", dataset, ROOT / "recipes" / "dcgan" / f"{dataset}.yaml", run_dir,
                                budget_minutes=budget_minutes, overrides=overrides)
    weights = run_dir / f"dcgan.{dataset}.{norm}.float32.safetensors"
    save_safetensors(load(run_dir / trained["checkpoint"]), weights)
    print(f"{norm}: evaluating")
    protocol = dict(leaderboard.PROTOCOLS[dataset]["evaluate"])
    if n_fake is not None:  # quick checks only; recorded in the result's protocol
        protocol["n_fake"] = n_fake
    scored = evaluate(str(weights), data=dataset, **protocol)
    return {
        "overrides": overrides,
        "epochs": trained["epochs"],
        "max_epochs": trained["max_epochs"],
        "stopped_by": trained["stopped_by"],
        "train_cpu_s": round(trained["train_time_s"], 1),
        "metrics": scored["metrics"],
        "protocol": scored["protocol"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=sorted(leaderboard.PROTOCOLS))
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="CPU minutes per run (default: the leaderboard's for the dataset)")
    parser.add_argument("--norms", default="batch,reference,virtual")
    parser.add_argument("--n-fake", type=int, default=None, help="samples for FID instead of the protocol's (quick checks)")
    parser.add_argument("--runs", type=Path, default=leaderboard.RUNS / "norms", help="where the runs go")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    budget = args.budget_minutes or leaderboard.PROTOCOLS[args.dataset]["budget_minutes"]
    results = {norm: run_norm(norm, args.dataset, budget, args.n_fake, args.runs) for norm in args.norms.split(",")}
    fid_key = next(k for k in next(iter(results.values()))["metrics"] if k.startswith("fid_"))
    fids = {norm: r["metrics"][fid_key] for norm, r in results.items()}
    report = {
        "dataset": args.dataset,
        "recipe": f"recipes/dcgan/{args.dataset}.yaml",
        "budget_cpu_minutes": budget,
        "metric": fid_key,
        "fid": fids,
        "runs": results,
        "commit": next(iter(results.values()))["protocol"].get("commit"),
        "hardware": leaderboard.hardware(),
    }
    if "batch" in fids:
        report["no_worse_than_batch_norm"] = {n: fid <= fids["batch"] for n, fid in fids.items() if n != "batch"}
    out = args.out or leaderboard.RESULTS / f"norms-{args.dataset}.json"
    leaderboard.write_json(out, report)
    print(f"{fid_key}: " + ", ".join(f"{n} {f:.1f}" for n, f in fids.items()) + f"; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Progressive growing against training the same nets at full resolution from the start, at the same CPU budget
(Karras et al. 2018, arXiv:1710.10196, Sec. 2 and Table 1: growing trains faster and better): one command, one JSON.

    python benchmarks/progan_growth.py [--dataset fashion_mnist] [--budget-minutes 8] [--seeds 0]

Both variants train the ProGAN recipe of the dataset (``recipes/progan/<dataset>.yaml``): ``progressive`` as
written, ``fixed`` with ``progressive: false`` (the final G and D, the same WGAN-GP loss with drift, minibatch
stddev, equalized LR and pixel norm, at the final resolution from the first step: WGAN-GP with ProGAN's nets).
Training is the leaderboard's stage (benchmarks/leaderboard.py: the same CPU-time budget per run, the recipe's
epochs as the cap), scoring ``zoo evaluate`` under the leaderboard's pinned protocol (float32 weights). The FID
curve over CPU seconds is each run's PeriodicFID history (the recipe's callback; fewer samples than the final
score, so compare curves with curves). Runs go to ``benchmarks/runs/progan_growth/<dataset>/<variant>-<seed>/``
(reused when finished), except the recipe as written (progressive, seed 0), which is the leaderboard's run
(``benchmarks/runs/<dataset>/progan/``, reused from there); the result to
``benchmarks/results/progan_growth-<dataset>.json``.
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
import yaml  # noqa: E402

VARIANTS = {"progressive": [], "fixed": ["--model.init_args.progressive=false"]}
RECIPE_SEED = 0  # the recipes' seed_everything


def run_variant(variant: str, seed: int, dataset: str, budget_minutes: float, n_fake: int | None,
                runs: Path) -> dict[str, Any]:
    from zoo.metrics.evaluate import evaluate
    from zoo.weights import load, save_safetensors

    overrides = [*VARIANTS[variant], *([f"--seed_everything={seed}"] if seed != RECIPE_SEED else [])]
    recipe = ROOT / "recipes" / "progan" / f"{dataset}.yaml"
    # The recipe as written at the leaderboard's budget is the leaderboard's run: reused from there when it has
    # finished with the same key; never retrained there (train() would clear the folder first).
    board = leaderboard.RUNS / dataset / "progan"
    done = leaderboard.read_json(board / "train.json") or {}
    same = (done.get("status") == "ok" and done.get("recipe_sha256") == leaderboard.sha256_text(recipe)
            and done.get("overrides") == [] and done.get("budget_minutes") == budget_minutes)
    run_dir = board if not overrides and same else runs / dataset / f"{variant}-{seed}"
    print(f"{variant}, seed {seed}: training")
    trained = leaderboard.train("progan", dataset, recipe, run_dir, budget_minutes=budget_minutes, overrides=overrides)
    cached = leaderboard.read_json(run_dir / "growth_result.json")
    if cached is not None and cached.get("trained_finished") == trained["finished"] and n_fake is None:
        print(f"{variant}, seed {seed}: reusing its score")
        return cached["result"]
    weights = run_dir / f"progan.{dataset}.{variant}.float32.safetensors"
    model = load(run_dir / trained["checkpoint"])
    save_safetensors(model, weights)
    print(f"{variant}, seed {seed}: evaluating")
    protocol = dict(leaderboard.PROTOCOLS[dataset]["evaluate"])
    if n_fake is not None:  # quick checks only; recorded in the result's protocol
        protocol["n_fake"] = n_fake
    scored = evaluate(str(weights), data=dataset, **protocol)
    history_file = next(run_dir.rglob("fid_history.json"), None)
    history = (leaderboard.read_json(history_file) or {}).get("history", []) if history_file else []
    # two optimizer steps (critic, generator) per batch of the recipe's size: the images D saw at each point
    batch_size = yaml.safe_load(recipe.read_text())["data"]["init_args"]["batch_size"]
    result = {
        "overrides": overrides,
        "epochs": trained["epochs"],
        "stopped_by": trained["stopped_by"],
        "train_cpu_s": round(trained["train_time_s"], 1),
        "images_seen": int(model.images_seen),
        "final_resolution_reached": model.growth() == (model.max_level, 1.0),
        "metrics": scored["metrics"],
        "fid_curve": [{"cpu_s": round(h.get("cpu_s", 0.0), 1), "epoch": h["epoch"],
                       "images_seen": h["step"] // 2 * batch_size, "fid": h["fid"]} for h in history],
        "protocol": scored["protocol"],
    }
    if n_fake is None:  # scored under the pinned protocol: kept beside the run, reused while the run is
        leaderboard.write_json(run_dir / "growth_result.json", {"trained_finished": trained["finished"],
                                                               "result": result})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=sorted(leaderboard.PROTOCOLS))
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="CPU minutes per run (default: the leaderboard's for the dataset)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of " + ", ".join(VARIANTS))
    parser.add_argument("--n-fake", type=int, default=None,
                        help="samples for FID instead of the protocol's (quick checks)")
    parser.add_argument("--runs", type=Path, default=leaderboard.RUNS / "progan_growth", help="where the runs go")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    budget = args.budget_minutes or leaderboard.PROTOCOLS[args.dataset]["budget_minutes"]
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    results = {f"{variant}-{seed}": run_variant(variant, seed, args.dataset, budget, args.n_fake, args.runs)
               for seed in seeds for variant in variants}
    fid_key = next(k for k in next(iter(results.values()))["metrics"] if k.startswith("fid_"))
    fids = {variant: [results[f"{variant}-{seed}"]["metrics"][fid_key] for seed in seeds] for variant in variants}
    report = {
        "dataset": args.dataset,
        "recipe": f"recipes/progan/{args.dataset}.yaml",
        "budget_cpu_minutes": budget,
        "seeds": seeds,
        "metric": fid_key,
        "fid": fids,
        "progressive_better_on_every_seed": (all(p < f for p, f in zip(fids["progressive"], fids["fixed"]))
                                             if set(fids) == set(VARIANTS) else None),
        "runs": results,
        "commit": next(iter(results.values()))["protocol"].get("commit"),
        "hardware": leaderboard.hardware(),
    }
    out = args.out or leaderboard.RESULTS / f"progan_growth-{args.dataset}.json"
    leaderboard.write_json(out, report)
    print(f"{fid_key}: " + "; ".join(f"{v} {', '.join(f'{x:.1f}' for x in f)}" for v, f in fids.items())
          + f"; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

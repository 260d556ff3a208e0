"""beta-VAE against the plain VAE on sprites, at the same CPU budget with the same nets (Higgins et al. 2017,
Table 1: on dSprites the beta-VAE metric is 99.2% for beta = 4 against 61.6% for the VAE): one command, one JSON.

    python benchmarks/disentanglement.py [--variant dsprites] [--budget-minutes 15] [--seeds 0 1] [--betas 1 4]

Each run trains ``recipes/beta_vae/sprites.yaml`` with ``beta`` overridden (beta = 1 is the VAE's objective: the
same Burgess et al. conv nets, optimizer and data) under the leaderboard's training stage (benchmarks/
leaderboard.py: a budget in CPU time of the training process), on one thread per run, two runs side by side
(``--jobs``). The last checkpoint is scored by zoo/metrics/disentanglement.py: the beta-VAE metric and the
FactorVAE metric with disentanglement_lib's counts times ``--scale`` (recorded), MIG on 10,000 images, and the
test ELBO of 2,000 test images. Runs go to ``benchmarks/runs/disentanglement/<variant>/beta<b>-<seed>/`` (reused
when finished with the same key); the result to ``benchmarks/results/disentanglement-<variant>.json``.
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import leaderboard  # noqa: E402

RECIPE = ROOT / "recipes" / "beta_vae" / "sprites.yaml"
RUNS = ROOT / "benchmarks" / "runs" / "disentanglement"
METRICS = ("beta_vae_metric", "factor_vae_metric", "mig")


def train_one(variant: str, beta: float, seed: int, budget_minutes: float, runs: Path = RUNS
              ) -> tuple[Path, dict[str, Any]]:
    overrides = [f"--model.init_args.beta={beta:g}", f"--seed_everything={seed}",
                 f"--data.init_args.variant={variant}"]
    run_dir = runs / variant / f"beta{beta:g}-{seed}"
    print(f"beta {beta:g}, seed {seed}: training", flush=True)
    return run_dir, leaderboard.train("beta_vae", "sprites", RECIPE, run_dir, budget_minutes=budget_minutes,
                                      overrides=overrides)


def score(run_dir: Path, trained: dict[str, Any], variant: str, scale: float) -> dict[str, Any]:
    import torch

    from zoo.data import SpritesDataModule
    from zoo.metrics.disentanglement import disentanglement
    from zoo.weights import load

    cached = leaderboard.read_json(run_dir / "disentanglement.json")
    if cached is not None and cached.get("trained_finished") == trained["finished"] and cached.get("scale") == scale:
        print(f"  {run_dir.name}: reusing its scores", flush=True)
        return cached["result"]
    print(f"  {run_dir.name}: scoring", flush=True)
    model = load(run_dir / trained["checkpoint"]).eval()
    datamodule = SpritesDataModule(variant=variant, batch_size=500)
    datamodule.setup("test")
    test = torch.cat([batch[0] for _, batch in zip(range(4), datamodule.test_dataloader())])  # 2000 images
    with torch.no_grad():
        elbo = torch.cat([model.elbo(x, generator=torch.Generator().manual_seed(0)) for x in test.split(500)])
    scores = disentanglement(model.encode, datamodule.sprites, seed=0, scale=scale)
    result = {"metrics": {**scores["metrics"], "test_elbo": float(elbo.mean())},
              "protocol": {**scores["protocol"], "test_elbo": {"n": len(test), "split": "test", "samples": 1}},
              "train": {k: trained.get(k)
                        for k in ("global_step", "epochs", "checkpoint_time_s", "stopped_by", "checkpoint")}}
    leaderboard.write_json(run_dir / "disentanglement.json",
                           {"trained_finished": trained["finished"], "scale": scale, "result": result})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="dsprites", choices=("dsprites", "xy_rotation"))
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="CPU minutes of training per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--scale", type=float, default=0.1,
                        help="times disentanglement_lib's counts for the beta-VAE and FactorVAE metrics (1: theirs)")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained side by side, one thread each")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the runs go (default benchmarks/runs/...)")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # the zoo fit subprocesses: one thread each, `--jobs` of them
    import torch

    torch.set_num_threads(1)
    cases = [(beta, seed) for seed in args.seeds for beta in args.betas]
    with ThreadPoolExecutor(args.jobs) as pool:
        trained = list(pool.map(lambda case: train_one(args.variant, *case, args.budget_minutes, args.runs), cases))
    torch.set_num_threads(max(1, args.jobs))
    runs = []
    for (beta, seed), (run_dir, record) in zip(cases, trained):
        runs.append({"beta": beta, "seed": seed, **score(run_dir, record, args.variant, args.scale)})
    means = {f"beta={beta:g}": {m: mean(r["metrics"][m] for r in runs if r["beta"] == beta)
                                for m in (*METRICS, "test_elbo")} for beta in args.betas}
    result: dict[str, Any] = {
        "command": "python benchmarks/disentanglement.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "variant": args.variant, "budget_minutes": args.budget_minutes, "threads_per_run": 1,
        "recipe": str(RECIPE.relative_to(ROOT)), "recipe_sha256": leaderboard.sha256_text(RECIPE),
        "runs": runs, "means": means,
        "published": {"beta_vae_metric": {"vae": 0.616, "beta_vae (beta=4)": 0.992,
                                          "source": "Higgins et al. 2017, Table 1 (dSprites)"}},
        "hardware": leaderboard.hardware(),
    }
    if {1.0, 4.0} <= set(args.betas):
        result["beta4_beats_vae"] = {
            metric: {"on_the_mean": means["beta=4"][metric] > means["beta=1"][metric],
                     "on_every_seed": all(
                         next(r for r in runs if r["beta"] == 4.0 and r["seed"] == s)["metrics"][metric]
                         > next(r for r in runs if r["beta"] == 1.0 and r["seed"] == s)["metrics"][metric]
                         for s in args.seeds)}
            for metric in METRICS}
    out = args.out or ROOT / "benchmarks" / "results" / f"disentanglement-{args.variant}.json"
    leaderboard.write_json(out, result)
    for name, values in means.items():
        print(name, {k: round(v, 3) for k, v in values.items()})
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

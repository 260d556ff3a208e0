"""The leaderboard: train every registered method's recipe for a dataset, score it under the pinned protocol,
ship its weights, and write LEADERBOARD.md from the results.

    python benchmarks/leaderboard.py run --dataset digits --export          # train (or reuse), evaluate, ship
    python benchmarks/leaderboard.py run --dataset fashion_mnist --export   # CPU budget: 8 CPU-minutes per method
    python benchmarks/leaderboard.py render                                 # LEADERBOARD.md, README, plots
    python benchmarks/leaderboard.py rescore --dataset digits --methods vae --export   # NLL again, no training

``run`` takes each method with a recipe ``recipes/<method>/<dataset>.yaml`` whose folder names a registered
model, one after the other, through four stages:

1. **train**: ``zoo fit --config <recipe>`` in a subprocess, into ``benchmarks/runs/<dataset>/<method>/``,
   with the dataset's budget of CPU time (:class:`zoo.callbacks.CPUBudget`: the training process's own CPU
   time, so other jobs on the machine do not change how far a method trains); the run stops at the
   recipe's epochs or the budget, whichever comes first, and ``stopped_by`` records which. A finished run (``train.json`` with the
   same recipe hash, overrides and budget) is reused; an interrupted one resumes from its ``last.ckpt``.
2. **export**: the final weights as safetensors in float32 and float16.
3. **evaluate**: ``zoo evaluate``'s protocol (:data:`PROTOCOLS`) on both files. The float16 file is kept
   when it costs no measured quality (its FID within :data:`FP16_FID_TOLERANCE` of float32's), else the
   float32 one; NLL (methods with a likelihood) is measured on the kept file.
4. **record**: ``benchmarks/results/<dataset>/<method>.json`` (metrics + protocol + train time + stopping
   reason + hardware + commit + recipe hash) and a sample grid ``<method>.png``. With ``--export`` the
   kept file is copied to ``zoo/pretrained/<method>.<dataset>.safetensors`` and its entry (sha256, recipe,
   metrics with protocol, num_params) written to ``zoo/pretrained/index.json``.

A method that fails at any stage is recorded as failed (stage and error, with the log's tail) and the run
goes on; the command exits 1 if any method failed. Rerunning skips what is done, so an interrupted
``run`` resumes where it stopped. ``render`` reads only the result files, so it reruns in seconds.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "benchmarks" / "runs"
PRETRAINED = ROOT / "zoo" / "pretrained"
LEADERBOARD = ROOT / "benchmarks" / "LEADERBOARD.md"
README = ROOT / "README.md"
README_START, README_END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"
METHODS_START, METHODS_END = "<!-- methods:start -->", "<!-- methods:end -->"
FORMAT = 1  # of the result JSON; bump when its meaning changes

#: The pinned evaluation protocol per dataset (``zoo evaluate`` arguments) and its CPU training budget.
#: n_fake 10000: FID's bias at 10k samples is small next to the gaps between methods (50k costs 5x).
PROTOCOLS: dict[str, dict[str, Any]] = {
    "digits": {
        "evaluate": {"metrics": "fid,kid,is,pr", "n_fake": 10_000, "split": "train", "seed": 0},
        "nll": {"nll_k": 5000, "nll_split": "test", "n_nll": None},  # all 360 test digits
        "budget_minutes": 15.0,
    },
    "fashion_mnist": {
        "evaluate": {"metrics": "fid,kid,is,pr", "n_fake": 10_000, "split": "train", "seed": 0},
        # 1000 test images with K = 1000: the conv VAE's 10^6 decoder passes take about a minute on CPU
        "nll": {"nll_k": 1000, "nll_split": "test", "n_nll": 1000},
        "budget_minutes": 8.0,
    },
}
#: float16 weights are shipped when their FID is within this (relative) of the float32 weights' FID.
FP16_FID_TOLERANCE = 0.01
# -- helpers ------------------------------------------------------------------------------------------
def sha256_text(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hardware() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }


def methods_for(dataset: str, recipes: Path) -> list[str]:
    """Registered models with a recipe for ``dataset``, sorted."""
    import zoo

    registered = set(zoo.list_models())
    return sorted(p.parent.name for p in recipes.glob(f"*/{dataset}.yaml") if p.parent.name in registered)


def model_info(method: str):
    """The registry's record of ``method`` (paper, capabilities, tasks): what a method declares with its class."""
    from zoo.registry import model_info as info

    return info(method)


def paper_record(method: str) -> dict[str, Any]:
    paper = model_info(method).paper
    if paper is None:
        return {"title": None, "authors": None, "year": None, "arxiv": None}
    return {"title": paper.title, "authors": paper.citation, "year": paper.year, "arxiv": paper.arxiv}


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Valid JSON (non-finite numbers become null), written whole or not at all (zoo.paths.write_json)."""
    from zoo.paths import write_json as write

    write(path, record)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").replace("\r", "\n")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


class StageError(RuntimeError):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


# -- stage 1: train -----------------------------------------------------------------------------------
def train(
    method: str, dataset: str, recipe: Path, run_dir: Path, *, budget_minutes: float, overrides: list[str]
) -> dict[str, Any]:
    """Train (or reuse, or resume) the recipe's run; returns the run's ``train.json`` record."""
    key = {"recipe_sha256": sha256_text(recipe), "overrides": overrides, "budget_minutes": budget_minutes}
    done = read_json(run_dir / "train.json")
    if done is not None and done.get("status") == "ok" and all(done.get(k) == v for k, v in key.items()):
        print(f"  train: reusing {run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir}")
        done.update(summarize_run(run_dir))  # derived from the run's files: recomputed, never stale
        write_json(run_dir / "train.json", done)
        return done
    attempt = read_json(run_dir / "attempt.json")
    checkpoint = find_last_checkpoint(run_dir)
    resume = attempt is not None and all(attempt.get(k) == v for k, v in key.items()) and checkpoint is not None
    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)
        attempt = {**key, "wall_s": 0.0, "attempts": 0}
    assert attempt is not None
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "zoo.cli", "fit", "--config", str(recipe),
        "--trainer.default_root_dir", str(run_dir),
        "--trainer.logger.init_args.save_dir", str(run_dir),
        # the budget in CPU time of the training process, not wall-clock: neighbours on a shared machine
        # do not change how far a method trains (zoo/callbacks/budget.py)
        "--trainer.callbacks+=zoo.callbacks.CPUBudget", f"--trainer.callbacks.minutes={budget_minutes:g}",
        *overrides,
    ]
    if resume:
        command += ["--ckpt_path", str(checkpoint)]
    attempt["attempts"] += 1
    write_json(run_dir / "attempt.json", attempt)
    what = f"resuming from {checkpoint.name}" if resume else f"budget {budget_minutes:g} min"
    print(f"  train: zoo fit --config {recipe.relative_to(ROOT) if recipe.is_relative_to(ROOT) else recipe} ({what})")
    start = time.monotonic()
    with open(run_dir / "train.log", "a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        env = {**os.environ, "WANDB_SILENT": "true"}
        code = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    attempt["wall_s"] += time.monotonic() - start
    write_json(run_dir / "attempt.json", attempt)
    if code != 0:
        raise StageError("train", f"zoo fit exited with {code}:\n{log_tail(run_dir / 'train.log')}")
    record = {
        **key,
        "status": "ok",
        "recipe": str(recipe.relative_to(ROOT)) if recipe.is_relative_to(ROOT) else str(recipe),
        **summarize_run(run_dir),
        "wall_s": attempt["wall_s"],  # the whole `zoo fit`s, start-up and data preparation included
        "attempts": attempt["attempts"],
        "finished": now(),
        "hardware": hardware(),
    }
    write_json(run_dir / "train.json", record)
    return record


def summarize_run(run_dir: Path) -> dict[str, Any]:
    """How far a finished run trained and what it kept, from its files.

    The kept checkpoint is the recipe's ModelCheckpoint ``last.ckpt``: the run's last epoch since the recipes
    use ``zoo.callbacks.ModelCheckpoint``; with Lightning's own, the results of the AE, DAE and VAE (whose
    recipes monitor the validation loss) kept the best epoch, recorded as ``checkpoint_epoch``. How far the run went comes from PeriodicFID's history, which every recipe writes at
    its last epoch (and which counts CPU seconds on the same clock as CPUBudget)."""
    checkpoint = find_last_checkpoint(run_dir)
    if checkpoint is None:
        raise StageError("train", f"zoo fit wrote no last.ckpt under {run_dir}")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    budget = state.get("callbacks", {}).get("CPUBudget")
    if budget is None:
        raise StageError("train", f"{checkpoint} holds no CPUBudget state: was the budget callback dropped?")
    config = yaml.safe_load(next(run_dir.rglob("config.yaml")).read_text())
    max_epochs = config["trainer"]["max_epochs"]
    history_file = next(run_dir.rglob("fid_history.json"), None)
    history = (read_json(history_file) or {}).get("history", []) if history_file else []
    checkpoint_epochs = state["epoch"] + 1  # epochs begun; the last one partial when the budget ran out
    epochs = max(checkpoint_epochs, history[-1]["epoch"] + 1 if history else 0)
    train_time = max(budget["used_s"], history[-1].get("cpu_s", 0.0) if history else 0.0)
    return {
        "checkpoint": str(checkpoint.relative_to(run_dir)),
        "checkpoint_epoch": checkpoint_epochs,
        "checkpoint_time_s": budget["used_s"],  # CPU seconds of training when the kept checkpoint was written
        "global_step": state["global_step"],
        "epochs": epochs,  # epochs trained
        "max_epochs": max_epochs,
        # CPUBudget stops a run only by setting should_stop; nothing else in the recipes ends one early
        "stopped_by": "budget" if epochs < max_epochs or budget["exhausted"] else "max_epochs",
        "train_time_s": train_time,  # CPU seconds of the training process, validation and periodic FID included
        # torch threads of the training process (CPUBudget's, 1 by default: contention-robust); older runs
        # did not record it
        "threads": budget.get("threads"),
    }


def find_last_checkpoint(run_dir: Path) -> Path | None:
    found = sorted(run_dir.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


# -- stages 2 and 3: export and evaluate --------------------------------------------------------------
def export_and_evaluate(
    method: str, dataset: str, run_dir: Path, trained: dict[str, Any], *, n_fake: int | None = None,
    nll_k: int | None = None
) -> dict[str, Any]:
    """Both precisions scored; returns the kept file and dtype, its evaluation, the fp16 check, the
    parameter count and the model."""
    import zoo
    from zoo.capabilities import CONDITIONAL, ENCODE, LIKELIHOOD, RECONSTRUCT, capabilities_of
    from zoo.metrics.probe import evaluate_probe
    from zoo.metrics import model_metric
    from zoo.metrics.reconstruction import evaluate_class_kept
    from zoo.metrics.conditional import evaluate_conditional
    from zoo.metrics.evaluate import evaluate
    from zoo.weights import save_safetensors

    protocol = PROTOCOLS[dataset]
    if n_fake is not None:  # quick checks only; the count is recorded in the result's protocol
        protocol = {**protocol, "evaluate": {**protocol["evaluate"], "n_fake": n_fake}}
    if nll_k is not None:  # likewise
        protocol = {**protocol, "nll": {**protocol["nll"], "nll_k": nll_k}}
    model = zoo.load(run_dir / trained["checkpoint"])
    files = {}
    for name, dtype in (("float32", None), ("float16", torch.float16)):
        files[name] = run_dir / f"{method}.{dataset}.{name}.safetensors"
        save_safetensors(model, files[name], dtype=dtype)
    print(f"  evaluate: {protocol['evaluate']['metrics']} with n_fake {protocol['evaluate']['n_fake']}, "
          "float32 and float16 weights")
    scored = {"float32": evaluate(str(files["float32"]), data=dataset, **protocol["evaluate"])}
    fid_key = next(k for k in scored["float32"]["metrics"] if k.startswith("fid_"))
    fid32, fid16, failure = scored["float32"]["metrics"][fid_key], None, None
    try:
        scored["float16"] = evaluate(str(files["float16"]), data=dataset, **protocol["evaluate"])
        fid16 = scored["float16"]["metrics"][fid_key]
    except Exception as err:  # e.g. the AE's code covariance rounded to fp16 is no longer positive definite
        failure = f"{type(err).__name__}: {err}"
        print(f"  float16 weights fail to sample ({failure.splitlines()[0][:100]}); keeping float32")
    kept = "float16" if fid16 is not None and fid16 <= fid32 * (1 + FP16_FID_TOLERANCE) else "float32"
    result = scored[kept]
    if LIKELIHOOD in capabilities_of(model):
        nll_args = {k: v for k, v in protocol["nll"].items()}
        print(f"  evaluate: nll with K={nll_args['nll_k']} on the {kept} weights")
        # on the data the run trained on (the config `zoo fit` saved, overrides included; else the recipe): a
        # binarized run is scored on the static binarization of the test split
        saved = (run_dir / trained["checkpoint"]).parent.parent / "config.yaml"
        nll = evaluate(str(files[kept]), data=str(saved if saved.is_file() else ROOT / trained["recipe"]),
                       metrics="nll", seed=protocol["evaluate"]["seed"], **nll_args)
        result["metrics"].update(nll["metrics"])
        result["protocol"]["nll"] = nll["protocol"]["nll"]
    if CONDITIONAL in capabilities_of(model):  # the domain classifier's accuracy on samples of each class
        n_per_class = protocol["evaluate"]["n_fake"] // model.num_classes
        print(f"  evaluate: conditional accuracy, {n_per_class} samples per class, on the {kept} weights")
        conditional = evaluate_conditional(zoo.load(files[kept]), data=dataset, n_per_class=n_per_class,
                                           seed=protocol["evaluate"]["seed"])
        result["metrics"].update(conditional["metrics"])
        result["protocol"].update(conditional["protocol"])
    if ENCODE in capabilities_of(model):  # the representation: a linear probe of the codes, and of random ones
        print(f"  evaluate: linear probe of the codes on the {kept} weights")
        probe = evaluate_probe(zoo.load(files[kept]), data=dataset, seed=protocol["evaluate"]["seed"])
        result["metrics"].update(probe["metrics"])
        result["protocol"].update(probe["protocol"])
        if RECONSTRUCT in capabilities_of(model):  # and whether reconstruct(x) keeps x's class
            kept_class = evaluate_class_kept(zoo.load(files[kept]), data=dataset)
            result["metrics"].update(kept_class["metrics"])
            result["protocol"].update(kept_class["protocol"])
    for name in model_info(method).extra_metrics:  # the method's own scores: InfoGAN's code accuracy
        print(f"  evaluate: {name} on the {kept} weights")
        extra = model_metric(name)(zoo.load(files[kept]), data=dataset)
        result["metrics"].update(extra["metrics"])
        result["protocol"].update(extra["protocol"])
    return {
        "file": files[kept],
        "dtype": kept,
        "evaluation": result,
        "fp16_check": {"metric": fid_key, "float32": fid32, "float16": fid16, "tolerance": FP16_FID_TOLERANCE,
                       "float16_error": failure},
        "num_params": sum(p.numel() for p in model.parameters()),
        "model": model,
    }


def sample_grid(model: torch.nn.Module, path: Path, *, n: int = 64, seed: int = 0) -> None:
    from zoo.capabilities import CONDITIONAL, capabilities_of

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if CONDITIONAL in capabilities_of(model):  # one row of 8 per class
            y = torch.arange(model.num_classes).repeat_interleave(8)
            images = model.sample(len(y), y=y, generator=generator).float().cpu()
        else:
            images = model.sample(n, generator=generator).float().cpu()
    save_grid(images, path, nrow=8)


def save_grid(images: torch.Tensor, path: Path, *, nrow: int) -> None:
    from torchvision.utils import make_grid, save_image

    images = images.float().cpu()
    scale = max(1, 32 // images.shape[-1])  # 8x8 digits enlarged (nearest) so the grid is legible
    if scale > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(images, nrow=nrow, padding=2, pad_value=1.0), path)


def method_grids(model: Any, path: Path, *, nrow: int = 8, seed: int = 0) -> list[str]:
    """The method's own grids (``extra_grids``: InfoGAN's code traversals) as ``<method>.<grid>.png`` beside
    the sample grid ``path``; returns the file names."""
    with torch.no_grad():
        grids = model.eval().extra_grids(nrow=nrow, generator=torch.Generator().manual_seed(seed))
    names = []
    for name, (images, per_row) in grids.items():
        names.append(f"{path.stem}.{name}.png")
        save_grid(images, path.with_name(names[-1]), nrow=per_row)
    return names


# -- stage 4: record ----------------------------------------------------------------------------------
def run_method(method: str, dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    recipe = args.recipes / method / f"{dataset}.yaml"
    run_dir = args.runs / dataset / method
    out = args.results / dataset / f"{method}.json"
    base = {
        "format": FORMAT, "method": method, "dataset": dataset,
        "paper": paper_record(method),
        "tasks": list(model_info(method).tasks),
        "recipe": str(recipe.relative_to(ROOT)) if recipe.is_relative_to(ROOT) else str(recipe),
        "recipe_sha256": sha256_text(recipe),
    }
    budget = args.budget_minutes if args.budget_minutes is not None else PROTOCOLS[dataset]["budget_minutes"]
    previous = read_json(out)
    if (previous is not None and previous.get("status") == "ok" and not args.force
            and previous.get("recipe_sha256") == base["recipe_sha256"]
            and previous.get("train", {}).get("overrides") == args.override
            and previous.get("train", {}).get("budget_minutes") == budget
            and (args.n_fake is None or previous["protocol"].get("n_fake") == args.n_fake)
            and (args.nll_k is None or previous["protocol"].get("nll", {}).get("k") == args.nll_k)):
        print(f"  done already: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        return previous
    stage = "train"
    try:
        trained = train(method, dataset, recipe, run_dir, budget_minutes=budget, overrides=args.override)
        stage = "evaluate"
        scored = export_and_evaluate(method, dataset, run_dir, trained, n_fake=args.n_fake, nll_k=args.nll_k)
        from zoo.weights import sha256_of

        evaluation = scored["evaluation"]
        history = read_json(next(run_dir.rglob("fid_history.json"), run_dir / "none"))
        record = {
            **base,
            "status": "ok",
            "metrics": evaluation["metrics"],
            "protocol": evaluation["protocol"],
            "num_params": scored["num_params"],
            "train": {k: v for k, v in trained.items() if k != "hardware"},
            "hardware": trained["hardware"],
            "weights": {
                "name": f"{method}.{dataset}",
                "dtype": scored["dtype"],
                "sha256": sha256_of(scored["file"]),
                "bytes": scored["file"].stat().st_size,
                "fp16_check": scored["fp16_check"],
            },
            "fid_curve": history,
            "samples": f"{method}.png",
            "commit": evaluation["protocol"].get("commit"),
            "commit_dirty": evaluation["protocol"].get("commit_dirty"),
            "finished": now(),
        }
        stage = "record"
        sample_grid(scored["model"], out.with_suffix(".png"))
        record["grids"] = method_grids(scored["model"], out.with_suffix(".png"))
        if args.export:
            export_weights(record, scored["file"], args.pretrained)
            record["weights"]["file"] = f"zoo/pretrained/{method}.{dataset}.safetensors"
    except Exception as err:  # recorded, not dropped: the table shows the failure and the run goes on
        message = str(err) if isinstance(err, StageError) else "".join(traceback.format_exception(err)[-6:])
        record = {**base, "status": "failed", "stage": getattr(err, "stage", stage), "error": message,
                  "finished": now()}
        print(f"  FAILED at {record['stage']}: {message.splitlines()[-1] if message else type(err).__name__}")
    write_json(out, record)
    return record


def export_weights(record: dict[str, Any], file: Path, pretrained: Path) -> None:
    """Copy the kept file into zoo/pretrained and write its index entry (read by zoo.pretrained)."""
    name = record["weights"]["name"]
    target = pretrained / f"{name}.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(file, tmp)
    os.replace(tmp, target)
    index_path = pretrained / "index.json"
    # two `run`s (one per dataset) may export at once: the read-modify-write of the index holds a lock
    with open(pretrained / ".index.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        index = read_json(index_path) or {}
        index[name] = index_entry(record, target.name)
        write_json(index_path, dict(sorted(index.items())))


def index_entry(record: dict[str, Any], file_name: str) -> dict[str, Any]:
    protocol = record["protocol"]
    return {
        "file": file_name,
        "sha256": record["weights"]["sha256"],
        "meta": {
            "dataset": record["dataset"],
            "recipe": record["recipe"],
            "recipe_sha256": record["recipe_sha256"],
            "paper": record["paper"],
            "num_params": record["num_params"],
            "dtype": record["weights"]["dtype"],
            "metrics": record["metrics"],
            "protocol": {k: protocol[k] for k in ("split", "n_real", "n_fake", "seed", "extractor", "resize", "kid",
                                                  "is", "pr", "nll", "conditional_accuracy", "code_accuracy",
                                                  "prior_mmd", "probe_accuracy", "class_kept", "commit")
                         if k in protocol},
            "train": {k: record["train"][k] for k in ("epochs", "max_epochs", "checkpoint_epoch", "stopped_by",
                                                      "train_time_s", "budget_minutes")},
            "hardware": record["hardware"]["cpu"],
            "leaderboard": f"benchmarks/results/{record['dataset']}/{record['method']}.json",
        },
    }


def run_main(args: argparse.Namespace) -> int:
    if args.dataset not in PROTOCOLS:
        print(f"leaderboard: error: unknown dataset {args.dataset!r}; choose one of {sorted(PROTOCOLS)}",
              file=sys.stderr)
        return 2
    available = methods_for(args.dataset, args.recipes)
    methods = available if args.methods is None else args.methods.split(",")
    unknown = [m for m in methods if m not in available]
    if unknown:
        print(f"leaderboard: error: no recipe {args.recipes}/<method>/{args.dataset}.yaml for {unknown}; "
              f"methods with one: {available}", file=sys.stderr)
        return 2
    failed = []
    for i, method in enumerate(methods, 1):
        print(f"[{i}/{len(methods)}] {method} on {args.dataset}", flush=True)
        start = time.monotonic()
        record = run_method(method, args.dataset, args)
        if record["status"] != "ok":
            failed.append(method)
        else:
            fid = next((v for k, v in record["metrics"].items() if k.startswith("fid_")), float("nan"))
            print(f"  ok: FID {fid:.1f}, {time.monotonic() - start:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)} (see their result files)", file=sys.stderr)
        return 1
    return 0


# -- render -------------------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def fmt_params(n: int | None) -> str:
    return "–" if n is None else (f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.0f}k")


def load_results(results: Path) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(results.glob("*/*.json")):
        record = read_json(path)
        if record is not None and record.get("format") == FORMAT:
            tables.setdefault(record["dataset"], []).append(record)
    return tables


def metric(record: dict[str, Any], prefix: str) -> float | None:
    return next((v for k, v in record.get("metrics", {}).items() if k.startswith(prefix)), None)


def record_tasks(record: dict[str, Any]) -> tuple[str, ...]:
    """The tasks a result is ranked on: as recorded, else (older records) as its method declares now."""
    if "tasks" in record:
        return tuple(record["tasks"])
    return model_info(record["method"]).tasks


@dataclasses.dataclass(frozen=True)
class TaskTable:
    """One leaderboard table: the task's title, what its numbers mean, its columns and its ranking.

    A result lands in the table of every task its method declares (zoo/capabilities.py: ``tasks_of``) once it
    holds the task's ``needs`` metric: a new method needs no edit here, a new *task* adds one entry."""

    title: str
    needs: str  # metric-name prefix a result must hold to be listed
    caption: Callable[[dict[str, Any]], str]  # from the first listed result's protocol
    columns: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...]
    sort: Callable[[dict[str, Any]], float]  # ascending: best first


def _sample_caption(protocol: dict[str, Any]) -> str:
    extractor = protocol.get("extractor", {}).get("name", "–")
    return (f"Domain extractor `{extractor}`; {fmt(protocol.get('n_fake'))} samples "
            f"against the {fmt(protocol.get('n_real'))} images of the {protocol.get('split', '–')} split, seed "
            f"{protocol.get('seed', '–')}.")


def _likelihood_caption(protocol: dict[str, Any]) -> str:
    nll = protocol.get("nll", {})
    return (f"Negative log-likelihood in nats per image on {fmt(nll.get('n'))} images of the {nll.get('split', '–')} "
            f"split (bits/dim = nats / (C·H·W·ln 2)): -log p of the data this table names, one table per kind of data; "
            "the estimator per row (exact, or importance-weighted with K samples: an upper bound on the NLL).")


def _probe_caption(protocol: dict[str, Any]) -> str:
    probe = protocol.get("probe_accuracy", {})
    return ("Test accuracy of a logistic regression on the frozen codes `encode(x)` (zoo/metrics/probe.py; "
            f"`zoo probe`), fitted on the {fmt(probe.get('train', {}).get('n'))} training images, scored on the "
            f"{fmt(probe.get('test', {}).get('n'))} test images; beside it the same probe of the same architecture "
            "at its random initialisation (seed 0). Class kept: the share of test images whose reconstruction "
            "`reconstruct(x)` the domain classifier gives x's own label (zoo/metrics/reconstruction.py; chance "
            "about 0.1).")


#: what the likelihood of the records before the data kind was recorded is a likelihood of
GREY_LEVEL_BERNOULLI = ("grey levels in [0, 1] under a Bernoulli decoder: a cross-entropy, not a log-probability "
                        "of the 8-bit images")


def _nll_estimator(record: dict[str, Any]) -> str:
    nll = record["protocol"].get("nll", {})
    kind = nll.get("kind") or "importance_weighted"  # older records: the VAE's estimator, the only one then
    return f"{kind.replace('_', '-')}, K={nll['k']}" if kind == "importance_weighted" else kind.replace("_", " ")


def _nll_data(record: dict[str, Any]) -> str:
    """What the NLL is a likelihood of: the record's data kind (zoo evaluate writes a dict since the binarized
    protocol; older records a sentence or nothing: grey levels under a Bernoulli decoder)."""
    data = record["protocol"].get("nll", {}).get("data", GREY_LEVEL_BERNOULLI)
    if not isinstance(data, dict):
        return data
    if data.get("kind") == "binarized":
        return f"binarized ({data.get('binarization')}, seed {data.get('seed')}, sha256 {str(data.get('sha256'))[:12]})"
    if data.get("kind") == "n-level":
        return f"{data.get('levels')}-level"
    return GREY_LEVEL_BERNOULLI if str(data.get("kind", "")).startswith("grey levels") else str(data.get("kind"))


SAMPLE_COLUMNS = (
    ("FID ↓", lambda r: fmt(metric(r, "fid_"))),
    ("KID ↓", lambda r: fmt(metric(r, "kid_"), 1)),
    ("IS ↑", lambda r: fmt(metric(r, "is_"), 2)),
    ("precision", lambda r: fmt(metric(r, "precision_"), 2)),
    ("recall", lambda r: fmt(metric(r, "recall_"), 2)),
)
def _extra_scores(record: dict[str, Any]) -> str:
    """The method's own scores (its class's ``extra_metrics``: InfoGAN's code accuracy), named, or –."""
    names = model_info(record["method"]).extra_metrics
    scores = [f"{n.replace('_', ' ')} {fmt(record['metrics'].get(n), 3)}" for n in names]
    return "; ".join(scores) or "–"


TASK_TABLES: dict[str, TaskTable] = {
    "generation": TaskTable(
        "unconditional generation", "fid_", _sample_caption,
        (*SAMPLE_COLUMNS, ("method's own score ↑", _extra_scores)), lambda r: metric(r, "fid_") or math.inf),
    "conditional_generation": TaskTable(
        "conditional generation", "fid_", _sample_caption,
        (*SAMPLE_COLUMNS, ("conditional accuracy ↑", lambda r: fmt(metric(r, "conditional_accuracy"), 3))),
        lambda r: metric(r, "fid_") or math.inf),
    "likelihood": TaskTable(
        "likelihood", "nll", _likelihood_caption,
        (("NLL ↓", lambda r: f"{fmt(r['metrics']['nll'], 1)} ± {fmt(r['metrics'].get('nll_std_err'), 1)}"),
         ("bits/dim ↓", lambda r: fmt(r["metrics"].get("nll_bpd"), 3)),
         ("estimator", _nll_estimator),
         ("data", _nll_data)),
        lambda r: r["metrics"]["nll"]),
    "representation": TaskTable(
        "representation (linear probe of the codes)", "probe_accuracy", _probe_caption,
        (("probe accuracy ↑", lambda r: fmt(r["metrics"].get("probe_accuracy"), 3)),
         ("same net, random init", lambda r: fmt(r["metrics"].get("probe_accuracy_random_init"), 3)),
         ("class kept by reconstruct ↑", lambda r: fmt(r["metrics"].get("class_kept"), 3)),
         ("method's own score ↑", _extra_scores)),
        lambda r: -(r["metrics"].get("probe_accuracy") or 0.0)),
}


def is_log_probability(record: dict[str, Any]) -> bool:
    """Whether a record's NLL is a log-probability of the data it names: binarized images (Bernoulli models)
    or n-level images (discrete models). A Bernoulli decoder's NLL of grey levels is a cross-entropy, not one."""
    data = record["protocol"].get("nll", {}).get("data")
    return isinstance(data, dict) and data.get("kind") in ("binarized", "n-level")


def table(dataset: str, task: str, records: list[dict[str, Any]], link_root: str, *, title: str | None = None,
          note: str | None = None) -> str | None:
    """The ``task`` table of ``dataset`` (None when no result belongs in it); ``title`` replaces the task's,
    ``note`` ends the caption."""
    spec = TASK_TABLES[task]
    rows = [r for r in records if task in record_tasks(r)
            and (r["status"] != "ok" or any(k.startswith(spec.needs) for k in r.get("metrics", {})))]
    if not rows:
        return None
    ok = [r for r in rows if r["status"] == "ok"]
    headers = ["method", "paper", *(h for h, _ in spec.columns), "train CPU time", "epochs", "params", "recipe",
               "weights", "samples"]
    lines = [
        f"### {dataset}: {title or spec.title}",
        "",
        spec.caption(ok[0]["protocol"] if ok else {}) + (f" {note}" if note else ""),
        "",
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    for r in sorted(rows, key=lambda r: (r["status"] != "ok", spec.sort(r) if r["status"] == "ok" else 0, r["method"])):
        paper = r.get("paper") or {}
        arxiv = f" [arXiv:{paper['arxiv']}](https://arxiv.org/abs/{paper['arxiv']})" if paper.get("arxiv") else ""
        paper_cell = f"{paper.get('authors') or '–'}{arxiv}"
        recipe = f"[{Path(r['recipe']).name}]({link_root}{r['recipe']})"
        if r["status"] != "ok":
            error = (r.get("error") or "").strip().splitlines()
            reason = error[-1][:80].replace("|", "/") if error else ""
            cells = [r["method"], paper_cell, f"**failed** at {r.get('stage')}: {reason}"]
            cells += [""] * (len(headers) - len(cells) - 3) + [recipe, "", ""]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        train = r["train"]
        minutes = (train.get("train_time_s") or 0) / 60
        epochs = f"{train['epochs']}/{train['max_epochs']}" + (" (budget)" if train["stopped_by"] == "budget" else "")
        if train.get("checkpoint_epoch", train["epochs"]) != train["epochs"]:
            epochs += f", best val. at {train['checkpoint_epoch']}"
        weights = r["weights"]
        weights_cell = (
            f"[`{weights['name']}`]({link_root}{weights['file']}) ({weights['dtype'].replace('float', 'fp')})"
            if "file" in weights else "not exported"
        )
        cells = [r["method"], paper_cell, *(value(r) for _, value in spec.columns), f"{minutes:.1f} min", epochs,
                 fmt_params(r.get("num_params")), recipe, weights_cell,
                 ", ".join([f"[png]({link_root}benchmarks/results/{dataset}/{r['samples']})",
                            *(f"[{g.split('.')[-2].replace('_', ' ')}]({link_root}benchmarks/results/{dataset}/{g})"
                              for g in r.get("grids", []))])]
        lines.append("| " + " | ".join(cells) + " |")
    hw = ok[0]["hardware"] if ok else {}
    commits = sorted({(r.get("commit") or "?")[:7] for r in ok})
    lines += [
        "",
        f"Trained on {hw.get('cpu', '–')}, {hw.get('torch_threads', '–')} torch thread(s) per run; "
        f"budget {fmt(PROTOCOLS.get(dataset, {}).get('budget_minutes'))} CPU-minutes per method; commit "
        f"{', '.join(commits) or '–'}. "
        f"FID curves: [fid_vs_time.png]({link_root}benchmarks/results/{dataset}/fid_vs_time.png).",
    ]
    return "\n".join(lines)


def tables(dataset: str, records: list[dict[str, Any]], link_root: str) -> list[str]:
    """Every task table of ``dataset`` that has a result, in the order of ``TASK_TABLES``; the likelihood task
    as one table per data kind (:func:`likelihood_tables`)."""
    out = []
    for task in TASK_TABLES:
        if task == "likelihood":
            out += likelihood_tables(dataset, records, link_root)
        elif (t := table(dataset, task, records, link_root)) is not None:
            out.append(t)
    return out


def likelihood_tables(dataset: str, records: list[dict[str, Any]], link_root: str) -> list[str]:
    """One likelihood table per kind of data (binarized with its static split's hash; n-level): numbers of
    different data are never in one column. A result whose NLL is not a log-probability of its data (a
    Bernoulli decoder on grey levels) is not listed; the last table's caption names it and why."""
    scored = [r for r in records if "likelihood" in record_tasks(r)
              and (r["status"] != "ok" or "nll" in r.get("metrics", {}))]
    kinds: dict[str, list[dict[str, Any]]] = {}
    for r in scored:
        if r["status"] == "ok" and is_log_probability(r):
            kinds.setdefault(_nll_data(r), []).append(r)
    failed = [r for r in scored if r["status"] != "ok"]
    left_out = sorted(r["method"] for r in scored if r["status"] == "ok" and not is_log_probability(r))
    note = (f"Not listed: {', '.join(left_out)}: its NLL is of grey levels under a Bernoulli decoder, a "
            "cross-entropy rather than a log-probability of any data (retrain on binarized data: "
            "binarize: dynamic)." if left_out else None)
    if not kinds and not failed and not note:
        return []
    groups = list(kinds.items()) or [("no valid likelihood yet", [])]
    out = []
    for i, (kind, rows) in enumerate(groups):
        last = i == len(groups) - 1
        rows = rows + (failed if last else [])
        if not rows:  # only excluded results: the caption says which and why
            out.append(f"### {dataset}: likelihood\n\n{note}")
            continue
        t = table(dataset, "likelihood", rows, link_root, title=f"likelihood of {kind} images",
                  note=note if last else None)
        if t is not None:
            out.append(t)
    return out


def plot_curves(dataset: str, records: list[dict[str, Any]], path: Path) -> bool:
    """Domain FID (the recipes' periodic small-n FID) against training time, one line per method."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("render: matplotlib is not installed (pip install -e '.[bench]'); plots skipped", file=sys.stderr)
        return False
    curves = [r for r in records if r["status"] == "ok" and r.get("fid_curve") and r["fid_curve"]["history"]]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for r in curves:
        history = r["fid_curve"]["history"]
        ax.plot([h.get("cpu_s", h["time_s"]) / 60 for h in history], [h["fid"] for h in history], marker="o", ms=3,
                label=r["method"])
    curve = curves[0]["fid_curve"]
    ax.set_xlabel("training CPU time of the process (min)")
    ax.set_ylabel(f"{curve['metric']} (n={curve['n']}, during training)")
    ax.set_yscale("log")
    ax.set_title(f"{dataset}: domain FID during training")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def methods_table() -> str:
    """README's table of registered methods, from the registry: each class once, with all its entry points,
    its paper, family, capabilities and file."""
    from zoo.registry import list_models

    rows: dict[type, list[str]] = {}
    for name in list_models():
        rows.setdefault(model_info(name).cls, []).append(name)
    lines = ["| name | paper | family | capabilities | file |", "| --- | --- | --- | --- | --- |"]
    for cls, names in sorted(rows.items(), key=lambda item: (item[0].family or "", item[1][0])):
        info = model_info(names[0])
        paper = info.paper
        cite = f"{paper.title}, {paper.markdown()}" if paper is not None else "–"
        file = cls.__module__.replace(".", "/") + ".py"
        lines.append(f"| {', '.join(f'`{n}`' for n in names)} | {cite} | {info.family} | "
                     f"{', '.join(sorted(info.capabilities))} | `{file}` |")
    return "\n".join(lines)


def replace_section(text: str, start: str, end: str, body: str) -> str:
    """``text`` with what lies between the markers ``start`` and ``end`` replaced by ``body``."""
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{start}\n{body}\n{end}{after}"


def render_main(args: argparse.Namespace) -> int:
    results = load_results(args.results)
    if not results:
        print(f"leaderboard: error: no result files under {args.results}; run `leaderboard.py run` first",
              file=sys.stderr)
        return 2
    sections = []
    for dataset in sorted(results):
        plot_curves(dataset, results[dataset], args.results / dataset / "fid_vs_time.png")
        sections += tables(dataset, results[dataset], "../")
    header = (
        "# Leaderboard\n\nGenerated by `python benchmarks/leaderboard.py render` from `benchmarks/results/*/*.json`, "
        "which `python benchmarks/leaderboard.py run --dataset <dataset> --export` writes (train with the recipe "
        "within the CPU budget, then `zoo evaluate` under the pinned protocol). Do not edit by hand.\n\n"
        "FID/KID/IS, precision and recall use the dataset's domain classifier as feature extractor (not "
        "Inception), so they compare methods with each other, not with published Inception numbers. "
        "Lower FID/KID/NLL is better; each row's full protocol, hardware and commit is in its JSON file.\n"
    )
    args.leaderboard.parent.mkdir(parents=True, exist_ok=True)
    args.leaderboard.write_text(header + "\n" + "\n\n".join(sections) + "\n")
    print(f"wrote {args.leaderboard}")
    if args.readme is not None and args.readme.is_file():
        text = args.readme.read_text()
        if README_START in text and README_END in text:
            body = "\n\n".join(t for d in sorted(results) for t in tables(d, results[d], ""))
            text = replace_section(text, README_START, README_END, body)
        if METHODS_START in text and METHODS_END in text:
            text = replace_section(text, METHODS_START, METHODS_END, methods_table())
        args.readme.write_text(text)
        print(f"updated the methods and leaderboard sections of {args.readme}")
    return 0


def migrate_main(args: argparse.Namespace) -> int:
    """Record a recipe edit that changes no setting of the shipped models (a callback, a comment, a new
    spelling): each index entry and result whose recipe's sha256 differs from the recipe file now gets a
    ``recipe_migrated`` record (from which sha256, why) and the new sha256. The weights stay; the tests check
    that each recipe still builds the shipped model (tests/test_pretrained.py)."""
    index_path = args.pretrained / "index.json"
    index = read_json(index_path)
    results = sorted(args.results.glob("*/*.json"))
    changed = []
    for where, record in [(index_path, e["meta"]) for e in index.values()] + [(f, read_json(f)) for f in results]:
        if not isinstance(record, dict) or "recipe_sha256" not in record:
            continue
        now_sha = sha256_text(ROOT / record["recipe"])
        if now_sha == record["recipe_sha256"]:
            continue
        migrations = record.get("recipe_migrated", [])
        migrations = [migrations] if isinstance(migrations, dict) else migrations  # format of the first one
        record["recipe_migrated"] = [*migrations, {"from_sha256": record["recipe_sha256"], "why": args.why}]
        record["recipe_sha256"] = now_sha
        if where != index_path:
            write_json(where, record)
        changed.append(f"{where.name}: {record['recipe']}")
    write_json(index_path, index)
    print("\n".join(changed) or "every record matches its recipe")
    return 0


def rescore_main(args: argparse.Namespace) -> int:
    """Measure the shipped weights' NLL again under today's protocol, without training: the result file's
    likelihood numbers and ``protocol.nll`` (and with ``--export`` the index entry) are replaced, the rest of
    the record kept, and ``rescored`` says when and at which commit. For a protocol change that needs no new
    weights (the Bernoulli VAE, trained on grey levels, scored on the static binarized test split)."""
    from zoo.metrics.evaluate import evaluate
    from zoo.weights import sha256_of

    if args.dataset not in PROTOCOLS:
        print(f"leaderboard: error: unknown dataset {args.dataset!r}; choose one of {sorted(PROTOCOLS)}",
              file=sys.stderr)
        return 2
    for method in args.methods.split(","):
        out = args.results / args.dataset / f"{method}.json"
        record = read_json(out)
        if record is None or record.get("status") != "ok" or "file" not in record.get("weights", {}):
            print(f"leaderboard: error: {out} holds no exported result of {method}; run it first", file=sys.stderr)
            return 2
        file = args.pretrained / f"{record['weights']['name']}.safetensors"
        if sha256_of(file) != record["weights"]["sha256"]:
            print(f"leaderboard: error: {file} is not the file {out.name} recorded (sha256 differs)", file=sys.stderr)
            return 2
        if args.metrics in ("probe", "class_kept"):
            rescore_representation(args, record, file, out)
            continue
        print(f"{method} on {args.dataset}: nll of {file.name}", flush=True)
        nll_args = {**PROTOCOLS[args.dataset]["nll"], **({"nll_k": args.nll_k} if args.nll_k else {})}
        nll = evaluate(str(file), data=str(ROOT / record["recipe"]), metrics="nll",
                       seed=PROTOCOLS[args.dataset]["evaluate"]["seed"], **nll_args)
        record["metrics"] = {**{k: v for k, v in record["metrics"].items() if not k.startswith("nll")},
                             **nll["metrics"]}
        record["protocol"]["nll"] = nll["protocol"]["nll"]
        record["rescored"] = {"metrics": "nll", "commit": nll["protocol"].get("commit"), "finished": now()}
        write_json(out, record)
        print(f"  nll {nll['metrics']['nll']:.2f} ± {nll['metrics']['nll_std_err']:.2f} nats "
              f"({nll['protocol']['nll']['data']['kind']})", flush=True)
        if args.export:
            index_path = args.pretrained / "index.json"
            with open(args.pretrained / ".index.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                index = read_json(index_path) or {}
                # only the likelihood numbers change: the entry's other fields (recipe migrations...) stay
                entry = index.get(record["weights"]["name"]) or index_entry(record, file.name)
                entry["meta"]["metrics"] = record["metrics"]
                entry["meta"]["protocol"]["nll"] = record["protocol"]["nll"]
                index[record["weights"]["name"]] = entry
                write_json(index_path, dict(sorted(index.items())))
    return 0


def rescore_representation(args: argparse.Namespace, record: dict[str, Any], file: Path, out: Path) -> None:
    """``rescore --metrics probe`` (the linear probe of the shipped weights' codes and of their untrained twin) or
    ``--metrics class_kept`` (whether their reconstructions keep the class), added to a record written before
    the representation table had them (and to its index entry with --export)."""
    import zoo
    from zoo.metrics.evaluate import git_commit
    from zoo.metrics.probe import evaluate_probe
    from zoo.metrics.reconstruction import evaluate_class_kept

    key = "probe_accuracy" if args.metrics == "probe" else "class_kept"
    print(f"{record['method']} on {args.dataset}: {key} of {file.name}", flush=True)
    if args.metrics == "probe":
        measured = evaluate_probe(zoo.load(file), data=args.dataset, seed=PROTOCOLS[args.dataset]["evaluate"]["seed"])
    else:
        measured = evaluate_class_kept(zoo.load(file), data=args.dataset)
    record["metrics"] = {**{k: v for k, v in record["metrics"].items() if not k.startswith(key)},
                         **measured["metrics"]}
    record["protocol"][key] = measured["protocol"][key]
    record["rescored"] = {"metrics": args.metrics, "commit": git_commit().get("commit"), "finished": now()}
    write_json(out, record)
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in measured["metrics"].items()), flush=True)
    if args.export:
        index_path = args.pretrained / "index.json"
        with open(args.pretrained / ".index.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = read_json(index_path) or {}
            entry = index.get(record["weights"]["name"]) or index_entry(record, file.name)
            entry["meta"]["metrics"] = record["metrics"]
            entry["meta"]["protocol"][key] = record["protocol"][key]
            index[record["weights"]["name"]] = entry
            write_json(index_path, dict(sorted(index.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train (or reuse), evaluate and record every method of a dataset")
    run.add_argument("--dataset", required=True, help=f"one of {sorted(PROTOCOLS)}")
    run.add_argument("--methods", default=None, help="comma-separated subset (default: every method with a recipe)")
    run.add_argument("--budget-minutes", type=float, default=None,
                     help="training time per method (default: the dataset's, see PROTOCOLS)")
    run.add_argument("--override", action="append", default=[], metavar="ARG",
                     help="extra `zoo fit` argument, repeatable (e.g. --override=--trainer.max_epochs=2); recorded")
    run.add_argument("--n-fake", type=int, default=None,
                     help="samples for FID/KID/IS/PR instead of the pinned protocol's (quick checks; recorded)")
    run.add_argument("--nll-k", type=int, default=None,
                     help="importance samples for nll instead of the pinned protocol's (quick checks; recorded)")
    run.add_argument("--export", action="store_true", help="ship the weights in zoo/pretrained and index them")
    run.add_argument("--force", action="store_true", help="evaluate and record again even if a result exists")
    rescore = sub.add_parser("rescore", help="measure shipped weights' NLL again under today's protocol (no training)")
    rescore.add_argument("--dataset", required=True, help=f"one of {sorted(PROTOCOLS)}")
    rescore.add_argument("--methods", required=True, help="comma-separated methods with exported results")
    rescore.add_argument("--export", action="store_true", help="update their zoo/pretrained index entries too")
    rescore.add_argument("--nll-k", type=int, default=None, help="importance samples (quick checks; recorded)")
    rescore.add_argument("--metrics", choices=("nll", "probe", "class_kept"), default="nll",
                         help="what to measure again: nll (default), probe (the linear probe of the codes) or "
                              "class_kept (whether reconstructions keep the class)")
    rescore.add_argument("--pretrained", type=Path, default=PRETRAINED)
    sub_render = sub.add_parser("render", help="write LEADERBOARD.md, the README's sections and the plots")
    migrate = sub.add_parser("migrate", help="record recipe edits that change no setting of the shipped models")
    migrate.add_argument("--why", required=True, help="what changed and why no setting did (recorded)")
    migrate.add_argument("--pretrained", type=Path, default=PRETRAINED)
    for p in (run, sub_render, migrate, rescore):
        p.add_argument("--results", type=Path, default=RESULTS, help="result files (default benchmarks/results)")
    run.add_argument("--runs", type=Path, default=RUNS, help="training runs (default benchmarks/runs, not in git)")
    run.add_argument("--recipes", type=Path, default=ROOT / "recipes")
    run.add_argument("--pretrained", type=Path, default=PRETRAINED, help="where --export writes (zoo/pretrained)")
    sub_render.add_argument("--leaderboard", type=Path, default=LEADERBOARD)
    sub_render.add_argument("--readme", type=Path, default=README, help="README whose marked section is replaced")
    args = parser.parse_args(argv)
    return {"run": run_main, "render": render_main, "migrate": migrate_main, "rescore": rescore_main}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

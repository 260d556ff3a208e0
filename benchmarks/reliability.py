"""Reliability report: does a run survive what users and machines do to it? One command, one JSON.

    python benchmarks/reliability.py [--out benchmarks/results/reliability.json] [--skip-contention]

Measures, on this machine, in one run:

- **resume**: per engine shape (autoencoder, VAE, two-player GAN, WGAN-GP with n_critic and EMA), a run
  stopped after 2 of 4 epochs and resumed from ``last.ckpt`` ends with every tensor ``torch.equal`` to an
  uninterrupted run's (yes/no per shape; the CLI's kill -9 path is tests/test_resume.py).
- **divergence**: a learning rate of 1e12 (VAE, DCGAN): the step at which the run stopped with its one line.
- **bad input**: every case of tests/test_cli_errors.py run through ``zoo.cli.main``: exit 2 and one line.
- **files**: a flipped byte in a ``.safetensors``, a truncated one, a text file named ``.ckpt``: each refused.
- **startup**: wall seconds of ``zoo --help``, ``zoo list`` and ``zoo list --pretrained`` (median of 5 fresh
  processes), beside ``python -c "import torch"`` on the same machine: the commands that need no model
  import no torch (zoo/cli.py), so they must take well under a second.
- **contention** (the slow part, ~3 min): a CPU-budgeted fit alone and beside a process that keeps both
  cores busy; epochs reached under the budget must agree within 10% (zoo/callbacks/budget.py).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing as mp
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from zoo.paths import write_json  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "reliability.json"


def resume_is_bit_identical(name: str, root: Path) -> bool:
    from tests.test_resume import fit

    uninterrupted = fit(name, 4, root / "whole")
    fit(name, 2, root / "part")
    resumed = fit(name, 4, root / "resumed", ckpt_path=root / "part" / "last.ckpt")
    expected = uninterrupted.state_dict()
    return all(torch.equal(v, expected[k]) for k, v in resumed.state_dict().items())


def divergence_stop_step(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from tests.conftest import quiet_trainer
    from tests.test_divergence import SHAPE, data
    from zoo.errors import DivergenceError

    torch.manual_seed(0)
    trainer = quiet_trainer(max_epochs=5)
    try:
        trainer.fit(zoo.create_model(name, in_shape=SHAPE, **kwargs), data())
    except DivergenceError as err:
        return {"caught": True, "stopped_at_step": trainer.global_step, "message": str(err)}
    return {"caught": False, "stopped_at_step": trainer.global_step}


def bad_inputs(root: Path) -> dict[str, Any]:
    """The CLI cases, each in a fresh folder prepared as the test's fixture prepares it."""
    import os

    from tests import test_cli_errors as cases
    from zoo.cli import main

    passed, failed = [], []
    for name, (args, needles) in cases.CASES.items():
        folder = root / name.replace(" ", "_")
        folder.mkdir(parents=True)
        cases.prepare(folder)
        os.chdir(folder)
        os.environ.update(WANDB_MODE="disabled", ZOO_HOME=str(root / "home"))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(args)
            except SystemExit as exit_:
                code = exit_.code
        lines = [line for line in err.getvalue().splitlines() if line.strip() and "img/s" not in line]
        ok = code == 2 and len(lines) == 1 and all(n in lines[0] for n in needles)
        (passed if ok else failed).append(name)
    os.chdir(ROOT)
    return {"tried": len(cases.CASES), "passed": len(passed), "failed": failed}


def files_verified(root: Path) -> dict[str, bool]:
    from zoo.errors import WeightsError
    from zoo.weights import save_safetensors

    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=2)
    whole = root / "whole.safetensors"
    save_safetensors(model, whole)
    data = bytearray(whole.read_bytes())
    data[-10] ^= 0x01  # one bit of one weight
    (root / "flipped.safetensors").write_bytes(bytes(data))
    (root / "truncated.safetensors").write_bytes(bytes(data[: len(data) // 2]))
    (root / "text.ckpt").write_text("not a checkpoint")
    refused = {}
    for name in ("flipped.safetensors", "truncated.safetensors", "text.ckpt"):
        try:
            zoo.load(root / name)
            refused[name] = False
        except WeightsError:
            refused[name] = True
    return refused


def startup_seconds(repeats: int = 5) -> dict[str, Any]:
    """Median wall seconds of fresh processes running the light commands, and of importing torch alone."""
    import shutil
    import statistics

    zoo_command = shutil.which("zoo") or str(Path(sys.executable).with_name("zoo"))
    commands = {
        "zoo --help": [zoo_command, "--help"],
        "zoo list": [zoo_command, "list"],
        "zoo list --pretrained": [zoo_command, "list", "--pretrained"],
        "python -c 'import torch' (reference)": [sys.executable, "-c", "import torch"],
    }
    result: dict[str, Any] = {}
    for name, command in commands.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        result[name] = round(statistics.median(times), 3)
    result["under_1_s"] = all(v < 1.0 for k, v in result.items() if k.startswith("zoo"))
    return result


def _hog(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


def budgeted_epochs(root: Path, minutes: float, threads: str) -> int:
    """Epochs a VAE digits run reaches within ``minutes`` of CPU, as the leaderboard trains (a subprocess)."""
    run = root / f"run-{time.monotonic_ns()}"
    command = [sys.executable, "-m", "zoo.cli", "fit", "--config", str(ROOT / "recipes/vae/digits.yaml"),
               "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.max_epochs=100000",
               f"--trainer.default_root_dir={run}", "--trainer.callbacks+=zoo.callbacks.CPUBudget",
               f"--trainer.callbacks.minutes={minutes}", f"--trainer.callbacks.threads={threads}"]
    subprocess.run(command, check=True, capture_output=True, cwd=root)
    checkpoint = next(run.rglob("last.ckpt"))
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"]) + 1


def contention(root: Path, minutes: float) -> dict[str, Any]:
    """Epochs reached alone and beside two busy processes (both cores), for one thread and torch's default."""
    result: dict[str, Any] = {"budget_minutes": minutes}
    for threads in ("1", "null"):
        alone = budgeted_epochs(root, minutes, threads)
        hogs = [mp.Process(target=_hog, args=(600,)) for _ in range(2)]
        for hog in hogs:
            hog.start()
        try:
            busy = budgeted_epochs(root, minutes, threads)
        finally:
            for hog in hogs:
                hog.terminate()
                hog.join()
        result[f"threads={threads}"] = {"alone": alone, "beside_2_busy_processes": busy,
                                        "ratio": round(busy / alone, 3)}
    result["robust"] = abs(result["threads=1"]["ratio"] - 1) <= 0.10
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--skip-contention", action="store_true", help="skip the ~3 minute contention check")
    parser.add_argument("--budget-minutes", type=float, default=0.25, help="CPU budget of the contention runs")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": {"cpu": platform.processor() or platform.machine(),
                                          "cores": torch.get_num_threads(), "torch": torch.__version__}}
    report["startup_seconds"] = startup_seconds()
    print("startup:", report["startup_seconds"])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shapes = {"autoencoder (dae)": "dae", "vae": "vae", "two-player GAN (dcgan)": "dcgan",
                  "n_critic + EMA (wgan_gp)": "wgan_gp"}
        report["resume_bit_identical"] = {k: resume_is_bit_identical(v, root / v) for k, v in shapes.items()}
        print("resume:", report["resume_bit_identical"])
        huge = {"class_path": "torch.optim.SGD", "init_args": {"lr": 1e12}}
        report["divergence"] = {
            "vae": divergence_stop_step("vae", {"optimizer": huge}),
            "dcgan": divergence_stop_step("dcgan", {"optimizers": {"discriminator": huge, "generator": huge}}),
        }
        print("divergence:", {k: v["stopped_at_step"] for k, v in report["divergence"].items()})
        report["files_refused"] = files_verified(root)
        print("files:", report["files_refused"])
        report["bad_inputs"] = bad_inputs(root / "cli")
        print("bad inputs:", report["bad_inputs"])
        if not args.skip_contention:
            report["contention"] = contention(root, args.budget_minutes)
            print("contention:", report["contention"])
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

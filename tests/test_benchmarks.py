"""benchmarks/speed.py runs end to end and writes a complete record. Its timings are not asserted (timing tests
fail on a busy machine); the benchmark reports the ratios, the test checks that there are ones to report."""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEED = ROOT / "benchmarks" / "speed.py"
#: every registered method with a Fashion-MNIST recipe and a hand loop for its engine shape
METHODS = ["ae", "dae", "dcgan", "gan", "vae", "wgan", "wgan_gp"]


def _check_throughputs(entry: dict, repeats: int, what: str) -> None:
    throughputs = entry["images_per_s"]
    assert len(throughputs) == repeats, f"{what}: {throughputs}"
    assert all(math.isfinite(t) and t > 0 for t in throughputs), f"{what}: {throughputs}"
    assert entry["median"] == statistics.median(throughputs), what


def test_speed_quick_writes_a_complete_record(tmp_path: Path):
    out = tmp_path / "speed.json"
    # one thread: tiny ops on a shared machine run far faster single-threaded
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SPEED), "--quick", "--out", str(out)],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"speed.py --quick failed:\n{result.stdout}\n{result.stderr}"
    record = json.loads(out.read_text())

    config = record["config"]
    assert config["methods"] == METHODS
    assert config["device"] == "cpu" and config["precision"] == "32-true" and config["quick"] is True
    assert config["in_shape"] == [1, 28, 28] and config["repeats"] == 2
    assert config["channels_last"] is False and config["compile"] is False

    assert list(record["methods"]) == METHODS
    for method, entry in record["methods"].items():
        assert entry["recipe"] == f"recipes/{method}/fashion_mnist.yaml"
        for side in ("zoo", "hand"):
            _check_throughputs(entry[side], 2, f"{method} {side}")
        assert math.isclose(entry["ratio"], entry["zoo"]["median"] / entry["hand"]["median"], rel_tol=1e-12)
        assert math.isfinite(entry["overhead_ms_per_batch"])
        # each hand-written loop computes exactly what the method's training step computes (same nets, noise,
        # kernels and order on CPU), so the trained weights agree to the bit (a margin of 1e-6 for a future
        # change of BLAS); WGAN-GP's 6 quick batches include one generator step (n_critic = 5)
        diffs = entry["max_weight_diff"]
        assert len(diffs) == 2 and max(diffs) <= 1e-6, f"{method}: {diffs}"

    # the data path on a tiny Fashion-MNIST written in torchvision's layout: no dataset needed
    data = record["data"]
    assert "skipped" not in data, data
    assert data["batches"] == 3 and data["step_method"] == "dcgan"
    for path in ("in_memory", "torchvision"):
        _check_throughputs(data[path], 2, path)
    assert math.isclose(data["ratio"], data["in_memory"]["median"] / data["torchvision"]["median"], rel_tol=1e-12)
    assert math.isclose(data["ms_per_batch"], 1000 * 16 / data["in_memory"]["median"], rel_tol=1e-12)
    assert math.isclose(data["step_ms"], 1000 * 16 / record["methods"]["dcgan"]["zoo"]["median"], rel_tol=1e-12)
    assert math.isclose(data["percent_of_step"], 100 * data["ms_per_batch"] / data["step_ms"], rel_tol=1e-12)

    assert list(record["sampling"]) == METHODS
    for method, entry in record["sampling"].items():
        _check_throughputs(entry, 2, f"sampling {method}")

    assert set(record["versions"]) == {"python", "torch", "lightning"}
    assert record["cpu"] and record["gpu"] is None
    assert record["threads"] == 1
    assert record["date"].endswith("Z")
    assert record["git_commit"] is None or len(record["git_commit"]) == 40


@pytest.mark.slow  # a subprocess that imports the whole stack to print one line (~10 s); see the next test
def test_speed_refuses_an_unknown_method(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(SPEED), "--quick", "--methods", "dcgan,pixelcnn", "--out", str(tmp_path / "x.json")],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "pixelcnn" in result.stderr and "wgan_gp" in result.stderr, result.stderr
    assert not (tmp_path / "x.json").exists()


def test_ar_sampling_quick_draws_the_same_images_both_ways(tmp_path: Path):
    """benchmarks/ar_sampling.py --quick: every autoregressive model's cached and naive samplers, one record;
    the ratio is reported, not asserted (a timing), but both paths must have drawn the same images."""
    out = tmp_path / "ar_sampling.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ar_sampling.py"), "--quick", "--n", "2", "--out", str(out)],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"ar_sampling.py --quick failed:\n{result.stdout}\n{result.stderr}"
    record = json.loads(out.read_text())
    assert sorted(record["results"]) == sorted(["pixelcnn", "gated_pixelcnn", "row_lstm", "diagonal_bilstm"])
    for method, entry in record["results"].items():
        assert entry["identical"] is True, method
        assert entry["recipe"] == f"recipes/{method}/digits.yaml"
        assert len(entry["cached_cpu_s"]) == len(entry["naive_cpu_s"]) == 1
        assert math.isfinite(entry["ratio"]) and entry["ratio"] > 0, (method, entry["ratio"])


def test_ar_sampling_refuses_an_unknown_method(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ar_sampling.py"), "--methods", "pixelcnn,pixelgan", "--quick",
         "--out", str(tmp_path / "x.json")],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ar_sampling: unknown method 'pixelgan'; choose from pixelcnn, gated_pixelcnn, row_lstm, diagonal_bilstm"]
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("data", ["binarized", "n-level"])
def test_likelihood_records_every_run_and_the_orderings_from_the_means(tmp_path: Path, data: str):
    """benchmarks/likelihood.py with a seconds-long budget: one record per method and seed, the mean over
    seeds of each method's NLL, and each paper ordering judged from those means (not asserted to hold)."""
    out = tmp_path / "binarized.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "likelihood.py"), "--data", data,
         "--methods", "pixelcnn,gated_pixelcnn,vae",
         "--budget-minutes", "0.01", "--seeds", "0,1", "--k", "4", "--n-test", "20", "--out", str(out)],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"likelihood.py failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    record = json.loads(out.read_text())
    assert record["protocol"]["n"] == 20
    assert record["protocol"]["data"]["kind"] == data
    if data == "n-level":  # every model a probability of the digits' 17 grey levels
        assert record["protocol"]["data"]["levels"] == 17
        assert record["models"]["pixelcnn"]["levels"] == record["models"]["vae"]["levels"] == 17
        assert record["models"]["vae"]["likelihood"] == "discretized_logistic"
    else:
        assert record["protocol"]["data"]["test"] == "static"
    assert sorted((r["method"], r["seed"]) for r in record["runs"]) == sorted(
        (m, s) for m in ("pixelcnn", "gated_pixelcnn", "vae") for s in (0, 1))
    for method in ("pixelcnn", "gated_pixelcnn", "vae"):
        runs = [r for r in record["runs"] if r["method"] == method]
        values = [(r.get("exact") or r["importance_weighted"])["nll"] for r in runs]
        assert all(math.isfinite(v) and v > 0 for v in values)
        assert record["mean_over_seeds"][method] == pytest.approx(sum(values) / 2)
    claims = {o["claim"]: o for o in record["orderings"]}
    assert sorted(claims) == ["gated_pixelcnn below pixelcnn", "pixelcnn below vae"]
    mean = record["mean_over_seeds"]
    assert claims["pixelcnn below vae"]["holds"] == (mean["pixelcnn"] < mean["vae"])
    assert claims["gated_pixelcnn below pixelcnn"]["difference_nats"] == pytest.approx(
        mean["gated_pixelcnn"] - mean["pixelcnn"])


def test_aae_codes_records_every_prior_and_plots_them(tmp_path: Path):
    """benchmarks/aae_codes.py, one epoch each: a record per model (MMD^2 to its prior, and the own-component
    share for the labelled priors), a PNG; and a bad --epochs is one line, exit 2, nothing written."""
    out = tmp_path / "codes"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "aae_codes.py"), "--epochs", "1", "--n-test", "100",
         "--out", str(out)], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"aae_codes.py failed:\n{result.stdout}\n{result.stderr}"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["protocol"]["n"] == 100 and record["protocol"]["epochs"] == 1
    assert list(record["results"]) == ["plain AE", "AAE, gaussian", "AAE, mixture", "AAE, mixture, labels",
                                       "AAE, swiss roll", "AAE, swiss roll, labels"]
    for name, entry in record["results"].items():
        assert math.isfinite(entry["mmd2_to_prior"]), name
        assert ("codes_in_own_class_component" in entry) == name.endswith("labels"), name
    assert out.with_suffix(".png").stat().st_size > 1000
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "aae_codes.py"), "--epochs", "0", "--out",
                          str(tmp_path / "bad")],
                         check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--epochs must be >= 1" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.slow  # two `zoo fit` subprocesses and two evaluations (~1 CPU-minute)
def test_progan_growth_records_both_variants_with_their_curves(tmp_path: Path):
    """benchmarks/progan_growth.py on digits with a seconds-long budget: both variants trained in their own
    folders (not the leaderboard's), scored, with FID curves in images shown, and the claim judged."""
    out = tmp_path / "growth.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "progan_growth.py"), "--dataset", "digits", "--budget-minutes",
         "0.05", "--n-fake", "1000", "--runs", str(tmp_path / "runs"), "--out", str(out)],
        check=False, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"progan_growth.py failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    record = json.loads(out.read_text())
    assert sorted(record["runs"]) == ["fixed-0", "progressive-0"] and record["budget_cpu_minutes"] == 0.05
    assert record["runs"]["fixed-0"]["overrides"] == ["--model.init_args.progressive=false"]
    assert sorted(p.name for p in (tmp_path / "runs" / "digits").iterdir()) == ["fixed-0", "progressive-0"]
    fids = record["fid"]
    assert record["progressive_better_on_every_seed"] == (fids["progressive"][0] < fids["fixed"][0])
    for run in record["runs"].values():
        assert run["protocol"]["n_fake"] == 1000 and math.isfinite(run["metrics"]["fid_digits_cls"])
        assert run["fid_curve"] and all(point["images_seen"] > 0 for point in run["fid_curve"])


@pytest.mark.slow  # four `zoo fit` subprocesses and four scorings (~1.5 CPU-minutes)
def test_disentanglement_records_every_run_and_judges_the_claim(tmp_path: Path):
    """benchmarks/disentanglement.py on the 32x32 sprites with a seconds-long budget and 1/1000 of the counts:
    beta 1 and 4 trained in their own folders, scored with the protocol recorded, the claim judged per metric."""
    out = tmp_path / "dis.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "disentanglement.py"), "--variant", "xy_rotation",
         "--budget-minutes", "0.05", "--seeds", "0", "--scale", "0.001", "--runs", str(tmp_path / "runs"),
         "--out", str(out)],
        check=False, cwd=tmp_path, env={**os.environ, "WANDB_MODE": "disabled"}, capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"disentanglement.py failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    record = json.loads(out.read_text())
    assert [(run["beta"], run["seed"]) for run in record["runs"]] == [(1.0, 0), (4.0, 0)]
    assert sorted(p.name for p in (tmp_path / "runs" / "xy_rotation").iterdir()) == ["beta1-0", "beta4-0"]
    for run in record["runs"]:
        assert run["protocol"]["beta_vae_metric"]["n_train"] == 10 and run["protocol"]["mig"]["n"] == 10_000
        assert all(0 <= run["metrics"][m] <= 1 for m in ("beta_vae_metric", "factor_vae_metric", "mig"))
        assert run["train"]["stopped_by"] == "budget" and math.isfinite(run["metrics"]["test_elbo"])
    means = record["means"]
    for metric, verdict in record["beta4_beats_vae"].items():
        assert verdict["on_the_mean"] == (means["beta=4"][metric] > means["beta=1"][metric])

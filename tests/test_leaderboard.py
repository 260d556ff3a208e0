"""benchmarks/leaderboard.py end to end on a tiny budget: train, evaluate, export, record, render; failures kept."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from zoo.weights import load_safetensors, sha256_of

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "leaderboard.py"
sys.path.insert(0, str(SCRIPT.parent))
import leaderboard  # noqa: E402


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("results", "runs", "pretrained")}


def dir_args(dirs: dict[str, Path]) -> list[str | Path]:
    return [arg for name, path in dirs.items() for arg in (f"--{name}", path)]


def test_run_export_and_render_end_to_end(tmp_path, dirs):
    # binarized, so its NLL is a log-probability of the static binarized test digits (listed in the likelihood table)
    args = ["run", "--dataset", "digits", "--methods", "vae", "--override=--trainer.max_epochs=2",
            "--override=--data.init_args.binarize=dynamic", "--n-fake", "1000", "--nll-k", "100", "--export",
            *dir_args(dirs)]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "[1/1] vae on digits" in result.stdout

    record = json.loads((dirs["results"] / "digits" / "vae.json").read_text())
    assert record["status"] == "ok" and record["method"] == "vae" and record["dataset"] == "digits"
    assert record["recipe"] == "recipes/vae/digits.yaml"
    assert record["recipe_sha256"] == leaderboard.sha256_text(ROOT / "recipes" / "vae" / "digits.yaml")
    assert record["paper"]["arxiv"] == "1312.6114"
    train = record["train"]
    assert (train["epochs"], train["max_epochs"], train["stopped_by"]) == (2, 2, "max_epochs")
    assert 1 <= train["checkpoint_epoch"] <= 2 and 0 < train["checkpoint_time_s"] <= train["train_time_s"]
    assert train["overrides"] == ["--trainer.max_epochs=2", "--data.init_args.binarize=dynamic"]
    assert train["budget_minutes"] == 15.0
    assert 0 < train["train_time_s"] < train["wall_s"]  # CPU time of training < the whole `zoo fit`
    protocol = record["protocol"]
    assert protocol["n_fake"] == 1000 and protocol["extractor"]["name"] == "digits_cls" and protocol["split"] == "train"
    assert protocol["nll"]["k"] == 100 and protocol["nll"]["n"] == 360  # --nll-k, recorded
    assert protocol["nll"]["data"]["kind"] == "binarized"  # scored on the data it trained on
    metrics = record["metrics"]
    assert {"fid_digits_cls", "kid_digits_cls", "is_digits_cls", "precision_digits_cls", "recall_digits_cls",
            "nll", "nll_bpd", "probe_accuracy", "probe_accuracy_random_init", "class_kept"} <= set(metrics)
    assert protocol["probe_accuracy"]["test"]["n"] == 360  # the VAE encodes: its codes are probed
    assert protocol["class_kept"]["n"] == 360 and 0.0 <= metrics["class_kept"] <= 1.0  # and reconstructs
    assert 0 < metrics["fid_digits_cls"] < 2000 and 10 < metrics["nll"] < 200
    assert record["num_params"] > 0 and record["hardware"]["cpu"]
    assert record["fid_curve"]["history"][-1]["epoch"] == 1  # the recipe's PeriodicFID at the last epoch

    # the kept weights: shipped under pretrained/, indexed with their hash, rebuilding the model
    weights = record["weights"]
    shipped = dirs["pretrained"] / "vae.digits.safetensors"
    assert weights["sha256"] == sha256_of(shipped)
    check = weights["fp16_check"]
    assert weights["dtype"] == ("float16" if check["float16"] <= check["float32"] * 1.01 else "float32")
    index = json.loads((dirs["pretrained"] / "index.json").read_text())
    assert index["vae.digits"]["sha256"] == weights["sha256"] and index["vae.digits"]["meta"]["metrics"] == metrics
    model = load_safetensors(shipped, sha256=weights["sha256"])
    assert sum(p.numel() for p in model.parameters()) == record["num_params"]
    assert not model.training and model.sample(4).shape == (4, 1, 8, 8)
    with Image.open(dirs["results"] / "digits" / "vae.png") as grid:
        assert grid.size[0] > 8 * 32

    # resumable: a second run finds the result and redoes nothing
    again = run(*args, cwd=tmp_path)
    assert again.returncode == 0 and "done already" in again.stdout
    assert json.loads((dirs["results"] / "digits" / "vae.json").read_text()) == record

    # an interrupted training (its attempt and last.ckpt written, no train.json) resumes from its checkpoint
    (dirs["runs"] / "digits" / "vae" / "train.json").unlink()
    (dirs["results"] / "digits" / "vae.json").unlink()
    resumed = run(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming from last.ckpt" in resumed.stdout
    again_record = json.loads((dirs["results"] / "digits" / "vae.json").read_text())
    assert again_record["train"]["attempts"] == 2 and again_record["train"]["epochs"] == 2
    log = (dirs["runs"] / "digits" / "vae" / "train.log").read_text()
    assert log.count("$ ") == 2 and "--ckpt_path" in log.split("$ ")[-1]  # the second `zoo fit` resumed

    # rescore: the same weights measured again (seeded, so the same number), the record says so, the index follows
    rescored = run("rescore", "--dataset", "digits", "--methods", "vae", "--nll-k", "100", "--export",
                   "--results", dirs["results"], "--pretrained", dirs["pretrained"], cwd=tmp_path)
    assert rescored.returncode == 0, rescored.stdout[-3000:] + rescored.stderr[-3000:]
    after = json.loads((dirs["results"] / "digits" / "vae.json").read_text())
    torch.testing.assert_close(after["metrics"]["nll"], again_record["metrics"]["nll"], rtol=1e-6, atol=0)
    assert after["rescored"]["metrics"] == "nll" and after["weights"] == again_record["weights"]
    index = json.loads((dirs["pretrained"] / "index.json").read_text())
    assert index["vae.digits"]["meta"]["metrics"] == after["metrics"]
    # rescore --metrics class_kept (the same path as --metrics probe): measured again (deterministic: the same
    # share), recorded and indexed
    probed = run("rescore", "--dataset", "digits", "--methods", "vae", "--metrics", "class_kept", "--export",
                 "--results", dirs["results"], "--pretrained", dirs["pretrained"], cwd=tmp_path)
    assert probed.returncode == 0, probed.stdout[-3000:] + probed.stderr[-3000:]
    reprobed = json.loads((dirs["results"] / "digits" / "vae.json").read_text())
    assert reprobed["rescored"]["metrics"] == "class_kept" and reprobed["metrics"] == after["metrics"]
    index = json.loads((dirs["pretrained"] / "index.json").read_text())
    assert index["vae.digits"]["meta"]["protocol"]["class_kept"] == reprobed["protocol"]["class_kept"]

    readme = tmp_path / "README.md"
    readme.write_text(f"# top\n{leaderboard.README_START}\nold table\n{leaderboard.README_END}\nbottom\n")
    rendered = run("render", "--results", dirs["results"], "--leaderboard", tmp_path / "LB.md", "--readme", readme,
                   cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    board = (tmp_path / "LB.md").read_text()
    # the VAE lands in the table of each task it declares: generation (FID ...), likelihood (NLL), representation
    assert "### digits: unconditional generation" in board and "### digits: likelihood of binarized" in board
    assert "### digits: representation (linear probe of the codes)" in board
    generation, likelihood, representation = [line for line in board.splitlines() if line.startswith("| vae |")]
    assert (f"| {metrics['probe_accuracy']:.3f} | {metrics['probe_accuracy_random_init']:.3f} | "
            f"{metrics['class_kept']:.3f} |") in representation
    assert f"| {metrics['fid_digits_cls']:.1f} |" in generation and "| 2/2 |" in generation
    assert f"| {metrics['nll']:.1f} ± {metrics['nll_std_err']:.1f} |" in likelihood
    assert "importance-weighted, K=100" in likelihood
    assert "[`vae.digits`](" in generation and "[`vae.digits`](" in likelihood
    text = readme.read_text()
    assert text.startswith("# top\n") and text.endswith("bottom\n") and "old table" not in text
    assert "| vae |" in text
    with Image.open(dirs["results"] / "digits" / "fid_vs_time.png") as plot:
        assert plot.size[0] > 100


def test_a_failing_method_is_recorded_not_dropped(tmp_path, dirs):
    result = run("run", "--dataset", "digits", "--methods", "ae", "--override=--model.init_args.latent_dim=0",
                 *dir_args(dirs), cwd=tmp_path)
    assert result.returncode == 1
    assert "FAILED at train" in result.stdout and "failed: ae" in result.stderr
    record = json.loads((dirs["results"] / "digits" / "ae.json").read_text())
    assert record["status"] == "failed" and record["stage"] == "train"
    assert "latent_dim" in record["error"]
    rendered = run("render", "--results", dirs["results"], "--leaderboard", tmp_path / "LB.md", "--readme",
                   tmp_path / "absent.md", cwd=tmp_path)
    assert rendered.returncode == 0
    assert "| ae |" in (tmp_path / "LB.md").read_text() and "**failed** at train" in (tmp_path / "LB.md").read_text()


def test_bad_arguments_exit_2_with_a_message(tmp_path, dirs):
    result = run("run", "--dataset", "mnistt", *dir_args(dirs), cwd=tmp_path)
    assert result.returncode == 2 and "unknown dataset 'mnistt'" in result.stderr
    result = run("run", "--dataset", "digits", "--methods", "vae,no_such_method", *dir_args(dirs), cwd=tmp_path)
    assert result.returncode == 2 and "['no_such_method']" in result.stderr
    result = run("render", "--results", tmp_path / "empty", cwd=tmp_path)
    assert result.returncode == 2 and "no result files" in result.stderr


def test_methods_with_recipes():
    expected = ["aae", "ae", "avb", "bigan", "cgan", "dae", "dcgan", "diagonal_bilstm", "gan", "gated_pixelcnn",
                "infogan", "mad_gan", "pixelcnn", "progan", "row_lstm", "vae", "vae_gan", "wgan", "wgan_gp"]
    assert leaderboard.methods_for("digits", ROOT / "recipes") == expected
    for method in leaderboard.methods_for("fashion_mnist", ROOT / "recipes"):
        assert leaderboard.paper_record(method)["title"]  # the paper column comes from the registry


def test_readme_sections_are_rendered_from_the_registry_and_the_results():
    """README's methods table and leaderboard are what `leaderboard.py render` writes now: a method added, or a
    result changed, without rendering fails here."""
    readme = (ROOT / "README.md").read_text()

    def section(start: str, end: str) -> str:
        return readme.split(start, 1)[1].split(end, 1)[0].strip()

    assert section(leaderboard.METHODS_START, leaderboard.METHODS_END) == leaderboard.methods_table()
    results = leaderboard.load_results(ROOT / "benchmarks" / "results")
    expected = "\n\n".join(t for d in sorted(results) for t in leaderboard.tables(d, results[d], ""))
    assert section(leaderboard.README_START, leaderboard.README_END) == expected


def test_fp16_weights_load_as_float32(tmp_path):
    import zoo

    torch.manual_seed(0)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=4)
    from zoo.weights import save_safetensors

    save_safetensors(model, tmp_path / "half.safetensors", dtype=torch.float16)
    loaded = load_safetensors(tmp_path / "half.safetensors")
    for key, value in model.state_dict().items():
        assert loaded.state_dict()[key].dtype == value.dtype
        torch.testing.assert_close(loaded.state_dict()[key], value.half().to(value.dtype), rtol=0, atol=0)
    with pytest.raises(Exception, match="floating-point"):
        save_safetensors(model, tmp_path / "int.safetensors", dtype=torch.int8)


def _likelihood_record(method: str, nll: float, data: dict | str | None) -> dict:
    protocol = {"nll": {"k": None, "kind": "exact_discrete", "split": "test", "n": 360,
                        **({"data": data} if data is not None else {})}}
    return {"method": method, "status": "ok", "metrics": {"nll": nll, "nll_std_err": 0.1, "nll_bpd": nll / 44.4},
            "protocol": protocol, "recipe": f"recipes/{method}/digits.yaml", "paper": {}, "num_params": 1000,
            "train": {"train_time_s": 60.0, "epochs": 1, "max_epochs": 1, "stopped_by": "max_epochs"},
            "weights": {"name": f"{method}.digits", "dtype": "float32"}, "samples": f"{method}.png",
            "hardware": {}, "commit": "0" * 40}


def test_likelihood_tables_never_mix_data_kinds_and_leave_out_cross_entropies():
    binarized = {"kind": "binarized", "binarization": "static", "seed": 1, "sha256": "ab" * 32}
    records = [_likelihood_record("pixelcnn", 20.5, binarized),
               _likelihood_record("pixelcnn", 90.25, {"kind": "n-level", "levels": 17}),
               _likelihood_record("vae", 23.4, None)]  # an old record: grey levels under a Bernoulli decoder
    out = leaderboard.likelihood_tables("digits", records, "")
    assert len(out) == 2
    assert out[0].startswith("### digits: likelihood of binarized (static, seed 1, sha256 abababababab) images")
    assert "| 20.5 ± 0.1 |" in out[0] and "90.2" not in out[0] and "| vae |" not in out[0]
    assert out[1].startswith("### digits: likelihood of 17-level images") and "| 90.2" in out[1]
    assert "Not listed: vae" in out[1] and "| vae |" not in "".join(out)
    # only an excluded result: no table, one line saying why
    only = leaderboard.likelihood_tables("digits", records[2:], "")
    assert len(only) == 1 and "Not listed: vae" in only[0] and "|" not in only[0]

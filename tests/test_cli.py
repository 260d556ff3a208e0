"""The `zoo` command: a real recipe trains, checkpoints and samples; bad input is one line, no traceback."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from PIL import Image

import zoo
import zoo.data.torchvision_datasets
from zoo.cli import main
from zoo.data import DigitsDataModule
from zoo.errors import ConfigError
from zoo.registry import create_model

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "vae" / "digits.yaml"
PAD = 2  # torchvision make_grid's default padding


def grid_size(n: int, side: int, nrow: int = 8) -> tuple[int, int]:
    """(width, height) of a make_grid of n square images of ``side`` pixels."""
    rows = -(-n // nrow)
    return nrow * (side + PAD) + PAD, rows * (side + PAD) + PAD


def run(args: list[str]) -> int:
    """``zoo args`` in this process; argparse and LightningCLI end --help and usage errors with SystemExit."""
    try:
        return main(args)
    except SystemExit as exit:
        return 0 if exit.code is None else exit.code


def no_account_env(tmp: Path) -> dict[str, str]:
    """The environment of a `zoo` subprocess: no wandb account, no WANDB_MODE, zoo's files under tmp."""
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "WANDB_MODE")}
    env.update(
        ZOO_HOME=str(tmp / "home"),
        NETRC=str(tmp / "no-netrc"),  # where wandb would find `wandb login`'s key
        WANDB_CONFIG_DIR=str(tmp / "wandb-config"),
    )
    return env


def zoo_subprocess(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("zoo")
    assert exe is not None, "the `zoo` console script is not on PATH; pip install -e ."
    return subprocess.run(
        [exe, *args], cwd=cwd, env=no_account_env(cwd), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The real recipe for one epoch with latent_dim 4, run as the `zoo` console script in a fresh folder."""
    cwd = tmp_path_factory.mktemp("fit")
    result = zoo_subprocess(
        ["fit", "--config", str(RECIPE), "--trainer.max_epochs=1", "--model.init_args.latent_dim=4"], cwd
    )
    return cwd, result


@pytest.fixture
def checkpoint(fitted):
    cwd, result = fitted
    assert result.returncode == 0, result.stderr[-3000:]
    (last,) = (cwd / "runs" / "vae" / "digits").glob("*/*/checkpoints/last.ckpt")
    return last


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    return tmp_path


# -- zoo fit ---------------------------------------------------------------------------------------
def test_fit_the_recipe(fitted, checkpoint):
    cwd, result = fitted
    assert "Traceback" not in result.stderr
    assert "LightningCLI's args parameter" not in result.stderr  # no spurious warning on every run
    run = checkpoint.parent.parent
    assert run.parent.parent == cwd / "runs" / "vae" / "digits"

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["init_args"]["latent_dim"] == 4
    assert config["trainer"]["max_epochs"] == 1

    for kind, n in (("samples", 64), ("reconstructions", 128)):  # reconstructions: originals + their images
        with Image.open(run / "images" / f"{kind}_epoch=000.png") as image:
            width, _ = image.size
            side = (width - PAD) // 8 - PAD  # ImageGrids may enlarge 8x8 images by an integer factor
            assert side % 8 == 0
            assert image.size == grid_size(n, side)

    # wandb fell back to offline by itself, said so in one line, and kept the run for `wandb sync`
    assert len([line for line in result.stderr.splitlines() if "logging offline" in line]) == 1
    assert list((cwd / "runs" / "vae" / "digits" / "wandb").glob("offline-run-*"))

    model = zoo.load(checkpoint)
    assert type(model).__name__ == "VAE"
    assert model.latent_dim == 4  # the command-line override reached the model
    assert model.in_shape == (1, 8, 8)  # linked from the data
    assert not model.training
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 1, 8, 8)
    assert x.min() >= 0 and x.max() <= 1
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 0


# -- zoo sample ------------------------------------------------------------------------------------
def test_sample_writes_a_grid(checkpoint, in_tmp, capsys):
    assert run(["sample", str(checkpoint), "--n", "16", "--out", "grid.png"]) == 0
    assert "grid.png" in capsys.readouterr().out
    with Image.open(in_tmp / "grid.png") as image:
        assert image.size == grid_size(16, 8) == (82, 22)


def test_sample_creates_the_output_folder(checkpoint, in_tmp):
    assert run(["sample", str(checkpoint), "--n", "4", "--out", "new/folder/grid.png"]) == 0
    with Image.open(in_tmp / "new" / "folder" / "grid.png") as image:
        assert image.size == grid_size(4, 8, nrow=4)  # make_grid uses min(nrow, n) columns


def test_sample_is_seeded(checkpoint, in_tmp):
    assert run(["sample", str(checkpoint), "--n", "8", "--out", "a.png", "--seed", "3"]) == 0
    assert run(["sample", str(checkpoint), "--n", "8", "--out", "b.png", "--seed", "3"]) == 0
    assert run(["sample", str(checkpoint), "--n", "8", "--out", "c.png", "--seed", "4", "--nrow", "4"]) == 0
    assert (in_tmp / "a.png").read_bytes() == (in_tmp / "b.png").read_bytes()
    with Image.open(in_tmp / "c.png") as image:
        assert image.size == grid_size(8, 8, nrow=4)


# -- zoo complete ----------------------------------------------------------------------------------
def _cells(path: Path, rows: int, columns: int, side: int) -> torch.Tensor:
    """The images of a make_grid PNG: (rows, columns, side, side) grey values in 0..255."""
    with Image.open(path) as image:
        assert image.size == (columns * (side + PAD) + PAD, rows * (side + PAD) + PAD)
        pixels = torch.tensor(list(image.convert("L").getdata())).view(image.size[1], image.size[0])
    return torch.stack([torch.stack([pixels[PAD + r * (side + PAD):][:side, PAD + c * (side + PAD):][:, :side]
                                     for c in range(columns)]) for r in range(rows)])


@pytest.mark.parametrize(("mask", "kept"), [("bottom", (slice(0, 4), slice(None))),
                                            ("right", (slice(None), slice(0, 4)))])
def test_complete_keeps_the_given_half_and_fills_the_other(in_tmp, capsys, mask, kept):
    """pixelcnn.digits on the first 3 binarized test digits, 2 completions each: per row the original, the
    given part (the missing one grey), then completions equal to the original where given."""
    assert run(["complete", "pixelcnn.digits", "--data", "digits", "--n", "3", "--samples", "2", "--mask", mask,
                "--out", "c.png"]) == 0
    assert "c.png" in capsys.readouterr().out
    cells = _cells(in_tmp / "c.png", 3, 4, 8)
    assert set(cells[:, 0].unique().tolist()) <= {0, 255}  # the static binarization
    missing = torch.ones(8, 8, dtype=torch.bool)
    missing[kept] = False
    for row in cells:
        original, given, *completions = row
        torch.testing.assert_close(given[~missing], original[~missing], rtol=0, atol=0)
        assert (given[missing] == 128).all()
        for completion in completions:
            torch.testing.assert_close(completion[~missing], original[~missing], rtol=0, atol=0)
            assert set(completion[missing].unique().tolist()) <= {0, 255}
    # two completions of 3 images differ somewhere: the missing half is drawn, not copied
    assert not torch.equal(cells[:, 2][:, missing], cells[:, 3][:, missing])


def test_complete_is_seeded(in_tmp):
    for name, seed in (("a.png", "1"), ("b.png", "1"), ("c.png", "2")):
        assert run(["complete", "pixelcnn.digits", "--data", "digits", "--n", "4", "--seed", seed, "--out", name]) == 0
    assert (in_tmp / "a.png").read_bytes() == (in_tmp / "b.png").read_bytes()
    assert (in_tmp / "a.png").read_bytes() != (in_tmp / "c.png").read_bytes()


def test_complete_refuses_a_model_without_the_capability_and_the_wrong_data(in_tmp, capsys):
    assert run(["complete", "vae.digits", "--data", "digits", "--out", "c.png"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("zoo: error: vae.digits (VAE) cannot complete images (zoo complete): it has no "
                           "'complete' capability") and "pixelcnn" in line
    assert run(["complete", "pixelcnn.digits", "--data", "fashion_mnist", "--out", "c.png"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "makes (1, 8, 8) images but --data fashion_mnist yields (1, 28, 28)" in line
    assert run(["complete", "pixelcnn.digits", "--data", "digits", "--mask", "top", "--out", "c.png"]) == 2
    assert "invalid choice: 'top'" in capsys.readouterr().err
    assert not (in_tmp / "c.png").exists()


# -- zoo list, help --------------------------------------------------------------------------------
def test_list(in_tmp, capsys):
    assert run(["list"]) == 0
    names = capsys.readouterr().out.split()
    assert names == zoo.list_models()
    assert {"ae", "ae_conv", "dae", "dae_conv", "vae", "vae_conv"} <= set(names)
    assert run(["list", "vae*"]) == 0
    assert capsys.readouterr().out.split() == ["vae", "vae_conv", "vae_gan"]
    assert run(["list", "--pretrained"]) == 0


def test_help(in_tmp, capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("fit", "sample", "list"):
        assert command in out
    assert run(["fit", "--help"]) == 0
    assert "--trainer.max_epochs" in capsys.readouterr().out


def test_help_and_list_import_neither_torch_nor_lightning():
    # what keeps them under a second (torch alone takes seconds to import); benchmarks/reliability.py times them
    code = ("import sys, contextlib, io\n"
            "import zoo\n"
            "from zoo.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    codes = [main(['--help']), main(['list']), main(['list', '--pretrained']), main(['sample', '--help'])]\n"
            "heavy = sorted(m for m in ('torch', 'lightning', 'torchvision', 'numpy') if m in sys.modules)\n"
            "print(codes, heavy, 'vae.digits' in out.getvalue())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # every command answered (exit 0), none of the heavy packages loaded, the pretrained table was printed
    assert result.stdout.strip() == "[0, 0, 0, 0] [] True"


def test_import_zoo_is_lazy_and_the_api_loads_on_first_use():
    code = ("import sys\nimport zoo\nlight = 'torch' not in sys.modules\n"
            "names = zoo.list_models()\nprint(light, 'vae' in names, 'vae.digits' in zoo.list_pretrained(), "
            "zoo.methods.VAE.__name__)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "VAE"]


# -- bad input: non-zero exit, the problem named, no traceback -------------------------------------
@pytest.mark.slow  # ~10 s each; tests/test_cli_errors.py runs these and 50 more in-process, the console script too
@pytest.mark.parametrize(
    "args, needle",
    [
        (["sample", "nosuchmodel"], "nosuchmodel"),
        (["fit", "--config", "nope.yaml"], "nope.yaml"),
    ],
)
def test_bad_input_as_a_subprocess(tmp_path, args, needle):
    result = zoo_subprocess(args, tmp_path)
    assert result.returncode != 0
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["sample", "nosuchmodel"], "'nosuchmodel' is neither a pretrained name"),
        (["sample", "missing.ckpt"], "no such file: missing.ckpt"),
        (["download", "vae.nosuch"], "'vae.nosuch'"),
        (["list", "--nosuchflag"], "--nosuchflag"),
        # a ConfigError of the model's __init__, which jsonargparse wraps in its own ValueError
        (["fit", "--config", str(RECIPE), "--trainer.logger=false", "--model.init_args.latent_dim=0"],
         "latent_dim must be >= 1, got 0"),
        (["fit", "--config", str(RECIPE), "--trainer.logger=false", "--data.init_args.batch_size=0"],
         "batch_size must be an int >= 1, got 0"),
    ],
)
def test_bad_input_in_process(in_tmp, capsys, args, needle):
    assert run(args) != 0
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err
    if args[0] != "list":  # argparse's own usage errors come with the usage; zoo's errors are one line
        assert err.strip().splitlines()[-1].startswith("zoo: error: ")
        assert len([line for line in err.splitlines() if line.startswith("zoo: error")]) == 1
    assert not (in_tmp / "runs").exists() or not list((in_tmp / "runs").rglob("*.ckpt"))


def test_sample_refuses_n_zero(checkpoint, in_tmp, capsys):
    assert run(["sample", str(checkpoint), "--n", "0"]) != 0
    err = capsys.readouterr().err
    assert "--n" in err and "0" in err
    assert not (in_tmp / "samples.png").exists()


def test_missing_offline_dataset(in_tmp, capsys, monkeypatch):
    monkeypatch.setattr(zoo.data.torchvision_datasets, "FASHION_MNIST_SYSTEM_DIRS", [])
    empty = in_tmp / "empty"
    empty.mkdir()
    code = run([
        "fit", "--config", str(RECIPE), "--trainer.logger=false",
        "--data", "zoo.data.FashionMNISTDataModule",
        "--data.init_args.data_dir", str(empty), "--data.init_args.download", "false",
    ])
    assert code != 0
    err = capsys.readouterr().err
    assert "zoo: error:" in err
    assert "train-images-idx3-ubyte" in err and str(empty) in err and "download" in err
    assert list(empty.iterdir()) == []  # nothing was written or downloaded


def test_model_for_other_images_says_how_to_fix():
    trainer = L.Trainer(
        fast_dev_run=True, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    with pytest.raises(ConfigError) as info:
        trainer.fit(create_model("vae", in_shape=(1, 28, 28)), DigitsDataModule())
    message = str(info.value)
    assert "(1, 8, 8)" in message and "(1, 28, 28)" in message
    assert "in_shape=(1, 8, 8)" in message and "size=" in message


def test_console_script_is_this_main():
    # `zoo` is the entry point zoo.cli:main, the function the in-process tests call
    assert sys.modules["zoo.cli"].main is main
    result = subprocess.run(
        [shutil.which("zoo") or "zoo", "list", "vae*"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["vae", "vae_conv", "vae_gan"]


# -- what the CLI links and admits -----------------------------------------------------------------------
TRAINER = ["--trainer.max_epochs=2", "--trainer.logger=false", "--trainer.enable_checkpointing=false",
           "--trainer.enable_progress_bar=false"]


def test_num_classes_reaches_a_model_that_takes_it(in_tmp, capsys):
    """The datamodule's num_classes is linked to the model, as in_shape is; labels reach the objective."""
    args = ["fit", "--model", "tests.cli_models.CountsClasses", "--data", "zoo.data.DigitsDataModule", *TRAINER]
    assert run(args) == 0, capsys.readouterr().err[-2000:]


def test_a_non_generative_model_trains_on_two_domains(in_tmp, capsys):
    """The CLI trains any ZooModule (not only samplers), on a two-domain datamodule composed in the config."""
    config = in_tmp / "gap.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"class_path": "tests.cli_models.DomainGap"},
        # the recipes' grid callback stays out of the way of a model that neither samples nor reconstructs
        "trainer": {"callbacks": [{"class_path": "zoo.callbacks.ImageGrids"}]},
        "data": {"class_path": "zoo.data.TwoDomainDataModule", "init_args": {
            "a": {"class_path": "zoo.data.DigitsDataModule", "init_args": {"batch_size": 64}},
            "b": {"class_path": "zoo.data.DigitsDataModule", "init_args": {"batch_size": 64, "size": 8, "seed": 1}},
        }},
    }))
    assert run(["fit", "--config", str(config), *TRAINER]) == 0, capsys.readouterr().err[-2000:]


# -- zoo probe ------------------------------------------------------------------------------------
def test_probe_prints_and_writes_the_accuracy_with_its_protocol(in_tmp, capsys):
    assert run(["probe", "ae.digits", "--data", "digits", "--n-train", "500", "--no-baseline",
                "--out", "p.json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((in_tmp / "p.json").read_text())
    assert set(printed["metrics"]) == {"probe_accuracy"} and printed["metrics"]["probe_accuracy"] > 0.8
    assert printed["protocol"]["probe_accuracy"]["train"]["n"] == 500


def test_probe_refuses_a_model_without_codes_the_wrong_data_and_a_bad_out(in_tmp, capsys):
    assert run(["probe", "dcgan.digits", "--data", "digits"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("zoo: error: dcgan.digits (DCGAN) cannot be probed") and "aae" in line
    assert run(["probe", "ae.digits", "--data", "fashion_mnist"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "reads (1, 8, 8) images but --data fashion_mnist yields (1, 28, 28)" in line
    assert run(["probe", "ae.digits", "--data", "digits", "--out", "p.txt"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == "zoo: error: --out p.txt: the probe writes JSON; give a path ending in .json"
    assert not (in_tmp / "p.txt").exists()

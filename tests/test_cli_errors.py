"""Bad input to every `zoo` command: exit code 2, exactly one line on stderr (``<prog>: error: ...``) that
names the bad value and says what to do, no traceback, and nothing written. Run in-process (fast); the
console script is the same function (tests/test_cli.py::test_console_script_is_this_main)."""
from __future__ import annotations

import pytest
import torch

import zoo
from tests.test_cli import RECIPE, run
from zoo.weights import save_safetensors

QUIET = ["--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.max_epochs=1"]
FIT = ["fit", "--config", str(RECIPE), *QUIET]

#: (command line, what the one line must contain); files named here are written by the `files` fixture
CASES = {
    # zoo fit: LightningCLI's parser, the trainer, the model and data, checkpoints
    "max_epochs -1": (FIT + ["--trainer.max_epochs=-1"], ["max_epochs=-1 trains forever", "max_time"]),
    "max_epochs abc": (FIT + ["--trainer.max_epochs=abc"], ["--trainer.max_epochs", "int", "abc"]),
    "accelerator gpu": (FIT + ["--trainer.accelerator=gpu"], ["gpu", "--trainer options"]),
    "precision": (FIT + ["--trainer.precision=bogus"], ["--trainer.precision", "bogus"]),
    "seed abc": (FIT + ["--seed_everything=abc"], ["--seed_everything", "abc"]),
    "model typo": (FIT + ["--model.init_args.latnet_dim=4"], ["latnet_dim", "did you mean latent_dim?"]),
    "data typo": (FIT + ["--data.init_args.batch_sise=4"], ["batch_sise", "did you mean batch_size?"]),
    "latent_dim 0": (FIT + ["--model.init_args.latent_dim=0"], ["latent_dim must be >= 1, got 0"]),
    "batch_size 0": (FIT + ["--data.init_args.batch_size=0"], ["batch_size must be an int >= 1, got 0"]),
    "no such model": (FIT + ["--model=nosuch.Model"], ["--model", "nosuch"]),
    "no such data": (FIT + ["--data=nosuch.Module"], ["--data", "nosuch"]),
    "no config": (["fit"], ["required", "model"]),
    "missing config": (["fit", "--config", "nope.yaml"], ["nope.yaml"]),
    "yaml syntax": (["fit", "--config", "broken.yaml"], ["parsing", "line 1"]),
    "ckpt missing": (FIT + ["--ckpt_path", "missing.ckpt"], ["--ckpt_path missing.ckpt: no such file"]),
    "ckpt not a checkpoint": (FIT + ["--ckpt_path", "text.ckpt"], ["text.ckpt", "not a file torch.save wrote"]),
    "ckpt of another method": (FIT + ["--ckpt_path", "dcgan.ckpt"], ["dcgan.ckpt holds a dcgan", "recipe of that"]),
    "resume no folder": (["fit", "--resume"], ["--resume needs a run folder"]),
    "resume not a run": (["fit", "--resume", "."], ["no config.yaml there"]),
    "resume with config": (["fit", "--resume", "run", "--config", str(RECIPE)], ["drop --config"]),
    # zoo sample
    "sample unknown": (["sample", "nosuchmodel"], ["'nosuchmodel' is neither a pretrained name"]),
    "sample missing ckpt": (["sample", "missing.ckpt"], ["no such file: missing.ckpt"]),
    "sample text ckpt": (["sample", "text.ckpt"], ["text.ckpt", "not a file torch.save wrote"]),
    "sample truncated": (["sample", "truncated.safetensors"], ["truncated.safetensors"]),
    "sample n 0": (["sample", "vae.digits", "--n", "0"], ["--n", "must be >= 1, got 0"]),
    "sample n -3": (["sample", "vae.digits", "--n", "-3"], ["--n", "got -3"]),
    "sample n abc": (["sample", "vae.digits", "--n", "abc"], ["--n", "must be an int, got 'abc'"]),
    "sample nrow 0": (["sample", "vae.digits", "--nrow", "0"], ["--nrow", "got 0"]),
    "sample seed abc": (["sample", "vae.digits", "--seed", "abc"], ["--seed", "'abc'"]),
    "sample steps 1": (["sample", "vae.digits", "--interpolate", "--steps", "1"], ["--steps", "got 1"]),
    "sample out txt": (["sample", "vae.digits", "--out", "x.txt"], ["--out x.txt", ".txt is not an image format"]),
    "sample out folder": (["sample", "vae.digits", "--out", "folder"], ["no extension"]),
    "sample out unwritable": (["sample", "vae.digits", "--out", "text.ckpt/x.png"], ["cannot write", "text.ckpt"]),
    "sample class out of range": (["sample", "cgan.digits", "--class", "12"], ["label 12", "0..9"]),
    "sample class unconditional": (["sample", "vae.digits", "--class", "1"], ["(--class)", "models that can: cgan"]),
    "sample bad flag": (["sample", "vae.digits", "--bogus"], ["unrecognized arguments: --bogus"]),
    # zoo list, download, the command itself
    "list bad flag": (["list", "--nosuchflag"], ["--nosuchflag"]),
    "download unknown": (["download", "vae.nosuch"], ["'vae.nosuch'"]),
    "download a method": (["download", "dcgan"], ["did you mean 'dcgan.digits'"]),
    "no command": ([], ["required: <command>"]),
    "unknown command": (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    # zoo evaluate
    "evaluate n-fake 1": (["evaluate", "dcgan.digits", "--data", "digits", "--n-fake", "1"], ["--n-fake 1", ">= 2"]),
    "evaluate n-fake 0": (["evaluate", "dcgan.digits", "--data", "digits", "--n-fake", "0"], ["n_fake must be >= 1"]),
    "evaluate metric": (["evaluate", "dcgan.digits", "--data", "digits", "--metrics", "fdi"], ["'fdi'", "fid"]),
    "evaluate nll of a GAN": (["evaluate", "dcgan.digits", "--data", "digits", "--metrics", "nll"],
                              ["cannot compute nll", "vae"]),
    "evaluate data": (["evaluate", "dcgan.digits", "--data", "nosuch"], ["--data 'nosuch'", "digits"]),
    "evaluate extractor": (["evaluate", "dcgan.digits", "--data", "digits", "--extractor", "nosuch"],
                           ["unknown extractor 'nosuch'"]),
    "evaluate split": (["evaluate", "dcgan.digits", "--data", "digits", "--split", "bogus"], ["'bogus'"]),
    "evaluate batch 0": (["evaluate", "dcgan.digits", "--data", "digits", "--batch-size", "0"],
                         ["batch_size must be >= 1"]),
    "evaluate n-real 1": (["evaluate", "dcgan.digits", "--data", "digits", "--n-real", "1"], ["n_real must be >= 2"]),
    "evaluate kid subset 0": (["evaluate", "dcgan.digits", "--data", "digits", "--metrics", "kid",
                               "--kid-subset-size", "0"], ["--kid-subset-size must be >= 2"]),
    "evaluate other shape": (["evaluate", "dcgan.digits", "--data", "fashion_mnist"], ["(1, 8, 8)", "(1, 28, 28)"]),
}


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    return prepare(tmp_path)


def prepare(tmp_path):
    """The files the cases name, in ``tmp_path`` (benchmarks/reliability.py runs the cases too)."""
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    (tmp_path / "folder").mkdir()
    dcgan = zoo.create_model("dcgan", in_shape=(1, 8, 8))
    torch.save({"state_dict": dcgan.state_dict(), "hyper_parameters": dict(dcgan.hparams), "zoo": dcgan.file_record()},
               tmp_path / "dcgan.ckpt")
    save_safetensors(dcgan, tmp_path / "whole.safetensors")
    data = (tmp_path / "whole.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    return tmp_path


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, files, capsys):
    args, needles = CASES[case]
    if case == "evaluate other shape":
        from zoo.data.torchvision_datasets import FASHION_MNIST_SYSTEM_DIRS

        if not any(d.is_dir() for d in map(__import__("pathlib").Path, FASHION_MNIST_SYSTEM_DIRS)):
            pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    before = sorted(p.relative_to(files) for p in files.rglob("*") if "home" not in p.parts)
    code = run(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "img/s" not in line]  # progress bars aside
    assert code == 2, (code, err[-1500:])
    assert len(lines) == 1, err[-1500:]
    assert lines[0].startswith(("zoo: error: ", "zoo sample: error: ", "zoo evaluate: error: ")), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    after = sorted(p.relative_to(files) for p in files.rglob("*") if "home" not in p.parts)
    assert after == before, "a failed command left files behind"

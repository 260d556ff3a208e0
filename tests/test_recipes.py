"""Every recipe runs (one batch through fit, via the `zoo` CLI), and README's first example works."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

import zoo
from tests.data.test_celeba import _write_fake_celeba, no_celeba_md5_check  # noqa: F401  (a fixture)
from tests.data.test_datamodules import _write_fake_cifar10, no_md5_check  # noqa: F401  (a fixture)
from zoo.cli import main

REPO = Path(__file__).resolve().parents[1]
# recipes/extractors/ train the metrics' feature extractors with their own command (tests/metrics/test_extractors.py)
RECIPES = sorted(p for p in REPO.glob("recipes/*/*.yaml") if p.parent.name != "extractors")
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def test_every_method_has_digits_and_fashion_mnist_recipes():
    found = {(p.parent.name, p.stem) for p in RECIPES}
    for method in ("ae", "dae", "vae", "gan", "dcgan", "wgan", "wgan_gp", "cgan", "mad_gan", "infogan", "pixelcnn",
                   "gated_pixelcnn", "row_lstm", "diagonal_bilstm", "aae", "bigan", "vae_gan", "avb", "progan"):
        assert {(method, "digits"), (method, "fashion_mnist")} <= found
    assert {("dcgan", "cifar10_64"), ("progan", "cifar10"), ("progan", "celeba_64"), ("progan", "celeba_128")} <= found


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recipe_runs_one_batch(recipe, tmp_path, monkeypatch, request):
    config = yaml.safe_load(recipe.read_text())
    assert config["trainer"]["default_root_dir"] == f"runs/{recipe.parent.name}/{recipe.stem}"
    if "FashionMNIST" in config["data"]["class_path"] and not FASHION_MNIST_DEBIAN.is_dir():
        pytest.skip("needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist); CI installs it")
    overrides = []
    if "CIFAR10" in config["data"]["class_path"]:  # no download in tests: tiny files in torchvision's layout
        request.getfixturevalue("no_md5_check")
        _write_fake_cifar10(tmp_path / "cifar", per_batch=8)
        overrides = [f"--data.init_args.data_dir={tmp_path / 'cifar'}", "--data.init_args.download=false",
                     "--data.init_args.val_size=8", "--data.init_args.batch_size=8", "--data.init_args.num_workers=0"]
    if "CelebA" in config["data"]["class_path"]:  # the same, in CelebA's layout
        request.getfixturevalue("no_celeba_md5_check")
        _write_fake_celeba(tmp_path / "celeba_root")
        overrides = [f"--data.init_args.data_dir={tmp_path / 'celeba_root'}", "--data.init_args.download=false",
                     "--data.init_args.batch_size=2", "--data.init_args.num_workers=0"]
    sizes = config["model"].get("init_args", {}).get("batch_sizes")
    if sizes and overrides:  # a batch size per resolution (ProGAN) that the tiny batches above can hold
        overrides.append(f"--model.init_args.batch_sizes={ {side: 2 for side in sizes} }")
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(recipe), "--trainer.fast_dev_run=true", *overrides]) == 0


def test_readme_first_example_runs(tmp_path, monkeypatch):
    """The README's first screen: the example runs as written (shipped weights, offline) and the .ckpt that
    `zoo fit` writes loads the way its comment says."""
    readme = (REPO / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["x"].shape == (64, 1, 28, 28)
    assert namespace["z"].shape == (64, 8)
    assert namespace["elbo"].shape == (64,) and torch.isfinite(namespace["elbo"]).all()
    assert not namespace["gan"].training and namespace["model"].training
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the CLI tests cover the logger; here only the example matters
    args = ["fit", "--config", str(REPO / "recipes/vae/digits.yaml"), "--trainer.max_epochs=1"]
    assert main(args) == 0
    (checkpoint,) = tmp_path.glob("runs/vae/digits/zoo/*/checkpoints/last.ckpt")
    vae = zoo.load(checkpoint)
    assert not vae.training and vae.sample(4).shape == (4, 1, 8, 8)


def test_a_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    recipe = str(REPO / "recipes/vae/digits.yaml")
    assert main(["fit", "--config", recipe, "--trainer.max_epochs=1", "--trainer.limit_train_batches=3"]) == 0
    (first,) = tmp_path.glob("runs/vae/digits/zoo/*/checkpoints/last.ckpt")
    resume = ["fit", "--config", recipe, "--trainer.max_epochs=2", "--trainer.limit_train_batches=3"]
    assert main([*resume, "--ckpt_path", str(first)]) == 0
    second = [p for p in tmp_path.glob("runs/vae/digits/zoo/*/checkpoints/last.ckpt") if p != first]
    assert len(second) == 1
    state = torch.load(second[0], weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 6  # continued: 3 + 3 optimizer steps

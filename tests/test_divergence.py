"""A diverging run stops: a non-finite loss ends training with one line naming the step, the term and the
likely cause; no checkpoint of non-finite weights is written or loaded; JSON the zoo writes stays valid."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.conftest import quiet_trainer
from zoo.cli import main
from zoo.errors import DivergenceError, WeightsError
from zoo.paths import write_json
from zoo.weights import save_safetensors

SHAPE = (1, 8, 8)
HUGE_LR = {"class_path": "torch.optim.SGD", "init_args": {"lr": 1e12}}


def data(n: int = 64) -> DataLoader:
    return DataLoader(TensorDataset(torch.rand(n, *SHAPE), torch.zeros(n, dtype=torch.long)), batch_size=16)


@pytest.mark.parametrize("name, kwargs, term", [
    ("vae", {"optimizer": HUGE_LR}, "train/loss"),
    ("dcgan", {"optimizers": {"discriminator": HUGE_LR, "generator": HUGE_LR}}, "train/"),
])
def test_a_non_finite_loss_stops_training_naming_step_and_cause(name, kwargs, term):
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=SHAPE, **kwargs)
    trainer = quiet_trainer(max_epochs=5)
    with pytest.raises(DivergenceError) as info:
        trainer.fit(model, data())
    message = str(info.value)
    assert "\n" not in message and message.startswith("training diverged at step ")
    assert term in message and "lr=1e+12" in message and "last.ckpt" in message
    assert trainer.current_epoch == 0  # stopped in the first epoch, not after all five


def test_no_checkpoint_of_non_finite_weights_is_written(tmp_path):
    model = zoo.create_model("ae", in_shape=SHAPE, latent_dim=2)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, data())
    trainer.save_checkpoint(tmp_path / "good.ckpt")
    with torch.no_grad():
        model.decoder.net[0].weight[0, 0] = float("nan")
    with pytest.raises(DivergenceError, match=r"decoder.net.0.weight \(and 0 more tensors\) are not finite; not saved"):
        trainer.save_checkpoint(tmp_path / "bad.ckpt")
    assert not (tmp_path / "bad.ckpt").exists()
    assert zoo.load(tmp_path / "good.ckpt").decoder.net[0].weight.isfinite().all()


def test_loading_non_finite_weights_is_an_error(tmp_path):
    model = zoo.create_model("vae", in_shape=SHAPE, latent_dim=2)
    with torch.no_grad():
        model.encoder.net[0].bias.fill_(float("inf"))
    save_safetensors(model, tmp_path / "diverged.safetensors")
    with pytest.raises(WeightsError, match=r"holds non-finite weights \(encoder.net.0.bias and 0 more\)"):
        zoo.load(tmp_path / "diverged.safetensors")


def test_the_cli_exits_1_with_one_line_and_the_run_keeps_no_diverged_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    code = main(["fit", "--config", str(zoo.__path__[0] + "/../recipes/vae/digits.yaml"), "--trainer.max_epochs=3",
                 "--model.init_args.optimizer.init_args.lr=1e12"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("zoo: error:")]
    assert code == 1 and len(err) == 1 and "training diverged at step" in err[0]
    for checkpoint in tmp_path.rglob("*.ckpt"):
        zoo.load(checkpoint)  # any checkpoint left holds finite weights (refused otherwise)
    for path in tmp_path.rglob("*.json"):
        json.loads(path.read_text())


def test_json_files_are_valid_with_non_finite_numbers(tmp_path):
    write_json(tmp_path / "x.json", {"fid": float("nan"), "curve": [1.0, float("inf")], "n": 3})
    assert json.loads((tmp_path / "x.json").read_text()) == {"fid": None, "curve": [1.0, None], "n": 3}
    assert not list(tmp_path.glob(".*tmp"))

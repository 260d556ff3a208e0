"""The speed switches every method has: ``channels_last`` and ``compile``.

Both must leave the model's state (its state_dict keys, so checkpoints and safetensors files) as it is
without them, and compute the same thing. The fast tests compile with torch.compile's ``eager`` backend
(the wiring: which nets, keys, checkpoints); the inductor ones, which generate and build C++ on CPU, are slow.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.conftest import quiet_trainer
from zoo.weights import load_safetensors, save_safetensors

SHAPE = (1, 8, 8)
TINY_NETS = {  # small nets, so two steps take milliseconds
    "ae_conv": {
        "encoder": {"class_path": "zoo.nets.ConvEncoder", "init_args": {"width": 8}},
        "decoder": {"class_path": "zoo.nets.ConvDecoder", "init_args": {"width": 8}},
    },
    "dcgan": {
        "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 8}},
        "discriminator": {"class_path": "zoo.nets.DCGANDiscriminator", "init_args": {"width": 8}},
    },
    "wgan_gp": {
        "n_critic": 1,  # a generator step within the two batches
        "generator": {"class_path": "zoo.nets.DCGANGenerator", "init_args": {"width": 8}},
        "discriminator": {"class_path": "zoo.nets.DCGANDiscriminator", "init_args": {"width": 8, "norm": "layer"}},
    },
}
METHODS = ["ae_conv", "dcgan"]  # one of each family


def build(name: str, **switches: bool) -> nn.Module:
    torch.manual_seed(0)
    return zoo.create_model(name, in_shape=SHAPE, **TINY_NETS[name], **switches)


def fit(model: nn.Module, *, epochs: int = 1, ckpt_path: Path | None = None):
    """Epochs of two training batches of (x, y), as datamodules yield them."""
    x = torch.rand(16, *SHAPE, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(16, dtype=torch.long)
    trainer = quiet_trainer(max_epochs=epochs, log_every_n_steps=1)  # the losses are compared
    torch.manual_seed(2)  # the noise stream: the same for every model of a comparison
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=8), ckpt_path=ckpt_path)
    return trainer


def losses(trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.endswith("loss")}


@pytest.fixture
def eager_compile(monkeypatch: pytest.MonkeyPatch) -> list[nn.Module]:
    """torch.compile with the ``eager`` backend (TorchDynamo traces, no code generation); records the
    modules whose ``__call__`` was compiled (nn.Module.compile compiles the bound ``_call_impl``)."""
    compiled: list[nn.Module] = []
    compile_ = torch.compile

    def recording_compile(fn, *args, **kwargs):
        compiled.append(fn.__self__)
        return compile_(fn, *args, **{**kwargs, "backend": "eager"})

    monkeypatch.setattr(torch, "compile", recording_compile)
    return compiled


def test_switches_are_hyperparameters_off_by_default():
    for name in zoo.list_models():
        model = zoo.create_model(name)
        assert model.hparams["channels_last"] is False and model.hparams["compile"] is False, name
    model = build("dcgan", channels_last=True, compile=True)
    assert model.hparams["channels_last"] is True and model.hparams["compile"] is True


@pytest.mark.parametrize("name", METHODS)
def test_channels_last_trains_the_same_in_nhwc(name: str):
    plain, nhwc = build(name), build(name, channels_last=True)
    seen = []  # whether each batch reaching the first conv is channels-last
    first_conv = next(m for m in nhwc.modules() if isinstance(m, nn.Conv2d))
    first_conv.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(
        memory_format=torch.channels_last)))
    plain_trainer, nhwc_trainer = fit(plain), fit(nhwc)

    # the switch did act: the 4-D weights and the batches reaching the convs are channels-last
    convs = [m for m in nhwc.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    assert seen and all(seen), seen
    # ... without changing the state's keys, nor (beyond float rounding of other conv kernels) the losses
    assert list(nhwc.state_dict()) == list(plain.state_dict())
    plain_losses, nhwc_losses = losses(plain_trainer), losses(nhwc_trainer)
    assert plain_losses.keys() == nhwc_losses.keys() and plain_losses
    for key, value in plain_losses.items():
        torch.testing.assert_close(nhwc_losses[key], value, rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("switch", ["channels_last", "compile"])
def test_checkpoints_load_with_and_without_the_switch(name: str, switch: str, tmp_path: Path, eager_compile):
    switched = build(name, **{switch: True})
    trainer = fit(switched)
    if switch == "compile":
        assert eager_compile, "compile=True compiled nothing"
    assert not any("_orig_mod" in key for key in switched.state_dict())
    trainer.save_checkpoint(tmp_path / "switched.ckpt")
    state = {k: v.clone() for k, v in switched.state_dict().items()}

    # a checkpoint written with the switch, into a model without it (strict: the same keys)
    checkpoint = torch.load(tmp_path / "switched.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"][switch] is True
    plain = build(name)
    plain.load_state_dict(checkpoint["state_dict"])
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=key)
    loaded = type(plain).load_from_checkpoint(tmp_path / "switched.ckpt", **{switch: False})
    assert list(loaded.state_dict()) == list(state)

    # and back: a run without the switch resumed by a model with it (the Trainer sets the switch up, then
    # restores the checkpoint into it) trains on
    fit(build(name)).save_checkpoint(tmp_path / "plain.ckpt")
    resumed = build(name, **{switch: True})
    trainer = fit(resumed, epochs=2, ckpt_path=tmp_path / "plain.ckpt")
    assert trainer.current_epoch == 2 and all(torch.isfinite(v).all() for v in resumed.state_dict().values())

    # safetensors (zoo.weights): contiguous copies on save, the same keys on load
    save_safetensors(switched, tmp_path / "switched.safetensors")
    from_file = load_safetensors(tmp_path / "switched.safetensors")
    for key, value in from_file.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=key)


def test_compile_compiles_the_nets_in_place(eager_compile):
    model = build("dcgan", compile=True)
    keys = list(model.state_dict())
    fit(model)
    assert {id(m) for m in eager_compile} == {id(model.generator), id(model.discriminator)}
    assert list(model.state_dict()) == keys
    # a second fit (resuming, or fit after fit) does not compile again
    fit(model)
    assert len(eager_compile) == 2


def test_wgan_gp_compiles_the_generator_only(eager_compile):
    """The gradient penalty backpropagates through the critic's input gradient, which compiled code (aot_autograd)
    cannot: the critic stays eager (see test_compile_trains_with_inductor for the real compiler)."""
    model = build("wgan_gp", compile=True)
    fit(model)
    assert [id(m) for m in eager_compile] == [id(model.generator)]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("clang++") is None,
                    reason="torch.compile's inductor needs a C++ compiler on CPU")
@pytest.mark.parametrize("name", ["ae_conv", "dcgan", "wgan_gp"])
def test_compile_trains_with_inductor(name: str):
    """The real compiler (about 10-20 s per method on 2 busy cores): the same losses as eager code."""
    eager_trainer, compiled = fit(build(name)), build(name, compile=True)
    compiled_trainer = fit(compiled)
    assert not any("_orig_mod" in key for key in compiled.state_dict())
    eager_losses, compiled_losses = losses(eager_trainer), losses(compiled_trainer)
    assert eager_losses.keys() == compiled_losses.keys() and eager_losses
    for key, value in eager_losses.items():
        torch.testing.assert_close(compiled_losses[key], value, rtol=1e-4, atol=1e-5, msg=key)

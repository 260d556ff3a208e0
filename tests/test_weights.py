"""Pretrained weights: safetensors roundtrip, sha256 checks, the Weights record, downloads, zoo.load."""
import functools
import json
import shutil
import struct
import urllib.error

import lightning as L
import pytest
import torch
from safetensors import safe_open
from torch.utils.data import DataLoader, TensorDataset

import zoo
import zoo.weights
from zoo.errors import UnknownModelError, WeightsError
from zoo.factories import import_class
from zoo.nets import ConvEncoder
from zoo.registry import create_model
from zoo.weights import (
    META_CLASS_PATH,
    META_HPARAMS,
    Weights,
    get_weights,
    list_pretrained,
    load_safetensors,
    register_weights,
    save_safetensors,
    sha256_of,
)

SHAPE = (1, 8, 8)
META = {"dataset": "digits", "recipe": "recipes/vae/digits.yaml", "metrics": {"nll": 1.0}, "num_params": 0}
URL = "https://example.invalid/zoo/vae_digits.safetensors"


def tiny_vae(seed: int = 0):
    torch.manual_seed(seed)
    return create_model("vae", in_shape=SHAPE, latent_dim=4)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sb[key], sa[key], rtol=0, atol=0, msg=key)


def samples(model, seed: int = 0) -> torch.Tensor:
    return model.sample(8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def saved(tmp_path):
    """(model, path, sha256) of a tiny VAE written as safetensors."""
    model = tiny_vae()
    path = tmp_path / "vae.safetensors"
    return model, path, save_safetensors(model, path)


@pytest.fixture
def pretrained(monkeypatch):
    """An empty registry of weights (the shipped ones, registered on first lookup, left out)."""
    registry: dict = {}
    monkeypatch.setattr(zoo.weights, "_pretrained", registry)
    monkeypatch.setattr(zoo.weights, "_shipped_registered", True)
    return registry


def flip_data_byte(path) -> None:
    """Flip one byte in the middle of the tensor data (after the 8-byte length and the JSON header)."""
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    start = 8 + header_len
    middle = start + (len(data) - start) // 2
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data))


# -- safetensors files -----------------------------------------------------------------------------
def test_safetensors_roundtrip(saved):
    model, path, sha = saved
    assert sha == sha256_of(path) and len(sha) == 64
    loaded = load_safetensors(path, sha256=sha)
    assert type(loaded) is type(model)
    assert not loaded.training
    assert dict(loaded.hparams) == dict(model.hparams)
    assert loaded.latent_dim == 4 and loaded.in_shape == SHAPE
    assert_same_weights(model, loaded)
    model.eval()
    torch.testing.assert_close(samples(loaded), samples(model))
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    assert metadata[META_CLASS_PATH] == "zoo.methods.vae.vae.VAE"
    assert json.loads(metadata[META_HPARAMS])["latent_dim"] == 4
    assert not list(path.parent.glob("*.tmp"))  # the temporary file was renamed, not left behind


def test_flipped_byte_is_refused_by_sha256(saved, tmp_path):
    _, path, sha = saved
    flip_data_byte(path)
    assert sha256_of(path) != sha
    with pytest.raises(WeightsError, match="sha256"):
        load_safetensors(path, sha256=sha)
    weights = Weights(name="vae.tampered", file=str(path.resolve()), sha256=sha, meta=META)
    with pytest.raises(WeightsError, match="sha256") as info:
        weights.load()
    assert sha in str(info.value)
    assert str(info.value).endswith("reinstall zoo")  # a shipped file cannot be downloaded again


def test_a_file_verifies_its_own_tensor_data(saved):
    """Without an outside hash too: the file records the sha256 of its tensor data (a flipped byte once loaded
    silently, changing one weight by 4.9e-4)."""
    _, path, _ = saved
    with safe_open(str(path), framework="pt") as f:
        assert len(f.metadata()["zoo.tensors_sha256"]) == 64
    load_safetensors(path)
    flip_data_byte(path)
    with pytest.raises(WeightsError, match="do not match the sha256 recorded in the file: it was changed"):
        load_safetensors(path)


@pytest.mark.parametrize("with_hash", [True, False])
def test_truncated_file_is_refused(saved, with_hash):
    _, path, sha = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="sha256" if with_hash else "truncated"):
        load_safetensors(path, sha256=sha if with_hash else None)


def test_a_file_without_zoo_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsError, match="zoo metadata"):
        load_safetensors(path)


# -- the Weights record ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"file": "a.safetensors", "sha256": "ABC"}, "sha256"),
        ({"file": "a.safetensors", "sha256": "A" * 64}, "sha256"),  # upper case is not the published form
        ({"file": "a.safetensors", "sha256": "g" * 64}, "sha256"),
        ({"file": "a.safetensors", "url": URL, "sha256": "0" * 64}, "exactly one"),
        ({"sha256": "0" * 64}, "exactly one"),
        ({"file": "a.safetensors", "sha256": "0" * 64, "meta": {"dataset": "digits"}}, "num_params"),
    ],
)
def test_weights_validation(kwargs, needle):
    kwargs = {"meta": META, **kwargs}
    with pytest.raises(WeightsError, match=needle):
        Weights(name="vae.bad", **kwargs)


def test_shipped_file_that_is_missing(tmp_path):
    weights = Weights(name="vae.gone", file=str(tmp_path / "gone.safetensors"), sha256="0" * 64, meta=META)
    with pytest.raises(WeightsError, match="missing"):
        weights.path()


# -- downloads (no network: torch.hub's downloader is replaced by a copy) ----------------------------
def fake_download(source, calls):
    def download_url_to_file(url, dst, *args, **kwargs):
        calls.append(url)
        shutil.copyfile(source, dst)

    return download_url_to_file


def test_download_is_cached_verified_and_loads(saved, tmp_path, monkeypatch):
    model, path, sha = saved
    home = tmp_path / "home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    calls: list[str] = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download(path, calls))
    weights = Weights(name="vae.remote", url=URL, sha256=sha, meta=META)

    with pytest.raises(WeightsError, match="not in"):
        weights.path(download=False)
    assert calls == []

    local = weights.path()
    assert calls == [URL]
    assert local.parent == home / "weights"
    assert local.name.endswith("vae_digits.safetensors")
    assert sha256_of(local) == sha
    assert list((home / "weights").iterdir()) == [local]  # no .part file left

    loaded = weights.load()
    assert calls == [URL]  # the second use reads the cache
    assert_same_weights(model, loaded)


def test_download_with_wrong_hash_is_not_kept(saved, tmp_path, monkeypatch):
    _, path, sha = saved
    home = tmp_path / "home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download(path, []))
    wrong = "0" * 64
    weights = Weights(name="vae.remote", url=URL, sha256=wrong, meta=META)
    with pytest.raises(WeightsError, match="sha256"):
        weights.path()
    assert not any(p.is_file() for p in home.rglob("*"))


def test_failed_download_names_the_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("ZOO_HOME", str(home))

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    sha = "ab" * 32
    weights = Weights(name="vae.remote", url=URL, sha256=sha, meta=META)
    with pytest.raises(WeightsError) as info:
        weights.path()
    message = str(info.value)
    assert URL in message
    expected = home / "weights" / f"{sha[:12]}-vae_digits.safetensors"
    assert str(expected) in message
    assert not any(p.is_file() for p in home.rglob("*"))


# -- the pretrained registry -----------------------------------------------------------------------
def test_register_list_get_weights(pretrained, saved):
    model, path, sha = saved
    entry = register_weights(Weights(name="vae.digits", file=str(path), sha256=sha, meta=META))
    register_weights(Weights(name="ae.digits", file=str(path), sha256=sha, meta=META))
    assert list_pretrained() == ["ae.digits", "vae.digits"]
    assert list_pretrained("vae.*") == ["vae.digits"]
    assert zoo.list_pretrained() == ["ae.digits", "vae.digits"]
    assert get_weights("vae.digits") is entry

    with pytest.raises(WeightsError, match="already registered"):
        register_weights(Weights(name="vae.digits", file=str(path), sha256=sha, meta=META))

    assert_same_weights(model, zoo.load("vae.digits"))
    with pytest.raises(UnknownModelError, match="did you mean 'vae.digits'"):
        zoo.load("vae.digitz")


def test_loading_a_safetensors_path(saved):
    model, path, _ = saved
    assert_same_weights(model, zoo.load(path))
    assert_same_weights(model, zoo.load(str(path)))
    with pytest.raises(WeightsError, match="no such file"):
        zoo.load(path.with_name("other.safetensors"))


# -- Lightning checkpoints -------------------------------------------------------------------------
def test_load_a_lightning_checkpoint(tmp_path):
    L.seed_everything(0)
    model = tiny_vae()
    x = torch.rand(32, *SHAPE, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(x, torch.zeros(32, dtype=torch.long)), batch_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = L.Trainer(
        max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(model, loader)
    assert trainer.global_step == 2
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())  # it trained
    path = tmp_path / "tiny.ckpt"
    trainer.save_checkpoint(path)

    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["zoo"]["class_path"] == "zoo.methods.vae.vae.VAE"

    loaded = zoo.load(path)
    assert type(loaded) is type(model)
    assert not loaded.training
    assert loaded.latent_dim == 4 and loaded.in_shape == SHAPE
    assert_same_weights(model, loaded)
    model.eval()
    torch.testing.assert_close(samples(loaded), samples(model))


def test_missing_and_garbage_checkpoints(tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        zoo.load(tmp_path / "nope.ckpt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(WeightsError, match="garbage.ckpt"):
        zoo.load(garbage)
    not_lightning = tmp_path / "tensor.ckpt"
    torch.save(torch.zeros(3), not_lightning)  # a readable torch file that is no checkpoint
    with pytest.raises(WeightsError, match="not a Lightning checkpoint"):
        zoo.load(not_lightning)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(3)}, "hyper_parameters": {"lr": 0.1}}, foreign)
    with pytest.raises(WeightsError, match="not written by a zoo model"):
        zoo.load(foreign)


def test_dae_keeps_noise_nets_and_optimizer(tmp_path):
    torch.manual_seed(0)
    model = create_model(
        "dae_conv", in_shape=SHAPE, latent_dim=4, noise="gaussian", noise_level=0.3,
        optimizer=functools.partial(torch.optim.RMSprop, lr=1e-4),
    )
    path = tmp_path / "dae.safetensors"
    loaded = load_safetensors(path, sha256=save_safetensors(model, path))
    assert type(loaded).__name__ == "DenoisingAutoencoder"
    assert loaded.noise == "gaussian"
    assert loaded.noise_level == 0.3
    assert import_class(loaded.hparams["encoder"]["class_path"]) is ConvEncoder
    assert type(loaded.encoder) is ConvEncoder
    assert loaded.optimizer_spec == {"class_path": "torch.optim.rmsprop.RMSprop", "init_args": {"lr": 1e-4}}
    optimizer = loaded.configure_optimizers()
    assert isinstance(optimizer, torch.optim.RMSprop)
    assert optimizer.defaults["lr"] == 1e-4
    assert_same_weights(model, loaded)

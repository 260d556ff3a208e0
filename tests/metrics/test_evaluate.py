"""`zoo evaluate`: a checkpoint's numbers and their whole protocol in JSON; bad input is one line, exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
import zoo.metrics.evaluate as evaluate_module
from tests.conftest import quiet_trainer
from zoo.cli import main
from zoo.data import DigitsDataModule
from zoo.metrics.extractors import EXTRACTORS
from zoo.metrics.inception import INCEPTION_FILE, INCEPTION_URL
from zoo.weights import save_safetensors

REPO = Path(__file__).resolve().parents[2]
PROTOCOL_FIELDS = {"split", "n_real", "n_fake", "extractor", "resize", "seed", "batch_size", "versions", "commit"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A VAE trained 2 epochs on digits, saved by a Trainer as a Lightning checkpoint."""
    torch.manual_seed(0)
    model = zoo.create_model("vae", in_shape=(1, 8, 8), latent_dim=4)
    trainer = quiet_trainer(max_epochs=2)
    trainer.fit(model, DigitsDataModule(batch_size=100))
    path = tmp_path_factory.mktemp("ckpt") / "vae.ckpt"
    trainer.save_checkpoint(path)
    return path


def evaluate_args(checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return ["evaluate", str(checkpoint), "--data", "digits", "--n-fake", "1000", "--out", str(out), *extra]


def test_writes_every_number_with_its_protocol(checkpoint, tmp_path, capsys):
    out = tmp_path / "results.json"
    args = evaluate_args(checkpoint, out, "--metrics", "fid,kid,is,pr,nll", "--nll-k", "20", "--n-nll", "50")
    assert main(args) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    metrics, protocol = result["metrics"], result["protocol"]
    assert set(metrics) == {
        "fid_digits_cls", "kid_digits_cls", "kid_digits_cls_std", "is_digits_cls", "is_digits_cls_std",
        "precision_digits_cls", "recall_digits_cls", "nll", "nll_std_err", "nll_bpd",
    }
    assert PROTOCOL_FIELDS <= set(protocol)
    assert protocol["split"] == "train" and protocol["n_real"] == 1437 and protocol["n_fake"] == 1000
    assert protocol["extractor"]["name"] == "digits_cls"
    assert protocol["extractor"]["sha256"] == EXTRACTORS["digits_cls"].sha256
    assert protocol["seed"] == 0 and protocol["batch_size"] == 256 and protocol["resize"].startswith("none")
    assert protocol["kid"]["subset_size"] == 1000
    assert protocol["nll"] == {**protocol["nll"], "split": "test", "n": 50, "k": 20, "num_dims": 64}
    assert set(protocol["versions"]) >= {"torch", "torchmetrics", "zoo"}
    assert protocol["commit"] is None or len(protocol["commit"]) == 40  # this checkout's HEAD
    assert 0 < metrics["nll"] < 100 and metrics["nll_bpd"] == pytest.approx(metrics["nll"] / (64 * 0.6931471805599453))
    assert 0 <= metrics["precision_digits_cls"] <= 1 and 1 <= metrics["is_digits_cls"] <= 10
    assert result["model_class"] == "zoo.methods.vae.vae.VAE"
    for name in ("fid_digits_cls", "nll"):
        assert name in printed  # the table
    assert f"wrote {out}" in printed


def test_real_features_are_cached_and_reused(checkpoint, tmp_path, isolated_zoo_home, monkeypatch):
    first = tmp_path / "first.json"
    assert main(evaluate_args(checkpoint, first, "--n-real", "500")) == 0
    (cached,) = (isolated_zoo_home / "cache" / "real_features").glob("digits-train-digits_cls-*.safetensors")
    extracted = []
    batches = evaluate_module.batches

    def spy(dataset, batch_size, desc):  # records every pass over real images
        extracted.append(desc)
        return batches(dataset, batch_size, desc)

    monkeypatch.setattr(evaluate_module, "batches", spy)
    second = tmp_path / "second.json"
    assert main(evaluate_args(checkpoint, second, "--n-real", "500")) == 0
    assert extracted == []  # no real image went through the extractor again
    assert json.loads(second.read_text())["metrics"] == json.loads(first.read_text())["metrics"]
    assert main(evaluate_args(checkpoint, tmp_path / "third.json", "--n-real", "400")) == 0
    assert len(extracted) == 1  # another n_real is another cache entry
    assert cached.is_file()


def test_data_from_a_recipe(checkpoint, tmp_path):
    out = tmp_path / "r.json"
    args = ["evaluate", str(checkpoint), "--data", str(REPO / "recipes/vae/digits.yaml"), "--n-fake", "500",
            "--split", "test", "--out", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["data"]["class_path"] == "zoo.data.digits.DigitsDataModule"
    assert result["data"]["init_args"]["batch_size"] == 100  # the recipe's data section was used
    assert result["protocol"]["split"] == "test" and result["protocol"]["n_real"] == 360


def one_line_error(capsys, args: list[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_an_unknown_metric_lists_the_valid_ones(checkpoint, tmp_path, capsys):
    err = one_line_error(capsys, evaluate_args(checkpoint, tmp_path / "x.json", "--metrics", "fid,fdi"))
    assert "unknown metric 'fdi'" in err and "did you mean 'fid'" in err and "fid,kid,is,pr,nll" in err


def test_missing_inception_weights_offline_name_the_file_and_url(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ZOO_INCEPTION_WEIGHTS", raising=False)
    for extra in (["--no-download"], []):  # refused to download; allowed but offline (the suite blocks sockets)
        err = one_line_error(capsys, evaluate_args(checkpoint, tmp_path / "x.json", "--extractor", "inception", *extra))
        assert INCEPTION_FILE in err and INCEPTION_URL in err and "--inception-weights" in err
    err = one_line_error(
        capsys,
        evaluate_args(checkpoint, tmp_path / "x.json", "--extractor", "inception", "--inception-weights", "/nope.pth"),
    )
    assert "/nope.pth" in err and INCEPTION_URL in err


def test_n_fake_below_the_kid_subset_size(checkpoint, tmp_path, capsys):
    args = evaluate_args(checkpoint, tmp_path / "x.json", "--metrics", "kid")
    args[args.index("--n-fake") + 1] = "999"
    err = one_line_error(capsys, args)
    assert "--n-fake 999 is smaller than KID's subset size 1000" in err and "--kid-subset-size <= 999" in err


def test_nll_for_a_model_without_log_likelihood(tmp_path, capsys):
    autoencoder = tmp_path / "ae.safetensors"
    save_safetensors(zoo.create_model("ae", in_shape=(1, 8, 8), latent_dim=4), autoencoder)
    err = one_line_error(capsys, evaluate_args(autoencoder, tmp_path / "x.json", "--metrics", "fid,nll"))
    assert "(Autoencoder) cannot compute nll (drop it from --metrics): it has no 'likelihood' capability" in err


def test_other_bad_inputs(checkpoint, tmp_path, capsys):
    err = one_line_error(capsys, ["evaluate", str(checkpoint), "--data", "digit", "--out", str(tmp_path / "x.json")])
    assert "--data 'digit'" in err and "did you mean 'digits'" in err
    err = one_line_error(capsys, evaluate_args(checkpoint, tmp_path / "x.json", "--extractor", "fmnist_cls"))
    assert "reads (1, 28, 28) images but the data are (1, 8, 8)" in err
    args = ["evaluate", str(checkpoint), "--data", "fashion_mnist", "--out", str(tmp_path / "x.json")]
    err = one_line_error(capsys, args)
    assert "the model makes (1, 8, 8) images but --data fashion_mnist yields (1, 28, 28)" in err


@pytest.mark.parametrize("levels, data, kind", [(2, "recipes/pixelcnn/digits.yaml", "binarized"), (17, "digits", "n-level")])
def test_nll_names_the_discrete_data_it_is_a_log_probability_of(levels, data, kind, tmp_path):
    """A binary model is scored on the recipe's static binarization (its sha256 recorded), a 17-level one on the
    digits' own grey levels; either way the number is the exact -log p of those images, recomputed here."""
    torch.manual_seed(0)
    model = zoo.create_model("pixelcnn", in_shape=(1, 8, 8), levels=levels, h=4, n_blocks=1, output_hidden=4).eval()
    path = tmp_path / "pixelcnn.safetensors"
    save_safetensors(model, path)
    result = evaluate_module.evaluate(str(path), data=str(REPO / data) if data.endswith(".yaml") else data,
                                      metrics="nll")
    nll = result["protocol"]["nll"]
    assert nll["data"]["kind"] == kind and nll["kind"] == "exact_discrete" and nll["k"] is None
    dm = DigitsDataModule()
    if kind == "binarized":
        images, sha256 = dm.static_binarization("test")
        assert nll["data"]["sha256"] == sha256
        x = torch.stack([images[i][0] for i in range(len(images))])
    else:
        assert nll["data"]["levels"] == 17
        dm.setup("test")
        x = torch.cat([b[0] for b in dm.test_dataloader()])
    torch.testing.assert_close(result["metrics"]["nll"], -model.log_likelihood(x).double().mean().item(),
                               rtol=1e-5, atol=1e-4)


def test_nll_of_a_class_conditional_model_is_given_each_image_s_label(tmp_path):
    """A class-conditional Gated PixelCNN is scored on log p(x | y), y each test image's own label (recorded in
    the protocol); recomputed here, and different from the same images scored as one class."""
    torch.manual_seed(0)
    model = zoo.create_model("gated_pixelcnn", in_shape=(1, 8, 8), levels=17, h=4, n_layers=2, kernel_size=3,
                             output_hidden=4, conditional=True, num_classes=10).eval()
    with torch.no_grad():  # class biases large enough that the label moves the likelihood
        for layer in model.net.layers:
            layer.vertical_class.weight.normal_(0, 1)
            layer.horizontal_class.weight.normal_(0, 1)
    path = tmp_path / "gated.safetensors"
    save_safetensors(model, path)
    result = evaluate_module.evaluate(str(path), data="digits", metrics="nll", n_nll=64)
    assert result["protocol"]["nll"]["given"] == "each image's own class label: log p(x | y)"
    dm = DigitsDataModule()
    dm.setup("test")
    x, y = (torch.cat(parts) for parts in zip(*dm.test_dataloader()))
    expected = -model.log_likelihood(x[:64], y=y[:64]).double().mean().item()
    torch.testing.assert_close(result["metrics"]["nll"], expected, rtol=1e-5, atol=1e-4)
    as_one_class = -model.log_likelihood(x[:64], y=0).double().mean().item()
    assert abs(as_one_class - expected) > 1.0

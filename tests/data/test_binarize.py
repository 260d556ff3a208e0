"""Binarized data (zoo/data/binarize.py): dynamic train bits re-drawn per epoch and replayed on resume, static
val/test bits fixed by seed and hash, one-line errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo.data import DigitsDataModule, FashionMNISTDataModule
from zoo.data.binarize import STATIC_TEST_SHA256, binarize_static, binary_sha256
from zoo.errors import ConfigError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _digits(**kwargs) -> DigitsDataModule:
    dm = DigitsDataModule(binarize="dynamic", **kwargs)
    dm.setup("fit")
    dm.setup("test")
    return dm


def test_static_binarization_is_bernoulli_of_the_intensity():
    x = torch.full((4000, 1, 5, 5), 0.25)
    bits = binarize_static(x)
    assert bits.dtype == torch.uint8 and set(bits.unique().tolist()) <= {0, 255}
    # 100000 draws of Bernoulli(0.25): standard error 0.0014, so 0.01 is a 7-sigma margin
    assert abs((bits == 255).float().mean().item() - 0.25) < 0.01
    assert torch.equal(binarize_static(x), bits)  # seeded: the same bits every time
    assert not torch.equal(binarize_static(x, seed=1), bits)
    # black and white pixels stay as they are
    assert torch.equal(binarize_static(torch.tensor([[[[0, 255]]]], dtype=torch.uint8)),
                       torch.tensor([[[[0, 255]]]], dtype=torch.uint8))


def test_binary_sha256_reads_bits_not_storage():
    bits = torch.tensor([[[[0, 1], [1, 0]]]])
    assert binary_sha256(bits.to(torch.uint8) * 255) == binary_sha256(bits.float())
    assert binary_sha256(bits.float()) != binary_sha256(1 - bits.float())


def test_digits_static_test_split_matches_its_recorded_sha256():
    dm = _digits()
    test, sha = dm.static_binarization("test")
    assert sha == STATIC_TEST_SHA256["DigitsDataModule"]
    x, _ = next(iter(dm.test_dataloader()))
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert binary_sha256(torch.cat([b[0] for b in dm.test_dataloader()])) == sha
    # independent of the run's seed
    assert _digits(seed=3).static_binarization("test")[1] == sha


def test_digits_val_split_is_static_and_train_is_redrawn_each_epoch():
    dm = _digits(batch_size=64)
    val = [b[0] for b in dm.val_dataloader()]
    assert torch.equal(torch.cat(val), torch.cat([b[0] for b in dm.val_dataloader()]))
    assert set(torch.cat(val).unique().tolist()) == {0.0, 1.0}
    loader = dm.train_dataloader()
    loader.set_epoch(0)
    epoch0 = next(iter(loader))[0]
    loader.set_epoch(1)
    epoch1 = next(iter(loader))[0]
    assert set(epoch0.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(epoch0, epoch1)
    # a resumed run (a fresh loader at the same epoch) replays the same bits
    again = _digits(batch_size=64).train_dataloader()
    again.set_epoch(1)
    assert torch.equal(next(iter(again))[0], epoch1)


def test_dynamic_bits_follow_the_intensities():
    dm = _digits(batch_size=1000, val_size=17)
    grey = DigitsDataModule(batch_size=1000, val_size=17)
    grey.setup("fit")
    loader, grey_loader = dm.train_dataloader(), grey.train_dataloader()
    bits = torch.stack([next(iter(loader))[0] for _ in range(20)])  # epochs 0..19
    means = torch.stack([next(iter(grey_loader))[0] for _ in range(20)])  # same orders (same seed, epochs)
    # the mean over 20 draws of every pixel is its intensity within 20-draw noise (sd <= 0.11): 0.05 on average
    assert (bits.mean(0) - means.mean(0)).abs().mean().item() < 0.05


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="needs the dataset-fashion-mnist package")
def test_fashion_mnist_static_test_split_matches_its_recorded_sha256(tmp_path):
    dm = FashionMNISTDataModule(data_dir=str(tmp_path), download=False, binarize="dynamic")
    dm.prepare_data()
    assert dm.static_binarization("test")[1] == STATIC_TEST_SHA256["FashionMNISTDataModule"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"binarize": "static"}, "binarize must be null (grey levels) or 'dynamic', got 'static'"),
        ({"binarize": "dynamic", "in_memory": False}, "binarize='dynamic' needs the in-memory path"),
    ],
)
def test_bad_binarize_is_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=None) as error:
        DigitsDataModule(**kwargs)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)

"""DataModules: splits, batch contracts, offline discovery and errors. Nothing here touches the network.

Torchvision datasets are exercised on tiny files written in their real on-disk layouts; Fashion-MNIST
also on the real Debian files when the package ``dataset-fashion-mnist`` is installed.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.transforms import v2

import zoo.data.torchvision_datasets as tv_data
from zoo.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    SVHNDataModule,
    zoo_home,
)
from zoo.errors import ConfigError, DatasetNotFoundError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _ready(dm, *stages: str):
    dm.prepare_data()
    for stage in stages:
        dm.setup(stage)
    return dm


def _all_images(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(xs), torch.tensor(ys)


def _check_batch(batch, shape: tuple[int, int, int], n: int) -> None:
    x, y = batch
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert tuple(x.shape) == (n, *shape) and tuple(y.shape) == (n,)
    assert x.min() >= 0.0 and x.max() <= 1.0


# --- idx (MNIST-format) files -----------------------------------------------------------------------------


def _write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> None:
    """Write ``array`` (uint8) as an idx file: magic 2051 (images, 3 dims) or 2049 (labels), big-endian."""
    magic = {3: 2051, 1: 2049}[array.ndim]
    payload = struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _write_fake_mnist(folder: Path, *, n_train: int = 20, n_test: int = 10, gz: bool = False):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        _write_idx(folder / (f"{name}.gz" if gz else name), array, gz=gz)
    return arrays


# --- digits -----------------------------------------------------------------------------------------------


def test_digits_shape_is_known_before_setup():
    dm = DigitsDataModule()
    assert dm.shape == (1, 8, 8)
    assert dm.num_classes == 10
    assert DigitsDataModule(size=16).shape == (1, 16, 16)


def test_digits_batches_splits_and_grey_levels():
    dm = _ready(DigitsDataModule(batch_size=100), "fit", "test")
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (1257, 180, 360)

    batches = list(dm.train_dataloader())
    assert len(batches) == 1257 // 100  # last partial batch dropped
    for batch in batches:
        _check_batch(batch, (1, 8, 8), 100)
    val_sizes = [len(y) for _, y in dm.val_dataloader()]
    assert val_sizes == [100, 80]  # nothing dropped, in order
    _check_batch(next(iter(dm.test_dataloader())), (1, 8, 8), 100)

    x, y = _all_images(dm.train_dataset)
    levels = x * 16
    torch.testing.assert_close(levels, levels.round(), rtol=0, atol=1e-5)
    assert torch.unique(levels.round()).tolist() == list(range(17))
    assert set(y.tolist()) == set(range(10))


def test_digits_test_split_is_fixed_and_val_split_follows_seed():
    a = _ready(DigitsDataModule(seed=0), "fit", "test")
    b = _ready(DigitsDataModule(seed=1), "fit", "test")
    torch.testing.assert_close(_all_images(a.test_dataset), _all_images(b.test_dataset), rtol=0, atol=0)
    assert not torch.equal(_all_images(a.val_dataset)[0], _all_images(b.val_dataset)[0])
    # the same seed reproduces the same split
    c = _ready(DigitsDataModule(seed=0), "fit")
    torch.testing.assert_close(_all_images(a.val_dataset), _all_images(c.val_dataset), rtol=0, atol=0)
    # val and train never share an image index
    assert not set(a.val_dataset.indices) & set(a.train_dataset.indices)


def test_digits_train_loader_shuffles_reproducibly_by_seed():
    first = [
        next(iter(_ready(DigitsDataModule(batch_size=32), "fit").train_dataloader()))[1] for _ in range(2)
    ]
    torch.testing.assert_close(first[0], first[1], rtol=0, atol=0)
    dm = _ready(DigitsDataModule(batch_size=32), "fit")
    in_order = torch.stack([dm.train_dataset[i][1] for i in range(32)])
    assert not torch.equal(first[0], in_order)


def test_digits_resize():
    dm = _ready(DigitsDataModule(size=16, batch_size=64), "fit")
    x, _ = next(iter(dm.train_dataloader()))
    assert tuple(x.shape[1:]) == dm.shape == (1, 16, 16)
    assert x.min() >= 0.0 and x.max() <= 1.0
    # the same images, in the same order, as torchvision's antialiased bilinear resize of the natives
    native = DigitsDataModule().load_test().tensors[0]
    for size in (4, 16):
        resized = DigitsDataModule(size=size).load_test().tensors[0]
        expected = v2.functional.resize(native, [size, size], antialias=True).clamp(0, 1)
        torch.testing.assert_close(resized, expected)


# --- argument checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
        ({"size": 0}, "size must be an int >= 1, got 0"),
        ({"num_workers": -1}, "num_workers must be an int >= 0, got -1"),
        ({"val_size": 1437}, "val_size=1437"),
        ({"val_size": 1.0}, "got 1.0"),
        ({"val_size": 0}, "val_size must be an int >= 1, got 0"),
        ({"batch_size": 1400}, "batch_size=1400"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        DigitsDataModule(**kwargs)


def test_val_size_larger_than_a_small_train_split_is_refused_at_setup(tmp_path):
    _write_fake_mnist(tmp_path / "MNIST" / "raw", n_train=20)
    dm = MNISTDataModule(data_dir=str(tmp_path), download=False, val_size=25, batch_size=4)
    dm.prepare_data()
    with pytest.raises(ConfigError, match="val_size=25 .* has only 20"):
        dm.setup("fit")


def test_default_root_follows_zoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    assert zoo_home() == tmp_path
    assert MNISTDataModule(download=False).root == tmp_path / "data"
    assert MNISTDataModule(data_dir=str(tmp_path / "elsewhere")).root == tmp_path / "elsewhere"


# --- Fashion-MNIST ----------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(),
    reason=f"{DEBIAN_FASHION_MNIST} absent: install it with `apt-get install dataset-fashion-mnist`",
)
def test_fashion_mnist_reads_the_debian_files(tmp_path):
    dm = _ready(FashionMNISTDataModule(data_dir=str(tmp_path), download=False, batch_size=256), "fit", "test")
    assert dm.shape == (1, 28, 28)
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (55000, 5000, 10000)
    _check_batch(next(iter(dm.train_dataloader())), (1, 28, 28), 256)

    # The first test image and label, read independently of torchvision: 16- and 8-byte idx headers.
    with gzip.open(DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz") as f:
        first_label = f.read(9)[8]
    with gzip.open(DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz") as f:
        first_image = np.frombuffer(f.read(16 + 28 * 28)[16:], dtype=np.uint8).reshape(1, 28, 28)
    x, y = next(iter(dm.test_dataloader()))
    assert y[0].item() == first_label
    torch.testing.assert_close(x[0], torch.from_numpy(first_image.astype(np.float32) / 255))

    raw = tmp_path / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(tv_data._IDX_FILES)  # no temp files left behind


def test_fashion_mnist_flat_gz_folder_in_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(tv_data, "FASHION_MNIST_SYSTEM_DIRS", [])
    arrays = _write_fake_mnist(tmp_path, n_train=12, n_test=6, gz=True)
    dm = FashionMNISTDataModule(data_dir=str(tmp_path), download=False, val_size=2, batch_size=4)
    _ready(dm, "test")
    x, y = _all_images(dm.test_dataset)
    torch.testing.assert_close(x, torch.from_numpy(arrays["t10k-images-idx3-ubyte"][:, None] / 255).float())
    torch.testing.assert_close(y, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())


def test_fashion_mnist_interrupted_copy_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(tv_data, "FASHION_MNIST_SYSTEM_DIRS", [])
    _write_fake_mnist(tmp_path, gz=True)

    def copy_half_then_fail(src, dst):
        dst.write(src.read(10))
        raise KeyboardInterrupt

    monkeypatch.setattr(tv_data.shutil, "copyfileobj", copy_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        FashionMNISTDataModule(data_dir=str(tmp_path), download=False).prepare_data()
    assert list((tmp_path / "FashionMNIST" / "raw").iterdir()) == []


def _check_fashion_not_found(error: DatasetNotFoundError, searched: Path) -> None:
    message = str(error)
    assert "train-images-idx3-ubyte.gz" in message
    assert str(searched) in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_fashion_mnist_missing_offline_is_a_clear_error(tmp_path, monkeypatch):
    empty_system_dir = tmp_path / "system"
    empty_system_dir.mkdir()
    monkeypatch.setattr(tv_data, "FASHION_MNIST_SYSTEM_DIRS", [str(empty_system_dir)])
    dm = FashionMNISTDataModule(data_dir=str(tmp_path / "data"), download=False)
    with pytest.raises(DatasetNotFoundError) as info:
        dm.prepare_data()
    _check_fashion_not_found(info.value, empty_system_dir)
    assert str(tmp_path / "data" / "FashionMNIST" / "raw") in str(info.value)
    assert "download=False" in str(info.value)


def test_fashion_mnist_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    empty_system_dir = tmp_path / "system"
    empty_system_dir.mkdir()
    monkeypatch.setattr(tv_data, "FASHION_MNIST_SYSTEM_DIRS", [str(empty_system_dir)])
    calls = []

    def no_network(url, *args, **kwargs):  # what urllib raises on a machine without network
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", no_network)
    dm = FashionMNISTDataModule(data_dir=str(tmp_path / "data"), download=True)
    with pytest.raises(DatasetNotFoundError) as info:
        dm.prepare_data()
    assert calls, "the download path was not taken"
    _check_fashion_not_found(info.value, empty_system_dir)
    assert "download failed" in str(info.value) and "name resolution" in str(info.value)


# --- MNIST ------------------------------------------------------------------------------------------------


def test_mnist_reads_torchvision_layout(tmp_path):
    arrays = _write_fake_mnist(tmp_path / "MNIST" / "raw", n_train=20, n_test=10)
    dm = MNISTDataModule(data_dir=str(tmp_path), download=False, val_size=5, batch_size=4)
    _ready(dm, "fit", "test")
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (15, 5, 10)
    _check_batch(next(iter(dm.train_dataloader())), (1, 28, 28), 4)

    x, y = _all_images(dm.test_dataset)
    torch.testing.assert_close(x, torch.from_numpy(arrays["t10k-images-idx3-ubyte"][:, None] / 255).float())
    torch.testing.assert_close(y, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())
    # train + val together are exactly the official train split
    train_x = torch.from_numpy(arrays["train-images-idx3-ubyte"][:, None] / 255).float()
    picked = sorted(dm.train_dataset.indices + dm.val_dataset.indices)
    assert picked == list(range(20))
    torch.testing.assert_close(dm.val_dataset[0][0], train_x[dm.val_dataset.indices[0]])


@pytest.mark.parametrize(
    ("module", "missing"),
    [
        (MNISTDataModule, "t10k-images-idx3-ubyte"),
        (CIFAR10DataModule, "data_batch_1"),
        (SVHNDataModule, "test_32x32.mat"),
    ],
)
def test_missing_dataset_without_download_names_files_and_folder(tmp_path, module, missing):
    with pytest.raises(DatasetNotFoundError, match="download=True") as info:
        module(data_dir=str(tmp_path), download=False).prepare_data()
    assert str(tmp_path) in str(info.value)
    assert missing in str(info.value)


# --- CIFAR-10 ---------------------------------------------------------------------------------------------


def _write_fake_cifar10(root: Path, *, per_batch: int = 4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8),  # rows: R plane, G, B
            "labels": rng.integers(0, 10, per_batch).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
        batches[name] = batch
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    return batches


@pytest.fixture
def no_md5_check(monkeypatch):
    # torchvision checks each CIFAR file against the md5 of the real dataset, which tiny test files cannot
    # match; keep its existence check, drop the md5. Patching CIFAR10._check_integrity alone is not enough:
    # _load_meta checks batches.meta's md5 through this same module-level function.
    def exists(path, md5=None) -> bool:
        return Path(path).is_file()

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", exists)


def test_cifar10_reads_torchvision_layout(tmp_path, no_md5_check):
    batches = _write_fake_cifar10(tmp_path)
    dm = CIFAR10DataModule(data_dir=str(tmp_path), download=False, val_size=4, batch_size=8)
    _ready(dm, "fit", "test")
    assert dm.shape == (3, 32, 32)
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (16, 4, 4)
    _check_batch(next(iter(dm.train_dataloader())), (3, 32, 32), 8)

    x, y = next(iter(dm.test_dataloader()))
    expected = torch.from_numpy(batches["test_batch"]["data"].reshape(-1, 3, 32, 32) / 255).float()
    torch.testing.assert_close(x, expected)
    assert y.tolist() == batches["test_batch"]["labels"]


def test_cifar10_resize(tmp_path, no_md5_check):
    batches = _write_fake_cifar10(tmp_path)
    dm = CIFAR10DataModule(data_dir=str(tmp_path), download=False, val_size=4, batch_size=8, size=16)
    assert dm.shape == (3, 16, 16)
    x, _ = next(iter(_ready(dm, "test").test_dataloader()))
    _check_batch((x, torch.zeros(4, dtype=torch.int64)), (3, 16, 16), 4)
    # resized after conversion to float (no uint8 rounding), bilinear, antialiased
    native = torch.from_numpy(batches["test_batch"]["data"].reshape(-1, 3, 32, 32) / 255).float()
    torch.testing.assert_close(x, v2.functional.resize(native, [16, 16], antialias=True))


# --- SVHN -------------------------------------------------------------------------------------------------


def _write_fake_svhn(root: Path, *, n_train: int = 20, n_test: int = 8) -> dict[str, dict[str, np.ndarray]]:
    """torchvision's SVHN files: ``X`` uint8 (32, 32, 3, N) (row, column, channel, image), ``y`` (N, 1) in 1..10
    (10 is the digit 0), saved with scipy.io.savemat as the originals are MATLAB files."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays[split] = {
            "X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
            "y": np.concatenate([[10], rng.integers(1, 11, n - 1)]).astype(np.uint8).reshape(n, 1),
        }
        savemat(root / f"{split}_32x32.mat", arrays[split])
    return arrays


@pytest.fixture
def no_svhn_md5_check(monkeypatch):
    # as no_md5_check: tiny files cannot match the md5 of the real ones
    monkeypatch.setattr(torchvision.datasets.svhn, "check_integrity", lambda path, md5=None: Path(path).is_file())


@pytest.mark.parametrize("in_memory", [True, False])
def test_svhn_reads_torchvision_layout(tmp_path, no_svhn_md5_check, in_memory):
    arrays = _write_fake_svhn(tmp_path)
    dm = SVHNDataModule(data_dir=str(tmp_path), download=False, val_size=4, batch_size=8, in_memory=in_memory)
    _ready(dm, "fit", "test")
    assert dm.shape == (3, 32, 32)
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (16, 4, 8)
    _check_batch(next(iter(dm.train_dataloader())), (3, 32, 32), 8)

    x, y = next(iter(dm.test_dataloader()))
    expected = torch.from_numpy(arrays["test"]["X"]).permute(3, 2, 0, 1).float() / 255  # (N, C, H, W)
    torch.testing.assert_close(x, expected)
    labels = torch.from_numpy(arrays["test"]["y"][:, 0]).long()
    assert y[0].item() == 0 and y.tolist() == (labels % 10).tolist()  # SVHN's 10 is the digit 0


# --- image folders ----------------------------------------------------------------------------------------

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _write_pngs(folder: Path, color: tuple[int, int, int], n: int, size: tuple[int, int] = (12, 8)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", size, color).save(folder / f"{i}.png")


def test_image_folder_classes_shapes_and_colors(tmp_path):
    _write_pngs(tmp_path / "blue", BLUE, 4)
    _write_pngs(tmp_path / "red", RED, 4)
    dm = ImageFolderDataModule(str(tmp_path), size=6, val_size=2, batch_size=3)
    assert dm.shape == (3, 6, 6) and dm.num_classes == 2
    _ready(dm, "fit", "test")
    assert (len(dm.train_dataset), len(dm.val_dataset)) == (6, 2)
    assert dm.test_dataset is dm.val_dataset  # no train/ and test/: test is val
    _check_batch(next(iter(dm.train_dataloader())), (3, 6, 6), 3)

    x, y = _all_images(dm.train_dataset)
    expected = torch.tensor([BLUE, RED], dtype=torch.float32)[y] / 255  # labels follow sorted names
    torch.testing.assert_close(x.mean(dim=(2, 3)), expected)
    torch.testing.assert_close(x.amin(dim=(2, 3)), expected)


def test_image_folder_grayscale_and_flat_folder(tmp_path):
    _write_pngs(tmp_path, GREEN, 5)
    dm = _ready(ImageFolderDataModule(str(tmp_path), size=4, channels=1, val_size=1, batch_size=2), "fit")
    assert dm.num_classes == 1
    x, y = _all_images(dm.train_dataset)
    assert tuple(x.shape) == (4, 1, 4, 4) and y.tolist() == [0] * 4
    # ITU-R 601-2 luma of pure green, as PIL's "L" conversion computes it
    torch.testing.assert_close(x, torch.full_like(x, round(255 * 0.587) / 255))


def test_image_folder_train_and_test_subfolders(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        _write_pngs(tmp_path / split / "a", RED, n)
        _write_pngs(tmp_path / split / "b", BLUE, n)
    dm = _ready(ImageFolderDataModule(str(tmp_path), size=4, val_size=2, batch_size=2), "fit", "test")
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (6, 2, 4)
    assert sorted(_all_images(dm.test_dataset)[1].tolist()) == [0, 0, 1, 1]


def test_image_folder_missing_or_empty_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does-not-exist"):
        ImageFolderDataModule(str(tmp_path / "does-not-exist"), size=8)
    (tmp_path / "empty" / "class").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no images found"):
        ImageFolderDataModule(str(tmp_path / "empty"), size=8)
    with pytest.raises(ConfigError, match="channels must be 1 .* got 2"):
        _write_pngs(tmp_path / "ok", RED, 2)
        ImageFolderDataModule(str(tmp_path / "ok"), size=8, channels=2)

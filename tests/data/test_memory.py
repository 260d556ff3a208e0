"""The in-memory tensor path (zoo.data.memory): the same images as the per-item path, seeded order by
(seed, epoch), disjoint shards across ranks, batch-wise flips. Tiny generated files, no network."""

from __future__ import annotations

import types
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import Subset
from torchvision.transforms import v2

import zoo.data.torchvision_datasets as tv_data
from tests.conftest import quiet_trainer
from tests.data.test_datamodules import (  # noqa: F401  (no_md5_check, no_svhn_md5_check: fixtures)
    _all_images,
    _check_batch,
    _ready,
    _write_fake_cifar10,
    _write_fake_mnist,
    _write_fake_svhn,
    _write_pngs,
    no_md5_check,
    no_svhn_md5_check,
)
from zoo.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    ImageFolderDataModule,
    SVHNDataModule,
    TensorBatches,
)
from zoo.data.memory import resize_images
from zoo.errors import ConfigError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _rows(x: torch.Tensor, y: torch.Tensor) -> list[tuple[bytes, int]]:
    """Images with their labels as a sorted list: equal lists mean the same multiset of (pixels, label)."""
    return sorted((image.numpy().tobytes(), int(label)) for image, label in zip(x, y))


def _epoch(loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)


def _fashion(tmp_path, request, **kwargs):
    request.getfixturevalue("monkeypatch").setattr(tv_data, "FASHION_MNIST_SYSTEM_DIRS", [])
    if not (tmp_path / "FashionMNIST").is_dir():
        _write_fake_mnist(tmp_path / "FashionMNIST" / "raw", n_train=40, n_test=12)
    return FashionMNISTDataModule(data_dir=str(tmp_path), download=False, val_size=8, batch_size=8, **kwargs)


def _cifar(tmp_path, request, **kwargs):
    request.getfixturevalue("no_md5_check")
    if not (tmp_path / "cifar-10-batches-py").is_dir():
        _write_fake_cifar10(tmp_path, per_batch=8)  # 40 train, 8 test
    return CIFAR10DataModule(data_dir=str(tmp_path), download=False, val_size=8, batch_size=8, **kwargs)


def _svhn(tmp_path, request, **kwargs):
    request.getfixturevalue("no_svhn_md5_check")
    if not (tmp_path / "train_32x32.mat").is_file():
        _write_fake_svhn(tmp_path, n_train=40, n_test=12)
    return SVHNDataModule(data_dir=str(tmp_path), download=False, val_size=8, batch_size=8, **kwargs)


def _digits(tmp_path, request, **kwargs):
    return DigitsDataModule(val_size=137, batch_size=100, **kwargs)  # 1300 train: whole batches


#: name -> (tmp_path, request, **kwargs) -> datamodule on tiny files (written on first call) or bundled data
DATASETS = {
    "digits": _digits,
    "digits-16": partial(_digits, size=16),
    "fashion": _fashion,
    "fashion-16": partial(_fashion, size=16),
    "cifar10": _cifar,
    "cifar10-20": partial(_cifar, size=20),
    "svhn": _svhn,
}


# --- the same images as the per-item path ----------------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS)
def test_one_epoch_yields_the_per_item_images_each_once(name, tmp_path, request):
    memory = _ready(DATASETS[name](tmp_path, request, in_memory=True), "fit", "test")
    per_item = _ready(DATASETS[name](tmp_path, request, in_memory=False), "fit", "test")
    assert memory.in_memory and not per_item.in_memory
    assert len(memory.train_dataset) % memory.batch_size == 0  # so drop_last drops nothing here

    # the same train/val split: the same indices into the official train split
    assert memory.train_dataset.indices == per_item.train_dataset.indices
    assert memory.val_dataset.indices == per_item.val_dataset.indices

    train, val = _epoch(memory.train_dataloader()), _epoch(memory.val_dataloader())
    assert _rows(*train) == _rows(*_all_images(per_item.train_dataset))  # same pixels, each once
    # val and test keep their order: equal batch by batch, bit for bit
    torch.testing.assert_close(val, _all_images(per_item.val_dataset), rtol=0, atol=0)
    torch.testing.assert_close(
        _epoch(memory.test_dataloader()), _all_images(per_item.test_dataset), rtol=0, atol=0
    )


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason=f"{DEBIAN_FASHION_MNIST} absent")
def test_real_fashion_mnist_matches_the_per_item_path(tmp_path):
    kwargs = {"data_dir": str(tmp_path), "download": False, "batch_size": 500}
    memory = _ready(FashionMNISTDataModule(**kwargs), "fit", "test")
    per_item = _ready(FashionMNISTDataModule(in_memory=False, **kwargs), "fit", "test")
    assert memory.test_dataset.images.dtype == torch.uint8
    assert tuple(memory.test_dataset.images.shape) == (10000, 1, 28, 28)
    # the first test batch, and 500 random train images, bit for bit (all 70000 per item would take seconds)
    expected = _all_images(Subset(per_item.test_dataset, range(500)))
    torch.testing.assert_close(next(iter(memory.test_dataloader())), expected, rtol=0, atol=0)
    picked = torch.randperm(55000, generator=torch.Generator().manual_seed(0))[:500].tolist()
    torch.testing.assert_close(
        _all_images(Subset(memory.train_dataset, picked)),
        _all_images(Subset(per_item.train_dataset, picked)),
        rtol=0,
        atol=0,
    )


def test_batchwise_resize_equals_per_image_resize():
    images = torch.randint(0, 256, (10, 3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for size in (5, 12, 30):
        per_image = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Resize([size, size], antialias=True)])
        expected = torch.stack([per_image(image) for image in images])
        torch.testing.assert_close(resize_images(images, size, chunk=3), expected, rtol=0, atol=0)


# --- order: seeded by (seed, epoch) ----------------------------------------------------------------------


def _loader(n: int = 100, **kwargs) -> TensorBatches:
    """Image i is filled with i % 256 and labelled i, so a batch's labels say which images it holds."""
    images = (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 3).contiguous()
    defaults = {"batch_size": 10, "shuffle": True, "drop_last": True}
    return TensorBatches(images, torch.arange(n), **{**defaults, **kwargs})


def _order(loader) -> list[int]:
    return [label for _, y in loader for label in y.tolist()]


def _pixels(loader) -> list[bytes]:
    return [image.numpy().tobytes() for x, _ in loader for image in x]


def test_order_follows_seed_and_epoch():
    first = _order(_loader(seed=0))
    assert first == _order(_loader(seed=0))  # same seed, same order
    assert sorted(first) == list(range(100)) and first != list(range(100))
    assert first != _order(_loader(seed=1))
    continuous = _loader(seed=0)
    epochs = [_order(continuous) for _ in range(3)]  # each pass is the next epoch
    assert epochs[0] == first and epochs[1] != epochs[0] and epochs[2] != epochs[1]
    for k in range(3):  # a resumed run: a fresh loader told its epoch
        resumed = _loader(seed=0)
        resumed.set_epoch(k)
        assert _order(resumed) == epochs[k]
    continuous.set_epoch(1)  # set_epoch wins over counting passes (Lightning calls it every epoch)
    assert _order(continuous) == epochs[1]


def test_datamodule_loader_replays_the_same_epochs():
    dm = _ready(DigitsDataModule(batch_size=64, seed=3), "fit")
    assert _pixels(dm.train_dataloader()) == _pixels(dm.train_dataloader())
    other = _ready(DigitsDataModule(batch_size=64, seed=4), "fit")
    assert _pixels(dm.train_dataloader()) != _pixels(other.train_dataloader())


def test_lengths_and_last_batches():
    train = _loader(n=95, batch_size=10)
    assert len(train) == 9 == len(list(train))
    assert all(len(y) == 10 for _, y in train)
    val = _loader(n=95, batch_size=10, shuffle=False, drop_last=False)
    assert len(val) == 10 and [len(y) for _, y in val] == [10] * 9 + [5]
    assert _order(val) == list(range(95))  # unshuffled: the split's own order, every image


class _RecordingModel(L.LightningModule):
    """Records the labels of every training batch, by epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(64, 1)
        self.seen: dict[int, list[int]] = {}

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.setdefault(self.current_epoch, []).extend(y.tolist())
        return self.layer(x.flatten(1)).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def test_lightning_sets_the_epoch_and_a_resumed_fit_sees_the_same_order(tmp_path):
    """Lightning calls ``loader.sampler.set_epoch`` every epoch, also after resuming from a checkpoint."""

    def data():
        return DigitsDataModule(batch_size=256)

    continuous = _RecordingModel()
    quiet_trainer(max_epochs=2, limit_val_batches=0).fit(continuous, data())
    loader = _ready(data(), "fit").train_dataloader()
    expected = [_order(loader) for _ in range(2)]
    assert expected[0] != expected[1]
    assert continuous.seen == {0: expected[0], 1: expected[1]}

    first = quiet_trainer(max_epochs=1, limit_val_batches=0)
    first.fit(_RecordingModel(), data())
    first.save_checkpoint(tmp_path / "epoch0.ckpt")
    resumed = _RecordingModel()
    quiet_trainer(max_epochs=2, limit_val_batches=0).fit(resumed, data(), ckpt_path=tmp_path / "epoch0.ckpt")
    assert resumed.seen == {1: expected[1]}


# --- sharding across ranks -------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "batch_size"), [(100, 10), (97, 7), (10, 3)])
def test_train_shards_are_disjoint_and_of_equal_length(n, batch_size):
    whole = _order(_loader(n=n, batch_size=1))  # the epoch's permutation, on one rank
    ranks = [_loader(n=n, batch_size=batch_size, rank=r, world_size=2) for r in (0, 1)]
    shards = [_order(loader) for loader in ranks]
    assert len(ranks[0]) == len(ranks[1]) == n // (2 * batch_size)
    assert len(shards[0]) == len(shards[1]) == len(ranks[0]) * batch_size
    assert not set(shards[0]) & set(shards[1])
    kept = 2 * len(shards[0])  # the union is the permutation minus its drop_last remainder
    assert set(shards[0]) | set(shards[1]) == set(whole[:kept])


@pytest.mark.parametrize(("n", "batch_size"), [(100, 10), (97, 7), (9, 4), (2, 5)])
def test_eval_shards_cover_every_image_once_with_equal_batch_counts(n, batch_size):
    ranks = [
        _loader(n=n, batch_size=batch_size, shuffle=False, drop_last=False, rank=r, world_size=2) for r in (0, 1)
    ]
    shards = [_order(loader) for loader in ranks]
    assert len(ranks[0]) == len(ranks[1]) == len(list(ranks[0])) == len(list(ranks[1]))
    assert sorted(shards[0] + shards[1]) == list(range(n))  # every image once, none duplicated
    sizes = [len(y) for loader in ranks for _, y in loader]
    assert max(sizes) <= batch_size + 1 and min(sizes) >= 1  # (9, 4): rank 0's one batch holds 5


def test_eval_split_smaller_than_the_world_is_refused():
    with pytest.raises(ConfigError, match="a split of 1 images cannot give each of 2 ranks"):
        _loader(n=1, shuffle=False, drop_last=False, rank=0, world_size=2)


def test_datamodule_shards_by_the_trainers_rank():
    """The loaders read rank and world size from the attached Trainer (a stand-in here)."""
    seen = {}
    for rank in (0, 1):
        dm = _ready(DigitsDataModule(batch_size=100, val_size=181), "fit", "test")  # 1256 train
        dm.trainer = types.SimpleNamespace(
            global_rank=rank, world_size=2, strategy=types.SimpleNamespace(root_device=torch.device("cpu"))
        )
        loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
        assert {split: len(loader) for split, loader in loaders.items()} == {"train": 6, "val": 1, "test": 2}
        seen[rank] = {split: _pixels(loader) for split, loader in loaders.items()}
    for split, n in (("train", 1200), ("val", 181), ("test", 360)):
        assert len(seen[0][split]) + len(seen[1][split]) == n
        assert not set(seen[0][split]) & set(seen[1][split])


# --- augmentation ----------------------------------------------------------------------------------------


def _is_mirror(x: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    return (x == original.flip(-1)).flatten(1).all(1)


def test_random_flip_flips_about_half_and_only_horizontally():
    n = 2000
    images = torch.randint(0, 256, (n, 3, 4, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    loader = TensorBatches(
        images, torch.arange(n), batch_size=100, shuffle=True, drop_last=True, random_flip=True, seed=0
    )
    x, y = _epoch(loader)
    original = v2.functional.to_dtype(images[y], torch.float32, scale=True)
    flipped = _is_mirror(x, original)
    assert ((x == original).flatten(1).all(1) | flipped).all()  # each image as is or mirrored left-right
    # Binomial(2000, 1/2): sd 22 images, so [900, 1100] is a 4.5 sd margin
    assert 900 <= int(flipped.sum()) <= 1100
    x2, y2 = _epoch(loader)  # the next epoch flips other images
    flipped2 = _is_mirror(x2, v2.functional.to_dtype(images[y2], torch.float32, scale=True))
    assert not torch.equal(flipped[y.argsort()], flipped2[y2.argsort()])


@pytest.mark.parametrize("in_memory", [True, False])
def test_random_flip_on_train_only_on_both_paths(in_memory):
    dm = _ready(DigitsDataModule(batch_size=1300, val_size=137, random_flip=True, in_memory=in_memory), "fit")
    x, _ = next(iter(dm.train_dataloader()))  # the whole train split in one batch
    plain = _all_images(dm.train_dataset)[0]  # the split itself is never augmented
    as_is, mirrored = {_row(image) for image in plain}, {_row(image.flip(-1)) for image in plain}
    rows = [_row(image) for image in x]
    assert all(row in as_is or row in mirrored for row in rows)
    n_flipped = sum(row not in as_is for row in rows)  # a left-right symmetric digit counts as not flipped
    assert 0.4 < n_flipped / len(rows) < 0.6
    val = torch.cat([x for x, _ in dm.val_dataloader()])
    torch.testing.assert_close(val, _all_images(dm.val_dataset)[0], rtol=0, atol=0)


def _row(image: torch.Tensor) -> bytes:
    return image.numpy().tobytes()


# --- arguments and the batch contract --------------------------------------------------------------------


def test_defaults_and_refusals(tmp_path):
    assert DigitsDataModule().in_memory and FashionMNISTDataModule(download=False).in_memory
    _write_pngs(tmp_path, (255, 0, 0), 4)
    assert not ImageFolderDataModule(str(tmp_path), size=4).in_memory  # folders stay per item
    with pytest.raises(ConfigError, match="in_memory=True: ImageFolderDataModule .* pass in_memory=False"):
        ImageFolderDataModule(str(tmp_path), size=4, in_memory=True)
    with pytest.raises(ConfigError, match="in_memory must be true, false or null .* got 'yes'"):
        DigitsDataModule(in_memory="yes")
    with pytest.raises(ConfigError, match="device='cpu' holds the in-memory split .* drop device="):
        DigitsDataModule(in_memory=False, device="cpu")
    with pytest.raises(ConfigError, match="device='gpu0' is not a torch device"):
        DigitsDataModule(device="gpu0")
    with pytest.raises(ConfigError, match="random_flip must be true or false, got 1"):
        DigitsDataModule(random_flip=1)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device='cuda' but CUDA is not available"):
            DigitsDataModule(device="cuda").setup("fit")


@pytest.mark.parametrize("kwargs", [{}, {"size": 16}, {"device": "cpu"}])
def test_batches_keep_the_float_contract(kwargs):
    dm = _ready(DigitsDataModule(batch_size=50, **kwargs), "fit", "test")
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        x, y = next(iter(loader))
        _check_batch((x, y), dm.shape, 50)
        assert x.device.type == "cpu" and x.is_contiguous()
    x, y = dm.train_dataset[0]  # item access (PeriodicFID reads the split so) as on the per-item path
    assert x.dtype == torch.float32 and tuple(x.shape) == dm.shape and y.dtype == torch.int64


def test_uint8_storage_converts_as_torchvision_does(tmp_path, request):
    dm = _ready(_fashion(tmp_path, request), "test")
    assert dm.test_dataset.images.dtype == torch.uint8
    x, y = next(iter(dm.test_dataloader()))
    _check_batch((x, y), (1, 28, 28), 8)
    images = dm.test_dataset.images[:8]
    torch.testing.assert_close(x, images.to(torch.float32).mul_(1 / 255), rtol=0, atol=0)

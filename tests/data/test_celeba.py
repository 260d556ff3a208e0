"""CelebADataModule on a tiny CelebA written in torchvision's on-disk layout. Nothing here touches the network.

torchvision's ``CelebA`` reads ``<root>/celeba/``: ``img_align_celeba/*.jpg`` (178×218 aligned faces) and five
space-separated annotation files, which it checks against the md5 sums of the real ones.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.transforms import v2

from zoo.data import CelebADataModule
from zoo.errors import ConfigError, DatasetNotFoundError

WIDTH, HEIGHT, CROP = 178, 218, 178
TOP = (HEIGHT - CROP) // 2  # 20 rows above the centre crop, 20 below
RED = (255, 0, 0)
LANDMARKS = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"
ATTRIBUTES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald"]  # 5 of the real 40


def _write_fake_celeba(root: Path, *, n_per_split: tuple[int, int, int] = (6, 3, 2)) -> dict[int, list[Path]]:
    """A CelebA of ``n_per_split`` (train, valid, test) images; returns each split's image files in file order.

    Each image is a solid colour in its centre 178×178 square with pure red in the 20 rows above and below it,
    so whether the crop was taken shows in the colours. The partitions are interleaved as in the real file.
    """
    rng = np.random.default_rng(0)
    folder = root / "celeba"
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    partitions = rng.permutation(np.repeat([0, 1, 2], n_per_split))
    names = [f"{i:06d}.jpg" for i in range(1, len(partitions) + 1)]
    for name in names:
        pixels = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
        pixels[:] = RED
        pixels[TOP : TOP + CROP] = [rng.integers(0, 80), rng.integers(100, 256), rng.integers(100, 256)]
        Image.fromarray(pixels).save(images / name, quality=95)

    def write(filename: str, rows: list[str], header: str | None = None) -> None:
        # the real files: "<count>" and the column names as two header lines where torchvision skips them
        lines = [str(len(rows)), header] if header is not None else []
        (folder / filename).write_text("\n".join(lines + rows) + "\n")

    write("list_eval_partition.txt", [f"{name} {p}" for name, p in zip(names, partitions)])
    write("identity_CelebA.txt", [f"{name} {rng.integers(1, 10178)}" for name in names])
    write("list_attr_celeba.txt", [f"{name} " + " ".join(f"{v:2d}" for v in rng.choice([-1, 1], len(ATTRIBUTES)))
                                   for name in names], header=" ".join(ATTRIBUTES) + " ")
    write("list_bbox_celeba.txt", [f"{name}    {' '.join(f'{v:3d}' for v in rng.integers(0, 400, 4))}"
                                   for name in names], header="image_id x_1 y_1 width height")
    write("list_landmarks_align_celeba.txt", [f"{name} {' '.join(f'{v:4d}' for v in rng.integers(60, 160, 10))}"
                                              for name in names], header=LANDMARKS)
    return {p: [images / name for name, q in zip(names, partitions) if q == p] for p in range(3)}


def _expected(files: list[Path], size: int) -> torch.Tensor:
    """The files decoded by PIL, rows 20..197 kept, as float [0, 1], resized bilinear antialiased."""
    decoded = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in files])
    cropped = torch.from_numpy(decoded[:, TOP : TOP + CROP]).permute(0, 3, 1, 2).float() / 255
    return v2.functional.resize(cropped, [size, size], antialias=True)


def _all_images(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(xs), torch.tensor(ys)


@pytest.fixture
def no_celeba_md5_check(monkeypatch):
    # tiny files cannot match the md5 of the real annotation files; keep torchvision's existence check
    monkeypatch.setattr(torchvision.datasets.celeba, "check_integrity", lambda path, md5=None: Path(path).is_file())


def test_celeba_official_splits_crop_and_resize(tmp_path, no_celeba_md5_check):
    files = _write_fake_celeba(tmp_path)
    dm = CelebADataModule(data_dir=str(tmp_path), download=False, batch_size=2)
    assert dm.shape == (3, 64, 64) and dm.num_classes == 1 and not dm.in_memory  # size defaults to 64
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (6, 3, 2)

    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and tuple(x.shape) == (2, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.int64 and y.tolist() == [0, 0]  # no class label: 0, as an unlabelled image folder
    assert len(dm.train_dataloader()) == 3

    # each split is exactly its images of list_eval_partition.txt, in file order, centre-cropped then resized
    for dataset, split in ((dm.train_dataset, 0), (dm.val_dataset, 1), (dm.test_dataset, 2)):
        images, labels = _all_images(dataset)
        torch.testing.assert_close(images, _expected(files[split], 64))
        assert labels.tolist() == [0] * len(files[split])
    x, y = next(iter(dm.test_dataloader()))
    torch.testing.assert_close(x, _expected(files[2], 64))

    # the red rows were cut off: every pixel is the centre colour (up to JPEG error), none is red
    centre = _expected(files[2], 64).mean(dim=(2, 3), keepdim=True)
    assert (x - centre).abs().max() < 0.1 and x[:, 0].max() < 0.5


def test_celeba_size_none_keeps_the_178_crop(tmp_path, no_celeba_md5_check):
    files = _write_fake_celeba(tmp_path)
    dm = CelebADataModule(data_dir=str(tmp_path), download=False, size=None)
    assert dm.shape == (3, 178, 178)
    x, _ = dm.load_test()[1]
    torch.testing.assert_close(x, _expected(files[2][1:], CROP)[0])


def test_celeba_missing_without_download_is_a_one_line_error(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download=True") as info:
        CelebADataModule(data_dir=str(tmp_path), download=False).prepare_data()
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "celeba") in message
    assert "img_align_celeba/" in message and "list_eval_partition.txt" in message


def test_celeba_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    calls = []

    def no_network(file_id, root, filename=None, md5=None):  # what urllib raises on a machine without network
        calls.append(filename)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.celeba, "download_file_from_google_drive", no_network)
    with pytest.raises(DatasetNotFoundError, match="download failed.*name resolution") as info:
        CelebADataModule(data_dir=str(tmp_path), download=True).prepare_data()
    assert calls == ["img_align_celeba.zip"], "torchvision's download was not the one taken"
    assert "\n" not in str(info.value)


def test_celeba_files_torchvision_rejects_or_incomplete(tmp_path, monkeypatch):
    files = _write_fake_celeba(tmp_path)
    dm = CelebADataModule(data_dir=str(tmp_path), download=False, batch_size=2)
    dm.prepare_data()  # every file is there
    with pytest.raises(DatasetNotFoundError, match="torchvision rejects them"):  # md5 of the real files
        dm.setup("test")

    monkeypatch.setattr(torchvision.datasets.celeba, "check_integrity", lambda path, md5=None: Path(path).is_file())
    files[1][0].unlink()  # a partly extracted zip
    with pytest.raises(DatasetNotFoundError, match=f"1 of the 3 valid images .* {files[1][0].name}"):
        dm.setup("fit")
    with pytest.raises(ConfigError, match="batch_size=7 .* 6 images"):
        CelebADataModule(data_dir=str(tmp_path), download=False, batch_size=7).setup("fit")

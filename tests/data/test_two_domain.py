"""TwoDomainDataModule: batches of two domains, orders by (seed, epoch), pairing, DDP shards of both domains, and
batches reaching a method through a real Trainer."""
from __future__ import annotations

import types

import pytest
import torch

from tests.conftest import quiet_trainer
from zoo.data import ImageDataModule, TwoDomainDataModule
from zoo.errors import ConfigError
from zoo.methods import ZooModule

N = 200  # images per domain's official train split; each image's first pixel is its index


class Indexed(ImageDataModule):
    """N images of 1x2x2 whose first pixel holds the image's index (/255), labels index % 10."""

    native_shape = (1, 2, 2)
    num_classes = 10

    def __init__(self, *, n: int = N, offset: int = 0, **kwargs) -> None:
        self.n, self.offset = n, offset
        super().__init__(**{"val_size": 20, "batch_size": 8, **kwargs})

    def load_tensors(self, *, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.arange(self.n) + (0 if train else 250)
        images = torch.zeros(self.n, 1, 2, 2, dtype=torch.uint8)
        images[:, 0, 0, 0] = index
        images[:, 0, 1, 1] = self.offset  # tells the domains apart
        return images, index % 10


def two(seed_a: int = 0, seed_b: int = 0, *, paired: bool = False, n_b: int = N, trainer=None) -> TwoDomainDataModule:
    dm = TwoDomainDataModule(Indexed(seed=seed_a), Indexed(seed=seed_b, offset=7, n=n_b), paired=paired)
    dm.trainer = trainer
    dm.setup("fit")
    return dm


def epoch(dm: TwoDomainDataModule, e: int) -> dict[str, list[int]]:
    """The indices domain a and b yield in epoch ``e`` of a fresh train loader, as Lightning sets it."""
    loader = dm.train_dataloader()
    for flat in loader.flattened:
        flat.sampler.set_epoch(e)
    out: dict[str, list[int]] = {"a": [], "b": []}
    for batch in loader:
        batch = batch[0] if isinstance(batch, tuple) else batch
        for name in ("a", "b"):
            x, y = batch[name]
            out[name] += (x[:, 0, 0, 0] * 255).round().long().tolist()
            assert x.dtype == torch.float32 and x.shape[1:] == (1, 2, 2) and y.dtype == torch.int64
            assert torch.all((x[:, 0, 1, 1] * 255).round() == (0 if name == "a" else 7))
    return out


def test_batches_hold_both_domains_and_the_epoch_is_the_shorter_one():
    dm = two(n_b=120)
    seen = epoch(dm, 0)
    assert len(seen["a"]) == len(seen["b"]) == (120 - 20) // 8 * 8  # b's 100 training images, whole batches
    assert len(set(seen["a"])) == len(seen["a"])


def test_order_depends_on_seed_and_epoch_only():
    assert epoch(two(), 3) == epoch(two(), 3)  # fresh datamodules, same (seed, epoch): same order
    assert epoch(two(), 3)["a"] != epoch(two(), 4)["a"]
    assert epoch(two(seed_a=1), 3)["a"] != epoch(two(), 3)["a"]
    # unpaired: two domains with the same seed and size are still drawn in different orders
    seen = epoch(two(), 0)
    assert seen["a"] != seen["b"] and sorted(seen["a"]) != sorted(seen["b"]) or seen["a"] != seen["b"]


def test_paired_domains_share_one_order():
    seen = epoch(two(paired=True), 2)
    assert seen["a"] == seen["b"]
    with pytest.raises(ConfigError, match="paired=True but the domains' train splits hold different images"):
        two(seed_b=1, paired=True)


def test_ddp_ranks_get_disjoint_shards_of_both_domains():
    def rank(r: int):
        cpu = types.SimpleNamespace(root_device=torch.device("cpu"))
        return epoch(two(trainer=types.SimpleNamespace(global_rank=r, world_size=2, strategy=cpu)), 5)

    zero, one = rank(0), rank(1)
    whole = epoch(two(), 5)
    for name in ("a", "b"):
        assert zero[name] and len(zero[name]) == len(one[name])
        assert not set(zero[name]) & set(one[name])
        assert set(zero[name]) | set(one[name]) <= set(whole[name]) | set(range(N))


def test_shapes_must_agree():
    with pytest.raises(ConfigError, match=r"the domains' images differ in shape: a \(1, 2, 2\), b \(1, 4, 4\)"):
        TwoDomainDataModule(Indexed(), Indexed(size=4))


class Translator(ZooModule):
    """Records the domains of every batch a Trainer hands it."""

    def __init__(self) -> None:
        super().__init__(in_shape=(1, 2, 2))
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[int, list[int], list[int]]] = []

    def objective(self, batch):
        x_a, x_b = self.domains(batch)
        self.seen.append((self.current_epoch, (x_a[:, 0, 0, 0] * 255).round().long().tolist(),
                          (x_b[:, 0, 0, 0] * 255).round().long().tolist()))
        return {"loss": self.weight * (x_a.mean() - x_b.mean())}


def test_a_trainer_hands_both_domains_to_the_method_with_each_epochs_order():
    model = Translator()
    quiet_trainer(max_epochs=2, limit_val_batches=0).fit(model, TwoDomainDataModule(Indexed(), Indexed(offset=7)))
    for e in (0, 1):
        expected = epoch(two(), e)
        assert sum((a for ep, a, _ in model.seen if ep == e), []) == expected["a"]
        assert sum((b for ep, _, b in model.seen if ep == e), []) == expected["b"]


def test_a_one_domain_method_refuses_a_two_domain_batch():
    model = ZooModule(in_shape=(1, 2, 2))
    batch = {"a": (torch.zeros(2, 1, 2, 2), torch.zeros(2)), "b": (torch.zeros(2, 1, 2, 2), torch.zeros(2))}
    with pytest.raises(ConfigError, match=r"reads one domain, but the batch has domains \['a', 'b'\]"):
        model.images(batch)
    with pytest.raises(ConfigError, match="not a two-domain one; use zoo.data.TwoDomainDataModule"):
        model.domains((torch.zeros(2, 1, 2, 2), torch.zeros(2)))

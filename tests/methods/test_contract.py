"""Every registered method enforces the image contract at its public boundary (zoo/images.py): images are
float (N, C, H, W) tensors in [0, 1] and finite, codes are (N, latent_dim), counts ints >= 1. Each bad input
is refused with an InputError (a ValueError) naming the method, the value given and the fix; good input
passes. Parametrized over the registry, so a new method is covered the moment it is registered."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.capabilities import CONDITIONAL, ENCODE, LIKELIHOOD, RECONSTRUCT
from tests.conftest import on_grid
from zoo.errors import InputError

SHAPE = (1, 8, 8)
GOOD = torch.rand(3, *SHAPE, generator=torch.Generator().manual_seed(0))
BAD_IMAGES = {
    "8-bit values": (GOOD * 255, ["[", "255", "divide 8-bit values by 255"]),
    "[-1, 1] images": (GOOD * 2 - 1, ["outside [0, 1]", "(x + 1) / 2"]),
    "nan": (GOOD.masked_fill(GOOD > 0.9, float("nan")), ["nan or inf", "must be finite"]),
    "uint8": ((GOOD * 255).to(torch.uint8), ["torch.uint8", "x.float() / 255"]),
    "int64": (GOOD.long(), ["torch.int64", "x.float()"]),
    "unbatched": (GOOD[0], ["one image of shape (1, 8, 8)", "x[None]"]),
    "flat": (GOOD.view(3, -1), ["flat images (3, 64)", "x.view(-1, 1, 8, 8)"]),
    "other size": (GOOD[:, :, :4], ["(N, 1, 8, 8)", "(3, 1, 4, 8)", "in_shape=(1, 4, 8)"]),
    "empty": (GOOD[:0], ["empty batch"]),
    "a list": (GOOD.tolist(), ["torch.Tensor", "list"]),
}
IMAGE_METHODS = ("encode", "reconstruct", "elbo", "log_likelihood")
#: the methods that take images (the others only sample or decode)
READERS = sorted({n for c in (ENCODE, RECONSTRUCT, LIKELIHOOD) for n in zoo.list_models(capability=c)})


def models():
    return [zoo.create_model(name, in_shape=SHAPE).eval() for name in zoo.list_models()]


def public(model, method: str):
    return getattr(model, method, None) if method in dir(type(model)) and not _abstract(model, method) else None


def _abstract(model, method: str) -> bool:
    try:
        getattr(model, method)(GOOD if method in IMAGE_METHODS else torch.zeros(1, getattr(model, "latent_dim", 1)))
    except NotImplementedError:
        return True
    except Exception:
        pass
    return False


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_images_are_refused_with_the_fix(name, case):
    torch.manual_seed(0)
    model = zoo.create_model(name, in_shape=SHAPE).eval()
    bad, needles = BAD_IMAGES[case]
    methods = [m for m in IMAGE_METHODS if public(model, m)]
    assert methods
    for method in methods:
        with pytest.raises(InputError) as info:
            getattr(model, method)(bad)
        message = str(info.value)
        assert message.startswith(f"{type(model).__name__}.{method}: ") and "\n" not in message
        for needle in needles:
            assert needle in message, (method, message)
        getattr(model, method)(on_grid(model, GOOD))  # and good images pass


@pytest.mark.parametrize("name", zoo.list_models())
def test_bad_counts_and_codes_are_refused(name):
    model = zoo.create_model(name, in_shape=SHAPE).eval()
    for n in (-1, 0, 2.5, True, "4"):
        with pytest.raises(InputError, match=rf"\.sample: n must be an int >= 1, got {n!r}"):
            model.sample(n)
    assert model.sample(2).shape == (2, *SHAPE)
    if public(model, "decode"):
        d = model.latent_dim
        for z, needle in ((torch.zeros(d), "add the batch dimension"), (torch.zeros(2, d + 1), f"(2, {d + 1})"),
                          (torch.full((2, d), float("inf")), "nan or inf"), (torch.zeros(2, d, dtype=torch.long),
                                                                            "torch.int64")):
            with pytest.raises(InputError, match="decode: codes") as info:
                model.decode(z)
            assert needle in str(info.value)
        labels = {"y": torch.zeros(2, dtype=torch.long)} if CONDITIONAL in model.capabilities else {}
        assert model.decode(torch.zeros(2, d), **labels).shape == (2, *SHAPE)


def test_the_checks_are_skipped_inside_training_steps(monkeypatch):
    """The batch is checked once per step (images()); the public methods an objective calls (the AE's
    encode/decode) do not check again."""
    from torch.utils.data import DataLoader, TensorDataset

    import zoo.methods.base as base
    from tests.conftest import quiet_trainer

    calls = []
    monkeypatch.setattr(base, "check_image_input", lambda *a, **k: calls.append(k["where"]))
    monkeypatch.setattr(base, "check_code_input", lambda *a, **k: calls.append(k["where"]))
    model = zoo.create_model("ae", in_shape=SHAPE)
    quiet_trainer(max_steps=3).fit(model, DataLoader(TensorDataset(torch.rand(8, *SHAPE)), batch_size=4))
    assert calls == []
    model.encode(GOOD)
    assert calls == ["Autoencoder.encode"]

"""The autoregressive nets' sampling caches (zoo/nets/autoregressive.py) compute what the whole-image forward
computes, position by position, so the cached sampler draws exactly the naive sampler's images for a seed."""
from __future__ import annotations

import pytest
import torch

import zoo

# small nets that still exercise every path: several layers, kernels wider than one, the RGB channel groups
NETS = {
    "pixelcnn": {"h": 9, "n_blocks": 2, "output_hidden": 12},
    "gated_pixelcnn": {"h": 9, "n_layers": 3, "kernel_size": 5, "output_hidden": 12},
    "gated_pixelcnn_conditional": {"h": 9, "n_layers": 2, "kernel_size": 3, "output_hidden": 12,
                                   "conditional": True},
    "row_lstm": {"h": 9, "n_layers": 2, "output_hidden": 12},
    "diagonal_bilstm": {"h": 9, "n_layers": 2, "output_hidden": 12},
}


def _model(name: str, channels: int, levels: int, size: tuple[int, int] = (5, 6)):
    torch.manual_seed(0)
    method = name.removesuffix("_conditional")
    model = zoo.create_model(method, in_shape=(channels, *size), levels=levels, **NETS[name]).eval()
    with torch.no_grad():  # larger weights than the default init, so that every path moves the outputs
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def _labels(model, n: int) -> torch.Tensor | None:
    return torch.arange(n) % model.num_classes if model.num_classes is not None else None


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize(("channels", "levels"), [(1, 2), (3, 4)])
def test_the_cache_answers_what_the_forward_answers_at_every_position(name, channels, levels):
    """cache.logits_at(x, i, j), called in raster order (once per channel), equals conditionals(x)[..., i, j]."""
    model = _model(name, channels, levels)
    x = torch.randint(levels, (3, channels, 5, 6), generator=torch.Generator().manual_seed(1)).float() / (levels - 1)
    y = _labels(model, 3)
    with torch.no_grad():
        full = model.conditionals(x, y)  # (N, C, K, H, W)
        cache = model.pixel_cache(y)
        for i in range(5):
            for j in range(6):
                for _ in range(channels):
                    out = cache.logits_at(x, i, j)
                torch.testing.assert_close(out, full[..., i, j], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(NETS))
def test_cached_and_naive_sampling_draw_the_same_images(name):
    model = _model(name, 1, 2)
    y = 3 if model.num_classes is not None else None
    cached = model.sample(6, y=y, generator=torch.Generator().manual_seed(2))
    naive = model.sample(6, y=y, generator=torch.Generator().manual_seed(2), cache=False)
    torch.testing.assert_close(cached, naive, rtol=0, atol=0)
    assert 0 < cached.mean() < 1, "a sampler that draws one value only could not tell the two apart"


@pytest.mark.parametrize("name", ["pixelcnn", "gated_pixelcnn", "diagonal_bilstm"])
def test_cached_and_naive_completion_agree_with_kept_pixels_after_missing_ones(name):
    """The cache computes kept positions too (later ones read their features): a mask with holes and kept
    pixels after them, RGB with 4 levels."""
    model = _model(name, 3, 4)
    x = torch.randint(4, (4, 3, 5, 6), generator=torch.Generator().manual_seed(3)).float() / 3
    mask = torch.rand(4, 3, 5, 6, generator=torch.Generator().manual_seed(4)) < 0.5
    cached = model.complete(x, mask, generator=torch.Generator().manual_seed(5))
    naive = model.complete(x, mask, generator=torch.Generator().manual_seed(5), cache=False)
    torch.testing.assert_close(cached, naive, rtol=0, atol=0)
    torch.testing.assert_close(cached[mask], x[mask], rtol=0, atol=0)

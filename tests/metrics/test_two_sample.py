"""The unbiased MMD^2 against hand values, and its behaviour on same and different distributions."""
import math

import pytest
import torch

from zoo.errors import ConfigError
from zoo.metrics.two_sample import gaussian_kernel_sum, mmd2_unbiased


def test_kernel_sum_against_hand_values():
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])  # squared distance 25
    expected = math.exp(-25 / 2) + math.exp(-25 / 50)  # bandwidths 1 and 5
    torch.testing.assert_close(gaussian_kernel_sum(a, b, [1.0, 5.0]), torch.tensor([[expected]]))


def test_mmd2_against_hand_values():
    """x = {0, 1}, y = {0, 3} in one dimension, one bandwidth s = 1: k(d) = exp(-d^2 / 2).
    Within x: k(1) (one distinct pair, both orders, over 2 * 1); within y: k(3); across: mean of k(0), k(3),
    k(1), k(2)."""
    k = lambda d: math.exp(-d * d / 2)  # noqa: E731
    expected = k(1) + k(3) - 2 * (k(0) + k(3) + k(1) + k(2)) / 4
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [3.0]])
    assert mmd2_unbiased(x, y, [1.0]) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_mmd2_is_near_zero_for_one_distribution_and_large_for_two():
    g = torch.Generator().manual_seed(0)
    x, y, shifted = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g)
    same, different = mmd2_unbiased(x, y), mmd2_unbiased(x, shifted + 1.0)
    assert abs(same) < 0.01, same
    assert different > 20 * max(abs(same), 1e-3), (same, different)


def test_mmd2_refuses_mismatched_sets():
    with pytest.raises(ConfigError, match="two sets of >= 2 vectors of one dimension"):
        mmd2_unbiased(torch.zeros(5, 2), torch.zeros(5, 3))

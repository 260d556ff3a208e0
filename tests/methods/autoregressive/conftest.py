"""Fixtures of the autoregressive family's tests."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """Small convolutions and LSTM steps run several times faster on one thread than on two contended ones (the
    suite's 2 shared cores); the times measured in the tests' docstrings are on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

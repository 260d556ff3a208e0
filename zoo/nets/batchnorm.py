"""Reference and virtual batch normalisation (Salimans et al., "Improved Techniques for Training GANs", 2016,
arXiv:1606.03498, Sec. 3.4).

Batch norm makes a generator's output for one z depend on the other z of its minibatch. The paper's two fixes
normalise with the statistics of a **reference batch**, chosen once at the start of training and kept fixed:

- **reference batch norm**: every example is normalised with the reference batch's mean and variance;
- **virtual batch norm**: every example x with the statistics of the reference batch *and x itself* (x counts
  as one more example beside the m reference ones), which keeps x from being normalised by statistics that
  ignore it (the paper: reference BN alone overfits to the reference batch).

The reference statistics are computed with the current weights at every forward pass: the net runs the
reference inputs together with the minibatch, rows ``[:m]`` of each layer's input being the reference
activations (``ReferenceNormGenerator`` in zoo/nets/dcgan.py prepends them). The reference rows themselves
are normalised with the reference statistics. Gradients flow through the statistics, as in the paper's code.
There are no running averages: training and evaluation compute the same function, and an example's output
depends only on it and the reference batch, never on the rest of its minibatch.

For an image layer the statistics are per channel over the examples and positions (as BatchNorm2d's):
reference mean ``mu_r = E_{i<m, h, w}[a]`` and mean square ``s_r = E[a^2]``; virtual, for example x with
per-channel spatial mean ``mu_x`` and mean square ``s_x``: ``mu = (m mu_r + mu_x) / (m + 1)``,
``s = (m s_r + s_x) / (m + 1)``, ``var = s - mu^2`` (the paper's reference implementation combines the same
two moments with the weights 1/(m+1) and m/(m+1)).
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.errors import ConfigError


class ReferenceBatchNorm2d(nn.Module):
    """Normalise (N, C, H, W) activations with the statistics of rows ``[:reference_size]`` (the reference
    batch), then scale and shift per channel (affine, like BatchNorm2d).

    Args:
        num_features: channels C.
        reference_size: m, the number of leading rows of every input that are the reference batch (>= 2, for
            a variance).
        eps: added to the variance.
    """

    #: virtual batch norm: each example's own statistics join the reference ones
    virtual = False

    def __init__(self, num_features: int, reference_size: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        if isinstance(reference_size, bool) or not isinstance(reference_size, int) or reference_size < 2:
            raise ConfigError(f"reference_size must be an int >= 2 (a reference batch needs a variance), "
                              f"got {reference_size!r}")
        self.num_features, self.reference_size, self.eps = num_features, reference_size, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        m = self.reference_size
        if a.shape[0] < m:
            raise ValueError(f"{type(self).__name__} expects the {m} reference rows first, got {a.shape[0]} rows; "
                             "use it inside DCGANGenerator(norm='reference' or 'virtual'), which prepends them")
        # moments in float32 whatever the autocast dtype: E[a^2] - E[a]^2 cancels badly in bf16
        a32 = a.float()
        reference = a32[:m]
        mean = reference.mean(dim=(0, 2, 3))[None, :, None, None]  # (1, C, 1, 1)
        mean_square = reference.square().mean(dim=(0, 2, 3))[None, :, None, None]
        if self.virtual:
            new = 1.0 / (m + 1)
            own_mean = a32.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1): each example's own moments
            own_square = a32.square().mean(dim=(2, 3), keepdim=True)
            virtual_mean = (1 - new) * mean + new * own_mean
            virtual_square = (1 - new) * mean_square + new * own_square
            # the reference rows keep the reference statistics; every other row gets its virtual ones
            is_reference = (torch.arange(a.shape[0], device=a.device) < m)[:, None, None, None]
            mean = torch.where(is_reference, mean, virtual_mean)
            mean_square = torch.where(is_reference, mean_square, virtual_square)
        variance = (mean_square - mean.square()).clamp_min(0.0)
        normalised = (a32 - mean) * torch.rsqrt(variance + self.eps)
        return (normalised * self.weight[None, :, None, None] + self.bias[None, :, None, None]).to(a.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, reference_size={self.reference_size}, eps={self.eps}"


class VirtualBatchNorm2d(ReferenceBatchNorm2d):
    """Virtual batch norm: each example normalised with the moments of the reference batch and itself, weighted
    m/(m+1) and 1/(m+1) (see the module docstring)."""

    virtual = True

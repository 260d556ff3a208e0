"""k generators that share all layers but their first few: MAD-GAN's generators (Ghosh et al. 2018,
arXiv:1704.02906; zoo/methods/gan/mad_gan.py).

``MultiHeadGenerator`` is built from k copies of one decoder (``DCGANGenerator``, ``MLPDecoder``, or any net whose
``net`` is an ``nn.Sequential`` of layers and whose ``out_shape`` is its image shape). The sequence is cut into
*layers*: a layer is one weight layer (a linear or (transposed) convolution) with the norm and activation that
follow it. Generator i keeps its own copy of the first ``private_layers`` layers (its *head*); the rest, the
*trunk*, is copy 0's and shared by all k. With one private layer (the default) each generator maps z through its
own first layer, and the shared trunk draws the images from those k different projections; with
``private_layers`` equal to the depth the k generators share nothing.

A batch runs through the heads generator by generator and through the trunk at once, so a shared batch norm in
the trunk normalises the samples of every generator together, as one net would.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo.errors import ConfigError

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def split_layers(net: nn.Sequential) -> list[nn.Sequential]:
    """The layers of ``net``: each weight layer with the modules (norm, activation) that follow it."""
    layers: list[list[nn.Module]] = []
    for module in net:
        if isinstance(module, WEIGHT_LAYERS) or not layers:
            layers.append([])
        layers[-1].append(module)
    return [nn.Sequential(*modules) for modules in layers]


class MultiHeadGenerator(nn.Module):
    """(z (N, in_features), index (N,)) -> (N, C, H, W): sample j drawn by generator ``index[j]``; unbounded
    (the GAN engine's tanh maps it to [-1, 1]).

    Args:
        copies: k >= 2 freshly built decoders of one architecture (each with its own initialisation, so the k
            heads start apart); only copy 0's trunk is kept.
        private_layers: the number of leading layers each generator owns (1: the paper's, every layer but the
            first shared; the depth of the net: nothing shared).
    """

    def __init__(self, copies: Sequence[nn.Module], *, private_layers: int = 1) -> None:
        super().__init__()
        if len(copies) < 2:
            raise ConfigError(f"MAD-GAN needs num_generators >= 2 generators, got {len(copies)}; with one it is a GAN")
        for copy in copies:
            if not isinstance(getattr(copy, "net", None), nn.Sequential) or not hasattr(copy, "out_shape"):
                raise ConfigError(f"{type(copy).__name__} cannot be split into shared and private layers: a "
                                  "multi-head generator needs a decoder with a `net` (nn.Sequential) and an "
                                  "`out_shape`, e.g. zoo.nets.DCGANGenerator or zoo.nets.MLPDecoder")
            if getattr(copy, "reference_size", 0):
                raise ConfigError("reference and virtual batch norm are not supported in MAD-GAN's generators (the "
                                  "reference batch would need to pass every head); use norm 'batch' or 'none'")
        depth = len(split_layers(copies[0].net))
        if isinstance(private_layers, bool) or not isinstance(private_layers, int) or not 1 <= private_layers <= depth:
            raise ConfigError(f"private_layers must be an int in [1, {depth}] (the generator's depth), got "
                              f"{private_layers!r}; 1 shares every layer but the first (the paper's), {depth} "
                              "shares none")
        self.num_generators, self.private_layers = len(copies), private_layers
        self.out_shape = tuple(copies[0].out_shape)
        self.heads = nn.ModuleList(nn.Sequential(*split_layers(c.net)[:private_layers]) for c in copies)
        self.trunk = nn.Sequential(*split_layers(copies[0].net)[private_layers:])
        # a convolutional net reads z as a (D, 1, 1) map, a fully connected one as a vector
        self.z_as_map = isinstance(self.heads[0][0][0], (nn.Conv2d, nn.ConvTranspose2d))

    def forward(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        z = z.view(n, -1, 1, 1) if self.z_as_map else z.view(n, -1)
        # index values are the caller's to check (MADGAN.sample does): a check here would sync the GPU per batch
        rows = [(index == i).nonzero().squeeze(1) for i in range(self.num_generators)]
        heads = torch.cat([head(z[r]) for r, head in zip(rows, self.heads) if len(r)])  # grouped by generator
        h = heads[torch.cat(rows).argsort()]  # back in batch order, (N, ...)
        return self.trunk(h).view(n, *self.out_shape)

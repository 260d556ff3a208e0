"""Plain nn.Modules (no Lightning): the architectures methods are built from.

Two factory shapes, so a method can size the nets it is given (see zoo/factories.py):

- an *encoder* is built as ``Encoder(in_shape, out_features, **options)``: images (N, C, H, W) -> (N, out_features);
- a *decoder* is built as ``Decoder(in_features, out_shape, **options)``: (N, in_features) -> (N, *out_shape),
  unbounded values (logits or means); the method maps them to [0, 1].
"""
from collections.abc import Callable, Sequence

from torch import nn

from zoo.nets.conv import ConvDecoder, ConvEncoder
from zoo.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from zoo.nets.mlp import MLPDecoder, MLPEncoder

EncoderFactory = Callable[[Sequence[int], int], nn.Module]
DecoderFactory = Callable[[int, Sequence[int]], nn.Module]

# Encoder/decoder pairs as factory specs (zoo/factories.py), for methods' defaults and entry points.
MLP_NETS = {
    "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {}},
    "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {}},
}
CONV_NETS = {
    "encoder": {"class_path": "zoo.nets.ConvEncoder", "init_args": {}},
    "decoder": {"class_path": "zoo.nets.ConvDecoder", "init_args": {}},
}

__all__ = [
    "CONV_NETS",
    "MLP_NETS",
    "ConvDecoder",
    "ConvEncoder",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DecoderFactory",
    "EncoderFactory",
    "MLPDecoder",
    "MLPEncoder",
]

"""Plain nn.Modules (no Lightning): the architectures methods are built from.

Two factory shapes, so a method can size the nets it is given (see zoo/factories.py):

- an *encoder* is built as ``Encoder(in_shape, out_features, **options)``: images (N, C, H, W) -> (N, out_features);
- a *decoder* is built as ``Decoder(in_features, out_shape, **options)``: (N, in_features) -> (N, *out_shape),
  unbounded values (logits or means); the method maps them to [0, 1].

Class-conditional nets (zoo/nets/conditional.py) are built with the number of classes after the sizes
(``G(in_features, out_shape, num_classes)``, ``D(in_shape, out_features, num_classes, conditioning)``) and take
the labels y (N,) as a second input: ``G(z, y)``, ``D(x, y)``.
"""
from collections.abc import Callable, Sequence

from torch import nn

from zoo.nets.batchnorm import ReferenceBatchNorm2d, VirtualBatchNorm2d
from zoo.nets.beta_vae import BurgessDecoder, BurgessEncoder
from zoo.nets.conditional import ConditionalDCGANDiscriminator, ConditionalDCGANGenerator
from zoo.nets.conv import ConvDecoder, ConvEncoder
from zoo.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from zoo.nets.gated_pixelcnn import GatedPixelCNNNet
from zoo.nets.infogan import InfoGANDiscriminator, QHead
from zoo.nets.joint import JointDiscriminator
from zoo.nets.mlp import MLPDecoder, MLPEncoder
from zoo.nets.multi import MultiHeadGenerator
from zoo.nets.progan import ProGANDiscriminator, ProGANGenerator
from zoo.nets.pixelrnn import DiagonalBiLSTMLayer, PixelRNNNet, RowLSTMLayer

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
    "BurgessDecoder",
    "BurgessEncoder",
    "ConditionalDCGANDiscriminator",
    "ConditionalDCGANGenerator",
    "ConvDecoder",
    "ConvEncoder",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DiagonalBiLSTMLayer",
    "DecoderFactory",
    "EncoderFactory",
    "GatedPixelCNNNet",
    "InfoGANDiscriminator",
    "JointDiscriminator",
    "MLPDecoder",
    "MLPEncoder",
    "MultiHeadGenerator",
    "QHead",
    "PixelRNNNet",
    "ProGANDiscriminator",
    "ProGANGenerator",
    "ReferenceBatchNorm2d",
    "RowLSTMLayer",
    "VirtualBatchNorm2d",
]

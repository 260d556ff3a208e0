"""The nets produce the shapes the methods size them for, for every image size the zoo uses."""
import pytest
import torch

from zoo.errors import ConfigError
from zoo.nets import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from zoo.nets.conv import stage_sizes

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64), (1, 7, 12)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("encoder, decoder", [(MLPEncoder, MLPDecoder), (ConvEncoder, ConvDecoder)])
def test_encoder_decoder_shapes(shape, encoder, decoder):
    x = torch.rand(3, *shape)
    z = encoder(shape, 10)(x)
    assert z.shape == (3, 10)
    assert decoder(10, shape)(z).shape == (3, *shape)


def test_stage_sizes_retrace_odd_sides():
    assert stage_sizes(28, 28) == [(28, 28), (14, 14), (7, 7), (4, 4)]
    assert stage_sizes(8, 8) == [(8, 8), (4, 4)]
    assert stage_sizes(4, 4) == [(4, 4)]


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: MLPEncoder((1, 8, 8), 0), "out_features must be >= 1, got 0"),
        (lambda: MLPEncoder((1, 8), 4), "in_shape must be three positive ints"),
        (lambda: ConvEncoder((1, 8, 8), 4, width=0), "width must be >= 1, got 0"),
        (lambda: MLPDecoder(4, (1, 8, 8), activation="swish"), "unknown activation 'swish'"),
    ],
)
def test_bad_arguments_name_the_value(build, match):
    with pytest.raises(ConfigError, match=match):
        build()

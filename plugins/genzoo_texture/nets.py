"""Texture synthesis networks (section 4.1.4), for one stationary texture image.

At 224x224 the latent is 7x7x5; the generator has five 4x4 transposed convolutions with
upsampling factor 2 and 512, 512, 256, 128 and C filters, ReLU between (and batch norm, which
the paper uses throughout section 4), tanh at the end. The inference model mirrors it with
convolutions and LReLU(0.2). The energy model has three convolutions: 7x7 stride 2 with 100
filters, 7x7 stride 2 with 70, 5x5 stride 1 with 30; f(x) sums its last feature maps over
channels and positions, so f is defined for any image size (a FRAME-style energy).
The latent's spatial size is the image size / 32, so any multiple of 32 works (64x64 crops give
a 2x2x5 latent). ``upsample = "transposed"`` is the paper's generator; ``"nearest"`` or
``"bilinear"`` replaces each transposed convolution by that resize and a 3x3 convolution (no
checkerboard).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from torch import nn

from genzoo.interfaces import Models
from genzoo.layers import NetEncoder, NetGenerator, SummedEnergy, conv_stack, scaled

GENERATOR = [512, 512, 256, 128]
ENCODER = [128, 256, 512, 512]
ENERGY = [(100, 7, 2, 3), (70, 7, 2, 3), (30, 5, 1, 2)]


def build_texture(
    sample_shape: tuple[int, ...],
    width: Annotated[float, Field(gt=0, le=64)] = 1.0,
    latent_channels: Annotated[int, Field(ge=1, le=4096)] = 5,
    upsample: Literal["transposed", "nearest", "bilinear"] = "transposed",
) -> Models:
    """Texture generator/inference/energy nets; ``width`` scales every hidden layer."""
    if len(sample_shape) != 3 or sample_shape[1] % 32 or sample_shape[2] % 32:
        raise ValueError(
            f"texture nets take images whose sides are multiples of 32, got "
            f"samples of shape {tuple(sample_shape)}; set data.size accordingly"
        )
    if width <= 0 or latent_channels <= 0:
        raise ValueError("width and latent_channels must be positive")
    c, h, w = sample_shape
    latent = (latent_channels, h // 32, w // 32)
    gen = conv_stack(
        [(scaled(n, width), 4, 2, 1, True) for n in GENERATOR] + [(c, 4, 2, 1, False)],
        latent_channels,
        transpose=True,
        act=nn.ReLU(True),
        last_act=nn.Tanh(),
        resize=None if upsample == "transposed" else upsample,
    )
    enc = conv_stack(
        [(scaled(n, width), 4, 2, 1, False) for n in ENCODER]
        + [(2 * latent_channels, 4, 2, 1, False)],
        c,
        transpose=False,
        act=nn.LeakyReLU(0.2, True),
        last_act=None,
    )
    en = conv_stack(
        [(scaled(n, width), k, s, p, False) for n, k, s, p in ENERGY],
        c,
        transpose=False,
        act=nn.LeakyReLU(0.2, True),
        last_act=None,
    )
    return Models(NetGenerator(latent, gen), NetEncoder(latent, enc), SummedEnergy(en))

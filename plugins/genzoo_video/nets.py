"""Spatio-temporal (3-D) networks for dynamic textures (section 4.1.5, Fig. 12).

Clips are ``(C, T, H, W)``. The paper, at 32 frames of 64x64:

* generator: 10 latent factors of size 1x1x2 per clip (here ``latent_channels x T/16 x 1 x 1``),
  the spatio-temporal transposed-convolution generator of Han et al. (WACV 2019) with kernel
  size 5 in its second layer. Its first layer is fully connected in space (1x1 to H/16 x W/16)
  and convolutional in time (kernel 3, stride 1); the second (kernel 5) and the three after it
  (kernel 4) double every axis; 512, 256, 128, 64 and C filters, batch norm and ReLU between,
  tanh at the end.
* inference model: five 3-D convolutions; the first four with kernel 4 halve every axis (64,
  128, 256, 512 filters), the last is fully connected in space and convolutional in time
  (kernel 3), giving the mean and log-std of the same shape as the latent.
* energy model: three 3-D convolutions with 64, 128 and 128 filters; the first two with kernel 4
  halve every axis, the last is fully connected in space and convolutional in time (kernel 4,
  stride 2). f sums its output over time, so the energy is stationary in time and not in space.

``width`` multiplies every hidden layer's filters (a CPU run can use 16 frames of 32x32).
"""

from __future__ import annotations

from torch import nn

from genzoo.interfaces import Models
from genzoo.layers import NetEncoder, NetGenerator, SummedEnergy, conv_stack, scaled

GENERATOR = [512, 256, 128, 64]
ENCODER = [64, 128, 256, 512]
ENERGY = [64, 128, 128]


def build_video3d(
    sample_shape: tuple[int, ...], width: float = 1.0, latent_channels: int = 10
) -> Models:
    """Spatio-temporal generator, inference and energy nets for clips ``(C, T, H, W)`` whose
    frame count and sides are multiples of 16."""
    if len(sample_shape) != 4 or any(n % 16 for n in sample_shape[1:]):
        raise ValueError(
            f"video3d takes clips (C, T, H, W) with T, H and W multiples of 16, got "
            f"samples of shape {tuple(sample_shape)}; set data.frames and data.size "
            f"accordingly"
        )
    if width <= 0 or latent_channels <= 0:
        raise ValueError("width and latent_channels must be positive")
    c, t, h, w = sample_shape
    latent = (latent_channels, t // 16, 1, 1)
    g = [scaled(n, width) for n in GENERATOR]
    gen = conv_stack(
        [
            (g[0], (3, h // 16, w // 16), 1, (1, 0, 0), True),
            (g[1], 5, 2, 2, True, 1),
            (g[2], 4, 2, 1, True),
            (g[3], 4, 2, 1, True),
            (c, 4, 2, 1, False),
        ],
        latent_channels,
        transpose=True,
        act=nn.ReLU(True),
        last_act=nn.Tanh(),
        dims=3,
    )
    enc = conv_stack(
        [(scaled(n, width), 4, 2, 1, False) for n in ENCODER]
        + [(2 * latent_channels, (3, h // 16, w // 16), 1, (1, 0, 0), False)],
        c,
        transpose=False,
        act=nn.LeakyReLU(0.2, True),
        last_act=None,
        dims=3,
    )
    e = [scaled(n, width) for n in ENERGY]
    en = conv_stack(
        [
            (e[0], 4, 2, 1, False),
            (e[1], 4, 2, 1, False),
            (e[2], (4, h // 4, w // 4), (2, 1, 1), (1, 0, 0), False),
        ],
        c,
        transpose=False,
        act=nn.LeakyReLU(0.2, True),
        last_act=None,
        dims=3,
    )
    return Models(NetGenerator(latent, gen), NetEncoder(latent, enc), SummedEnergy(en))

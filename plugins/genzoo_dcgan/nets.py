"""The paper's appendix networks, layer by layer, with a width multiplier.

Rows are ``(out_channels, kernel, stride, padding, batch_norm[, output_padding])``.
Where the tables cannot be followed literally, the choice is written beside the row:

* Table 4 ends the generator with ReLU and the energy model with LReLU; images live in
  [-1, 1], so the generator ends with tanh (as in Tables 5 and 6) and f is the last
  convolution's output as is (as in Tables 5, 6 and the authors' code).
* Table 6's 4x4 kernels cannot map 3x3 to 7x7 or 3x3 to 1x1 with integer padding: the
  generator's second layer uses output_padding 1 and the encoder's and energy model's last
  layer a 3x3 kernel (the whole 3x3 map, i.e. fully connected, as the table's 1x1 output says).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from einops import rearrange
from pydantic import Field
from torch import nn

from genzoo.interfaces import Encoder, Generator, Models, Posterior
from genzoo.layers import SummedEnergy, conv_stack, posterior_from, scaled

# (generator, encoder body, energy body, final kernel of encoder/energy) per image size
TABLES = {
    # Table 6: MNIST / Fashion-MNIST, 28x28
    28: (
        [(1024, 3, 1, 0, True), (512, 4, 2, 1, True, 1), (256, 4, 2, 1, True)],
        [(128, 4, 2, 1, False), (256, 4, 2, 1, False), (512, 4, 2, 1, False)],
        [(128, 4, 2, 1, False), (256, 4, 2, 1, False), (512, 4, 2, 1, False)],
        3,
        4,
        2,
        1,
    ),
    # Table 5: CIFAR-10, 32x32
    32: (
        [(512, 4, 1, 0, True), (512, 4, 2, 1, True), (256, 4, 2, 1, True), (128, 4, 2, 1, True)],
        [(64, 3, 1, 1, False), (128, 4, 2, 1, False), (256, 4, 2, 1, False), (512, 4, 2, 1, False)],
        [(64, 3, 1, 1, False), (128, 4, 2, 1, False), (256, 4, 2, 1, False), (256, 4, 2, 1, False)],
        4,
        3,
        1,
        1,
    ),
    # Table 4: CelebA, 64x64
    64: (
        [(512, 4, 1, 0, True), (512, 4, 2, 1, True), (256, 4, 2, 1, True), (128, 4, 2, 1, True)],
        [(64, 4, 2, 1, True), (128, 4, 2, 1, True), (256, 4, 2, 1, True), (512, 4, 2, 1, True)],
        [(64, 4, 2, 1, True), (128, 4, 2, 1, True), (256, 4, 2, 1, True), (256, 4, 2, 1, True)],
        4,
        4,
        2,
        1,
    ),
}


def _widen(rows, width):
    return [(scaled(r[0], width), *r[1:]) for r in rows]


class DCGANGenerator(Generator):
    def __init__(self, latent_dim: int, body: nn.Sequential):
        super().__init__()
        self.latent_shape = (latent_dim,)
        self.net = body

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(rearrange(z, "b d -> b d 1 1"))


class DCGANEncoder(Encoder):
    def __init__(self, latent_dim: int, body: nn.Sequential):
        super().__init__()
        self.latent_shape = (latent_dim,)
        self.net = body

    def forward(self, x: torch.Tensor) -> Posterior:
        return posterior_from(self, rearrange(self.net(x), "b c 1 1 -> b c"), self.latent_shape[0])


def build_dcgan(
    sample_shape: tuple[int, ...],
    width: Annotated[float, Field(gt=0, le=64)] = 1.0,
    latent_dim: Annotated[int, Field(ge=1, le=65536)] = 100,
    hidden_bias: bool = True,
    energy_activation: Literal["leaky_relu", "silu"] = "leaky_relu",
) -> Models:
    """DCGAN family for 28x28 (Table 6), 32x32 (Table 5) and 64x64 (Table 4) images.

    ``width`` multiplies every hidden layer's channels; ``latent_dim`` is d (paper: 100).
    ``hidden_bias = False``: the encoder's and energy model's hidden convolutions have no bias
    (the authors' ``_netI``/``_netE``; their output layers keep theirs). At 32x32 with width 1
    and no hidden bias these are the authors' CIFAR-10 networks layer for layer, the encoder's
    two output convolutions (mean, log-variance) stacked as one.
    ``energy_activation = "silu"``: the energy model's hidden layers use SiLU instead of the
    paper's leaky ReLU, so that f is smooth: its gradient vanishes at its minima, which a
    landscape's descents can then reach (a piecewise-linear f has its minima on kinks, where
    no gradient vanishes).
    """
    if (
        len(sample_shape) != 3
        or sample_shape[1] != sample_shape[2]
        or sample_shape[1] not in TABLES
    ):
        raise ValueError(
            f"dcgan takes square 28x28, 32x32 or 64x64 images, got samples of "
            f"shape {tuple(sample_shape)}; resize the data or pick another arch"
        )
    if width <= 0 or latent_dim <= 0:
        raise ValueError("width and latent_dim must be positive")
    c = sample_shape[0]
    gen_rows, enc_rows, en_rows, last_k, out_k, out_s, out_p = TABLES[sample_shape[1]]
    out_row = (c, out_k, out_s, out_p, False)
    gen = conv_stack(
        _widen(gen_rows, width) + [out_row],
        latent_dim,
        transpose=True,
        act=nn.ReLU(True),
        last_act=nn.Tanh(),
    )
    lrelu = nn.LeakyReLU(0.2, True)
    enc = conv_stack(
        _widen(enc_rows, width) + [(2 * latent_dim, last_k, 1, 0, False)],
        c,
        transpose=False,
        act=lrelu,
        last_act=None,
        hidden_bias=hidden_bias,
    )
    en = conv_stack(
        _widen(en_rows, width) + [(1, last_k, 1, 0, False)],
        c,
        transpose=False,
        act=lrelu if energy_activation == "leaky_relu" else nn.SiLU(True),
        last_act=None,
        hidden_bias=hidden_bias,
    )
    return Models(DCGANGenerator(latent_dim, gen), DCGANEncoder(latent_dim, enc), SummedEnergy(en))

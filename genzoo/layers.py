"""Small building blocks shared by architecture plugins."""

from __future__ import annotations

import torch
from torch import nn

from genzoo.interfaces import Encoder, Energy, Generator, Posterior


def scaled(channels: int, width: float) -> int:
    """A layer's channel count times the width multiplier (at least 1)."""
    return max(1, int(round(channels * width)))


def posterior_from(encoder: Encoder, out, latent_channels: int) -> Posterior:
    """Split a network output whose channel dim holds ``[mean, second head]`` into the
    encoder's Posterior (the second head is a log-std or a log-variance, as
    ``Encoder.posterior_head`` says)."""
    return encoder.to_posterior(out[:, :latent_channels], out[:, latent_channels:])


def conv_stack(
    spec: list[tuple],
    in_channels: int,
    transpose: bool,
    act: nn.Module,
    last_act: nn.Module | None,
    dims: int = 2,
    hidden_bias: bool = True,
    resize: str | None = None,
) -> nn.Sequential:
    """Layers from rows ``(out_channels, kernel, stride, padding, batch_norm[, output_padding])``;
    ``act`` after every row but the last, ``last_act`` (if any) after the last. ``dims`` is 2
    for images, 3 for video (kernel, stride and padding may then be per-axis tuples). A layer
    has a bias unless batch norm follows it or (``hidden_bias = False``) it is not the last.
    ``resize`` ("nearest" or "bilinear"), with ``transpose``: each row upsamples by its stride
    with that interpolation and then convolves with a 3x3 kernel (same size), instead of a
    transposed convolution, whose uneven kernel overlap paints checkerboards (Odena et al.,
    2016, "Deconvolution and checkerboard artifacts")."""
    conv = {
        2: (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d),
        3: (nn.Conv3d, nn.ConvTranspose3d, nn.BatchNorm3d),
    }[dims]
    layers: list[nn.Module] = []
    c = in_channels
    for i, row in enumerate(spec):
        out, k, s, p, bn = row[:5]
        last = i == len(spec) - 1
        bias = not bn and (hidden_bias or last)
        if transpose and resize:
            if s != 1:
                layers.append(nn.Upsample(scale_factor=s, mode=resize))
            layers.append(conv[0](c, out, 3, 1, 1, bias=bias))
        elif transpose:
            op = row[5] if len(row) > 5 else 0
            layers.append(conv[1](c, out, k, s, p, output_padding=op, bias=bias))
        else:
            layers.append(conv[0](c, out, k, s, p, bias=bias))
        if bn:
            layers.append(conv[2](out))
        if not last:
            layers.append(act)
        elif last_act is not None:
            layers.append(last_act)
        c = out
    return nn.Sequential(*layers)


class SummedEnergy(Energy):
    """``f(x)``: the sum of a network's outputs over channels and positions."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.net = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1).sum(1)


class NetGenerator(Generator):
    """``g(z)``: one network from a latent of ``latent_shape`` to a sample."""

    def __init__(self, latent_shape: tuple[int, ...], body: nn.Module):
        super().__init__()
        self.latent_shape = tuple(latent_shape)
        self.net = body

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class NetEncoder(Encoder):
    """``q(z|x)``: one network whose output holds ``[mean, log_std]`` along channels."""

    def __init__(self, latent_shape: tuple[int, ...], body: nn.Module):
        super().__init__()
        self.latent_shape = tuple(latent_shape)
        self.net = body

    def forward(self, x: torch.Tensor) -> Posterior:
        return posterior_from(self, self.net(x), self.latent_shape[0])

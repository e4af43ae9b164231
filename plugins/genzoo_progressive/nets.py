"""Networks that grow layer by layer in synchrony (section 4.1.3, Figs. 9-10).

All three networks start at 4x4 and add a block per doubling, as progressive GANs do (without
minibatch discrimination or gradient penalty): the generator adds an upsampling block, the
inference and energy models add a downsampling block in front. 1x1 convolutions project
between RGB and features at every resolution ("toRGB" / "fromRGB"). While a new block fades
in, the output (generator) or the input features (encoder, energy) are
``(1 - fade) * old path + fade * new path``, so at fade = 0 each network computes exactly what
it computed before the block was added (on the upsampled / downsampled image).

Channels per resolution r: ``min(max_channels, 8192 / r)`` times ``width`` (progressive GANs:
512 up to 32x32, then 256, 128, ... 16 at 1024x1024). The generator uses batch norm (the paper
uses it throughout) and tanh at the end; the inference and energy models LReLU(0.2).

Two options of progressive GANs (Karras et al. 2018), neither of them minibatch discrimination
or a gradient penalty, which the paper does without:

- ``equalized_lr``: every convolution keeps its weights N(0, 1) and scales them at run time by
  He's constant sqrt(2 / fan_in), so each layer's output has unit scale whatever its depth and
  Adam moves every layer, new or old, at the same relative speed. With the DCGAN init
  N(0, 0.02) instead, each of the energy and inference models' unnormalised 3x3 convolutions
  shrinks its input (0.02 * sqrt(9 * 16) ~ 0.24 at 16 channels), so a 64x64 image reaches the
  energy through eleven such layers with its detail attenuated ~1e-7 at init.
- ``generator_norm = "pixel"``: the generator's batch norm replaced by pixel-wise feature
  normalisation (no running statistics to carry across stages).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from einops import rearrange
from pydantic import Field
from torch import nn

from genzoo.growth import GrowthSchedule, Stage, upsample
from genzoo.interfaces import Encoder, Energy, Generator, Growing, Models, Posterior
from genzoo.layers import posterior_from, scaled


def _lrelu():
    return nn.LeakyReLU(0.2, True)


class EqualizedConv2d(nn.Module):
    """A convolution with weights N(0, 1) (set by ``reset_parameters``, not by the recipe's
    ``init_std``) multiplied at run time by He's constant ``sqrt(2 / fan_in)``; bias 0."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        transpose: bool = False,
    ):
        super().__init__()
        shape = (cin, cout, kernel, kernel) if transpose else (cout, cin, kernel, kernel)
        self.weight = nn.Parameter(torch.randn(shape))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.stride, self.padding, self.transpose = stride, padding, transpose
        self.scale = math.sqrt(2.0 / (cin * kernel * kernel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        op = nn.functional.conv_transpose2d if self.transpose else nn.functional.conv2d
        return op(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit mean square (progressive GANs' generator)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def _conv(
    equalized: bool,
    cin: int,
    cout: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    bias: bool = True,
    transpose: bool = False,
) -> nn.Module:
    if equalized:
        return EqualizedConv2d(cin, cout, kernel, stride, padding, bias, transpose)
    cls = nn.ConvTranspose2d if transpose else nn.Conv2d
    return cls(cin, cout, kernel, stride, padding, bias=bias)


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else PixelNorm()


class _Staged(nn.Module):
    level: int = 0
    fade: float = 1.0

    def set_stage(self, stage: Stage) -> None:
        if not 0 <= stage.level < self.n_levels:
            raise ValueError(
                f"stage {stage} is beyond this network's "
                f"{4 << (self.n_levels - 1)}x{4 << (self.n_levels - 1)}"
            )
        self.level, self.fade = stage.level, float(stage.fade)


class ProgressiveGenerator(_Staged, Generator, Growing):
    def __init__(
        self,
        latent_dim: int,
        channels: list[int],
        image_channels: int,
        equalized: bool = False,
        norm: str = "batch",
    ):
        super().__init__()
        self.latent_shape = (latent_dim,)
        self.n_levels = len(channels)
        c0, eq = channels[0], equalized
        self.first = nn.Sequential(
            _conv(eq, latent_dim, c0, 4, 1, 0, False, transpose=True),
            _norm(norm, c0),
            nn.ReLU(True),
            _conv(eq, c0, c0, 3, 1, 1, False),
            _norm(norm, c0),
            nn.ReLU(True),
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                _conv(eq, a, b, 3, 1, 1, False),
                _norm(norm, b),
                nn.ReLU(True),
                _conv(eq, b, b, 3, 1, 1, False),
                _norm(norm, b),
                nn.ReLU(True),
            )
            for a, b in zip(channels[:-1], channels[1:])
        )
        self.to_rgb = nn.ModuleList(_conv(eq, c, image_channels, 1) for c in channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.first(rearrange(z, "b d -> b d 1 1"))
        prev = h
        for block in self.blocks[: self.level]:
            prev, h = h, block(h)
        out = self.to_rgb[self.level](h)
        if self.level > 0 and self.fade < 1.0:
            old = upsample(self.to_rgb[self.level - 1](prev))
            out = old + self.fade * (out - old)
        return torch.tanh(out)


class _GrowingDown(_Staged):
    """fromRGB at the current resolution, then downsampling blocks to 4x4, then ``head``."""

    def __init__(
        self, channels: list[int], image_channels: int, out_channels: int, equalized: bool = False
    ):
        super().__init__()
        eq = equalized
        self.n_levels = len(channels)
        self.from_rgb = nn.ModuleList(
            nn.Sequential(_conv(eq, image_channels, c, 1), _lrelu()) for c in channels
        )
        # blocks[k - 1] takes level k (resolution 4 * 2^k) down to level k - 1
        self.blocks = nn.ModuleList(
            nn.Sequential(
                _conv(eq, b, b, 3, 1, 1),
                _lrelu(),
                _conv(eq, b, a, 3, 1, 1),
                _lrelu(),
                nn.AvgPool2d(2),
            )
            for a, b in zip(channels[:-1], channels[1:])
        )
        c0 = channels[0]
        self.head = nn.Sequential(
            _conv(eq, c0, c0, 3, 1, 1), _lrelu(), _conv(eq, c0, out_channels, 4, 1, 0)
        )

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        k = self.level
        h = self.from_rgb[k](x)
        if k > 0:
            h = self.blocks[k - 1](h)
            if self.fade < 1.0:
                old = self.from_rgb[k - 1](nn.functional.avg_pool2d(x, 2))
                h = old + self.fade * (h - old)
            for block in reversed(self.blocks[: k - 1]):
                h = block(h)
        return self.head(h)


class ProgressiveEncoder(_GrowingDown, Encoder, Growing):
    def __init__(
        self, latent_dim: int, channels: list[int], image_channels: int, equalized: bool = False
    ):
        super().__init__(channels, image_channels, 2 * latent_dim, equalized)
        self.latent_shape = (latent_dim,)

    def forward(self, x: torch.Tensor) -> Posterior:
        return posterior_from(
            self, rearrange(self.trunk(x), "b c 1 1 -> b c"), self.latent_shape[0]
        )


class ProgressiveEnergy(_GrowingDown, Energy, Growing):
    def __init__(self, channels: list[int], image_channels: int, equalized: bool = False):
        super().__init__(channels, image_channels, 1, equalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).flatten(1).sum(1)


def channels_at(resolution: int, width: float, max_channels: int = 512) -> int:
    return scaled(min(max_channels, 8192 // resolution), width)


def build_progressive(
    sample_shape: tuple[int, ...],
    width: Annotated[float, Field(gt=0, le=64)] = 1.0,
    latent_dim: Annotated[int, Field(ge=1, le=8192)] = 512,
    start: Annotated[int, Field(ge=4, le=8192)] = 4,
    stage_steps: Annotated[int, Field(ge=1, le=10**9)] = 1000,
    fade_steps: Annotated[int, Field(ge=0, le=10**9)] = 1000,
    max_channels: Annotated[int, Field(ge=1, le=8192)] = 512,
    equalized_lr: bool | list[Literal["generator", "encoder", "energy"]] = False,
    generator_norm: Literal["batch", "pixel"] = "batch",
) -> Models:
    """Growing generator, inference and energy nets for square images whose side is a power
    of two (4 to 1024 and beyond). ``start``: first resolution; ``stage_steps``: iterations at
    each resolution once it is fully in; ``fade_steps``: iterations of each fade-in; the last
    resolution is the data's. ``equalized_lr`` and ``generator_norm``: progressive GANs'
    equalised learning rate and pixel-wise normalisation (module docstring); ``equalized_lr``
    is true for all three networks or a list of those that take it."""
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise ValueError(
            f"progressive takes square images (C, H, H), got samples of shape {tuple(sample_shape)}"
        )
    c, size, _ = sample_shape
    if width <= 0 or latent_dim <= 0 or max_channels <= 0:
        raise ValueError("width, latent_dim and max_channels must be positive")
    growth = GrowthSchedule(start, size, stage_steps, fade_steps)
    resolutions = [4 << k for k in range(int(math.log2(size // 4)) + 1)]
    chans = [channels_at(r, width, max_channels) for r in resolutions]
    eq = {"generator", "encoder", "energy"} if equalized_lr is True else set(equalized_lr or ())
    return Models(
        ProgressiveGenerator(latent_dim, chans, c, "generator" in eq, generator_norm),
        ProgressiveEncoder(latent_dim, chans, c, "encoder" in eq),
        ProgressiveEnergy(chans, c, "energy" in eq),
        growth=growth,
    )

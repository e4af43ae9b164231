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
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from genzoo.growth import GrowthSchedule, Stage, upsample
from genzoo.interfaces import Encoder, Energy, Generator, Growing, Models, Posterior
from genzoo.layers import posterior_from, scaled


def _lrelu():
    return nn.LeakyReLU(0.2, True)


class _Staged(nn.Module):
    level: int = 0
    fade: float = 1.0

    def set_stage(self, stage: Stage) -> None:
        if not 0 <= stage.level < self.n_levels:
            raise ValueError(f"stage {stage} is beyond this network's "
                             f"{4 << (self.n_levels - 1)}x{4 << (self.n_levels - 1)}")
        self.level, self.fade = stage.level, float(stage.fade)


class ProgressiveGenerator(_Staged, Generator, Growing):
    def __init__(self, latent_dim: int, channels: list[int], image_channels: int):
        super().__init__()
        self.latent_shape = (latent_dim,)
        self.n_levels = len(channels)
        c0 = channels[0]
        self.first = nn.Sequential(nn.ConvTranspose2d(latent_dim, c0, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(c0), nn.ReLU(True),
                                   nn.Conv2d(c0, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0),
                                   nn.ReLU(True))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                          nn.Conv2d(a, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True),
                          nn.Conv2d(b, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True))
            for a, b in zip(channels[:-1], channels[1:]))
        self.to_rgb = nn.ModuleList(nn.Conv2d(c, image_channels, 1) for c in channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.first(rearrange(z, "b d -> b d 1 1"))
        prev = h
        for block in self.blocks[:self.level]:
            prev, h = h, block(h)
        out = self.to_rgb[self.level](h)
        if self.level > 0 and self.fade < 1.0:
            old = upsample(self.to_rgb[self.level - 1](prev))
            out = old + self.fade * (out - old)
        return torch.tanh(out)


class _GrowingDown(_Staged):
    """fromRGB at the current resolution, then downsampling blocks to 4x4, then ``head``."""

    def __init__(self, channels: list[int], image_channels: int, out_channels: int):
        super().__init__()
        self.n_levels = len(channels)
        self.from_rgb = nn.ModuleList(nn.Sequential(nn.Conv2d(image_channels, c, 1), _lrelu())
                                      for c in channels)
        # blocks[k - 1] takes level k (resolution 4 * 2^k) down to level k - 1
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(b, b, 3, 1, 1), _lrelu(), nn.Conv2d(b, a, 3, 1, 1), _lrelu(),
                          nn.AvgPool2d(2))
            for a, b in zip(channels[:-1], channels[1:]))
        c0 = channels[0]
        self.head = nn.Sequential(nn.Conv2d(c0, c0, 3, 1, 1), _lrelu(),
                                  nn.Conv2d(c0, out_channels, 4, 1, 0))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        k = self.level
        h = self.from_rgb[k](x)
        if k > 0:
            h = self.blocks[k - 1](h)
            if self.fade < 1.0:
                old = self.from_rgb[k - 1](nn.functional.avg_pool2d(x, 2))
                h = old + self.fade * (h - old)
            for block in reversed(self.blocks[:k - 1]):
                h = block(h)
        return self.head(h)


class ProgressiveEncoder(_GrowingDown, Encoder, Growing):
    def __init__(self, latent_dim: int, channels: list[int], image_channels: int):
        super().__init__(channels, image_channels, 2 * latent_dim)
        self.latent_shape = (latent_dim,)

    def forward(self, x: torch.Tensor) -> Posterior:
        return posterior_from(self, rearrange(self.trunk(x), "b c 1 1 -> b c"),
                              self.latent_shape[0])


class ProgressiveEnergy(_GrowingDown, Energy, Growing):
    def __init__(self, channels: list[int], image_channels: int):
        super().__init__(channels, image_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).flatten(1).sum(1)


def channels_at(resolution: int, width: float, max_channels: int = 512) -> int:
    return scaled(min(max_channels, 8192 // resolution), width)


def build_progressive(sample_shape: tuple[int, ...], width: float = 1.0, latent_dim: int = 512,
                      start: int = 4, stage_steps: int = 1000, fade_steps: int = 1000,
                      max_channels: int = 512) -> Models:
    """Growing generator, inference and energy nets for square images whose side is a power
    of two (4 to 1024 and beyond). ``start``: first resolution; ``stage_steps``: iterations at
    each resolution once it is fully in; ``fade_steps``: iterations of each fade-in; the last
    resolution is the data's."""
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise ValueError(f"progressive takes square images (C, H, H), got samples of shape "
                         f"{tuple(sample_shape)}")
    c, size, _ = sample_shape
    if width <= 0 or latent_dim <= 0 or max_channels <= 0:
        raise ValueError("width, latent_dim and max_channels must be positive")
    growth = GrowthSchedule(start, size, stage_steps, fade_steps)
    resolutions = [4 << k for k in range(int(math.log2(size // 4)) + 1)]
    chans = [channels_at(r, width, max_channels) for r in resolutions]
    return Models(ProgressiveGenerator(latent_dim, chans, c),
                  ProgressiveEncoder(latent_dim, chans, c),
                  ProgressiveEnergy(chans, c), growth=growth)

"""Incomplete training images (section 4.4): fixed occlusion masks, and the data set that
hides the occluded pixels from every model.

A mask is ``True`` where a pixel is observed. ``pixels`` hides an exact ``fraction`` of the
pixels (salt-and-pepper, the paper's P.5 and P.7); ``blocks`` hides ``count`` squares of
``size`` x ``size`` pixels at random places (MB10: ten 10x10 blocks at 64x64; B20, B30: one
block of 20 or 30 at 64x64). Blocks may overlap. The mask of training example ``i`` is drawn
from a generator seeded by the recipe's seed and ``i`` alone, so it is the same in every epoch,
after resume and in evaluation, and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, NamedTuple

import torch
from pydantic import Field
from torch.utils.data import Dataset

from genzoo.data import samples_of
from genzoo.schema import schema


@schema
@dataclass(frozen=True)
class Occlusion:
    """A recipe's ``[data.occlusion]`` table."""

    kind: Literal["pixels", "blocks"]
    fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5  # pixels: the share of pixels hidden
    count: Annotated[int, Field(ge=1, le=10_000)] = 1  # blocks: how many squares
    size: Annotated[int, Field(ge=0, le=100_000)] = 0  # blocks: their side in pixels
    label: str = ""  # the paper's name of this occlusion (P.5, MB10, B20, ...) for tables

    def check(self, sample_shape: tuple[int, ...]) -> None:
        """Raise ``ValueError`` saying what to fix when this occlusion does not fit."""
        if len(sample_shape) != 3:
            raise ValueError(
                f"occlusion works on images (C, H, W), not samples of shape {tuple(sample_shape)}"
            )
        h, w = sample_shape[1:]
        if self.kind == "pixels" and not 0 < self.fraction < 1:
            raise ValueError(f"data.occlusion.fraction must lie in (0, 1), got {self.fraction}")
        if self.kind == "blocks" and (self.count < 1 or not 1 <= self.size <= min(h, w)):
            raise ValueError(
                f"data.occlusion needs count >= 1 and 1 <= size <= {min(h, w)} "
                f"(the image is {h}x{w}), got count {self.count}, size {self.size}"
            )

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.kind == "pixels":
            return f"P{self.fraction:g}"
        return f"{self.count}x B{self.size}"


def mask_of(occ: Occlusion, height: int, width: int, seed: int, index: int) -> torch.Tensor:
    """The ``(1, H, W)`` boolean mask of training example ``index`` (True: observed)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + index + 1)
    mask = torch.ones(height * width, dtype=torch.bool)
    if occ.kind == "pixels":
        hidden = int(round(occ.fraction * height * width))
        mask[torch.randperm(height * width, generator=g)[:hidden]] = False
        return mask.view(1, height, width)
    mask = mask.view(height, width)
    for _ in range(occ.count):
        top = int(torch.randint(0, height - occ.size + 1, (1,), generator=g))
        left = int(torch.randint(0, width - occ.size + 1, (1,), generator=g))
        mask[top : top + occ.size, left : left + occ.size] = False
    return mask.view(1, height, width)


class Incomplete(NamedTuple):
    """An incomplete example, or a batch of them: ``x`` with every hidden value set to 0,
    ``mask`` (True: observed) and the example's ``index`` in the training set."""

    x: torch.Tensor
    mask: torch.Tensor
    index: torch.Tensor | int


class OccludedDataset(Dataset):
    """A training set whose items are :class:`Incomplete`: the hidden values never leave it
    (they are replaced, not multiplied, so NaN or huge values there change nothing)."""

    def __init__(self, base: Dataset, occ: Occlusion, sample_shape: tuple[int, ...], seed: int):
        occ.check(sample_shape)
        self.base, self.occ, self.seed = base, occ, seed
        self.height, self.width = sample_shape[1:]

    def __len__(self):
        return len(self.base)

    def mask(self, i: int) -> torch.Tensor:
        return mask_of(self.occ, self.height, self.width, self.seed, i)

    def __getitem__(self, i):
        x = samples_of(self.base[i])
        m = self.mask(i)
        return Incomplete(torch.where(m, x, torch.zeros((), dtype=x.dtype)), m, i)


def recovery_error(
    true: torch.Tensor, recovered: torch.Tensor, mask: torch.Tensor, pixel_range: float = 2.0
) -> float:
    """Table 3's error: the mean absolute difference between recovered and true values over the
    occluded pixels only, divided by the pixel range (2 for images in [-1, 1])."""
    hidden = ~mask.expand_as(true)
    if not bool(hidden.any()):
        raise ValueError("no pixel is occluded: the recovery error is undefined")
    return float((recovered - true).abs()[hidden].mean() / pixel_range)

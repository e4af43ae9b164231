"""One texture image, served as random crops (section 4.1.4: one model per image)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from PIL import Image
from pydantic import Field
from torch.utils.data import Dataset

from genzoo.data import DataSource
from genzoo.errors import GenzooError, did_you_mean
from genzoo_datasets.pil_images import open_image, pil_to_tensor

# Texture images scikit-image ships inside its package (no download).
BUNDLED = ("brick", "grass", "gravel")


class RandomCrops(Dataset):
    """``n`` crops of ``size`` x ``size``; crop ``i`` sits at a position fixed by ``i``."""

    def __init__(self, image: torch.Tensor, size: int, n: int, seed: int = 20190101):
        self.image, self.size, self.n = image, size, n
        _, h, w = image.shape
        g = torch.Generator().manual_seed(seed)
        self.tops = torch.randint(0, h - size + 1, (n,), generator=g)
        self.lefts = torch.randint(0, w - size + 1, (n,), generator=g)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        t, left = int(self.tops[i]), int(self.lefts[i])
        return self.image[:, t : t + self.size, left : left + self.size]


def _bundled(name: str) -> Image.Image:
    from skimage import data as skdata

    return Image.fromarray(np.asarray(getattr(skdata, name)()))


def texture_image(
    image: str = "brick",
    path: Path | None = None,
    size: Annotated[int, Field(ge=1, le=16384)] = 64,
    resize: Annotated[int, Field(ge=0, le=65536)] = 0,
    channels: int = 0,
    n_crops: Annotated[int, Field(ge=1, le=10**8)] = 20000,
) -> DataSource:
    """Random ``size`` x ``size`` crops of one texture image.

    ``image``: one of scikit-image's bundled textures (brick, grass, gravel: 512x512 gray);
    ``path``: an image file instead (relative to the recipe). ``resize``: scale the image so its
    shorter side has this many pixels first (0 keeps it). ``channels``: 1 or 3 (0 keeps the
    image's own). ``n_crops``: crops per epoch.
    """
    if channels not in (0, 1, 3):
        raise GenzooError(f"data.channels must be 0 (as the image), 1 or 3, got {channels}")
    if path is not None:
        im = open_image(path, channels or None)
        label = str(path)
    else:
        if image not in BUNDLED:
            raise GenzooError(
                f"data.image '{image}' is not a bundled texture"
                f"{did_you_mean(image, BUNDLED)}; or set data.path to an image file"
            )
        im = _bundled(image)
        im = im.convert("RGB" if channels == 3 else "L")
        label = f"scikit-image '{image}'"
    if resize:
        w, h = im.size
        k = resize / min(w, h)
        im = im.resize((max(1, round(w * k)), max(1, round(h * k))), Image.BICUBIC)
    x = pil_to_tensor(im)
    _, h, w = x.shape
    if size <= 0 or n_crops <= 0:
        raise GenzooError("data.size and data.n_crops must be positive")
    if size > min(h, w):
        raise GenzooError(
            f"data.size {size} is larger than the image ({h}x{w} after resize); "
            f"use a smaller crop or a larger data.resize"
        )
    return DataSource(
        RandomCrops(x, size, n_crops),
        (x.shape[0], size, size),
        description=f"{size}x{size} crops of {label} ({h}x{w})",
        stationary=True,
    )

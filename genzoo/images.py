"""Sample grids as PNG files (torchvision's image utilities)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torchvision.utils import save_image


def save_grid(x: torch.Tensor, path: Path | str, nrow: int | None = None) -> Path:
    """Save images in ``[-1, 1]`` (``B, C, H, W``) as one PNG grid, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = x.detach().float().cpu().clamp(-1, 1).add(1).div(2)
    nrow = nrow or max(1, int(math.sqrt(x.shape[0])))
    tmp = path.with_name(path.name + ".tmp")
    save_image(x, tmp, nrow=nrow, padding=2, format="png")
    os.replace(tmp, path)
    return path


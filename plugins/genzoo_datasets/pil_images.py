"""Reading image files into tensors in [-1, 1], with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from genzoo.data import to_unit_range
from genzoo.errors import GenzooError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def open_image(path: Path, channels: int | None) -> Image.Image:
    """Open ``path`` as a PIL image with 1 or 3 channels (``None``: keep gray as gray)."""
    path = Path(path)
    if not path.exists():
        raise GenzooError(f"image file '{path}' does not exist; check the path in the recipe")
    try:
        with Image.open(path) as im:
            im.load()
            if channels is None:
                channels = 1 if im.mode in ("L", "I", "I;16", "1", "LA") else 3
            return im.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise GenzooError(f"'{path}' is not a readable image ({type(exc).__name__}); replace "
                          f"or remove the file") from None


def pil_to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL image -> float tensor (C, H, W) in [-1, 1]."""
    a = np.asarray(im, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    return to_unit_range(torch.from_numpy(a.copy()).permute(2, 0, 1))

"""Reading image files into tensors in [-1, 1], with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from genzoo.data import to_unit_range
from genzoo.errors import GenzooError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


HIGH_PRECISION = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def open_image(path: Path, channels: int | None) -> Image.Image:
    """Open ``path`` as a PIL image with 1 or 3 channels (``None``: keep gray as gray).

    Gray images of more than 8 bits (16-bit PNGs, 32-bit integer or float TIFFs) keep their
    precision: they come back as a float ("F") image on the 0..255 scale, 16-bit values
    divided by 65535 and floats expected in [0, 1], rather than clipped to 8 bits."""
    path = Path(path)
    if not path.exists():
        raise GenzooError(f"image file '{path}' does not exist; check the path in the recipe")
    try:
        with Image.open(path) as im:
            im.load()
            if channels is None:
                channels = 1 if im.mode in ("L", "1", "LA", *HIGH_PRECISION) else 3
            if im.mode in HIGH_PRECISION and channels == 1:
                return _full_precision(im, path)
            return im.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise GenzooError(
            f"'{path}' is not a readable image ({type(exc).__name__}); replace or remove the file"
        ) from None


def _full_precision(im: Image.Image, path: Path) -> Image.Image:
    a = np.asarray(im).astype(np.float64)
    if im.mode == "F":
        if a.size and (a.min() < 0 or a.max() > 1 or not np.isfinite(a).all()):
            raise GenzooError(
                f"float image '{path}' holds values outside [0, 1] (or NaN); "
                f"save it scaled to [0, 1], or as an 8- or 16-bit image"
            )
        scale = 1.0
    else:
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise GenzooError(
                f"integer image '{path}' holds values outside 0..65535; save it "
                f"as an 8- or 16-bit image"
            )
        scale = 65535.0
    return Image.fromarray((a / scale * 255.0).astype(np.float32), mode="F")


def pil_to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL image -> float tensor (C, H, W) in [-1, 1] (a float "F" image on the 0..255 scale
    keeps its precision)."""
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float32).clip(0, 255)[None]
        return torch.from_numpy(a.copy()).div(127.5).sub(1.0)
    a = np.asarray(im, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    return to_unit_range(torch.from_numpy(a.copy()).permute(2, 0, 1))

"""A folder of images (CIFAR-10, CelebA, LSUN exported as files), streamed from disk."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Annotated

from PIL import Image
from pydantic import Field
from torch.utils.data import Dataset

from genzoo.data import DataSource
from genzoo.errors import GenzooError
from genzoo_datasets.pil_images import EXTENSIONS, open_image, pil_to_tensor


class ImageFiles(Dataset):
    """Image files read on demand, resized (shorter side) and centre-cropped to ``size``."""

    def __init__(self, files: list[Path], size: int, channels: int):
        self.files, self.size, self.channels = files, size, channels

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        im = open_image(self.files[i], self.channels)
        w, h = im.size
        k = self.size / min(w, h)
        im = im.resize((max(self.size, round(w * k)), max(self.size, round(h * k))), Image.BICUBIC)
        w, h = im.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        return pil_to_tensor(im.crop((left, top, left + self.size, top + self.size)))


def image_folder(
    root: Path,
    size: Annotated[int, Field(ge=1, le=16384)] = 64,
    channels: int = 3,
    test_fraction: float = 0.0,
) -> DataSource:
    """Every image under ``root`` (recursively), resized and centre-cropped to ``size``.

    ``test_fraction`` of the files (chosen by a hash of their path, so stable) is held out.
    """
    root = Path(root)
    if not root.is_dir():
        raise GenzooError(
            f"image folder '{root}' does not exist; set data.root to a folder of images"
        )
    if channels not in (1, 3) or size <= 0 or not 0 <= test_fraction < 1:
        raise GenzooError(
            "data.channels must be 1 or 3, data.size positive and data.test_fraction in [0, 1)"
        )
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise GenzooError(
            f"image folder '{root}' holds no images ({', '.join(sorted(EXTENSIONS))})"
        )
    cut = int(test_fraction * 1000)
    test = [f for f in files if zlib.crc32(str(f.relative_to(root)).encode()) % 1000 < cut]
    train = [f for f in files if zlib.crc32(str(f.relative_to(root)).encode()) % 1000 >= cut]
    if not train:
        raise GenzooError(f"image folder '{root}': no training images left after the test split")
    return DataSource(
        ImageFiles(train, size, channels),
        (channels, size, size),
        ImageFiles(test, size, channels) if test else None,
        description=f"{len(train)} images from {root} at {size}x{size}",
    )

"""LSUN scene categories from the official lmdb databases (``pip install 'genzoo[lsun]'``).

Read with the ``lmdb`` package directly rather than torchvision's ``LSUN`` class, which caches
each database's keys as a pickle in the current working folder and loads any such file it
finds there: a data set must never execute a file it did not write.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import torch
from torch.utils.data import Dataset

from genzoo.data import DataSource, data_home, to_unit_range
from genzoo.errors import GenzooError
from genzoo_datasets.vision import centre_square

DOWNLOAD = "https://github.com/fyu/lsun (download.py -c CATEGORY)"


class LmdbImages(Dataset):
    """The images of one LSUN lmdb database, each decoded, resized so its shorter side is
    ``size`` and centre-cropped when it is read. ``limit`` keeps the first N keys."""

    def __init__(self, path: Path, size: int, limit: int = 0):
        import lmdb

        self.path, self.size = Path(path), size
        try:
            self.env = lmdb.open(
                str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=64
            )
            with self.env.begin(write=False) as txn:
                keys = []
                for key in txn.cursor().iternext(keys=True, values=False):
                    keys.append(bytes(key))
                    if limit and len(keys) >= limit:
                        break
        except lmdb.Error as exc:
            raise GenzooError(
                f"'{path}' is not a readable LSUN lmdb database ({exc}); download "
                f"it again from {DOWNLOAD}"
            ) from None
        if not keys:
            raise GenzooError(f"LSUN database '{path}' holds no images; download it again")
        self.keys = keys

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        from PIL import Image

        with self.env.begin(write=False) as txn:
            buf = txn.get(self.keys[i])
        try:
            im = Image.open(io.BytesIO(buf))
            return to_unit_range(torch.from_numpy(centre_square(im, self.size)))
        except (OSError, ValueError) as exc:
            raise GenzooError(
                f"image {self.keys[i].decode(errors='replace')} in '{self.path}' "
                f"cannot be decoded ({exc}); download the database again"
            ) from None


def lsun(
    category: str = "bedroom",
    root: Path | None = None,
    size: int = 64,
    limit: int = 0,
    test_limit: int = 0,
) -> DataSource:
    """LSUN scenes (bedroom, tower, church_outdoor, ...) from ``CATEGORY_train_lmdb`` and, if
    present, ``CATEGORY_val_lmdb`` in ``root`` (default: the data folder), each image resized
    so its shorter side is ``size`` and centre-cropped. ``limit``/``test_limit``: the first N
    images (0 = all; bedroom alone holds 3,033,042)."""
    if importlib.util.find_spec("lmdb") is None:
        raise GenzooError("reading LSUN needs the lmdb package: pip install 'genzoo[lsun]'")
    if size <= 0 or limit < 0 or test_limit < 0:
        raise GenzooError("data.size must be positive, data.limit and data.test_limit 0 or more")
    root = Path(root) if root is not None else data_home()
    train_path = root / f"{category}_train_lmdb"
    if not train_path.is_dir():
        raise GenzooError(
            f"LSUN '{category}' not found: no folder '{train_path}'; download it "
            f"from {DOWNLOAD} and unzip it there, or set data.root"
        )
    train = LmdbImages(train_path, size, limit)
    val_path = root / f"{category}_val_lmdb"
    test = LmdbImages(val_path, size, test_limit) if val_path.is_dir() else None
    return DataSource(
        train,
        (3, size, size),
        test,
        description=f"LSUN {category} from {root}: {len(train)} train"
        f"{f', {len(test)} test' if test else ''} at {size}x{size}",
    )

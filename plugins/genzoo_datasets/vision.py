"""The paper's benchmark data sets through torchvision (CIFAR-10/100, SVHN, STL-10, MNIST,
Fashion-MNIST, CelebA, LSUN): downloaded on request into one folder, ``$GENZOO_DATA`` (by
default ``~/.cache/genzoo/data``), with torchvision's checksums; read offline from any folder.

A download whose checksum does not match is removed, never read. Every failure is one
:class:`GenzooError` line saying what to download or set.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from genzoo.data import DataSource, data_home, to_unit_range
from genzoo.errors import GenzooError


class UInt8Images(Dataset):
    """Images ``(N, C, H, W)`` kept as uint8 (a quarter of float32's memory), served in
    [-1, 1] with their integer labels."""

    def __init__(self, data: torch.Tensor, labels: torch.Tensor):
        if data.dtype != torch.uint8 or data.dim() != 4 or len(data) != len(labels):
            raise ValueError("UInt8Images takes uint8 (N, C, H, W) images and N labels")
        self.data, self.labels = data, labels

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return to_unit_range(self.data[i]), int(self.labels[i])

    @property
    def images(self) -> torch.Tensor:
        """All images in [-1, 1] (float32: made on demand, not kept)."""
        return to_unit_range(self.data)


def subset(ds: UInt8Images, limit: int) -> UInt8Images:
    return UInt8Images(ds.data[:limit], ds.labels[:limit]) if limit else ds


def hint(name: str, root: Path, where: str) -> str:
    return (f"set data.download = true to fetch it into {root}, or data.root to a folder "
            f"holding {where}")


def open_torchvision(name: str, make: Callable[[bool], Dataset], root: Path, download: bool,
                     archives: list[tuple[Path, str | None]], where: str) -> Dataset:
    """``make(download)``, a torchvision data set, with its failures as one line. After a
    failed download every archive in ``archives`` whose checksum does not match is removed."""
    from torchvision.datasets.utils import check_integrity

    try:
        return make(download)
    except (RuntimeError, urllib.error.URLError, OSError, EOFError, ValueError) as exc:
        removed = []
        if download:
            for path, md5 in archives:
                if path.is_file() and not check_integrity(str(path), md5):
                    path.unlink()
                    removed.append(path.name)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        if removed:
            raise GenzooError(f"{name}: the download of {', '.join(removed)} failed its checksum "
                              f"and was removed ({first}); try again, or put the files in "
                              f"{root} by hand") from None
        if download:
            raise GenzooError(f"{name}: download into {root} failed ({first}); check the "
                              f"connection, or put {where} in {root} by hand") from None
        raise GenzooError(f"{name} not found or damaged in {root} ({first}); "
                          f"{hint(name, root, where)}") from None


def _root(root: Path | None) -> Path:
    return Path(root) if root is not None else data_home()


def _labelled(data: np.ndarray, labels, channels_last: bool) -> UInt8Images:
    x = torch.from_numpy(np.ascontiguousarray(data))
    if x.dim() == 3:  # (N, H, W) gray
        x = x.unsqueeze(1)
    elif channels_last:
        x = x.permute(0, 3, 1, 2)
    return UInt8Images(x.contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.int64))


def _cifar(cls, name: str, root: Path | None, download: bool, limit: int,
           test_limit: int) -> DataSource:
    root = _root(root)
    archives = [(root / cls.filename, cls.tgz_md5)]
    where = f"{cls.base_folder}/"
    splits = [open_torchvision(name, lambda dl, t=train: cls(str(root), train=t, download=dl),
                               root, download, archives, where) for train in (True, False)]
    train, test = (_labelled(s.data, s.targets, channels_last=True) for s in splits)
    train, test = subset(train, limit), subset(test, test_limit)
    return DataSource(train, (3, 32, 32), test,
                      description=f"{name} from {root / cls.base_folder}: {len(train)} train, "
                                  f"{len(test)} test")


def cifar10(root: Path | None = None, download: bool = False, limit: int = 0,
            test_limit: int = 0) -> DataSource:
    """CIFAR-10 (32x32 colour, 10 classes) through torchvision.

    ``root``: the folder holding ``cifar-10-batches-py/`` (default: the data folder,
    ``$GENZOO_DATA``); ``download``: fetch it there (163 MB) if missing, checksums checked;
    ``limit``/``test_limit``: use only the first N images (0 = all).
    """
    from torchvision.datasets import CIFAR10

    return _cifar(CIFAR10, "CIFAR-10", root, download, limit, test_limit)


def cifar100(root: Path | None = None, download: bool = False, limit: int = 0,
             test_limit: int = 0) -> DataSource:
    """CIFAR-100 (32x32 colour, 100 fine classes) through torchvision; options as cifar10."""
    from torchvision.datasets import CIFAR100

    return _cifar(CIFAR100, "CIFAR-100", root, download, limit, test_limit)

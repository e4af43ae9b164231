"""The paper's benchmark data sets through torchvision (CIFAR-10/100, SVHN, STL-10, MNIST,
Fashion-MNIST, CelebA, LSUN): downloaded on request into one folder, ``$GENZOO_DATA`` (by
default ``~/.cache/genzoo/data``), with torchvision's checksums; read offline from any folder.

A download whose checksum does not match is removed, never read. Every failure is one
:class:`GenzooError` line saying what to download or set.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from genzoo.data import DataSource, data_home, to_unit_range
from genzoo.errors import GenzooError


class UInt8Images(Dataset):
    """Images ``(N, C, H, W)`` kept as uint8 (a quarter of float32's memory), served in
    [-1, 1] with their integer labels (or alone, for data sets without labels)."""

    def __init__(self, data: torch.Tensor, labels: torch.Tensor | None):
        if (
            data.dtype != torch.uint8
            or data.dim() != 4
            or (labels is not None and len(data) != len(labels))
        ):
            raise ValueError("UInt8Images takes uint8 (N, C, H, W) images and N labels")
        self.data, self.labels = data, labels

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        x = to_unit_range(self.data[i])
        return x if self.labels is None else (x, int(self.labels[i]))

    @property
    def images(self) -> torch.Tensor:
        """All images in [-1, 1] (float32: made on demand, not kept)."""
        return to_unit_range(self.data)


def subset(ds: UInt8Images, limit: int) -> UInt8Images:
    if not limit:
        return ds
    return UInt8Images(ds.data[:limit], None if ds.labels is None else ds.labels[:limit])


def hint(name: str, root: Path, where: str) -> str:
    return (
        f"set data.download = true to fetch it into {root}, or data.root to a folder "
        f"holding {where}"
    )


#: seconds a download may wait to connect or for the next bytes, and how often it is tried
TIMEOUT, ATTEMPTS = "GENZOO_DOWNLOAD_TIMEOUT", "GENZOO_DOWNLOAD_ATTEMPTS"


def _setting(var: str, default: float, low: float) -> float:
    try:
        value = float(os.environ.get(var, default))
    except ValueError:
        value = -1.0
    if not (value >= low and value < float("inf")):
        raise GenzooError(f"{var} must be a number >= {low:g}, got {os.environ.get(var)!r}")
    return value


@contextmanager
def _socket_timeout(seconds: float | None):
    """Connect and read timeouts for the sockets the block opens (torchvision's downloader
    takes none of its own)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def open_torchvision(
    name: str,
    make: Callable[[bool], Dataset],
    root: Path,
    download: bool,
    archives: list[tuple[Path, str | None]],
    where: str,
) -> Dataset:
    """``make(download)``, a torchvision data set, with its failures as one line. A download
    waits at most ``$GENZOO_DOWNLOAD_TIMEOUT`` seconds (60) to connect or for more bytes and
    is tried ``$GENZOO_DOWNLOAD_ATTEMPTS`` times (3), waiting 0.5 s, 1 s, ... in between.
    After a failed download every archive in ``archives`` whose checksum does not match is
    removed."""
    from torchvision.datasets.utils import check_integrity

    timeout = _setting(TIMEOUT, 60, 0.001) if download else None
    attempts = int(_setting(ATTEMPTS, 3, 1)) if download else 1
    for attempt in range(1, attempts + 1):
        try:
            with _socket_timeout(timeout):
                return make(download)
        except (RuntimeError, urllib.error.URLError, OSError, EOFError, ValueError) as exc:
            removed = []
            if download:
                for path, md5 in archives:
                    if path.is_file() and not check_integrity(str(path), md5):
                        path.unlink()
                        removed.append(path.name)
            if attempt < attempts:
                time.sleep(0.5 * 2 ** (attempt - 1))
                continue
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            if isinstance(exc, TimeoutError) or "timed out" in first:
                first = f"no answer within {timeout:g} s ({TIMEOUT})"
            tries = f" {attempts} times" if attempts > 1 else ""
            if removed:
                raise GenzooError(
                    f"{name}: the download of {', '.join(removed)} failed its checksum "
                    f"and was removed ({first}); try again, or put the files in "
                    f"{root} by hand"
                ) from None
            if download:
                raise GenzooError(
                    f"{name}: download into {root} failed{tries} ({first}); check the "
                    f"connection, or put {where} in {root} by hand"
                ) from None
            raise GenzooError(
                f"{name} not found or damaged in {root} ({first}); {hint(name, root, where)}"
            ) from None


def _root(root: Path | None) -> Path:
    return Path(root) if root is not None else data_home()


def _labelled(data: np.ndarray, labels, channels_last: bool) -> UInt8Images:
    x = torch.from_numpy(np.ascontiguousarray(data))
    if x.dim() == 3:  # (N, H, W) gray
        x = x.unsqueeze(1)
    elif channels_last:
        x = x.permute(0, 3, 1, 2)
    return UInt8Images(x.contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.int64))


def _cifar(
    cls, name: str, root: Path | None, download: bool, limit: int, test_limit: int
) -> DataSource:
    root = _root(root)
    archives = [(root / cls.filename, cls.tgz_md5)]
    where = f"{cls.base_folder}/"
    splits = [
        open_torchvision(
            name,
            lambda dl, t=train: cls(str(root), train=t, download=dl),
            root,
            download,
            archives,
            where,
        )
        for train in (True, False)
    ]
    train, test = (_labelled(s.data, s.targets, channels_last=True) for s in splits)
    train, test = subset(train, limit), subset(test, test_limit)
    return DataSource(
        train,
        (3, 32, 32),
        test,
        description=f"{name} from {root / cls.base_folder}: {len(train)} train, {len(test)} test",
    )


def cifar10(
    root: Path | None = None, download: bool = False, limit: int = 0, test_limit: int = 0
) -> DataSource:
    """CIFAR-10 (32x32 colour, 10 classes) through torchvision.

    ``root``: the folder holding ``cifar-10-batches-py/`` (default: the data folder,
    ``$GENZOO_DATA``); ``download``: fetch it there (163 MB) if missing, checksums checked;
    ``limit``/``test_limit``: use only the first N images (0 = all).
    """
    from torchvision.datasets import CIFAR10

    return _cifar(CIFAR10, "CIFAR-10", root, download, limit, test_limit)


def cifar100(
    root: Path | None = None, download: bool = False, limit: int = 0, test_limit: int = 0
) -> DataSource:
    """CIFAR-100 (32x32 colour, 100 fine classes) through torchvision; options as cifar10."""
    from torchvision.datasets import CIFAR100

    return _cifar(CIFAR100, "CIFAR-100", root, download, limit, test_limit)


def svhn(
    root: Path | None = None, download: bool = False, limit: int = 0, test_limit: int = 0
) -> DataSource:
    """SVHN house numbers (32x32 colour, 10 digits) through torchvision; options as cifar10
    (``train_32x32.mat`` and ``test_32x32.mat`` in ``root``, 182 + 64 MB)."""
    from torchvision.datasets import SVHN

    root = _root(root)
    splits = []
    for split in ("train", "test"):
        url, filename, md5 = SVHN.split_list[split]
        splits.append(
            open_torchvision(
                "SVHN",
                lambda dl, sp=split: SVHN(str(root), split=sp, download=dl),
                root,
                download,
                [(root / filename, md5)],
                "train_32x32.mat and test_32x32.mat",
            )
        )
    train, test = (
        subset(_labelled(s.data, s.labels, channels_last=False), n)
        for s, n in zip(splits, (limit, test_limit))
    )
    return DataSource(
        train,
        (3, 32, 32),
        test,
        description=f"SVHN from {root}: {len(train)} train, {len(test)} test",
    )


def centre_square(im, size: int, crop: int = 0):
    """A PIL image centre-cropped to ``crop`` x ``crop`` (0: its largest centred square) and
    resized to ``size`` x ``size``, as a uint8 ``(3, size, size)`` array."""
    from PIL import Image

    w, h = im.size
    side = min(w, h) if not crop else crop
    if side > min(w, h):
        raise ValueError(f"a {w}x{h} image is smaller than the {crop}x{crop} centre crop")
    left, top = (w - side) // 2, (h - side) // 2
    im = im.convert("RGB").crop((left, top, left + side, top + side))
    im = im.resize((size, size), Image.BICUBIC if side < size else Image.LANCZOS)
    return np.array(im, dtype=np.uint8).transpose(2, 0, 1)


def celeba64(
    root: Path | None = None,
    download: bool = False,
    size: int = 64,
    crop: int = 140,
    n_train: int = 9000,
    n_test: int = 1000,
    split_seed: int = 0,
) -> DataSource:
    """CelebA faces with the paper's protocol (section 4.1.1): ``n_train`` random images of the
    official training split and ``n_test`` of its test split, drawn by ``split_seed``.

    Each aligned 178x218 image is centre-cropped to ``crop`` x ``crop`` and resized to ``size``.
    ``root`` holds ``celeba/`` as torchvision lays it out (``img_align_celeba/`` and the
    ``list_*.txt`` files; default: the data folder). ``download`` asks torchvision to fetch it
    from Google Drive (needs the ``gdown`` package; 1.4 GB), which often hits the Drive's quota:
    then download it by hand. The split's indices are in the data set's description.
    """
    from torchvision.datasets import CelebA

    root = _root(root)
    if size <= 0 or crop < 0 or n_train <= 0 or n_test < 0:
        raise GenzooError(
            "data.size and data.n_train must be positive, data.crop and data.n_test 0 or more"
        )
    archives = [(root / CelebA.base_folder / f, md5) for _, md5, f in CelebA.file_list]
    where = "celeba/ (img_align_celeba/ and the list_*.txt files)"
    out = []
    g = torch.Generator().manual_seed(split_seed)
    for split, n in (("train", n_train), ("test", n_test)):
        ds = open_torchvision(
            "CelebA",
            lambda dl, sp=split: CelebA(str(root), split=sp, target_type=[], download=dl),
            root,
            download,
            archives,
            where,
        )
        if n > len(ds):
            raise GenzooError(
                f"CelebA's {split} split holds {len(ds)} images, fewer than the "
                f"{n} asked for; lower data.n_{split}"
            )
        idx = torch.randperm(len(ds), generator=g)[:n].tolist()
        images = []
        for i in idx:
            path = root / CelebA.base_folder / "img_align_celeba" / ds.filename[i]
            try:
                images.append(centre_square(ds[i][0], size, crop))
            except (OSError, ValueError) as exc:
                raise GenzooError(
                    f"CelebA image '{path}' cannot be used ({exc}); replace the "
                    f"file or download CelebA again"
                ) from None
        out.append(
            UInt8Images(
                torch.from_numpy(np.stack(images))
                if images
                else torch.zeros((0, 3, size, size), dtype=torch.uint8),
                None,
            )
        )
    return DataSource(
        out[0],
        (3, size, size),
        out[1] if n_test else None,
        description=f"CelebA from {root / CelebA.base_folder}: {n_train} train, "
        f"{n_test} test images drawn with split_seed {split_seed}, "
        f"centre {crop or 'square'} crop at {size}x{size}",
    )

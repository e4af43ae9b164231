"""MNIST-format IDX files (MNIST, Fashion-MNIST), gzipped or not, from a local folder."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from genzoo.data import DataSource, data_home, to_unit_range
from genzoo.errors import GenzooError

FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_INSTALL = "apt-get install dataset-fashion-mnist"
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise GenzooError(
            f"cannot read IDX file '{path}' ({exc}); the file is damaged, download it again"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise GenzooError(
            f"'{path}' is not an IDX file (bad magic number); point data.root at "
            f"the MNIST-format files"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GenzooError(f"IDX file '{path}' is truncated (header); download or install it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_DTYPES[raw[2]])
    count = int(np.prod(dims)) if dims else 0
    if len(raw) - header < count * dtype.itemsize:
        raise GenzooError(
            f"IDX file '{path}' is truncated: expected {count} values of shape "
            f"{dims}; download or install it again"
        )
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)


def _find(root: Path, stem: str) -> Path | None:
    for name in (
        stem + ".gz",
        stem,
        stem.replace("-idx", ".idx") + ".gz",
        stem.replace("-idx", ".idx"),
    ):
        if (root / name).exists():
            return root / name
    return None


class LabelledImages(Dataset):
    """Images (N, C, H, W) in [-1, 1] held in memory, with integer labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def load_split(root: Path, split: str, limit: int = 0, missing_hint: str = "") -> LabelledImages:
    stems = SPLITS[split]
    found = [_find(Path(root), s) for s in stems]
    if None in found:
        missing = stems[found.index(None)]
        raise GenzooError(
            f"'{missing}[.gz]' not found in '{root}'; {missing_hint or 'set data.root to the folder holding the IDX files'}"
        )
    images, labels = read_idx(found[0]), read_idx(found[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GenzooError(
            f"IDX files in '{root}' do not hold matching images (N, H, W) and "
            f"labels (N,): got {images.shape} and {labels.shape}"
        )
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = to_unit_range(torch.from_numpy(images.astype(np.uint8)).unsqueeze(1))
    return LabelledImages(x, torch.from_numpy(labels.astype(np.int64)))


def _idx_source(root: Path, limit: int, test_limit: int, name: str, hint: str) -> DataSource:
    if not Path(root).is_dir():
        raise GenzooError(f"{name} folder '{root}' does not exist; {hint}")
    train = load_split(root, "train", limit, hint)
    test = load_split(root, "test", test_limit, hint)
    return DataSource(
        train,
        tuple(train.images.shape[1:]),
        test,
        description=f"{name} from {root}: {len(train)} train, {len(test)} test",
    )


def has_idx(folder: Path) -> bool:
    return all(_find(folder, stem) is not None for pair in SPLITS.values() for stem in pair)


def _mnist_family(
    cls_name: str,
    name: str,
    root: Path | None,
    download: bool,
    limit: int,
    test_limit: int,
    also: tuple[Path, ...] = (),
    install: str = "",
) -> DataSource:
    """Read IDX files from ``root``, or else from the data folder's ``<cls_name>/raw`` (where
    torchvision downloads them) and ``also``; with ``download``, fetch them there first."""
    import torchvision.datasets as tv

    from genzoo_datasets.vision import open_torchvision

    cached = data_home() / cls_name / "raw"
    where = f"the {name} IDX files"
    extra = f", {install}," if install else ""
    hint = (
        f"set data.download = true to fetch them into {cached}{extra} or set data.root to "
        f"a folder holding {where}"
    )
    if root is not None:
        return _idx_source(Path(root), limit, test_limit, name, hint)
    found = next((p for p in (cached, *also) if p.is_dir() and has_idx(p)), None)
    if found is None and download:
        cls = getattr(tv, cls_name)
        open_torchvision(
            name,
            lambda dl: cls(str(data_home()), train=True, download=dl),
            data_home(),
            True,
            [(cached / f, md5) for f, md5 in cls.resources],
            where,
        )
        found = cached
    if found is None:
        looked = ", ".join(str(p) for p in (cached, *also))
        raise GenzooError(f"{name} not found (looked in {looked}); {hint}")
    return _idx_source(found, limit, test_limit, name, hint)


def fashion_search() -> tuple[Path, ...]:
    """Folders besides the data folder where Fashion-MNIST may already be installed."""
    return (FASHION_ROOT,)


def fashion_mnist(
    root: Path | None = None, download: bool = False, limit: int = 0, test_limit: int = 0
) -> DataSource:
    """Fashion-MNIST (28x28 gray, 10 classes) from IDX files.

    ``root``: a folder holding the IDX files; by default the data folder's
    ``FashionMNIST/raw`` (``$GENZOO_DATA``, where ``download = true`` fetches them, 30 MB,
    checksums checked), then Debian's /usr/share/datasets/fashion-mnist (apt-get install
    dataset-fashion-mnist). ``limit``/``test_limit``: use only the first N images (0 = all).
    """
    return _mnist_family(
        "FashionMNIST",
        "Fashion-MNIST",
        root,
        download,
        limit,
        test_limit,
        fashion_search(),
        f"'{FASHION_INSTALL}' on Debian/Ubuntu",
    )


def mnist(
    root: Path | None = None, download: bool = False, limit: int = 0, test_limit: int = 0
) -> DataSource:
    """MNIST (28x28 gray, 10 digits) from IDX files; options as fashion_mnist (the data
    folder's ``MNIST/raw`` by default)."""
    return _mnist_family("MNIST", "MNIST", root, download, limit, test_limit)

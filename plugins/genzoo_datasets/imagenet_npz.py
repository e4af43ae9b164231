"""Down-sampled ImageNet (Chrabaszcz et al., 2017) from its official npz batches.

``Imagenet32_train_npz/train_data_batch_1.npz`` ... ``_10.npz`` and
``Imagenet32_val_npz/val_data.npz`` (likewise for 64), each holding ``data`` (N, 3*S*S uint8,
channel-major) and ``labels`` (1..1000). They are read without pickle (``allow_pickle=False``).
The files come only from image-net.org after signing in, so genzoo cannot download them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from genzoo.data import DataSource, data_home
from genzoo.errors import GenzooError
from genzoo_datasets.vision import UInt8Images

WHERE = (
    "image-net.org (Download > 'Downsampled ImageNet', Imagenet{s}_train_npz.zip and "
    "Imagenet{s}_val.zip), unzipped into"
)


def read_batch(path: Path, side: int, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One npz batch as uint8 ``(N, 3, side, side)`` images and 0-based labels."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data, labels = f["data"], f["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise GenzooError(
            f"'{path}' is not a readable ImageNet npz batch ({type(exc).__name__}: "
            f"{str(exc)[:80]}); download it again"
        ) from None
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3 * side * side
        or labels.shape != (len(data),)
    ):
        raise GenzooError(
            f"'{path}' holds images of shape {data.shape[1:]} ({data.dtype}), not "
            f"{side}x{side} colour images; point data.root at the Imagenet{side} "
            f"batches"
        )
    if limit:
        data, labels = data[:limit], labels[:limit]
    return data.reshape(-1, 3, side, side), labels.astype(np.int64) - 1


def _find(root: Path, side: int, names: list[str], sub: str) -> list[Path]:
    for folder in (root / sub, root):
        found = [folder / n for n in names if (folder / n).is_file()]
        if found:
            return found
    return []


def imagenet_npz(
    side: int = 32, root: Path | None = None, limit: int = 0, test_limit: int = 0
) -> DataSource:
    """Down-sampled ImageNet at ``side`` x ``side`` (32 or 64; 1000 classes) from the official
    npz batches in ``root`` (default: the data folder), in ``Imagenet{side}_train_npz`` /
    ``Imagenet{side}_val_npz`` or directly. ``limit``/``test_limit``: the first N images."""
    if side not in (32, 64):
        raise GenzooError(f"data.side must be 32 or 64, got {side}")
    root = Path(root) if root is not None else data_home()
    train_files = _find(
        root, side, [f"train_data_batch_{i}.npz" for i in range(1, 11)], f"Imagenet{side}_train_npz"
    )
    val_files = _find(root, side, ["val_data.npz"], f"Imagenet{side}_val_npz")
    if not train_files:
        raise GenzooError(
            f"ImageNet {side}x{side} not found in {root}; download it from "
            f"{WHERE.format(s=side)} {root}"
        )
    parts, labels, left = [], [], limit
    for path in train_files:
        x, y = read_batch(path, side, left)
        parts.append(x)
        labels.append(y)
        if limit:
            left -= len(x)
            if left <= 0:
                break
    train = UInt8Images(
        torch.from_numpy(np.concatenate(parts)), torch.from_numpy(np.concatenate(labels))
    )
    test = None
    if val_files:
        x, y = read_batch(val_files[0], side, test_limit)
        test = UInt8Images(torch.from_numpy(x), torch.from_numpy(y))
    return DataSource(
        train,
        (3, side, side),
        test,
        description=f"ImageNet {side}x{side} from {root}: {len(train)} train"
        f"{f', {len(test)} test' if test else ''}",
    )


def imagenet32(root: Path | None = None, limit: int = 0, test_limit: int = 0) -> DataSource:
    """Down-sampled ImageNet at 32x32 (1000 classes) from the official npz batches."""
    return imagenet_npz(32, root, limit, test_limit)


def imagenet64(root: Path | None = None, limit: int = 0, test_limit: int = 0) -> DataSource:
    """Down-sampled ImageNet at 64x64 (1000 classes) from the official npz batches."""
    return imagenet_npz(64, root, limit, test_limit)

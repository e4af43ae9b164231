"""What a dataset plugin returns, and the resumable, deterministic order batches come in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


@dataclass
class DataSource:
    """A data set plugin's product.

    ``train`` and ``test`` (optional) are map-style datasets whose items are a tensor in
    ``[-1, 1]`` of shape ``sample_shape``, or ``(tensor, label)``.
    """

    train: Dataset
    sample_shape: tuple[int, ...]
    test: Dataset | None = None
    description: str = ""

    def held_out(self) -> tuple[Dataset, str]:
        """The split that measurements are taken on, and its name: the test split, or the
        training split where there is none."""
        if self.test is not None and len(self.test):
            return self.test, "test"
        return self.train, "train"

    def draw_held_out(self, n: int, seed: int):
        """Up to ``n`` examples of :meth:`held_out` (a random subset drawn with ``seed`` when
        the split holds more), with their labels when the data set has them (else None), and
        the split's name."""
        split, name = self.held_out()
        g = torch.Generator().manual_seed(seed)
        idx = (
            torch.randperm(len(split), generator=g)[:n].tolist()
            if n < len(split)
            else list(range(len(split)))
        )
        items = [split[i] for i in idx]
        x = torch.stack([samples_of(it) for it in items])
        labels = (
            torch.tensor([int(it[1]) for it in items])
            if isinstance(items[0], (tuple, list))
            else None
        )
        return x, labels, name

    @property
    def is_video(self) -> bool:
        """Clips ``(C, T, H, W)``."""
        return len(self.sample_shape) == 4 and self.sample_shape[0] in (1, 3)


def data_home() -> Path:
    """The one folder data sets are downloaded to and looked up in: ``$GENZOO_DATA``, by
    default ``~/.cache/genzoo/data``. Read at call time, so a changed environment is honoured."""
    env = os.environ.get("GENZOO_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genzoo" / "data"


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float ``[-1, 1]``."""
    return images.float().div(127.5).sub(1.0)


def samples_of(item):
    """The sample of a dataset item that may be ``(x, label)``."""
    return item[0] if isinstance(item, (tuple, list)) else item


def spread_samples(dataset, n: int, offset: int = 0) -> torch.Tensor:
    """``n`` samples of ``dataset`` at evenly spaced indices from ``offset`` to ``offset``
    before its end (neighbouring items, e.g. crops of one photograph, are much alike)."""
    idx = torch.linspace(offset, len(dataset) - 1 - offset, min(n, len(dataset))).long()
    return torch.stack([samples_of(dataset[int(i)]) for i in idx])


class ResumableBatchSampler(Sampler[list[int]]):
    """Index batches in an order fixed by ``seed`` and the step alone.

    Epoch ``e`` is a permutation drawn from a generator seeded with ``(seed, e)``; the last
    incomplete batch of an epoch is dropped. Starting at ``start_step`` gives exactly the
    batches an uninterrupted run would have seen from that step on (what resume relies on).
    An optional ``(rank, world_size)`` shards each batch across processes.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        start_step: int = 0,
        shard: tuple[int, int] = (0, 1),
    ):
        if n < batch_size:
            raise ValueError(f"data set holds {n} samples, fewer than one batch of {batch_size}")
        self.n, self.batch_size, self.seed, self.start_step = n, batch_size, seed, start_step
        self.rank, self.world = shard
        self.steps_per_epoch = n // batch_size

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def __iter__(self):
        step = self.start_step
        while True:
            epoch, k = divmod(step, self.steps_per_epoch)
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=g)
            for j in range(k, self.steps_per_epoch):
                batch = perm[j * self.batch_size : (j + 1) * self.batch_size]
                yield batch[self.rank :: self.world].tolist()
            step = (epoch + 1) * self.steps_per_epoch

    def __len__(self):  # infinite stream; len() is the per-epoch count for progress displays
        return self.steps_per_epoch


class Example(NamedTuple):
    """A sample and its position in the training set, or a batch of them."""

    x: torch.Tensor
    index: torch.Tensor | int


class WithIndex(Dataset):
    """A data set whose items are :class:`Example`: for training that keeps a state per
    example."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        return Example(samples_of(self.base[i]), i)


def _collate(items):
    if "index" in getattr(items[0], "_fields", ()):  # Example, or occlusion.Incomplete
        return type(items[0])(
            *(torch.stack(f) if torch.is_tensor(f[0]) else torch.tensor(f) for f in zip(*items))
        )
    return torch.stack([samples_of(it) for it in items])


def batch_stream(
    dataset: Dataset,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    num_workers: int = 0,
    shard: tuple[int, int] = (0, 1),
):
    """An endless iterator of sample batches starting at ``start_step`` (see
    :class:`ResumableBatchSampler`): tensors, or ``Incomplete(x, mask, index)`` batches for an
    occluded training set, ``Example(x, index)`` batches for a :class:`WithIndex` one."""
    sampler = ResumableBatchSampler(len(dataset), batch_size, seed, start_step, shard)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=_collate,
        persistent_workers=num_workers > 0,
        # its own generator: making the iterator must not draw from the global
        # RNG, whose state a checkpoint restores
        generator=torch.Generator().manual_seed(seed),
    )
    return sampler, iter(loader)

"""What a dataset plugin returns, and the resumable, deterministic order batches come in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from genzoo.errors import GenzooError


@dataclass
class DataSource:
    """A data set plugin's product.

    ``train``, ``test`` and ``validation`` (both optional) are map-style datasets whose items
    are a tensor in ``[-1, 1]`` of shape ``sample_shape``, or ``(tensor, label)``. A plugin may
    give its own validation split; otherwise ``data.validation`` in a recipe carves one from
    the training split (:func:`carve_validation`), which model selection (``genzoo tune``)
    measures on, so that the test split is read only for the final table.
    """

    train: Dataset
    sample_shape: tuple[int, ...]
    test: Dataset | None = None
    description: str = ""
    validation: Dataset | None = None
    # crops of one stationary texture: texture statistics against the crops apply (genzoo eval,
    # RUN/texture.jsonl)
    stationary: bool = False

    def held_out(self, split: str | None = None) -> tuple[Dataset, str]:
        """The split that measurements are taken on, and its name: ``split = "validation"``
        ``"test"`` or ``"train"`` asks for that one; by default the test split, or the training
        split where there is none."""
        if split == "train":
            return self.train, "train"
        if split == "validation":
            if self.validation is None or not len(self.validation):
                raise GenzooError(
                    "this data set has no validation split; set data.validation (the share "
                    "of the training images held out, e.g. 0.1) in the recipe"
                )
            return self.validation, "validation"
        if self.test is not None and len(self.test):
            return self.test, "test"
        if split == "test":
            raise GenzooError("this data set has no test split; measure on split 'validation'")
        return self.train, "train"

    def draw_held_out(self, n: int, seed: int, split: str | None = None):
        """Up to ``n`` examples of :meth:`held_out` (a random subset drawn with ``seed`` when
        the split holds more), with their labels when the data set has them (else None), and
        the split's name."""
        split, name = self.held_out(split)
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


#: the validation split's draw: one fixed seed, so every run of a study holds out the same images
VALIDATION_SEED = 20190101


def carve_validation(train: Dataset, share: float) -> tuple[Dataset, Dataset]:
    """``train`` split into (training, validation) with ``share`` of its items, drawn with
    :data:`VALIDATION_SEED` whatever the run's seed."""
    from torch.utils.data import Subset

    n_val = round(len(train) * share)
    if not 0 < n_val < len(train):
        raise GenzooError(
            f"data.validation = {share} of {len(train)} training items leaves "
            f"{n_val} for validation and {len(train) - n_val} for training; choose a share "
            f"that leaves both non-empty"
        )
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(VALIDATION_SEED))
    keep, held = sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())
    return Subset(train, keep), Subset(train, held)


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

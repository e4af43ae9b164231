"""Training on several processes with torch.distributed: DistributedDataParallel, launched by
``torchrun`` (gloo on CPU, nccl on GPUs).

The recipe's ``train.batch_size`` is the global batch: each of the N processes takes every N-th
example of it (see :class:`genzoo.data.ResumableBatchSampler`). Every process keeps the same
random state and draws the noise of the whole batch (``z ~ p(z)``, the reparameterisation
``eps``), keeping its own share, so N processes compute the gradients of one process on the
combined batch; DDP averages them. Only batch-norm statistics stay per process unless
``train.sync_batchnorm`` (GPUs only) makes them global.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from genzoo.errors import GenzooError


@dataclass(frozen=True)
class Group:
    """This process's place: ``rank`` of ``world`` (``local_rank`` on its machine)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, samples, metrics and the progress bar."""
        return self.rank == 0

    def noise(
        self,
        shape: tuple[int, ...],
        device=None,
        dtype=None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``N(0, I)`` noise of a local batch: this rank's share of the global batch's draw."""
        if not self.active:
            return torch.randn(shape, generator=generator, device=device, dtype=dtype)
        full = torch.randn(
            (shape[0] * self.world, *shape[1:]), generator=generator, device=device, dtype=dtype
        )
        return full[self.rank :: self.world]

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of ``t`` over processes (non-finite values stay non-finite)."""
        if not self.active:
            return t
        t = t.detach().clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t / self.world

    def any(self, flag: bool, device=None) -> bool:
        """True on every process when it is true on one."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def check_batch(batch_size: int, world: int) -> None:
    """The global batch must split evenly over the processes."""
    if batch_size % world:
        raise GenzooError(
            f"train.batch_size {batch_size} does not split evenly over {world} "
            f"processes; make it a multiple"
        )


def from_environment(device: torch.device) -> Group:
    """Join the process group torchrun describes in the environment (WORLD_SIZE, RANK,
    LOCAL_RANK, MASTER_ADDR/PORT); a single process without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return Group(rank, world, local)


def device_for(group: Group, device: torch.device) -> torch.device:
    """One GPU per process on a machine (cuda:LOCAL_RANK)."""
    if group.active and device.type == "cuda":
        return torch.device("cuda", group.local_rank)
    return device


def wrap(
    module: nn.Module, group: Group, device: torch.device, sync_batchnorm: bool, find_unused: bool
) -> nn.Module:
    """``module`` as DistributedDataParallel (the same parameters: optimisers stay on
    ``module``)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    if sync_batchnorm:
        if device.type != "cuda":
            raise GenzooError(
                "train.sync_batchnorm needs GPUs (torch's SyncBatchNorm does not "
                "run on CPU); set it to false for CPU processes"
            )
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids, find_unused_parameters=find_unused)


def shutdown(wait: bool = True) -> None:
    """Leave the process group; ``wait``: first wait for every process to get here (a process
    tearing its connections down while another still uses them can abort it)."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()

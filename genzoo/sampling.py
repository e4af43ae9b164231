"""Drawing from a trained generator with either of batch normalisation's two modes.

``"running"``: eval mode, each layer normalised by the running statistics training
accumulated (which mix the prior batches g(z) and the posterior batches g(z^) of every
iteration, unless ``model.running_stats = "prior"`` keeps the posterior batches out: see
:func:`running_stats_frozen`). ``"batch"``: train mode, each sampling batch normalised by its
own statistics, as the generator ran during training and as the authors' code drew its samples
for IS/FID; the running statistics are restored afterwards, so sampling never changes a model.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from genzoo.interfaces import Generator, device_of

NORMS = ("running", "batch")

#: the seed of a sampler's chain noise: samples depend on the latent alone, as g(z) does, and
#: drawing them leaves the global random state (which training checkpoints) alone
CHAIN_SEED = 20190101


def chain_noise(z: torch.Tensor) -> torch.Generator:
    """The random source of a sampler's Langevin chains for the latents ``z``."""
    return torch.Generator(device=z.device).manual_seed(CHAIN_SEED)


class Borrowed:
    """A network a sampler calls but does not own: its weights stay its player's (not in the
    sampler's state dict, not moved or switched to eval mode by it). A sampler that draws
    through a borrowed generator names it in ``Generator.draws_through``, so that the norm
    modes below switch that generator's batch norm."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __call__(self, *args):
        return self.module(*args)


@contextmanager
def norm_mode(generator: nn.Module, norm: str):
    """Within the block, ``generator`` computes with ``norm``'s statistics: for a sampler, the
    generator it draws through (``Generator.draws_through``)."""
    if norm not in NORMS:
        raise ValueError(f"sample normalisation must be one of {', '.join(NORMS)}, got {norm!r}")
    if isinstance(generator, Generator):
        generator = generator.draws_through()
    was = generator.training
    kept = {k: v.clone() for k, v in generator.named_buffers()} if norm == "batch" else {}
    generator.train(norm == "batch")
    try:
        yield generator
    finally:
        generator.train(was)
        if kept:
            with torch.no_grad():
                for k, v in generator.named_buffers():
                    v.copy_(kept[k])


def generate(
    generator: nn.Module,
    z: torch.Tensor,
    norm: str = "running",
    batch: int = 256,
    device=None,
    fn=None,
) -> torch.Tensor:
    """``fn(z)`` (by default ``generator(z)``) in batches of ``batch`` without gradients, in
    ``norm``'s mode, gathered on the CPU. In ``"batch"`` mode ``batch`` is the size whose
    statistics each sample is normalised with (use the training batch size)."""
    device = device if device is not None else device_of(generator)
    fn = fn or generator
    out = []
    with torch.no_grad(), norm_mode(generator, norm):
        for i in range(0, len(z), batch):
            out.append(fn(z[i : i + batch].to(device)).cpu())
    return torch.cat(out)


@contextmanager
def running_stats_frozen(module: nn.Module):
    """Within the block, ``module``'s batch-norm layers still normalise a training batch with
    its own statistics but leave their running statistics (and batch count) as they were: how
    the generator's posterior pass g(z^) stays out of the statistics that sampling uses."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    kept = [
        (m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
        for m in norms
    ]
    for m in norms:
        m.momentum = 0.0
    try:
        yield module
    finally:
        for m, (momentum, count) in zip(norms, kept):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)

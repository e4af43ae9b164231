"""An exponential moving average of the generator's weights, to draw samples from
(``train.generator_ema``), as progressive GANs draw theirs.

The live generator's weights move with every step of a short stage, so its samples swing from
one checkpoint to the next; their average over the last ~1 / (1 - decay) iterations does not.
The average is torch's :class:`~torch.optim.swa_utils.AveragedModel` with a warm-up: update n
uses ``min(decay, (1 + n) / (10 + n))``, so early averages are not dominated by the
initialisation. Batch-norm buffers are copied from the live generator at each update; before
the average draws samples with running statistics, :meth:`GeneratorEMA.refresh_norm` measures
them afresh on the averaged weights from prior draws (``torch.optim.swa_utils.update_bn``): the
live generator's statistics belong to other weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn

NORM_BATCHES = 8  # prior batches whose statistics the averaged generator's batch norm takes
NORM_SEED = 54321  # added to the recipe's seed: the latents of those batches


def warmed_decay(decay: float, n: int) -> float:
    """The weight of the old average at update ``n`` (0-based): ``min(decay, (1+n)/(10+n))``."""
    return min(decay, (1 + n) / (10 + n))


class GeneratorEMA:
    """The averaged copy of ``generator``; ``module`` is the generator to sample from."""

    def __init__(self, generator: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"the generator EMA's decay must lie in (0, 1), got {decay}")

        def lerp(averaged, current, n):
            d = warmed_decay(decay, int(n))
            torch._foreach_lerp_(averaged, current, 1 - d)

        self.averaged = AveragedModel(generator, multi_avg_fn=lerp, use_buffers=False)
        self.averaged.module.requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        return self.averaged.module

    @property
    def updates(self) -> int:
        return int(self.averaged.n_averaged)

    def update(self, generator: nn.Module) -> None:
        self.averaged.update_parameters(generator)

    def refresh_norm(self, latent_shape: tuple[int, ...], batch_size: int, seed: int) -> None:
        """Running statistics of the averaged weights from ``NORM_BATCHES`` batches of prior
        draws of ``batch_size`` (the training batch's size), drawn from their own seeded
        generator so that no other random stream moves. Nothing to do without batch norm."""
        net = self.module
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
            return
        device = next(net.parameters()).device
        g = torch.Generator().manual_seed(seed)
        draws = [torch.randn((batch_size, *latent_shape), generator=g) for _ in range(NORM_BATCHES)]
        with torch.no_grad():
            update_bn(draws, net, device)
        net.train()  # as the live generator (sampling picks its own mode)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.averaged.load_state_dict(state)

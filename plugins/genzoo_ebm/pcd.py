"""Persistent contrastive divergence with a replay buffer (Du and Mordatch, NeurIPS 2019)."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from genzoo.interfaces import Models
from genzoo.objective import Draws, Objective, Terms
from genzoo_ebm.samplers import ChainsFromNoise


class PCD(Objective):
    """An energy model learned from persistent chains kept in a replay buffer (Du and Mordatch,
    2019, "Implicit generation and generalization in energy-based models"; the settings of
    their CIFAR-10 code, moved from images in [0, 1] to genzoo's [-1, 1]).

    The buffer (``pcd.buffer``, ``buffer`` images, uniform noise at the start) is per-example
    state: the batch's examples pick its rows (example i uses row i mod ``buffer``), so it is
    checkpointed with the run and a resumed run continues the same chains. Each iteration a
    share ``reinit`` of the batch's chains restarts from uniform noise (each chain with that
    probability, as their ``sample_buffer``); all then run ``langevin_steps`` updates ``x <- x +
    gradient_step * clip(grad f(x)) + noise_std * eps``, kept in [-1, 1] (their 60 steps of 10
    times the gradient clipped at 0.01 with noise 0.005 on [0, 1], so a clip of 0.02 and noise
    0.01 here), and go back into the buffer. alpha minimises ``E f(x^-) - E f(x)`` (``mle``)
    plus their energy-magnitude regularisation ``energy_l2 * E[f(x)^2 + f(x^-)^2]``.
    Samples: chains of ``sample_steps`` updates (0: ``langevin_steps``) from fresh noise.
    Their Adam-based gradient clipping of the energy's weights is not used.
    """

    state = "pcd.buffer"

    def __init__(
        self,
        buffer: Annotated[int, Field(ge=1, le=10_000_000)] = 10_000,
        reinit: Annotated[float, Field(ge=0, le=1)] = 0.05,
        langevin_steps: Annotated[int, Field(ge=1, le=10_000)] = 60,
        gradient_step: Annotated[float, Field(gt=0, le=1e3)] = 10.0,
        gradient_clip: Annotated[float, Field(ge=0, le=1e3)] = 0.02,
        noise_std: Annotated[float, Field(ge=0, le=1.0)] = 0.01,
        energy_l2: Annotated[float, Field(ge=0, le=1e3)] = 1.0,
        sample_steps: Annotated[int, Field(ge=0, le=100_000)] = 0,
    ):
        self.size, self.reinit = buffer, reinit
        self.steps, self.gradient_step = langevin_steps, gradient_step
        self.gradient_clip, self.noise_std, self.energy_l2 = gradient_clip, noise_std, energy_l2
        self.sample_steps = sample_steps or langevin_steps

    def per_example(self, n: int, models: Models) -> dict[str, torch.Tensor]:
        return {self.state: torch.rand((min(n, self.size), *models.sample_shape)) * 2 - 1}

    def chains(self, models: Models, steps: int) -> ChainsFromNoise:
        return ChainsFromNoise(
            models.energy,
            models.sample_shape,
            steps,
            self.gradient_step,
            self.noise_std,
            self.gradient_clip,
        )

    def sampler(self, models: Models) -> ChainsFromNoise:
        return self.chains(models, self.sample_steps)

    def starts(self, d: Draws) -> tuple[torch.Tensor, torch.Tensor]:
        """The chains' starting points for this batch and which of them restart from noise."""
        kept = d.rows(self.state)
        fresh = torch.rand(len(kept), device=kept.device) < self.reinit
        noise = torch.rand_like(kept) * 2 - 1
        return torch.where(fresh.view(-1, *[1] * (kept.dim() - 1)), noise, kept), fresh

    def negatives(self, d: Draws) -> torch.Tensor:
        """``x^-``: the batch's chains after this iteration's updates (once per iteration),
        written back into the buffer."""

        def run():
            x0, _ = self.starts(d)
            x = self.chains(d.models, self.steps).run(x0)
            d.set_rows(self.state, x)
            return x

        return d.memo("pcd.x", (), run)

    def alpha(self, d: Draws) -> Terms:
        f_pos, f_neg = d.f_data, d.models.energy(self.negatives(d))
        terms = {"mle": f_neg.mean() - f_pos.mean()}
        if self.energy_l2:
            terms["energy_l2"] = self.energy_l2 * (f_pos.pow(2) + f_neg.pow(2)).mean()
        return terms

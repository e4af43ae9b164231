"""Short-run MCMC toward an energy-based model (Nijkamp, Hill, Zhu and Wu, NeurIPS 2019)."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from genzoo.interfaces import Models
from genzoo.objective import Draws, Objective, Terms
from genzoo_ebm.samplers import ChainsFromNoise


class ShortRun(Objective):
    """An energy model learned with non-persistent, non-convergent short-run MCMC (Nijkamp et
    al., 2019; their ``train_cifar10_minimal.py``).

    Each iteration starts ``langevin_steps`` = K chains from uniform noise on [-1, 1], one per
    example, and runs ``x <- x + gradient_step * grad f(x) + noise_std * eps`` (their
    ``x_k.data += f_prime + 1e-2 * randn``: a gradient step of 1, noise 0.01), kept in [-1, 1];
    no chain is kept for the next iteration. alpha maximises ``E f(x + data_noise * eps) - E
    f(x_K)`` over real data ``x`` (``mle``: the maximum-likelihood gradient with the short-run
    chains' ends standing in for the model's samples). Samples are the short-run chains' ends
    (``sampler``). Nothing else is trained: theta and phi are not stepped.
    """

    def __init__(
        self,
        langevin_steps: Annotated[int, Field(ge=1, le=10_000)] = 100,
        gradient_step: Annotated[float, Field(gt=0, le=1e3)] = 1.0,
        noise_std: Annotated[float, Field(ge=0, le=1.0)] = 0.01,
        data_noise: Annotated[float, Field(ge=0, le=1.0)] = 0.03,
    ):
        self.steps, self.gradient_step, self.noise_std = langevin_steps, gradient_step, noise_std
        self.data_noise = data_noise

    def sampler(self, models: Models) -> ChainsFromNoise:
        return ChainsFromNoise(
            models.energy, models.sample_shape, self.steps, self.gradient_step, self.noise_std
        )

    def negatives(self, d: Draws) -> torch.Tensor:
        """``x_K``: the iteration's short-run chains from fresh noise (once per iteration)."""

        def run():
            chains = self.sampler(d.models)
            return chains.run(torch.rand_like(d.x) * 2 - 1)

        return d.memo("short_run.x", (), run)

    def alpha(self, d: Draws) -> Terms:
        # f on the (noised) data, kept as the iteration's "f_data": logged, and watched by
        # train.energy_bound as every objective's energy on data is
        f_data = d.memo(
            "f_data",
            ("alpha",),
            lambda: d.models.energy(d.x + self.data_noise * torch.randn_like(d.x)),
        )
        return {"mle": d.models.energy(self.negatives(d)).mean() - f_data.mean()}

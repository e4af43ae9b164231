"""Cooperative training of an energy model and a generator (CoopNets, Xie et al., 2018)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from genzoo.interfaces import Energy, Generator, Models
from genzoo.langevin import langevin
from genzoo.objective import Draws, Objective, Terms, per_example_sq_error
from genzoo.sampling import Borrowed, chain_noise


class RevisedSamples(Generator):
    """CoopNets' samples: the generator's ``g(z)`` revised by ``steps`` Langevin steps on the
    energy model, kept in [-1, 1]. Its authors measure these, the descriptor's revised samples
    (their ``sample_results_des``), not ``g(z)``. The chains' noise is fixed by the latent
    (``genzoo.sampling.chain_noise``), so a sample depends on ``z`` alone, as ``g(z)`` does."""

    def __init__(
        self,
        generator: Generator,
        energy: Energy,
        steps: int,
        step_size: float,
        noise: bool,
        reference_sigma: float,
    ):
        super().__init__()
        self.latent_shape = tuple(generator.latent_shape)
        self.generator, self.energy = Borrowed(generator), Borrowed(energy)
        self.steps, self.step_size = steps, step_size
        self.noise, self.reference_sigma = noise, reference_sigma
        self.register_buffer("where", torch.zeros(0), persistent=False)  # follows .to(device)

    def draws_through(self) -> nn.Module:
        return self.generator.module

    def revise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x`` after the Langevin steps, their noise from ``generator`` (by default the
        global random state, as training draws it)."""
        return langevin(
            self.energy,
            x,
            self.steps,
            self.step_size,
            self.noise,
            self.reference_sigma,
            bounds=(-1.0, 1.0),
            generator=generator,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.revise(self.generator(z), chain_noise(z))


class CoopNet(Objective):
    """Cooperative training of an energy model and a generator (CoopNets, Xie et al., 2018).

    The generator's samples ``x~ = g(z)`` are revised by ``langevin_steps`` Langevin steps on
    the energy model (``genzoo.langevin``, step ``step_size``, reference Gaussian
    ``reference_sigma``; 0 for none), once per iteration: ``x^``.

    alpha learns from the revised samples by maximum likelihood, minimising
    ``E f(x^) - E_data f(x)`` (``mle``); theta learns how Langevin revised its samples,
    minimising ``|x^ - g(z)|^2 / (2 s^2)`` for the same ``z`` (``revision``). No inference model.

    Samples (grids, ``genzoo sample``, ``genzoo eval``, studies) are the revised ones
    (``samples = "revised"``, :class:`RevisedSamples`), as CoopNets' authors measure them;
    ``samples = "generator"`` draws ``g(z)`` alone.
    """

    def __init__(
        self,
        langevin_steps: int = 15,
        step_size: float = 0.01,
        reference_sigma: float = 1.0,
        noise: bool = True,
        samples: Literal["revised", "generator"] = "revised",
    ):
        if langevin_steps < 0 or step_size <= 0 or reference_sigma < 0:
            raise ValueError(
                "coopnet needs langevin_steps >= 0, step_size > 0 and reference_sigma >= 0"
            )
        self.steps, self.step_size = langevin_steps, step_size
        self.reference_sigma, self.noise = reference_sigma, noise
        self.samples = samples

    def revision(self, models: Models) -> RevisedSamples:
        return RevisedSamples(
            models.generator,
            models.energy,
            self.steps,
            self.step_size,
            self.noise,
            self.reference_sigma,
        )

    def sampler(self, models: Models) -> RevisedSamples | None:
        return self.revision(models) if self.samples == "revised" else None

    def revised(self, d: Draws):
        """``x^``: drawn once per iteration with the energy model as it was then."""
        return d.memo(
            "coopnet.revised", (), lambda: self.revision(d.models).revise(d.x_tilde.detach())
        )

    def alpha(self, d: Draws) -> Terms:
        return {"mle": d.models.energy(self.revised(d)).mean() - d.f_data.mean()}

    def theta(self, d: Draws) -> Terms:
        return {
            "revision": (per_example_sq_error(self.revised(d), d.x_tilde) / (2.0 * d.s**2)).mean()
        }

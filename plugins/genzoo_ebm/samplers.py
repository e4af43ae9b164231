"""The samplers of MCMC-trained energy models, as generators: every place genzoo draws samples
(grids, ``genzoo sample``, ``genzoo eval``, studies) calls them as it calls ``g(z)``."""

from __future__ import annotations

import math

import torch
from torch import nn

from genzoo.interfaces import Energy, Generator
from genzoo.langevin import chain, langevin
from genzoo.objective import per_example_sq_error
from genzoo.sampling import CHAIN_SEED, Borrowed, chain_noise

__all__ = ["CHAIN_SEED", "ChainsFromNoise", "PosteriorThenGenerator", "PriorThenGenerator"]


def uniform_start(z: torch.Tensor) -> torch.Tensor:
    """``z ~ N(0, I)`` mapped to ``U[-1, 1]`` entry by entry (``2 Phi(z) - 1 = erf(z / sqrt
    2)``): the chains' uniform starting noise, fixed by the latent like a generator's sample."""
    return torch.erf(z / math.sqrt(2.0))


class ChainsFromNoise(Generator):
    """Samples of an energy model alone: ``steps`` updates of :func:`genzoo.langevin.chain` on
    ``f`` from uniform noise, kept in [-1, 1]. The latent is the starting noise's seed, of the
    data's shape (:func:`uniform_start`)."""

    def __init__(
        self,
        energy: Energy,
        sample_shape: tuple[int, ...],
        steps: int,
        gradient_step: float,
        noise_std: float,
        gradient_clip: float = 0.0,
    ):
        super().__init__()
        self.latent_shape = tuple(sample_shape)
        self.energy = Borrowed(energy)
        self.steps, self.gradient_step, self.noise_std = steps, gradient_step, noise_std
        self.gradient_clip = gradient_clip
        self.register_buffer("where", torch.zeros(0), persistent=False)  # follows .to(device)

    def run(self, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The chains from ``x0`` (images in [-1, 1]), their noise from ``generator`` (by
        default the global random state, as training draws it)."""
        return chain(
            self.energy,
            x0,
            self.steps,
            self.gradient_step,
            self.noise_std,
            bounds=(-1.0, 1.0),
            gradient_clip=self.gradient_clip,
            generator=generator,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.run(uniform_start(z), chain_noise(z))


class PriorThenGenerator(Generator):
    """Samples of a generator with a latent energy prior ``p_a(z) ∝ exp(f_a(z)) N(0, I)``:
    ``steps`` Langevin steps of size ``step_size`` on the prior from ``z ~ N(0, I)``, then
    ``g``."""

    def __init__(self, generator: Generator, prior: nn.Module, steps: int, step_size: float):
        super().__init__()
        self.latent_shape = tuple(generator.latent_shape)
        self.generator, self.prior = Borrowed(generator), Borrowed(prior)
        self.steps, self.step_size = steps, step_size
        self.register_buffer("where", torch.zeros(0), persistent=False)

    def draws_through(self) -> nn.Module:
        return self.generator.module

    def prior_draws(
        self, z0: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The prior's Langevin chains from ``z0``, their noise from ``generator``."""
        return langevin(
            self.prior, z0, self.steps, self.step_size, reference_sigma=1.0, generator=generator
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(self.prior_draws(z, chain_noise(z)))


class PosteriorThenGenerator(nn.Module):
    """Reconstructions by a generator with a latent energy prior: ``steps`` Langevin steps of
    size ``step_size`` from ``z ~ N(0, I)`` on the posterior ``log p(z|x) = f_a(z) - |x -
    g(z)|^2 / (2 sigma^2) - |z|^2 / 2 + const``, then ``g``."""

    def __init__(
        self, generator: Generator, prior: nn.Module, steps: int, step_size: float, sigma: float
    ):
        super().__init__()
        self.generator, self.prior = Borrowed(generator), Borrowed(prior)
        self.steps, self.step_size, self.sigma = steps, step_size, sigma
        self.register_buffer("where", torch.zeros(0), persistent=False)

    def log_posterior(self, x: torch.Tensor):
        return lambda z: (
            self.prior(z) - per_example_sq_error(x, self.generator(z)) / (2.0 * self.sigma**2)
        )

    def posterior_draws(
        self, x: torch.Tensor, z0: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The posterior's Langevin chains for images ``x`` from ``z0``."""
        return langevin(
            self.log_posterior(x),
            z0,
            self.steps,
            self.step_size,
            reference_sigma=1.0,
            generator=generator,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = chain_noise(x)
        shape = (len(x), *self.generator.module.latent_shape)
        z0 = torch.randn(shape, generator=noise, device=x.device)
        return self.generator(self.posterior_draws(x, z0, noise))

"""A generator with a latent-space energy-based prior (Pang, Han, Nijkamp, Zhu and Wu, NeurIPS
2020, "Learning latent space energy-based prior model")."""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from genzoo.interfaces import Energy, Models
from genzoo.objective import Draws, Objective, Terms, per_example_sq_error
from genzoo_ebm.samplers import PosteriorThenGenerator, PriorThenGenerator


class LatentEnergy(Energy):
    """``f_a(z)``: an MLP on the flattened latent, ``d -> hidden -> hidden -> 1`` with leaky
    ReLUs (their ``_netE``, ``ndf = 200``)."""

    def __init__(self, latent_shape: tuple[int, ...], hidden: int):
        super().__init__()
        d = math.prod(latent_shape)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(d, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(1)


class LatentEBM(Objective):
    """A generator ``x = g(z) + eps``, ``eps ~ N(0, s^2 I)``, whose prior is an energy model on
    the latent, ``p_a(z) ∝ exp(f_a(z)) N(0, I)`` (Pang et al., 2020; their ``train_svhn.py``).

    Each iteration runs two short-run Langevin chains from ``z ~ N(0, I)`` (none is kept):
    ``prior_steps`` steps of size ``prior_step_size`` on the prior (``z-``), and
    ``posterior_steps`` of ``posterior_step_size`` on the posterior ``log p(z|x) = -|x -
    g(z)|^2 / (2 sigma^2) + f_a(z) - |z|^2 / 2 + const`` (``z+``), ``sigma`` =
    ``likelihood_sigma`` (their ``g_llhd_sigma``; ``model.s`` is not used). theta minimises ``|x
    - g(z+)|^2 / (2 sigma^2)`` (``kl_data_p.recon``), alpha ``E f_a(z-) - E f_a(z+)``
    (``mle``: the prior's maximum-likelihood gradient). The prior's network is
    ``latent_ebm.prior`` of player alpha; the architecture's energy and inference networks are
    not used. Samples: ``g`` of the prior chains' ends (``sampler``); reconstructions: ``g`` of
    the posterior chains' ends (``reconstructor``).
    """

    network = "latent_ebm.prior"

    def __init__(
        self,
        hidden: Annotated[int, Field(ge=1, le=100_000)] = 200,
        prior_steps: Annotated[int, Field(ge=1, le=10_000)] = 60,
        prior_step_size: Annotated[float, Field(gt=0, le=10)] = 0.4,
        posterior_steps: Annotated[int, Field(ge=1, le=10_000)] = 20,
        posterior_step_size: Annotated[float, Field(gt=0, le=10)] = 0.1,
        likelihood_sigma: Annotated[float, Field(gt=0, le=100)] = 0.3,
    ):
        self.hidden = hidden
        self.prior_steps, self.prior_step_size = prior_steps, prior_step_size
        self.posterior_steps, self.posterior_step_size = posterior_steps, posterior_step_size
        self.sigma = likelihood_sigma

    def networks(self, models: Models) -> dict[str, tuple[str, nn.Module]]:
        return {self.network: ("alpha", LatentEnergy(models.generator.latent_shape, self.hidden))}

    def uses(self, player: str) -> bool:
        return player == "theta"  # alpha's terms train the latent prior, not an image energy

    def prior(self, models: Models) -> nn.Module:
        return models.extras[self.network][1]

    def sampler(self, models: Models) -> PriorThenGenerator:
        return PriorThenGenerator(
            models.generator, self.prior(models), self.prior_steps, self.prior_step_size
        )

    def prior_draws(self, d: Draws) -> torch.Tensor:
        """``z-``: the prior's short-run chains (once per iteration)."""
        return d.memo(
            "latent_ebm.prior",
            (),
            lambda: self.sampler(d.models).prior_draws(torch.randn_like(d.z)),
        )

    def reconstructor(self, models: Models) -> PosteriorThenGenerator:
        return PosteriorThenGenerator(
            models.generator,
            self.prior(models),
            self.posterior_steps,
            self.posterior_step_size,
            self.sigma,
        )

    def posterior_draws(self, d: Draws) -> torch.Tensor:
        """``z+``: the posterior's short-run chains for the real batch (once per iteration)."""
        return d.memo(
            "latent_ebm.posterior",
            (),
            lambda: self.reconstructor(d.models).posterior_draws(d.x, torch.randn_like(d.z)),
        )

    def alpha(self, d: Draws) -> Terms:
        f = self.prior(d.models)
        z_pos = self.posterior_draws(d)
        return {"mle": f(self.prior_draws(d)).mean() - f(z_pos).mean()}

    def theta(self, d: Draws) -> Terms:
        recon = per_example_sq_error(d.x, d.models.generator(self.posterior_draws(d)))
        return {"kl_data_p.recon": (recon / (2.0 * self.sigma**2)).mean()}

    def reconstruct(self, d: Draws) -> torch.Tensor:
        return d.models.generator(self.posterior_draws(d))

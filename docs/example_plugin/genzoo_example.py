"""A complete third-party genzoo plugin: a tiny fully connected architecture for any image size,
and an objective (the energy model alone, trained against the generator: ACD's alpha-step)."""

import math

from einops import rearrange
from torch import nn

from genzoo import Encoder, Energy, Generator, Posterior, hookimpl
from genzoo.interfaces import Models
from genzoo.objective import Draws, Objective


class FCGenerator(Generator):
    def __init__(self, shape, latent_dim, hidden):
        super().__init__()
        self.shape, self.latent_shape = shape, (latent_dim,)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, math.prod(shape)), nn.Tanh()
        )

    def forward(self, z):
        c, h, w = self.shape
        return rearrange(self.net(z), "b (c h w) -> b c h w", c=c, h=h, w=w)


class FCEncoder(Encoder):
    def __init__(self, shape, latent_dim, hidden):
        super().__init__()
        self.latent_shape = (latent_dim,)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(shape), hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * latent_dim),
        )

    def forward(self, x):
        mean, log_std = self.net(x).chunk(2, dim=1)
        return Posterior(mean, log_std)


class FCEnergy(Energy):
    def __init__(self, shape, hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(shape), hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


def build_fc(sample_shape: tuple[int, ...], latent_dim: int = 8, hidden: int = 64) -> Models:
    """Fully connected nets for small images of any size."""
    return Models(
        FCGenerator(sample_shape, latent_dim, hidden),
        FCEncoder(sample_shape, latent_dim, hidden),
        FCEnergy(sample_shape, hidden),
    )


class EnergyOnly(Objective):
    """Contrastive step of the energy model against the generator's samples."""

    def alpha(self, d: Draws):
        return {"kl_p_pi": d.f_dream.mean(), "kl_q_pi": -d.f_data.mean()}


@hookimpl
def register_architectures(register):
    register("example_fc", build_fc)


@hookimpl
def register_objectives(register):
    register("example_energy_only", EnergyOnly)

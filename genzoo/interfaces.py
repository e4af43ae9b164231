"""The contract between architectures and objectives: Generator, Encoder, Energy.

Objectives only ever talk to these three interfaces; architecture plugins only ever implement
them. Shapes: images are ``(B, C, H, W)`` (or ``(B, C, T, H, W)`` for video, or ``(B, D)`` for
vector data), latents are ``(B, *latent_shape)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from torch import nn

from genzoo.errors import GenzooError
from genzoo.growth import GrowthSchedule, Stage, real_at

#: each player's network in Models, and what the paper calls it
NETWORKS = {
    "alpha": ("energy", "energy model f_alpha"),
    "phi": ("encoder", "inference model q_phi"),
    "theta": ("generator", "generator g_theta"),
}


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


def device_of(module: nn.Module) -> torch.device:
    """Where a module computes: its first parameter's or buffer's device (a sampler without
    weights of its own keeps an empty buffer to follow ``.to``), else the CPU."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


@dataclass
class Posterior:
    """A diagonal Gaussian ``q_phi(z|x) = N(mean, diag(exp(log_std))^2)``.

    ``var_floor`` is added to the variance in :meth:`neg_log_prob`'s quadratic term (the
    authors' ``diag_normal_NLL`` divides by ``1e-6 + exp(log_var)``); 0 leaves it exact."""

    mean: torch.Tensor
    log_std: torch.Tensor
    var_floor: float = 0.0

    @property
    def std(self) -> torch.Tensor:
        return self.log_std.exp()

    def neg_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``-log q(z|x)`` per example, summed over latent units, constant included."""
        const = 0.5 * math.log(2 * math.pi)
        if self.var_floor:
            quad = (z - self.mean) ** 2 / (self.std**2 + self.var_floor)
        else:
            quad = ((z - self.mean) / self.std) ** 2
        per_unit = self.log_std + 0.5 * quad + const
        return _sum_per_example(per_unit)

    def kl_to_prior(self, reduction: str = "sum") -> torch.Tensor:
        """``KL(q(.|x) || N(0, I))`` per example: summed (textbook) or averaged over units."""
        per_unit = 0.5 * (self.mean**2 + self.std**2 - 1.0 - 2.0 * self.log_std)
        flat = per_unit.flatten(1)
        return flat.mean(1) if reduction == "mean" else flat.sum(1)


class Generator(nn.Module, ABC):
    """``g_theta``: latent ``z`` of shape ``latent_shape`` to a sample ``x``."""

    latent_shape: tuple[int, ...]

    def sample_latent(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw ``z ~ N(0, I)`` of shape ``(n, *latent_shape)``."""
        if device is None:
            device = device_of(self)
        return torch.randn((n, *self.latent_shape), generator=generator, device=device)

    def draws_through(self) -> nn.Module:
        """The network whose batch normalisation a draw computes with, which sampling's norm
        modes switch (``genzoo.sampling.norm_mode``): the generator itself; a sampler that calls
        a trained generator it does not own (``genzoo.sampling.Borrowed``) returns that one."""
        return self

    @abstractmethod
    def forward(self, z: torch.Tensor) -> torch.Tensor: ...


class Encoder(nn.Module, ABC):
    """``q_phi(z|x)``: a sample ``x`` to a Gaussian posterior over ``z``."""

    latent_shape: tuple[int, ...]
    #: what the network's second head is ("log_std" or "log_var") and whether log_std is
    #: clamped to [-10, 5]; the core sets both from the recipe (``model.posterior``,
    #: ``model.posterior_clamp``) and :meth:`to_posterior` applies them
    posterior_head: str = "log_std"
    posterior_clamp: bool = True

    def to_posterior(self, mean: torch.Tensor, second: torch.Tensor) -> Posterior:
        """The Gaussian from the network's two heads, read as the recipe says. A log-variance
        head comes with the authors' variance floor of 1e-6 in ``-log q``."""
        log_var = self.posterior_head == "log_var"
        log_std = 0.5 * second if log_var else second
        return Posterior(
            mean,
            log_std.clamp(-10.0, 5.0) if self.posterior_clamp else log_std,
            var_floor=1e-6 if log_var else 0.0,
        )

    @abstractmethod
    def forward(self, x: torch.Tensor) -> Posterior: ...


class Energy(nn.Module, ABC):
    """``f_alpha``: a sample ``x`` to one score per example (energy is ``-f``, density ``exp f``)."""

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``f(x)`` of shape ``(B,)``."""


class FeatureNetwork(nn.Module, ABC):
    """A classifier used to judge samples: ``features(x)`` (B, D) for Fréchet distances and
    precision/recall, ``logits(features)`` for an Inception-Score analogue."""

    @abstractmethod
    def features(self, x: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def logits(self, features: torch.Tensor) -> torch.Tensor: ...

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(x))


class PretrainedFeatures:
    """A feature extractor with published weights (the Inception-v3 of FID), registered as a
    feature network beside the classifiers genzoo trains: ``load(weights, device)`` gives a
    :class:`genzoo.metrics.Extractor`, ``weights`` a file or None for the default download."""

    def __init__(self, load):
        self.load = load
        self.__doc__ = load.__doc__


class Growing(ABC):
    """A network that grows layer by layer (section 4.1.3): the three networks of an
    architecture with a :class:`~genzoo.growth.GrowthSchedule` implement this."""

    @abstractmethod
    def set_stage(self, stage: Stage) -> None:
        """Work at ``stage.resolution``, with the newest layer weighted by ``stage.fade``."""


class Unused(nn.Module):
    """What stands in ``Models`` for a player's network that the objective does not use
    (``Objective.uses``): no weights, nothing to train or checkpoint, and a clear error if
    anything runs it. A generator's ``latent_shape`` stays (the iteration's noise is drawn
    the same)."""

    def __init__(self, player: str, objective: str, latent_shape=None):
        super().__init__()
        self.player, self.objective = player, objective
        if latent_shape is not None:
            self.latent_shape = tuple(latent_shape)

    def forward(self, *args, **kwargs):
        raise GenzooError(
            f"objective {self.objective} does not use the {NETWORKS[self.player][1]} "
            f"({self.player}), yet something ran it; an objective that reads it says so in "
            f"Objective.uses"
        )


@dataclass
class Models:
    """The three players an architecture plugin builds, for growing networks their schedule,
    the networks objectives add to a player (``extras``: name -> ``(player, module)``) and the
    objective's own sampler, where samples are not ``g_theta(z)`` (``Objective.sampler``)."""

    generator: Generator
    encoder: Encoder
    energy: Energy
    growth: GrowthSchedule | None = None
    stage: Stage | None = field(default=None, repr=False)
    extras: dict[str, tuple[str, nn.Module]] = field(default_factory=dict, repr=False)
    sampler: Generator | None = field(default=None, repr=False)
    #: the objective's own way from images to reconstructions (``Objective.reconstructor``)
    reconstructor: nn.Module | None = field(default=None, repr=False)
    #: the data's sample shape (set by genzoo.assemble.build_models)
    sample_shape: tuple[int, ...] | None = field(default=None, repr=False)

    @property
    def drawing(self) -> Generator:
        """What samples are drawn from: the objective's sampler, else the generator."""
        return self.sampler if self.sampler is not None else self.generator

    def players(self) -> dict[str, nn.Module]:
        """The networks the objective uses, keyed by the paper's parameter names (of alpha,
        phi and theta; see :meth:`drop`)."""
        out = {"alpha": self.energy, "phi": self.encoder, "theta": self.generator}
        return {p: m for p, m in out.items() if not isinstance(m, Unused)}

    def uses(self, player: str) -> bool:
        return not isinstance(getattr(self, NETWORKS[player][0]), Unused)

    def drop(self, player: str, objective: str) -> None:
        """Put :class:`Unused` where ``player``'s network was: an objective that does not use
        it trains, checkpoints, exports and evaluates without it."""
        attr = NETWORKS[player][0]
        setattr(
            self,
            attr,
            Unused(player, objective, getattr(getattr(self, attr), "latent_shape", None)),
        )

    def networks(self) -> dict[str, tuple[str, nn.Module]]:
        """Every trained network as ``(player, module)``, keyed by its checkpoint name: the
        players' own under their names, objectives' extras as ``extra.NAME``."""
        out = {p: (p, m) for p, m in self.players().items()}
        out.update({f"extra.{n}": pm for n, pm in self.extras.items()})
        return out

    def set_step(self, step: int) -> Stage | None:
        """Put growing networks at the stage of the iteration after ``step`` completed steps
        (nothing to do for networks that do not grow)."""
        if self.growth is None:
            return None
        self.stage = self.growth.at(step)
        for _, net in self.networks().values():
            if isinstance(net, Growing):
                net.set_stage(self.stage)
        return self.stage

    def real_view(self, x: torch.Tensor) -> torch.Tensor:
        """Real data as the networks see them now (resized and faded while growing)."""
        return x if self.stage is None else real_at(x, self.stage)

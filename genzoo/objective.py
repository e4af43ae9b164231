"""Objectives as per-player loss terms, the draws they share, and their composition.

An objective plugin subclasses :class:`Objective` and returns, for each player, a dict of named
loss terms computed from one iteration's :class:`Draws`. Players follow the paper:
``alpha`` (energy model, maximises D, so it minimises its terms of -D), ``phi`` (inference
model) and ``theta`` (generator), both minimising D. A composed objective adds the terms of its
parts; the divergence triangle is the composition ``["vae", "acd"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from genzoo.errors import GenzooError
from genzoo.interfaces import Generator, Models, Posterior
from genzoo.per_example import PerExample
from genzoo.sampling import running_stats_frozen

PLAYERS = ("alpha", "phi", "theta")


def per_example_sq_error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x - y||^2`` summed over every non-batch dimension."""
    return (x - y).pow(2).flatten(1).sum(1)


class Draws:
    """One iteration of Algorithm 1: the samples drawn once and the forward passes on them.

    ``x`` (real data) and ``z ~ p(z)`` are fixed for the iteration; ``x_tilde = g(z)`` and
    ``z_hat ~ q(z|x)`` are drawn on first use and shared by the alpha-, phi- and theta-steps.
    Forward passes are cached and dropped by :meth:`after_step` when the player they depend on
    has moved, so each network runs no more often than Algorithm 1 needs.

    ``theta_z_hat``: the theta-step's ``z^`` is the phi-step's draw (``"reuse"``, Algorithm 1)
    or a ``"fresh"`` one, from the updated encoder with a new eps (the authors' code).
    ``running_stats``: the generator's batch-norm running statistics follow every pass
    (``"all"``) or the prior draws g(z) alone (``"prior"``: g(z^) leaves them as they are).
    """

    def __init__(
        self,
        models: Models,
        x: torch.Tensor,
        z: torch.Tensor,
        s: float,
        rng: torch.Generator | None = None,
        noise: Callable | None = None,
        index: torch.Tensor | None = None,
        per_example: PerExample | None = None,
        theta_z_hat: str = "reuse",
        running_stats: str = "all",
    ):
        self.models = models
        self.running_stats = running_stats
        self.fresh_z_hat = theta_z_hat == "fresh"
        self.x = x
        self.z = z
        self.s = s
        self.index = index  # the batch's positions in the training set
        self._per_example = per_example
        self._rng = rng
        # noise(shape, device, dtype, generator): N(0, I) draws (a process's share of the
        # global batch's draw when training on several processes)
        self._noise = noise or (
            lambda shape, device, dtype, generator: torch.randn(
                shape, generator=generator, device=device, dtype=dtype
            )
        )
        self._cache: dict[str, tuple[frozenset[str], object]] = {}
        self._eps: torch.Tensor | None = None
        self._z_hat_drawn: torch.Tensor | None = None

    def memo(self, key: str, deps: tuple[str, ...], fn: Callable[[], object]):
        """``fn()`` once per iteration, until a player in ``deps`` steps: how objectives share
        a draw of their own across players (e.g. CoopNets' revised samples, ``deps = ()``)."""
        if key not in self._cache:
            self._cache[key] = (frozenset(deps), fn())
        return self._cache[key][1]

    def rows(self, name: str) -> torch.Tensor:
        """This batch's rows of a per-example tensor (``Objective.per_example``)."""
        if self._per_example is None or self.index is None:
            raise GenzooError(
                f"per-example tensor '{name}' asked for outside a trainer that keeps them"
            )
        return self._per_example.rows(name, self.index)

    def set_rows(self, name: str, values: torch.Tensor) -> None:
        """Replace this batch's rows of a per-example tensor (kept for the next visit)."""
        self.rows(name)  # the same checks
        self._per_example.set_rows(name, self.index, values)

    def cached(self, key: str):
        """A forward pass already computed this iteration (e.g. ``"f_data"``), or None."""
        hit = self._cache.get(key)
        return None if hit is None else hit[1]

    def after_step(self, player: str) -> None:
        """Forget what a step of ``player`` made stale. ``z_hat`` stays the sample drawn at the
        start of the iteration (Algorithm 1, line 6), held without its graph after phi moves;
        with ``theta_z_hat = "fresh"`` it is drawn anew (new eps) from the moved encoder."""
        if player == "phi" and self.fresh_z_hat:
            self._eps = None
        elif player == "phi" and "z_hat" in self._cache:
            self._z_hat_drawn = self._cache["z_hat"][1].detach()
        self._cache = {k: v for k, v in self._cache.items() if player not in v[0]}

    # --- the draws -------------------------------------------------------------------------
    @property
    def x_tilde(self) -> torch.Tensor:
        """``x~ = g_theta(z)``, dream data (with its graph to theta)."""
        return self.memo("x_tilde", ("theta",), lambda: self.models.generator(self.z))

    @property
    def posterior(self) -> Posterior:
        """``q_phi(z|x)`` on the real batch."""
        return self.memo("posterior", ("phi",), lambda: self.models.encoder(self.x))

    @property
    def z_hat(self) -> torch.Tensor:
        """``z^ ~ q_phi(z|x)`` by reparameterisation (gradient to phi until phi steps)."""
        if self._z_hat_drawn is not None:
            return self._z_hat_drawn

        def draw():
            q = self.posterior
            if self._eps is None:
                self._eps = self._noise(q.mean.shape, q.mean.device, q.mean.dtype, self._rng)
            return q.mean + q.std * self._eps

        return self.memo("z_hat", ("phi",), draw)

    # --- forward passes on them -------------------------------------------------------------
    @property
    def x_recon(self) -> torch.Tensor:
        """``g_theta(z^)``, the reconstruction of the real batch. Its value depends on theta
        alone once drawn (``z^`` stays the iteration's sample when phi steps), so the theta-step
        reuses the phi-step's forward pass (the trainer keeps graphs until the last step);
        a fresh ``z^`` makes it depend on phi too."""
        deps = ("theta", "phi") if self.fresh_z_hat else ("theta",)

        def forward():
            with self.posterior_pass():
                return self.models.generator(self.z_hat)

        return self.memo("x_recon", deps, forward)

    def posterior_pass(self):
        """Context for a generator pass on inferred codes (not prior draws): with
        ``running_stats = "prior"`` it leaves the batch-norm running statistics alone."""
        if self.running_stats == "prior":
            return running_stats_frozen(self.models.generator)
        return nullcontext()

    @property
    def f_data(self) -> torch.Tensor:
        """``f_alpha(x)`` per example."""
        return self.memo("f_data", ("alpha",), lambda: self.models.energy(self.x))

    @property
    def f_dream(self) -> torch.Tensor:
        """``f_alpha(x~)`` per example (gradient to alpha, and to theta through x~)."""
        return self.memo("f_dream", ("alpha", "theta"), lambda: self.models.energy(self.x_tilde))

    @property
    def posterior_dream(self) -> Posterior:
        """``q_phi(z|x~)`` on the dream data."""
        return self.memo(
            "posterior_dream", ("phi", "theta"), lambda: self.models.encoder(self.x_tilde)
        )

    # --- quantities objectives share ---------------------------------------------------------
    def reconstruction_error(self) -> torch.Tensor:
        """``||x - g(z^)||^2 / (2 s^2)`` per example: ``-log p_theta(x|z^)`` up to a constant."""
        return per_example_sq_error(self.x, self.x_recon) / (2.0 * self.s**2)

    def neg_log_q_dream(self) -> torch.Tensor:
        """``-log q_phi(z|x~)`` per example, for the prior draw ``z`` that made ``x~``."""
        return self.posterior_dream.neg_log_prob(self.z)


Terms = dict[str, torch.Tensor]


class Objective:
    """Base class of objective plugins: per-player loss terms, each a scalar to minimise.

    Override any of :meth:`alpha`, :meth:`phi`, :meth:`theta`; a player with no terms is not
    stepped. Name each term after the KL divergence it comes from.
    """

    #: steps of a player only every k-th iteration, e.g. ``{"theta": 5}``: the generator
    #: steps once per five critic steps, each on a fresh batch (WGAN-GP)
    every: dict[str, int] = {}

    def alpha(self, d: Draws) -> Terms:
        return {}

    def phi(self, d: Draws) -> Terms:
        return {}

    def theta(self, d: Draws) -> Terms:
        return {}

    def terms(self, player: str, d: Draws) -> Terms:
        return getattr(self, player)(d)

    def networks(self, models: Models) -> dict[str, tuple[str, nn.Module]]:
        """Trainable networks this objective adds to a player, by a name unique in the recipe:
        ``{"ali_joint": ("alpha", module)}`` (ALI's joint discriminator). Built after the
        architecture's networks, so they may copy them; the core initialises, trains,
        checkpoints and wraps them for several processes like the player's own network, and
        the loss terms reach them as ``d.models.extras[name]``."""
        return {}

    def per_example(self, n: int, models: Models) -> dict[str, torch.Tensor]:
        """Tensors with a row per training example (``n`` rows) that this objective keeps from
        one visit of an example to the next, by a name unique in the recipe, e.g. alternating
        back-propagation's latent vectors. Loss terms read and replace the batch's rows with
        ``d.rows(name)`` and ``d.set_rows(name, values)``; the core checkpoints them."""
        return {}

    def reconstruct(self, d: Draws) -> torch.Tensor:
        """The current reconstruction of the real batch ``d.x``, which refills the hidden pixels
        of incomplete training images (section 4.4): by default ``g(mean of q(z|x))``. Called
        without gradients after the iteration's steps."""
        return d.models.generator(d.models.encoder(d.x).mean)

    def steps_at(self, player: str, iteration: int) -> bool:
        """Whether ``player`` steps in ``iteration`` (0-based)."""
        return iteration % max(1, int(self.every.get(player, 1))) == 0

    def sampler(self, models: Models) -> Generator | None:
        """The generator samples are drawn from when it is not the architecture's ``g_theta``:
        an energy model trained by MCMC alone draws by Langevin from noise, a latent-space
        energy prior by Langevin in latent space before ``g``. Grids, ``genzoo sample``,
        ``genzoo eval`` and the studies all draw from it. None: ``g_theta`` itself."""
        return None

    def reconstructor(self, models: Models) -> nn.Module | None:
        """How a trained model reconstructs images when not by ``g(mean of q(z|x))``: a module
        from images to their reconstructions (the latent energy prior's posterior Langevin
        chains followed by ``g``). None: by the inference model, where one is trained."""
        return None

    def trains(self, player: str) -> bool:
        """Whether the objective has loss terms for ``player`` (overrides its method)."""
        return getattr(type(self), player) is not getattr(Objective, player)

    def uses(self, player: str) -> bool:
        """Whether the objective's losses or sampling run ``player``'s network (the energy
        model for alpha, the inference model for phi, the generator for theta); the trainer
        builds, steps, checkpoints and evaluates only those. By default, the players it has
        loss terms for; an objective whose player's terms train only a network it adds (the
        latent energy prior, on alpha) says no for the player's own."""
        return self.trains(player)


@dataclass(frozen=True)
class Part:
    name: str
    objective: Objective
    weight: float


class Composition(Objective):
    """A weighted sum of named objectives; each term is logged as ``'<objective>.<term>'``."""

    def __init__(self, parts: list[Part]):
        self.parts = parts
        # a player steps as rarely as the rarest part asks
        self.every = {
            p: max([int(x.objective.every.get(p, 1)) for x in parts] or [1]) for p in PLAYERS
        }

    def terms(self, player: str, d: Draws) -> Terms:
        out: Terms = {}
        for part in self.parts:
            for term, value in part.objective.terms(player, d).items():
                out[f"{part.name}.{term}"] = part.weight * value
        return out

    def networks(self, models: Models) -> dict[str, tuple[str, nn.Module]]:
        out: dict[str, tuple[str, nn.Module]] = {}
        for part in self.parts:
            for name, (player, module) in part.objective.networks(models).items():
                if name in out:
                    raise GenzooError(
                        f"two objectives of the recipe add a network named "
                        f"'{name}' (the second is '{part.name}'); keep one of them"
                    )
                if player not in PLAYERS or not isinstance(module, nn.Module):
                    raise GenzooError(
                        f"objective '{part.name}' adds '{name}' as {player!r}: "
                        f"a network must be an nn.Module of alpha, phi or theta"
                    )
                out[name] = (player, module)
        return out

    def per_example(self, n: int, models: Models) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for part in self.parts:
            for name, t in part.objective.per_example(n, models).items():
                if name in out:
                    raise GenzooError(
                        f"two objectives of the recipe keep a per-example tensor "
                        f"'{name}' (the second is '{part.name}'); keep one of them"
                    )
                out[name] = t
        return out

    def sampler(self, models: Models) -> Generator | None:
        """The first part's own sampler, if one has one."""
        return next((s for p in self.parts if (s := p.objective.sampler(models)) is not None), None)

    def reconstructor(self, models: Models) -> nn.Module | None:
        return next(
            (r for p in self.parts if (r := p.objective.reconstructor(models)) is not None), None
        )

    def trains(self, player: str) -> bool:
        return any(p.objective.trains(player) for p in self.parts)

    def uses(self, player: str) -> bool:
        return any(p.objective.uses(player) for p in self.parts)

    def reconstruct(self, d: Draws) -> torch.Tensor:
        """The first part's own reconstruction if one overrides it, else the default."""
        for part in self.parts:
            if type(part.objective).reconstruct is not Objective.reconstruct:
                return part.objective.reconstruct(d)
        return super().reconstruct(d)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parts]

    @property
    def keeps_examples(self) -> bool:
        """Whether a part keeps tensors per training example (overrides ``per_example``)."""
        return any(type(p.objective).per_example is not Objective.per_example for p in self.parts)


def _check_options(what: str, fn: Callable, options: dict, where: str) -> dict:
    """``options`` checked against ``fn``'s signature (its options schema: genzoo.schema):
    names, and the annotated types and ranges (NaN and inf refused for numbers); returns them
    converted."""
    from genzoo.schema import check_options

    return check_options(fn, options, where, unknown=f"{what} has no option '{{key}}'")


def compose(spec, options: dict[str, dict], registry) -> Composition:
    """Build a recipe's ``objective``: a name, or a list of names / ``{name, weight}`` tables.

    A registered composition (a list of names, like ``triangle``) is expanded through this same
    function, so ``"triangle"`` and ``["vae", "acd"]`` build the same parts.
    """
    items = spec if isinstance(spec, list) else [spec]
    parts: list[Part] = []
    for item in items:
        name, weight = (
            (item["name"], float(item.get("weight", 1.0)))
            if isinstance(item, dict)
            else (item, 1.0)
        )
        entry = registry.get("objectives", name)
        if isinstance(entry.obj, (list, tuple)):
            inner = compose(list(entry.obj), options, registry)
            parts += [Part(p.name, p.objective, weight * p.weight) for p in inner.parts]
        else:
            opts = _check_options(
                f"objective '{name}'", entry.obj, options.get(name, {}), f"objectives.{name}"
            )
            try:
                parts.append(Part(name, entry.obj(**opts), weight))
            except (ValueError, TypeError) as exc:  # objectives say why an option does not fit
                raise GenzooError(
                    f"objective '{name}': {exc}; fix [objectives.{name}] in the recipe"
                ) from None
    return Composition(parts)

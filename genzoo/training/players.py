"""The players a recipe trains: the networks grouped by player (alpha: the energy model, phi:
the inference model, theta: the generator, each with the networks its objectives add), one Adam
per player and its learning rate, the view the objective's forward passes go through (the
networks, or their DistributedDataParallel wrappers), and the generator that samples are drawn
from (the moving average of ``train.generator_ema``, or the generator itself)."""

from __future__ import annotations

import math

import torch

from genzoo import assemble
from genzoo.errors import GenzooError
from genzoo.interfaces import Models
from genzoo.recipe import Recipe
from genzoo.sampling import generate
from genzoo.training import distributed
from genzoo.training.ema import NORM_SEED, GeneratorEMA


def make_optimizers(
    recipe: Recipe, params: dict[str, list[torch.nn.Parameter]]
) -> dict[str, torch.optim.Adam]:
    """One Adam per player over its parameters (its network's and those of the networks
    objectives added to it), with the recipe's settings for that player."""
    out = {}
    for name, ps in params.items():
        o = getattr(recipe.train, name)
        out[name] = torch.optim.Adam(ps, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    return out


class Team:
    """Networks, optimisers and learning rates of a recipe's players on ``device``."""

    def __init__(
        self,
        recipe: Recipe,
        sample_shape: tuple[int, ...],
        registry,
        device: torch.device,
        group: distributed.Group,
    ):
        self.recipe, self.device = recipe, device
        self.models = assemble.build_models(recipe, sample_shape, registry)
        self.objective = assemble.build_objective(recipe, registry)
        assemble.attach_networks(self.models, self.objective, recipe)
        if recipe.train.generator_ema and not self.models.uses("theta"):
            raise GenzooError(
                f"train.generator_ema averages the generator, and objective "
                f"{recipe.objective!r} has none; drop the key"
            )
        # every trained network by checkpoint name: the players' and objectives' extras
        self.networks = {k: m for k, (_, m) in self.models.networks().items()}
        self.memory_format = (
            torch.channels_last
            if recipe.train.channels_last and len(sample_shape) == 3
            else torch.preserve_format
        )
        for module in self.networks.values():
            module.to(device, memory_format=self.memory_format).train()
        if self.models.sampler is not None:
            self.models.sampler.to(device)
        # a copy of the plain module, made before compiling
        self.ema = (
            GeneratorEMA(self.models.generator, recipe.train.generator_ema)
            if recipe.train.generator_ema
            else None
        )
        self._ema_norm_of = None  # (updates, stage) the average's norm statistics belong to
        if recipe.train.compile:
            for module in self.networks.values():
                module.compile()
        self.params = {
            p: [
                q
                for owner, m in self.models.networks().values()
                if owner == p
                for q in m.parameters()
                if q.requires_grad
            ]
            for p in sorted({owner for owner, _ in self.models.networks().values()})
        }
        self.optimizers = make_optimizers(recipe, self.params)
        self.forward_models = self.models
        if group.active:
            wrap = {
                k: distributed.wrap(
                    m,
                    group,
                    device,
                    recipe.train.sync_batchnorm,
                    find_unused=self.models.growth is not None,
                )
                for k, m in self.networks.items()
            }
            m = self.models
            self.forward_models = Models(
                wrap.get("theta", m.generator),
                wrap.get("phi", m.encoder),
                wrap.get("alpha", m.energy),
                extras={n: (p, wrap[f"extra.{n}"]) for n, (p, _) in self.models.extras.items()},
            )
        self.lr_scale = 1.0  # lowered by each divergence rollback
        self.set_learning_rates(0)  # a bare step trains at epoch 0's rates too

    def set_learning_rates(self, epoch: int) -> None:
        """Each player's rate at ``epoch``: ``lr * lr_decay^epoch``, or ``^(epoch + 1)`` with
        ``train.lr_decay_epoch0`` (the authors' scheduler steps before epoch 0 too), times
        ``lr_scale``."""
        t = self.recipe.train
        for player, opt in self.optimizers.items():
            lr = getattr(t, player).lr * t.lr_decay ** (epoch + int(t.lr_decay_epoch0))
            lr *= self.lr_scale
            for group in opt.param_groups:
                group["lr"] = lr

    def largest_weights(self) -> dict[str, torch.Tensor]:
        """Each player's largest weight in magnitude, without a device sync."""
        with torch.no_grad():
            return {
                p: torch.stack(torch._foreach_norm(params, float("inf"))).max()
                for p, params in self.params.items()
                if params
            }

    def not_finite(self) -> str | None:
        """The first player whose parameters are no longer finite, if any."""
        for player, params in self.params.items():
            if not all(bool(torch.isfinite(p).all()) for p in params):
                return player
        return None

    # --- sampling ----------------------------------------------------------------------------
    def sampling_generator(self) -> torch.nn.Module:
        """The generator that grids and measurements draw from: with ``train.generator_ema``
        the moving average, at the live generator's stage, with batch-norm statistics of its
        own weights (``GeneratorEMA.refresh_norm``); the objective's sampler where it has one
        (``Objective.sampler``); else the generator itself."""
        if self.models.sampler is not None:
            return self.models.sampler
        if self.ema is None:
            return self.models.generator
        if self.models.stage is not None:
            self.ema.module.set_stage(self.models.stage)
        if self._ema_norm_of != (self.ema.updates, self.models.stage):  # once per state
            self.ema.refresh_norm(
                self.models.generator.latent_shape,
                self.recipe.train.batch_size,
                self.recipe.seed + NORM_SEED,
            )
            self._ema_norm_of = (self.ema.updates, self.models.stage)
        return self.ema.module

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """``g(z)`` for sample grids, in the recipe's ``model.sample_norm`` mode, on the CPU,
        from ``sampling_generator``."""
        return generate(
            self.sampling_generator(), z, self.recipe.model.sample_norm, batch=max(len(z), 1)
        )

    def loaded_average(self) -> None:
        """The average's weights were replaced: its norm statistics are measured again."""
        self._ema_norm_of = None


def blown_up(largest: dict[str, torch.Tensor], limit: float = 1e6) -> list[str]:
    """Team whose weights, as the diverging iteration started, held a value that is not
    finite or beyond ``limit`` in magnitude (no network of genzoo's has weights near that
    after a sane step): the step before broke them."""
    return [p for p, top in largest.items() if not math.isfinite(float(top)) or float(top) > limit]

"""Turn a recipe's plugin names and options into networks, data and an objective."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import torch
from torch import nn

from genzoo import objective as objective_mod
from genzoo import plugins
from genzoo.data import DataSource, carve_validation
from genzoo.devices import check_device
from genzoo.errors import GenzooError
from genzoo.interfaces import Encoder, Energy, Generator, Growing, Models
from genzoo.occlusion import OccludedDataset
from genzoo.recipe import Recipe
from genzoo.schema import check_options


def plugin_options(
    where: str, fn, options: dict, base_dir: Path | None, positional: tuple[str, ...] = ()
) -> dict:
    """Check recipe ``options`` against the signature of a plugin's ``fn`` (its options
    schema: genzoo.schema): unknown keys (with the nearest valid name), types and ranges from
    the annotations, and missing required keys."""
    return check_options(fn, options, where, base_dir, positional)


def build_data(recipe: Recipe, registry=None, complete: bool = False) -> DataSource:
    """The recipe's data set; with ``[data.occlusion]`` its training set holds incomplete
    images (``complete = True``: the images as they are, to measure recovery against)."""
    registry = registry or plugins.registry()
    entry = registry.get("datasets", recipe.data.name)
    opts = plugin_options("data", entry.obj, recipe.data.options, recipe.base_dir)
    source = entry.obj(**opts)
    if not isinstance(source, DataSource):
        raise GenzooError(
            f"dataset '{recipe.data.name}' from '{entry.dist}' returned "
            f"{type(source).__name__}, not a genzoo.data.DataSource"
        )
    if recipe.data.validation and source.validation is None:
        train, validation = carve_validation(source.train, recipe.data.validation)
        source = dataclasses.replace(source, train=train, validation=validation)
    if recipe.data.occlusion is not None and not complete:
        try:
            train = OccludedDataset(
                source.train, recipe.data.occlusion, source.sample_shape, recipe.seed
            )
        except ValueError as exc:
            raise GenzooError(f"{exc}; fix [data.occlusion] in the recipe") from None
        source = dataclasses.replace(source, train=train)
    return source


def init_weights(module: nn.Module, std: float, bias: str = "zero") -> None:
    """The paper's initialisation: conv and linear weights N(0, std), biases 0 (``bias =
    "default"``: PyTorch's own bias init kept, as the authors' code does); normalisation
    layers' scales N(1, std), shifts 0."""
    for m in module.modules():
        if isinstance(
            m,
            (
                nn.Conv1d,
                nn.Conv2d,
                nn.Conv3d,
                nn.ConvTranspose1d,
                nn.ConvTranspose2d,
                nn.ConvTranspose3d,
                nn.Linear,
            ),
        ):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None and bias == "zero":
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm)):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, std)
                nn.init.zeros_(m.bias)


def build_models(recipe: Recipe, sample_shape: tuple[int, ...], registry=None) -> Models:
    registry = registry or plugins.registry()
    entry = registry.get("architectures", recipe.model.arch)
    params = list(inspect.signature(entry.obj).parameters)
    opts = plugin_options(
        "model", entry.obj, recipe.model.options, recipe.base_dir, positional=tuple(params[:1])
    )
    try:
        models = entry.obj(tuple(sample_shape), **opts)
    except ValueError as exc:  # architectures say why a data shape or option does not fit
        raise GenzooError(f"architecture '{recipe.model.arch}': {exc}") from None
    for attr, iface in (("generator", Generator), ("encoder", Encoder), ("energy", Energy)):
        if not isinstance(getattr(models, attr, None), iface):
            raise GenzooError(
                f"architecture '{recipe.model.arch}' from '{entry.dist}' must "
                f"build a {iface.__name__} as '{attr}'"
            )
    if models.growth is not None:
        for attr in ("generator", "encoder", "energy"):
            if not isinstance(getattr(models, attr), Growing):
                raise GenzooError(
                    f"architecture '{recipe.model.arch}' from '{entry.dist}' grows, "
                    f"so its {attr} must implement genzoo.interfaces.Growing"
                )
    elif recipe.model.s_resolution:
        raise GenzooError(
            f"model.s_resolution scales s with the resolution of growing networks, "
            f"and architecture '{recipe.model.arch}' does not grow; drop the key"
        )
    for net in (models.generator, models.encoder, models.energy):
        init_weights(net, recipe.model.init_std, recipe.model.bias_init)
    models.encoder.posterior_head = recipe.model.posterior
    models.encoder.posterior_clamp = recipe.model.posterior_clamp
    models.sample_shape = tuple(sample_shape)
    models.set_step(0)
    return models


def build_objective(recipe: Recipe, registry=None) -> objective_mod.Composition:
    registry = registry or plugins.registry()
    return objective_mod.compose(recipe.objective, recipe.objectives, registry)


def attach_networks(models: Models, objective: objective_mod.Objective, recipe: Recipe) -> None:
    """Build the networks the objective adds (``Objective.networks``), initialise them like the
    architecture's and keep them in ``models.extras``; then the objective's sampler, if it has
    one (``Objective.sampler``), as ``models.sampler``. The players' networks the objective
    does not use (``Objective.uses``) are dropped."""
    extras = objective.networks(models)
    for _, net in extras.values():
        init_weights(net, recipe.model.init_std, recipe.model.bias_init)
    models.extras = dict(extras)
    for player in objective_mod.PLAYERS:
        if not objective.uses(player):
            models.drop(player, repr(recipe.objective))
    if models.stage is not None:
        models.set_step(0)
    models.sampler = objective.sampler(models)
    models.reconstructor = objective.reconstructor(models)
    if models.sampler is not None and not isinstance(models.sampler, Generator):
        raise GenzooError(
            f"objective {recipe.objective!r} returned a {type(models.sampler).__name__} as its "
            f"sampler, not a genzoo.interfaces.Generator"
        )


def one_process_only(recipe: Recipe, registry=None) -> bool:
    """Whether the recipe keeps a state per training example (incomplete images' fills, or an
    objective's own, as alternating back-propagation's latents), which trains on one process."""
    return recipe.data.occlusion is not None or build_objective(recipe, registry).keeps_examples


def resolve_device(name: str) -> torch.device:
    """The torch device of ``name`` (:func:`check_device`): ``auto`` is a GPU where there is
    one."""
    name = check_device(str(name) if isinstance(name, torch.device) else name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GenzooError(
            f"device '{name}' was asked for but no CUDA GPU is available; "
            f'set device = "auto" or "cpu"'
        )
    return torch.device(name)

"""Reading a trained run's networks back: the newest good checkpoint (or a chosen one) of a run
directory, with the recipe that wrote it, and the one error for weights that do not fit."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genzoo import assemble
from genzoo.errors import GenzooError
from genzoo.store import checkpoint as ckpts
from genzoo.store import rundir


def load_weights(module: nn.Module, state: dict, source, what: str, fix: str) -> None:
    """``module.load_state_dict(state)``, or one line naming ``source``, ``what`` it should
    have fitted and the ``fix``."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise GenzooError(f"'{source}' does not fit the {what} ({first}); {fix}") from None


def checkpoint_of(run_dir: Path, step: int | None = None) -> ckpts.Checkpoint:
    """The newest good checkpoint of ``run_dir``, or the one of ``step``."""
    folder = run_dir / rundir.CHECKPOINTS
    if step is None:
        ckpt = ckpts.latest(folder)
    else:
        sidecar = folder / f"step_{int(step):08d}.json"
        if not sidecar.is_file():
            kept = [str(ckpts.step_of(p)) for p in ckpts.list_checkpoints(folder)]
            raise GenzooError(
                f"run directory '{run_dir}' holds no checkpoint of step {step}; "
                f"it keeps steps {', '.join(kept) or 'none'}"
            )
        ckpt = ckpts.read(sidecar)
    if ckpt is None:
        raise GenzooError(
            f"run directory '{run_dir}' holds no usable checkpoint; train it "
            f"first with 'genzoo run'"
        )
    return ckpt


def load_trained(
    run_dir: Path,
    device: str | torch.device = "cpu",
    registry=None,
    checkpoint: int | None = None,
    average: bool = True,
):
    """``(recipe, models, checkpoint)`` of a run directory's newest good checkpoint (or the one
    of step ``checkpoint``), with the networks in eval mode on ``device``. A run trained with
    ``train.generator_ema`` gets its averaged generator (what its grids were drawn from) unless
    ``average`` is False."""
    run_dir = Path(run_dir)
    recipe = rundir.load_recipe(run_dir)
    ckpt = checkpoint_of(run_dir, checkpoint)
    if ckpt.meta.get("recipe_hash") != recipe.identity_hash():
        raise GenzooError(
            f"checkpoint '{ckpt.path}' was written by a different recipe than "
            f"'{run_dir / rundir.RECIPE}'"
        )
    models = assemble.build_models(recipe, tuple(ckpt.meta["sample_shape"]), registry)
    # the objective's own networks and sampler (a latent prior's energy draws the samples)
    assemble.attach_networks(models, assemble.build_objective(recipe, registry), recipe)
    averaged = {
        k.removeprefix("module."): v
        for k, v in ckpt.module_state(ckpts.EMA).items()
        if k.startswith("module.")
    }
    for player, module in models.players().items():
        state = (
            averaged if player == "theta" and average and averaged else ckpt.module_state(player)
        )
        load_weights(module, state, ckpt.path, f"{player} network", "use the run's own recipe")
        module.to(device).eval()
    for name, (_, module) in models.extras.items():
        state = ckpt.module_state(f"extra.{name}")
        load_weights(module, state, ckpt.path, f"network '{name}'", "use the run's own recipe")
        module.to(device).eval()
    if models.sampler is not None:
        models.sampler.to(device).eval()
    models.set_step(max(ckpt.step - 1, 0))  # growing nets: the stage of the last step trained
    return recipe, models, ckpt

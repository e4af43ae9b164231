"""A trainer's state in checkpoints and back: writing one, restoring one (bit-exact resume:
weights, optimisers, the generator's average, per-example state, every random state, the
learning-rate scale and the rollback count), resuming a run from its newest good checkpoint,
and rolling back past a divergence (``train.on_divergence = "rollback"``)."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import torch

from genzoo.errors import GenzooError
from genzoo.store import checkpoint, rundir
from genzoo.store.loading import load_weights
from genzoo.training.step import DivergenceError, RollbacksExhausted


def host_rng_state() -> dict:
    """Python's and NumPy's global RNG states as JSON (plugins may draw from them)."""
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(state), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }


def set_host_rng_state(rng: dict | None) -> None:
    if not rng:
        return
    version, state, gauss = rng["python"]
    random.setstate((version, tuple(state), gauss))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def state_tensors(trainer) -> dict[str, torch.Tensor]:
    out = {"rng.torch": torch.get_rng_state(), **trainer.per_example.state_tensors()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng.cuda.{i}"] = s
    return out


def save(trainer, run_dir: Path) -> Path | None:
    """Write a checkpoint (the main process only; every process checks its parameters)."""
    team = trainer.team
    if (player := team.not_finite()) is not None:  # never checkpoint a broken network
        raise DivergenceError(
            f"training diverged at step {trainer.step_count}: the {player} "
            f"player's parameters are not finite",
            player,
        )
    if not trainer.group.is_main:
        return None
    r = trainer.recipe
    meta = {
        "recipe_hash": r.identity_hash(),
        "arch": r.model.arch,
        "objective": team.objective.names,
        "sample_shape": list(trainer.data.sample_shape),
        "lr_scale": team.lr_scale,
        "rollbacks": trainer.rollbacks,
        "rng": host_rng_state(),
        "threads": torch.get_num_threads(),
        "thread_plan": trainer.thread_plan.as_dict(),
    }
    modules = dict(team.networks)
    if team.ema is not None:  # ready to sample from: norm statistics of its own weights
        team.models.set_step(max(trainer.step_count - 1, 0))
        team.sampling_generator()
        modules[checkpoint.EMA] = team.ema.averaged
    path = checkpoint.save(
        Path(run_dir) / rundir.CHECKPOINTS,
        trainer.step_count,
        modules,
        team.optimizers,
        state_tensors(trainer),
        meta,
        keep=r.log.keep_checkpoints,
    )
    if trainer.events is not None:
        trainer.events.checkpoint(step=trainer.step_count, path=path)
    return path


def load(trainer, ckpt: checkpoint.Checkpoint, restore_training: bool = True) -> None:
    """The networks (and with ``restore_training`` everything else) of ``ckpt``."""
    team, r = trainer.team, trainer.recipe
    if ckpt.meta.get("recipe_hash") != r.identity_hash():
        raise GenzooError(
            f"checkpoint '{ckpt.path}' was written by a different recipe "
            f"(recipe hash {ckpt.meta.get('recipe_hash')}, this recipe's "
            f"{r.identity_hash()}); move the file away or use --force"
        )
    for player, module in team.networks.items():
        load_weights(
            module,
            ckpt.module_state(player),
            ckpt.path,
            f"{player} network",
            "use the run's own recipe",
        )
    if team.ema is not None:
        load_weights(
            team.ema,
            ckpt.module_state(checkpoint.EMA),
            ckpt.path,
            "generator average",
            "use the run's own recipe",
        )
        team.loaded_average()
    trainer.per_example.load(ckpt.tensors, str(ckpt.path))
    if not restore_training:
        return
    for player, opt in team.optimizers.items():
        opt.load_state_dict(ckpt.optimizer_state(player))
    torch.set_rng_state(ckpt.tensors["rng.torch"])
    set_host_rng_state(ckpt.meta.get("rng"))
    team.lr_scale = float(ckpt.meta.get("lr_scale", 1.0))
    kept = ckpt.meta.get("rollbacks", 0)
    trainer.rollbacks = kept if type(kept) is int and kept >= 0 else 0
    trained_with = ckpt.meta.get("threads")
    if (
        isinstance(trained_with, int)
        and trained_with != torch.get_num_threads()
        and trainer.device.type == "cpu"
    ):
        warnings.warn(
            f"resuming with {torch.get_num_threads()} CPU threads where the run "
            f"trained with {trained_with}: the sums inside each step then round "
            f"differently, so the result is no longer bit-identical to an "
            f"uninterrupted run; set train.threads = {trained_with} to keep it",
            stacklevel=2,
        )
    if torch.cuda.is_available():
        states = [ckpt.tensors[k] for k in sorted(ckpt.tensors) if k.startswith("rng.cuda.")]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    trainer.step_count = ckpt.step


def resume_latest(trainer, ckpt_dir: Path, console) -> None:
    """Continue from the newest good checkpoint in ``ckpt_dir``, if there is one."""
    ckpt = checkpoint.latest(ckpt_dir)
    if ckpt is None and checkpoint.list_checkpoints(ckpt_dir):
        raise GenzooError(
            f"no usable checkpoint in '{ckpt_dir}' (every one is corrupt); use "
            f"--force to start over"
        )
    if ckpt is not None:
        load(trainer, ckpt)
    elif console is not None:
        console.print(f"[yellow]no checkpoint in '{ckpt_dir}' yet: --resume starts from step 0[/]")


def rollback(trainer, exc: DivergenceError, ckpt_dir: Path, last_target: int | None) -> int:
    """Restore the newest good checkpoint before the failure with lower learning rates
    (``train.on_divergence = "rollback"``), or re-raise. Returns the step rolled back to.
    The count of rollbacks travels in the checkpoints: a run killed and resumed between
    rollbacks still stops after ``train.max_rollbacks``."""
    rollbacks = trainer.rollbacks
    t = trainer.recipe.train
    if t.on_divergence != "rollback":
        newest = checkpoint.list_checkpoints(ckpt_dir)
        raise DivergenceError(
            exc.reason, exc.player, checkpoint.step_of(newest[-1]) if newest else None
        ) from None
    if rollbacks >= t.max_rollbacks:
        raise RollbacksExhausted(
            f"{exc.reason}, still after {rollbacks} rollbacks (train.max_rollbacks); "
            f"lower the learning rates",
            exc.reason,
            exc.player,
        ) from None
    failed = trainer.step_count + 1
    # failing right after the last rollback target means that checkpoint is itself bad
    limit = last_target if last_target is not None and failed <= last_target + 1 else failed
    ckpt = checkpoint.latest(ckpt_dir, before=limit)
    if ckpt is None:
        raise RollbacksExhausted(
            f"{exc.reason}, and no earlier good checkpoint is left to roll back "
            f"to; lower the learning rates",
            exc.reason,
            exc.player,
        ) from None
    scale = trainer.team.lr_scale * t.rollback_lr_factor
    load(trainer, ckpt)
    trainer.team.lr_scale, trainer.rollbacks = scale, rollbacks + 1
    warnings.warn(
        f"{exc.reason}; rolled back to step {ckpt.step} ({ckpt.path.name}) with "
        f"learning rates x{scale:g}",
        stacklevel=2,
    )
    return ckpt.step


def roll_back(trainer, exc: DivergenceError, ckpt_dir: Path, last_target: int | None) -> int:
    """:func:`rollback`, told to the training events either way."""
    failed = trainer.step_count + 1
    try:
        target = rollback(trainer, exc, ckpt_dir, last_target)
    except GenzooError:
        trainer.events.divergence(step=failed, reason=exc.reason, rolled_back_to=None)
        raise
    trainer.events.divergence(step=failed, reason=exc.reason, rolled_back_to=target)
    return target

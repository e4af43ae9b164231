"""Matched compute: what one iteration of a recipe costs, in floating-point operations counted
with the formulas of ``torch.utils.flop_counter`` (genzoo.flops; machine independent) or in seconds at a
stated thread count (this machine's), and the iteration count each variant gets from a
budget."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from genzoo import recipe as recipe_mod
from genzoo import toml_text
from genzoo.errors import GenzooError
from genzoo.flops import CountFlops
from genzoo.recipe import Recipe
from genzoo.study.spec import Budget


def _trainer(recipe: Recipe):
    from genzoo.training import Trainer

    return Trainer(recipe)


def iteration_flops(recipe: Recipe) -> int:
    """The FLOPs of one training iteration (every player's forward and backward passes), on
    the recipe's first batch after one iteration to warm up. The energy bound is lifted: what
    an iteration costs does not depend on whether the run will diverge (its cells say that)."""
    raw = toml_text.apply_overrides(recipe.to_dict(), ["train.energy_bound=0.0"])
    trainer = _trainer(recipe_mod.from_dict(raw, recipe.path))
    _, batches = trainer.batches()
    trainer.step_on(next(batches))
    with CountFlops() as counter:
        trainer.step_on(next(batches))
    return counter.total


def iteration_seconds(recipe: Recipe, threads: int, iterations: int = 8) -> float:
    """Median seconds of one iteration at ``threads`` threads, measured in a fresh process
    (a process settles its thread count once)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.toml"
        d = recipe.to_dict()
        d["train"]["threads"] = threads
        path.write_text(toml_text.dumps(d))
        place = recipe.path or path  # relative data paths resolve against the recipe's folder
        cmd = [sys.executable, "-m", "genzoo.study.compute", str(path), str(place)]
        p = subprocess.run(cmd + [str(iterations)], capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise GenzooError(f"timing one iteration of '{recipe.name}' failed: {last}")
    return float(json.loads(p.stdout.strip().splitlines()[-1])["seconds"])


def _time_child(path: str, place: str, iterations: str) -> None:
    raw = toml_text.read_toml(Path(path))
    trainer = _trainer(recipe_mod.from_dict(raw, Path(place)))
    _, batches = trainer.batches()
    for _ in range(2):
        trainer.step_on(next(batches))
    times = []
    for _ in range(int(iterations)):
        t0 = time.perf_counter()
        trainer.step_on(next(batches))
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"seconds": times[len(times) // 2]}))


def iterations_for(budget: Budget, cost: dict[str, float]) -> dict[str, int]:
    """Each variant's iteration count: ``budget.iterations`` for all, or the compute budget
    (``flops`` / ``seconds``, or ``iterations`` of the ``reference`` variant) divided by the
    variant's ``cost`` of one iteration, rounded down."""
    if budget.compute == "iterations":
        return {v: budget.iterations for v in cost}
    total = budget.flops if budget.compute == "flops" else budget.seconds
    if total is None:
        total = budget.iterations * cost[budget.reference]
    out = {}
    for v, c in cost.items():
        n = math.floor(total / c * (1 + 1e-12))  # the reference's own count exactly
        if n < 1:
            raise GenzooError(
                f"the {budget.compute} budget ({total:.3g}) is less than one iteration of "
                f"variant '{v}' ({c:.3g}); raise the budget"
            )
        out[v] = n
    return out


if __name__ == "__main__":
    _time_child(*sys.argv[1:4])

"""``genzoo.train``: the Python face of ``genzoo run`` (same trainer, run directory and
errors), and the :class:`Run` it returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from genzoo import recipe as recipe_mod
from genzoo import toml_text
from genzoo.faults import boundary
from genzoo.recipe import Recipe
from genzoo.training.fit import Trainer


@dataclass
class Run:
    """A finished (or stopped) training run: its folder, recipe and last logged metrics."""

    dir: Path
    recipe: Recipe
    metrics: dict

    def load(self, device: str | torch.device = "cpu"):
        """The trained :class:`genzoo.api.Model`."""
        from genzoo.api import load

        return load(self.dir, device)

    def __fspath__(self) -> str:
        return str(self.dir)


def _override_strings(overrides) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return [f"{k}={toml_text.toml_value(v)}" for k, v in overrides.items()]
    return [str(o) for o in overrides]


@boundary
def train(
    recipe: str | Path | Recipe,
    out: str | Path | None = None,
    overrides=None,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,
) -> Run:
    """Train ``recipe`` (a path or a :class:`~genzoo.recipe.Recipe`) into ``out`` (default
    ``runs/<name>``), with ``overrides`` as ``{"train.steps": 200}`` or ``["train.steps=200"]``:
    the CLI's ``genzoo run``, same trainer, run directory and errors."""
    if isinstance(recipe, Recipe):
        r = recipe
        if overrides:
            raw = toml_text.apply_overrides(r.to_dict(), _override_strings(overrides))
            r = recipe_mod.from_dict(raw, r.path)
    else:
        r = recipe_mod.load(Path(recipe), _override_strings(overrides))
    out = Path(out) if out is not None else Path("runs") / r.name
    metrics = Trainer(r).fit(out, resume=resume, force=force, progress=progress)
    return Run(out, r, metrics)

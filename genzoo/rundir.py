"""The run directory: resolved recipe, metrics.jsonl, samples/, checkpoints/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from genzoo import recipe as recipe_mod
from genzoo.checkpoint import atomic_write
from genzoo.errors import GenzooError

RECIPE = "recipe.toml"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"


def _differences(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    shown = lambda v: "default" if v is None else repr(v)  # noqa: E731
    return [] if a == b else [f"{prefix}: {shown(a)} vs {shown(b)}"]


def check(run_dir: Path, recipe: recipe_mod.Recipe, resume: bool, force: bool) -> None:
    """Whether ``run_dir`` may be used (changes nothing): a directory that holds another run is
    refused unless ``resume`` (same recipe identity) or ``force`` (start over)."""
    run_dir = Path(run_dir)
    saved = run_dir / RECIPE
    if run_dir.exists() and not run_dir.is_dir():
        raise GenzooError(f"run directory '{run_dir}' is a file; choose another --out")
    if saved.exists():
        if resume:
            try:
                old = recipe_mod.identity(recipe_mod.read_toml(saved))
            except GenzooError:
                raise GenzooError(f"'{saved}' is unreadable, so this run cannot be resumed; "
                                  f"use --force to start over") from None
            new = recipe_mod.identity(recipe.to_dict())
            diff = _differences(old, new)
            if diff:
                raise GenzooError(f"cannot resume '{run_dir}': it was trained with a different "
                                  f"recipe ({'; '.join(diff[:3])}); use another --out or --force")
        elif not force:
            raise GenzooError(f"run directory '{run_dir}' already holds a run; pass --resume to "
                              f"continue it, --force to start over, or --out for a new one")
    elif run_dir.exists() and any(run_dir.iterdir()) and not force:
        raise GenzooError(f"run directory '{run_dir}' is not empty and holds no genzoo run; "
                          f"choose another --out or pass --force")


def prepare(run_dir: Path, recipe: recipe_mod.Recipe, resume: bool, force: bool) -> None:
    """Create ``run_dir`` after :func:`check`; with ``force``, an old run's checkpoints,
    samples and metrics go first."""
    check(run_dir, recipe, resume, force)
    run_dir = Path(run_dir)
    saved = run_dir / RECIPE
    if saved.exists() and not resume and force:
        for name in (CHECKPOINTS, SAMPLES):
            shutil.rmtree(run_dir / name, ignore_errors=True)
        (run_dir / METRICS).unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(saved, recipe_mod.dumps(recipe.to_dict()).encode())


def load_recipe(run_dir: Path) -> recipe_mod.Recipe:
    """The resolved recipe a run directory was trained with."""
    path = Path(run_dir) / RECIPE
    if not path.exists():
        raise GenzooError(f"'{run_dir}' is not a genzoo run directory (no {RECIPE}); pass the "
                          f"folder 'genzoo run' wrote")
    raw = recipe_mod.read_toml(path)
    return recipe_mod.from_dict(raw, None)


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logged step."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step`` (a resumed run logs them again)."""
        if not self.path.exists():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (ValueError, KeyError):
                continue  # a line cut short by a crash
        atomic_write(self.path, ("\n".join(keep) + "\n").encode() if keep else b"")

    def write(self, record: dict) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

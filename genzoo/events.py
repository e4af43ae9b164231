"""Training events as plugin hooks (genzoo.hookspecs, ``on_*``): what a run tells its sinks.

The trainer keeps the loop, checkpoints, signals and rollback; everything it shows or writes
besides checkpoints (metrics.jsonl, sample grids, TensorBoard, a third party's sink) is a plugin
of these events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genzoo.interfaces import Models
from genzoo.recipe import Recipe


@dataclass
class RunInfo:
    """What every event hands its sinks."""

    recipe: Recipe
    dir: Path
    models: Models
    sample_shape: tuple[int, ...]
    state: dict[str, Any] = field(default_factory=dict)  # sinks keep their own objects here
    data: Any = None  # the run's genzoo.data.DataSource (a sink may measure against it)


class Events:
    """Calls the registered ``on_*`` hooks, on the main process only."""

    def __init__(self, pm, run: RunInfo, active: bool):
        self.pm, self.run, self.active = pm, run, active

    def __getattr__(self, name: str):
        hook = getattr(self.pm.hook, f"on_{name}")

        def call(**kwargs):
            if self.active:
                hook(run=self.run, **kwargs)

        return call

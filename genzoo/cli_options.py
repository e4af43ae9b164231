"""Option types and options that several ``genzoo`` commands share (the built-in ones and
those plugins add through ``register_commands``), and the run folder a command works on (where
an internal error's traceback goes)."""

from __future__ import annotations

from pathlib import Path

import click


class Finite(click.ParamType):
    """A finite number within ``[low, high]`` (``open_low``: strictly above ``low``): click's
    FloatRange lets NaN through, since every comparison with NaN is false."""

    name = "number"

    def __init__(self, low: float | None = None, open_low: bool = False, high: float | None = None):
        self.low, self.open_low, self.high = low, open_low, high

    def convert(self, value, param, ctx):
        import math

        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.low is not None and (v < self.low or (self.open_low and v == self.low)):
            self.fail(f"{v} must be {'>' if self.open_low else '>='} {self.low}", param, ctx)
        if self.high is not None and v > self.high:
            self.fail(f"{v} must be <= {self.high}", param, ctx)
        return v


POSITIVE, NONNEGATIVE = Finite(0, open_low=True), Finite(0)
SEED = click.IntRange(0, 2**32 - 1)

NORM = click.option(
    "--norm",
    type=click.Choice(["running", "batch"]),
    default=None,
    help="The generator's batch norm: running statistics or each batch's own "
    "(default: the recipe's model.sample_norm).",
)


#: the run directory the command works on, for its error.log (set by the commands)
RUN_DIRS: list[Path] = []


def working_on(run_dir) -> None:
    """Say which run folder this command works on: an internal error's traceback goes there."""
    RUN_DIRS.append(Path(run_dir))

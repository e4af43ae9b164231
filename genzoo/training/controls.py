"""What a person sees and does while a run trains: the progress bar with each player's loss,
the running means of the logged metrics, and SIGINT/SIGTERM, which finish the step, write a
checkpoint and stop."""

from __future__ import annotations

import signal
from contextlib import contextmanager

import torch

from genzoo.errors import GenzooError


class Interrupted(GenzooError):
    """SIGINT/SIGTERM stopped the run after a checkpoint was written."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class Stop:
    """The name of the signal that asked the run to stop, once one did, and whether the loop
    acted on it (stopped early)."""

    requested: str | None = None
    acted: bool = False


@contextmanager
def stop_requests():
    """SIGINT/SIGTERM ask the loop to finish its step, checkpoint and stop. A request the loop
    did not act on (it landed during the last step, when the run was finishing anyway) is
    delivered again to the handler that was there before, once the run's own is gone: the
    program around the run (a study's worker, a shell) still learns that it was asked to
    stop."""
    stop = Stop()
    old = {}

    def handler(signum, frame):
        stop.requested = signal.Signals(signum).name

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield stop
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        if old and stop.requested and not stop.acted:
            signal.raise_signal(signal.Signals[stop.requested])


class Means:
    """Each metric's mean since the last logged line (a player may step only every k-th
    iteration, so every metric keeps its own count), averaged over processes."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def take(self, group, device) -> dict[str, float]:
        """The means (one device sync), and a fresh start."""
        means = group.mean(torch.stack(list(self.sums.values()))) / torch.tensor(
            [self.counts[k] for k in self.sums], device=device
        )
        out = {k: float(v) for k, v in zip(self.sums, means)}
        self.sums, self.counts = {}, {}
        return out


class _NoBar:
    def update(self, step, metrics):
        pass


@contextmanager
def progress(show: bool, total: int, start: int, console):
    """A rich progress bar of the steps with the latest losses, or nothing."""
    if not show:
        yield _NoBar()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
    ]
    with Progress(*columns, console=console, transient=False) as prog:
        task = prog.add_task("train", total=total, completed=start, losses="")

        class Bar:
            def update(self, step, metrics):
                if metrics is None:
                    prog.update(task, completed=step)
                    return
                parts = [
                    f"{sym} {metrics[f'{p}/loss']:.3g}"
                    for p, sym in (("alpha", "α"), ("phi", "φ"), ("theta", "θ"))
                    if f"{p}/loss" in metrics
                ]
                prog.update(task, completed=step, losses="  ".join(parts))

        yield Bar()


def announce(trainer, console, run_dir) -> None:
    """The run's first line: what trains on what, from which step, with how many threads,
    where to."""
    if console is None:
        return
    r, t = trainer.recipe, trainer
    start = f" from step {t.step_count}" if t.step_count else ""
    where = f" x {t.group.world} processes" if t.group.active else ""
    if t.device.type == "cpu":
        p = t.thread_plan
        where += f" ({p.threads} thread{'s' * (p.threads > 1)}: {p.reason})"
    console.print(
        f"[bold]genzoo[/] {r.name}: objective {'+'.join(t.objective.names)}, "
        f"arch {r.model.arch}, data {t.data.description or r.data.name} "
        f"{tuple(t.data.sample_shape)}, {r.train.steps} steps{start} on "
        f"{t.device}{where} -> {run_dir}"
    )

"""The run directory: resolved recipe, metrics.jsonl, samples/, checkpoints/."""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

from genzoo import recipe as recipe_mod
from genzoo import toml_text
from genzoo.errors import GenzooError
from genzoo.store.files import atomic_write

RECIPE = "recipe.toml"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
MARKER = ".genzoo-run"  # written when genzoo creates a run directory
LOCK = ".lock"  # held (an OS file lock) while a process trains into the folder
PREVIOUS = ".previous-run"  # with --force: the old run, kept until the new one has started
OWNED = (
    CHECKPOINTS,
    SAMPLES,
    METRICS,
    RECIPE,
    "eval.json",
    "recovery.png",
    "reconstructions.png",
    "interpolations.png",
    "landscape",
    "error.log",
)


def is_run(run_dir: Path) -> bool:
    """Whether genzoo made ``run_dir``: its marker, or (runs from before the marker) a recipe
    beside checkpoint sidecars."""
    run_dir = Path(run_dir)
    return (run_dir / MARKER).is_file() or (
        (run_dir / RECIPE).is_file() and any((run_dir / CHECKPOINTS).glob("step_*.json"))
    )


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
                old = recipe_mod.identity(toml_text.read_toml(saved))
            except GenzooError:
                raise GenzooError(
                    f"'{saved}' is unreadable, so this run cannot be resumed; "
                    f"use --force to start over"
                ) from None
            new = recipe_mod.identity(recipe.to_dict())
            diff = _differences(old, new)
            if diff:
                raise GenzooError(
                    f"cannot resume '{run_dir}': it was trained with a different "
                    f"recipe ({'; '.join(diff[:3])}); use another --out or --force"
                )
        elif not force:
            raise GenzooError(
                f"run directory '{run_dir}' already holds a run; pass --resume to "
                f"continue it, --force to start over, or --out for a new one"
            )
        elif not is_run(run_dir):
            raise GenzooError(
                f"'{run_dir}' holds a {RECIPE} but is not a run genzoo made; "
                f"--force replaces only genzoo runs: choose another --out"
            )
    elif (
        run_dir.exists()
        and any(p.name not in (LOCK, MARKER) for p in run_dir.iterdir())
        and not force
    ):
        raise GenzooError(
            f"run directory '{run_dir}' is not empty and holds no genzoo run; "
            f"choose another --out or pass --force"
        )


def prepare(run_dir: Path, recipe: recipe_mod.Recipe, resume: bool, force: bool) -> None:
    """Create ``run_dir`` after :func:`check`. With ``force``, the old run's files are moved
    aside into ``.previous-run/`` (nothing is deleted yet): :func:`started` deletes them once
    the new run has trained a step, :func:`restore` puts them back if it never does."""
    check(run_dir, recipe, resume, force)
    run_dir = Path(run_dir)
    saved = run_dir / RECIPE
    if saved.exists() and not resume and force:
        aside = run_dir / PREVIOUS
        if aside.exists():  # an earlier --force that never started: that run is the real one
            restore(run_dir)
        aside.mkdir()
        for name in OWNED:
            if (run_dir / name).exists():
                (run_dir / name).rename(aside / name)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / MARKER).touch()
    atomic_write(saved, toml_text.dumps(recipe.to_dict()).encode())


class Lock:
    """An exclusive OS lock on ``run_dir/.lock`` while one process trains into the folder. The
    kernel drops it when that process dies, so a crashed run's lock is never stale."""

    def __init__(self, run_dir: Path):
        import fcntl
        import os

        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise GenzooError(f"run directory '{run_dir}' is a file; choose another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        self.fh = open(run_dir / LOCK, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            raise GenzooError(
                f"run directory '{run_dir}' is in use by process {holder}, which "
                f"is still training into it; wait for it to finish or stop it, "
                f"or use another --out"
            ) from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(str(os.getpid()))
        self.fh.flush()

    def release(self) -> None:
        import fcntl

        if not self.fh.closed:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()


def started(run_dir: Path) -> None:
    """The new run trained a step: the run it replaced (``--force``) goes now."""
    shutil.rmtree(Path(run_dir) / PREVIOUS, ignore_errors=True)


def restore(run_dir: Path) -> None:
    """The new run failed before its first step: put the run it was to replace back."""
    run_dir = Path(run_dir)
    aside = run_dir / PREVIOUS
    if not aside.is_dir():
        return
    for name in OWNED:  # what the failed run wrote goes; what the old one had comes back
        target = run_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if (aside / name).exists():
            (aside / name).rename(target)
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def claimed(
    run_dir: Path,
    recipe: recipe_mod.Recipe,
    resume: bool,
    force: bool,
    main: bool,
    started_training,
):
    """The run directory, checked, locked and prepared for one process to train into (the
    main one; the others only train), for the block's length. If the block fails before
    ``started_training()`` is true, the run that ``--force`` moved aside comes back."""
    lock = None
    if main:
        check(run_dir, recipe, resume=resume, force=force)  # before making anything
        lock = Lock(run_dir)
    try:
        if main:
            prepare(run_dir, recipe, resume=resume, force=force)
        try:
            yield run_dir
        except BaseException:
            if main and not started_training():  # never trained a step: the old run returns
                restore(run_dir)
            raise
    finally:
        if lock is not None:
            lock.release()


def load_recipe(run_dir: Path) -> recipe_mod.Recipe:
    """The resolved recipe a run directory was trained with."""
    path = Path(run_dir) / RECIPE
    if not path.exists():
        raise GenzooError(
            f"'{run_dir}' is not a genzoo run directory (no {RECIPE}); pass the "
            f"folder 'genzoo run' wrote"
        )
    raw = toml_text.read_toml(path)
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

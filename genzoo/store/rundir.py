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
MOVED = ".moved"  # in PREVIOUS once every file of the old run is in it
DELETING = ".previous-run.deleting"  # PREVIOUS once the new run has started, while it goes
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


def _failed_before_a_checkpoint(run_dir: Path, saved: Path, recipe) -> bool:
    """A run of this same recipe that stopped (an error found mid-run) before it wrote any
    checkpoint: it holds nothing a new start could lose, so the same command may start again."""
    folder = run_dir / CHECKPOINTS
    if not (run_dir / MARKER).is_file():
        return False
    if folder.is_dir() and any(folder.glob("step_*")):
        return False
    try:
        old = recipe_mod.identity(toml_text.read_toml(saved))
    except GenzooError:
        return False
    return old == recipe_mod.identity(recipe.to_dict())


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
        elif not force and not _failed_before_a_checkpoint(run_dir, saved, recipe):
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
        (aside / MOVED).touch()  # a kill before this leaves a half-done move: undone next time
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
    """The new run trained a step: the run it replaced (``--force``) goes now. It is renamed
    first, so that a kill during the deletion never leaves a ``.previous-run`` to restore."""
    run_dir = Path(run_dir)
    if (run_dir / PREVIOUS).is_dir():
        shutil.rmtree(run_dir / DELETING, ignore_errors=True)
        (run_dir / PREVIOUS).rename(run_dir / DELETING)
    shutil.rmtree(run_dir / DELETING, ignore_errors=True)


def restore(run_dir: Path) -> None:
    """The new run failed (or was killed) before its first step: put the run it was to
    replace back. After a complete move-aside, what the new run wrote goes and the old run's
    files come back; after a move cut short, the files not yet moved are the old run's own and
    stay, and those moved come back."""
    run_dir = Path(run_dir)
    aside = run_dir / PREVIOUS
    if not aside.is_dir():
        return
    complete = (aside / MOVED).exists()
    for name in OWNED:
        target = run_dir / name
        if not complete and not (aside / name).exists():
            continue
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if (aside / name).exists():
            (aside / name).rename(target)
    shutil.rmtree(aside, ignore_errors=True)


def recover(run_dir: Path) -> None:
    """Finish what a killed process left half done (under the folder's lock): a ``--force``
    whose new run never trained a step gets the old run back, and the deletion of a replaced
    run is completed."""
    run_dir = Path(run_dir)
    if (run_dir / DELETING).exists():
        shutil.rmtree(run_dir / DELETING, ignore_errors=True)
    if (run_dir / PREVIOUS).is_dir():
        restore(run_dir)


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
    main one; the others only train), for the block's length. What a killed process left half
    done is finished first (:func:`recover`). If the block fails before
    ``started_training()`` is true, the run that ``--force`` moved aside comes back."""
    lock = None
    try:
        if main:
            if (run_dir / PREVIOUS).is_dir() or (run_dir / DELETING).exists():
                lock = Lock(run_dir)  # finished under the lock, before anything is judged
                recover(run_dir)
            check(run_dir, recipe, resume=resume, force=force)  # before making anything
            lock = lock or Lock(run_dir)
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
        """Drop lines logged after ``step`` (a resumed run logs them again), and lines a kill
        cut short or a stray byte damaged."""
        if not self.path.exists():
            return
        keep = []
        for line in self.path.read_bytes().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):  # cut short, damaged, not UTF-8
                continue
        atomic_write(self.path, b"\n".join(keep) + b"\n" if keep else b"")

    def write(self, record: dict) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        """The logged lines, leaving out any a kill cut short or a stray byte damaged."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "step" in record:
                out.append(record)
        return out

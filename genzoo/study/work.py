"""How a worker takes work from a study's storage: queued trials (a study's cells, or the
retries of trials whose worker died) first, a new trial only while the budget allows, each
run under Optuna's heartbeat and told to the storage as complete, pruned or failed.

A worker holds SIGINT/SIGTERM back while it takes a trial and tells its outcome
(:func:`held`): a stop lands either inside a trial, which is then told failed and queued
again, or between trials, where nothing is half-claimed or half-told. SIGUSR1 asks for a stop
that loses nothing: the trial or cell running goes on to its end and no other is taken
(:func:`finish_on_sigusr1`), for a machine whose end of time is known (a scheduler's warning
signal before its stop)."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.trial import TrialState

from genzoo.errors import GenzooError
from genzoo.study.storage import INTERRUPTIONS, Heartbeat, Retry, fail_stale
from genzoo.training.step import DivergenceError

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
STOPS = {signal.SIGINT, signal.SIGTERM}
_HELD: list[tuple[dict, list]] = []  # the handlers a held block replaced, the stops it kept
_STOPPED: list[int] = []  # the SIGTERMs this worker was sent
FINISH = getattr(signal, "SIGUSR1", None)  # None where the platform has no such signal
_FINISHING: list[int] = []  # the SIGUSR1s this worker was sent


@functools.cache
def code_version() -> str:
    """The genzoo that measures (:func:`checkout_version` of its own folder). Every trial
    records it, so a study that runs over code changes says which code measured what."""
    import genzoo

    return checkout_version(Path(genzoo.__file__).resolve().parent.parent, genzoo.__version__)


def checkout_version(folder: Path, version: str) -> str:
    """``version`` and, where ``folder`` is the root of a git checkout, its commit, with
    ``+changes`` where the code (genzoo/ and plugins/) differs from that commit."""

    def git(*args) -> str | None:
        try:
            p = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    commit = git("rev-parse", "--short=12", "HEAD")
    # the checkout's own root only: an installed copy in a checkout's .venv is not its code
    if not top or not commit or Path(top).resolve() != Path(folder).resolve():
        return version
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "genzoo", "plugins")
    return f"{version} {commit}" + ("+changes" if changed else "")


def stop_on_sigterm(signum, frame) -> None:
    """A worker's SIGTERM handler (a scheduler's stop): it unwinds like Ctrl-C. The stop is
    also remembered, so that one whose exception a finalizer swallowed (Python ignores what a
    ``__del__`` raises, signal handlers' exceptions included) still ends the worker before
    its next trial and with a failing exit code."""
    _STOPPED.append(signum)
    sys.exit(128 + signum)


def exit_if_stopped() -> None:
    if _STOPPED:
        sys.exit(128 + _STOPPED[0])


def finish_on_sigusr1(signum, frame) -> None:
    """A worker's SIGUSR1 handler: what runs goes on; the worker ends at its next claim."""
    _FINISHING.append(signum)


def finished_early(signum: int):
    """The stop of a worker (or of the workers) that a SIGUSR1 ended between trials: one line,
    exit code 128 + SIGUSR1."""
    from genzoo.training.controls import Interrupted

    return Interrupted(
        "stopped between trials as asked (SIGUSR1): every trial and cell it ran is "
        "finished and stored; run the same command again to continue",
        signum,
    )


def end_if_finishing() -> None:
    """Between trials, after a SIGUSR1: the worker ends."""
    if _FINISHING:
        raise finished_early(_FINISHING[0])


@contextmanager
def held():
    """SIGINT/SIGTERM wait in this block and arrive, to the handlers there before, when it
    ends. (Python's handlers, not the thread's signal mask: a process with native threads,
    as torch's, takes a masked signal on any of them.) Main thread only; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    waiting: list[int] = []
    before = {s: signal.signal(s, lambda signum, _: waiting.append(signum)) for s in STOPS}
    _HELD.append((before, waiting))
    try:
        yield
    finally:
        _HELD.pop()
        for sig, h in before.items():
            signal.signal(sig, h)
        if waiting:
            signal.raise_signal(waiting[0])


@contextmanager
def let_through():
    """Inside a held block, the stops come through: one that waited arrives now."""
    if not _HELD or threading.current_thread() is not threading.main_thread():
        yield
        return
    before, waiting = _HELD[-1]
    mine = {sig: signal.signal(sig, h) for sig, h in before.items()}
    try:
        if waiting:
            signal.raise_signal(waiting.pop(0))
        yield
    finally:
        for sig, h in mine.items():
            signal.signal(sig, h)


def failed_for_good(trials) -> list:
    """Failed trials that will not run again: not retried, and out of retries."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return [
        t
        for t in trials
        if t.state == TrialState.FAIL and t.number not in retried and not t.user_attrs.get("idle")
    ]


def in_flight(trials) -> list:
    return [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def claim(study: optuna.Study, may_start_new: bool) -> optuna.Trial | None:
    """The next trial of ``study`` for this worker: a queued one, else a new one when
    ``may_start_new``; None when there is nothing to take now."""
    exit_if_stopped()
    end_if_finishing()
    fail_stale(study)
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if not waiting and not may_start_new:
        return None
    trial = study.ask()
    queued = system_attrs(study, trial).keys() & {"fixed_params", "retry_history"}
    if not queued and not may_start_new:  # a queued cell, or a retry (which holds its point)
        # another worker took the last queued trial first: this new one is not wanted
        trial.set_user_attr("idle", True)
        study.tell(trial, state=TrialState.FAIL)
        return None
    return trial


def system_attrs(study: optuna.Study, trial: optuna.Trial) -> dict:
    return study._storage.get_trial(trial._trial_id).system_attrs


def first_number(study: optuna.Study, trial: optuna.Trial) -> int:
    """The number of the trial a retry repeats (its own number if it is not a retry)."""
    history = system_attrs(study, trial).get("retry_history") or []
    return history[0] if history else trial.number


def run(study: optuna.Study, trial: optuna.Trial, fn: Callable[[optuna.Trial], float]) -> str:
    """Run ``fn(trial)`` under a heartbeat and tell the storage how it ended ("complete",
    "pruned" or "failed"). A failure is recorded (``error``) and queued again as Optuna's
    retry callback does, up to its retries; an interruption (a signal) or bad input is queued
    again at once and re-raised, so a rerun resumes it, and an interruption uses up no retry
    (:class:`~genzoo.study.storage.Retry`). Training that diverged is recorded failed
    (``error``, ``diverged``) and not retried: the same settings diverge again."""
    from genzoo.training.controls import Interrupted

    storage = study._storage
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    trial.set_user_attr("code", code_version())
    try:
        with Heartbeat(storage, trial._trial_id), let_through():
            value = fn(trial)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        return "pruned"
    except DivergenceError as exc:  # an outcome of the settings: a retry diverges again
        trial.set_user_attr("error", str(exc).strip().splitlines()[0][:300])
        trial.set_user_attr("diverged", True)
        study.tell(trial, state=TrialState.FAIL)
        return "diverged"
    except BaseException as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        trial.set_user_attr("error", line)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, Interrupted)):  # a stop asked for
            stops = system_attrs(study, trial).get(INTERRUPTIONS, 0)
            storage.set_trial_system_attr(trial._trial_id, INTERRUPTIONS, stops + 1)
        study.tell(trial, state=TrialState.FAIL)
        Retry()(study, storage.get_trial(trial._trial_id))
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GenzooError)):
            raise  # a signal (Interrupted), or bad input the user fixes before a rerun
        return "failed"
    study.tell(trial, value)
    return "complete"


def wait(seconds: float) -> None:
    with let_through():  # a stop while waiting ends the worker at once
        time.sleep(seconds)

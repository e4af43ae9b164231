"""Where a study's trials and cells are coordinated: Optuna's storages. An SQLite file in the
study folder by default, Optuna's journal file for several worker processes (on one machine
or a shared file system), or any SQLAlchemy database URL (PostgreSQL) for workers on several
machines. Every storage has Optuna's heartbeat: a worker that dies leaves its trial running
without a heartbeat, the next worker to look fails it, and Optuna's
``RetryHeartbeatStaleTrialCallback`` (as :class:`Retry`) queues it again, so no trial is lost
or run twice."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from genzoo.errors import GenzooError

# the heartbeat and retry interfaces are marked experimental; genzoo pins the Optuna it uses
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")

SQLITE = "optuna.db"
JOURNAL = "optuna.journal"
RETRIES = 3  # how often a trial whose worker died or that failed is queued again
INTERRUPTIONS = "interruptions"  # a trial's stops asked for (system attribute)


class Retry(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a failed or heartbeat-stale trial, up to :data:`RETRIES` times. A stop
    the worker was asked for (SIGTERM, Ctrl-C: counted in the trial's ``interruptions``) queues
    it again without using one up, so a study stopped and resumed often (a scheduler's time
    limit, a session's end) never runs out of retries."""

    def __init__(self) -> None:
        super().__init__(max_retry=RETRIES)

    def __call__(self, study, trial) -> None:
        self._max_retry = RETRIES + int(trial.system_attrs.get(INTERRUPTIONS, 0))
        super().__call__(study, trial)


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's journal file storage with Optuna's heartbeat interface: a heartbeat is the
    trial's ``heartbeat`` system attribute (seconds since the epoch), and a running trial is
    stale when neither it nor the trial's start is within ``grace`` seconds."""

    def __init__(self, path: Path, interval: int, grace: int, callback) -> None:
        lock = JournalFileOpenLock(str(path) + ".lock")  # works on NFS, unlike a symlink lock
        super().__init__(JournalFileBackend(str(path), lock_obj=lock))
        self.interval, self.grace, self.callback = interval, grace, callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, "heartbeat", time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        out = []
        for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            started = t.datetime_start.timestamp() if t.datetime_start else now
            last = max(t.system_attrs.get("heartbeat", 0.0), started)
            if now - last > self.grace:
                out.append(t._trial_id)
        return out

    def get_heartbeat_interval(self) -> int | None:
        return self.interval

    def get_heartbeat_stale_trial_callback(self):
        return self.callback


def describe(where: str | None, folder: Path, workers: int) -> str:
    """The storage a study folder uses: ``where`` as given (``sqlite``, ``journal``, a journal
    file path, or a database URL), else an SQLite file for one worker and a journal file for
    several."""
    if where in (None, ""):
        where = "sqlite" if workers == 1 else "journal"
    if where == "sqlite":
        return f"sqlite:///{(folder / SQLITE).resolve()}"
    if where == "journal":
        return f"journal:{(folder / JOURNAL).resolve()}"
    if "://" in where or where.startswith("journal:"):
        return where
    return f"journal:{Path(where).resolve()}"


def open_storage(url: str, heartbeat: int = 20):
    """The Optuna storage at ``url`` (as :func:`describe` writes it), with heartbeat
    ``heartbeat`` seconds and a grace of three heartbeats; a database that cannot be reached
    is one line naming it and the fix."""
    grace = 3 * heartbeat
    retry = Retry()
    if url.startswith("journal:"):
        path = Path(url[len("journal:") :])
        if not path.parent.is_dir():
            raise GenzooError(f"journal storage '{path}': its folder does not exist")
        return HeartbeatJournalStorage(path, heartbeat, grace, retry)
    url = _with_driver(url)
    try:
        return RDBStorage(
            url,
            heartbeat_interval=heartbeat,
            grace_period=grace,
            heartbeat_stale_trial_callback=retry,
            engine_kwargs=_engine_options(url),
        )
    except Exception as exc:  # sqlalchemy's errors, a missing driver, a malformed URL
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise GenzooError(
            f"the study storage '{_hidden(url)}' cannot be reached ({first}); start the "
            f"database or fix --storage"
        ) from None


def _with_driver(url: str) -> str:
    """``postgresql://`` with the psycopg (3) driver where psycopg2 is not installed."""
    if url.startswith("postgresql://"):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _engine_options(url: str) -> dict:
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # several processes wait for the file's lock
    return {}


def _hidden(url: str) -> str:
    """``url`` without its password."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.split(':')[0]}:***@{tail}" if ":" in user else url


class Heartbeat:
    """While a trial runs: its heartbeat recorded now and every interval, from a thread."""

    def __init__(self, storage, trial_id: int) -> None:
        self.storage, self.trial_id = storage, trial_id
        self.stop = threading.Event()
        self.interval = storage.get_heartbeat_interval()

    def __enter__(self):
        self.storage.record_heartbeat(self.trial_id)
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()
        return self

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a transient database error: the next beat tries again
                pass

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def fail_stale(study: optuna.Study) -> None:
    """Fail the running trials whose worker stopped beating, queueing their retries."""
    optuna.storages.fail_stale_trials(study)

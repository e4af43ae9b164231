"""How many CPU threads a genzoo process computes with, decided once as it starts.

An OpenMP team of two threads on a two-core machine that other work keeps busy waits, at the
end of every parallel region, for the teammate the kernel has descheduled, spinning on a core
the other work needs: such a run goes up to ten times slower than one thread. So with
``train.threads = 0`` (auto) the process takes the CPUs it may use (``os.sched_getaffinity``),
its share of them when it is one of several workers (``cores // workers``: torchrun's processes,
a study's workers), and no more than the CPUs the rest of the machine leaves free: the runnable
tasks other than itself (``/proc/stat``'s ``procs_running``, sampled for a tenth of a second)
or the threads that other genzoo processes hold (each registers in a machine-wide folder while
it runs), whichever is larger. When it shares the machine at all, OpenMP's threads sleep
instead of spinning while they wait (``OMP_WAIT_POLICY=PASSIVE``). The wait policy is read once
when torch loads its OpenMP library, so the command line decides the plan before it imports
torch (:func:`decide_before_torch`); the Python API, which runs after torch is imported, keeps
the wait policy it finds.

An explicit thread count (``train.threads = N``, or ``OMP_NUM_THREADS`` in the environment) is
honoured as it is; the wait policy still follows the machine. A user's own ``OMP_WAIT_POLICY``
is never overridden. ``GENZOO_THREAD_POLICY=torch`` turns the policy off: PyTorch's own
defaults (one thread per core, OpenMP's default wait), as genzoo did before it had one.
"""

from __future__ import annotations

import fcntl
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

#: the environment variable torchrun sets to the number of processes on this machine
LOCAL_WORKERS = "LOCAL_WORLD_SIZE"
#: set by genzoo for processes that are one of N workers sharing this machine's CPUs
WORKERS = "GENZOO_WORKERS"
#: "auto" (the default) or "torch" (no policy: PyTorch's defaults)
POLICY = "GENZOO_THREAD_POLICY"


@dataclass(frozen=True)
class ThreadPlan:
    """The decision and what it was made from (recorded in every checkpoint of a run)."""

    threads: int  # torch's intra-op CPU threads
    wait_policy: str  # OpenMP's: "PASSIVE" (sleep while waiting) or "default" (spin a while)
    cpus: int  # CPUs this process may run on
    busy: int  # CPUs the rest of the machine was using
    workers: int  # processes sharing ``cpus`` with this one (itself included)
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def choose(cpus: int, busy: int = 0, workers: int = 1, requested: int = 0) -> ThreadPlan:
    """The plan for a process that may use ``cpus`` CPUs while other work keeps ``busy`` of them
    busy, as one of ``workers`` processes sharing those CPUs; ``requested`` > 0 is an explicit
    count, kept as it is."""
    cpus, busy, workers = max(int(cpus), 1), max(int(busy), 0), max(int(workers), 1)
    share = max(cpus // workers, 1)
    free = max(cpus - busy, 1)
    if requested > 0:
        threads, reason = int(requested), "asked for"
    elif free < share:
        threads, reason = free, f"other work busy on {min(busy, cpus)} of {cpus} CPUs"
    elif workers > 1:
        threads, reason = share, f"one of {workers} workers on {cpus} CPUs"
    else:
        threads, reason = share, f"{cpus} idle CPUs"
    shared = busy > 0 or workers > 1 or threads > free
    return ThreadPlan(threads, "PASSIVE" if shared else "default", cpus, busy, workers, reason)


# --- what the machine is doing -----------------------------------------------------------------
def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def runnable_others(samples: int = 10, interval: float = 0.01) -> int:
    """Tasks other than this one that are running or waiting for a CPU: the median of
    ``samples`` readings of ``procs_running`` over a tenth of a second (one of them is this
    process itself), or the
    one-minute load average where there is no ``/proc/stat``."""
    readings = []
    for i in range(samples):
        try:
            with open("/proc/stat") as fh:
                line = next(x for x in fh if x.startswith("procs_running"))
            readings.append(int(line.split()[1]) - 1)
        except (OSError, StopIteration, ValueError):
            try:
                return int(round(os.getloadavg()[0]))
            except (AttributeError, OSError):
                return 0
        if i + 1 < samples:
            time.sleep(interval)
    return max(int(statistics.median(readings)), 0)


def registry_dir() -> Path:
    """Where running genzoo processes of this user say how many threads they hold."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"genzoo-{uid}-threads"


class Registration:
    """This process's entry in :func:`registry_dir`: a file named after its PID holding its
    thread count, under an exclusive lock the kernel drops when the process ends (so an entry
    of a killed process is never counted)."""

    def __init__(self, threads: int, group: str):
        folder = registry_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / str(os.getpid())
        self.fh = open(self.path, "w")
        fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.group = group
        self.update(threads)

    def update(self, threads: int) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"{threads} {self.group}")
        self.fh.flush()

    def close(self) -> None:
        if not self.fh.closed:
            self.path.unlink(missing_ok=True)
            self.fh.close()


def registered_threads(group: str) -> int:
    """The threads held by the other live genzoo processes (those of ``group``, the processes
    of one torchrun launch, are left out: they are counted as workers)."""
    total = 0
    folder = registry_dir()
    for entry in folder.glob("[0-9]*") if folder.is_dir() else ():
        if entry.name == str(os.getpid()):
            continue
        try:
            with open(entry, "r+") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:  # held: its process is alive
                    threads, _, their_group = fh.read().partition(" ")
                    if their_group != group or not group:
                        total += int(threads)
                    continue
            entry.unlink(missing_ok=True)  # nobody holds it: its process is gone
        except (OSError, ValueError):
            continue
    return total


# --- the process's plan ------------------------------------------------------------------------
_plan: ThreadPlan | None = None  # the plan in force (first: the one decided before torch)
_settled: ThreadPlan | None = None  # the automatic plan, once settled
_registration: Registration | None = None


def workers_here() -> int:
    """How many processes share this machine's CPUs with this one, as its launcher said."""
    for var in (LOCAL_WORKERS, WORKERS):
        try:
            if int(os.environ.get(var, "")) > 1:
                return int(os.environ[var])
        except ValueError:
            continue
    return 1


def _group() -> str:
    return os.environ.get("TORCHELASTIC_RUN_ID", "") if workers_here() > 1 else ""


def _explicit() -> int:
    try:
        return max(int(os.environ.get("OMP_NUM_THREADS", "0")), 0)
    except ValueError:
        return 0


def measure() -> ThreadPlan:
    """The plan for this process from the machine as it is now."""
    if os.environ.get(POLICY, "auto").lower() == "torch":
        cpus = usable_cpus()
        return ThreadPlan(_explicit() or cpus, "default", cpus, 0, 1, f"{POLICY}=torch")
    busy = max(runnable_others(), registered_threads(_group()))
    return choose(usable_cpus(), busy, workers_here(), _explicit())


def decide_before_torch() -> ThreadPlan:
    """A command line's first look at the machine, before torch is imported: export the OpenMP
    wait policy it calls for (read once, as torch loads). The command then registers at once
    (:func:`computing`), so that genzoo processes started at the same moment count it when they
    settle their threads (:func:`apply`)."""
    global _plan
    if _plan is None:
        _plan = measure()
        if _plan.wait_policy == "PASSIVE" and "torch" not in sys.modules:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return _plan


def apply(requested: int = 0) -> ThreadPlan:
    """Settle torch's thread count for this process as its work starts: ``requested`` > 0 (or
    ``OMP_NUM_THREADS``) as it is, else the plan for the machine as it is at the first call
    (the genzoo processes started with this one have registered by then), kept for the
    process's later calls: decided once. Returns the plan in force, whose ``wait_policy`` is
    the one OpenMP actually runs with."""
    global _plan, _settled
    import torch

    asked = requested or _explicit()
    if asked:  # nothing to measure: the machine only told the wait policy, decided already
        base = _settled or _plan
        plan = (
            choose(base.cpus, base.busy, base.workers, asked)
            if base
            else choose(usable_cpus(), 0, workers_here(), asked)
        )
    else:
        plan = _settled or measure()
    actual = os.environ.get("OMP_WAIT_POLICY", "").upper() or "default"
    _plan = replace(plan, wait_policy=actual)
    if not asked:
        _settled = _plan
    if torch.get_num_threads() != _plan.threads:
        torch.set_num_threads(_plan.threads)
    if _registration is not None:
        _registration.update(_plan.threads)
    return _plan


def _register(threads: int) -> None:
    global _registration
    if _registration is None:
        try:
            _registration = Registration(threads, _group())
        except OSError:  # an unwritable temporary folder: others just cannot see this process
            pass


@contextmanager
def computing():
    """While the block runs, this process's thread count is registered (the outermost block
    registers and unregisters), so that genzoo processes started meanwhile leave those CPUs
    alone; a notebook that trained once and now idles holds nothing."""
    global _registration
    if _registration is not None:
        yield
        return
    _register((_plan or apply()).threads)
    try:
        yield
    finally:
        if _registration is not None:
            _registration.close()
            _registration = None

"""The thread policy (genzoo.threads): the count chosen for a given affinity, load and worker
count, the machine-wide registry of genzoo processes, the wait policy exported before torch
loads, and what a run records and warns about."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from genzoo import threads

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "cpus, busy, workers, requested, want, wait",
    [
        (2, 0, 1, 0, 2, "default"),  # an idle machine: one thread per core, spinning waits
        (2, 1, 1, 0, 1, "PASSIVE"),  # one busy program: the free core
        (2, 3, 1, 0, 1, "PASSIVE"),  # more busy than cores: never fewer than one thread
        (8, 2, 1, 0, 6, "PASSIVE"),
        (8, 0, 4, 0, 2, "PASSIVE"),  # one of four workers: its share
        (8, 7, 4, 0, 1, "PASSIVE"),  # a share that the machine does not leave free
        (2, 0, 4, 0, 1, "PASSIVE"),  # more workers than cores
        (2, 0, 1, 2, 2, "default"),  # an explicit count on an idle machine
        (2, 0, 1, 3, 3, "PASSIVE"),  # an explicit count beyond the cores oversubscribes itself
        (2, 1, 1, 2, 2, "PASSIVE"),  # an explicit count is kept under contention
    ],
)
def test_choose(cpus, busy, workers, requested, want, wait):
    plan = threads.choose(cpus, busy, workers, requested)
    assert (plan.threads, plan.wait_policy) == (want, wait)
    assert (plan.cpus, plan.busy, plan.workers) == (cpus, busy, workers)


def child(code: str, env: dict | None = None, **kw) -> str:
    """Run ``code`` in a fresh interpreter (torch not yet imported) and return its stdout."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GENZOO_THREAD_POLICY")
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_affinity_is_the_budget():
    """A process pinned to one CPU plans for one, whatever the machine has."""
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from genzoo import threads; p = threads.measure(); print(p.cpus, p.threads)"
    )
    assert child(code) == "1 1"


def test_runnable_others_sees_busy_programs():
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.5)
        assert threads.runnable_others() >= 2
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def test_registry_counts_live_processes_only():
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from genzoo import threads; import sys, time\n"
            "r = threads.Registration(3, ''); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        entry = threads.registry_dir() / str(holder.pid)
        assert entry.is_file()
        assert threads.registered_threads("") == 3
        assert threads.registered_threads("a torchrun group") == 3  # not of this group
    finally:
        holder.kill()
        holder.wait()
    assert threads.registered_threads("") == 0  # the kernel dropped the dead process's lock
    assert not entry.exists()  # and its entry is cleared away


def test_a_torchrun_group_leaves_its_own_workers_out():
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from genzoo import threads; import time\n"
            "r = threads.Registration(1, 'job7'); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert threads.registered_threads("job7") == 0
        assert threads.registered_threads("job8") == 1
    finally:
        holder.kill()
        holder.wait()


def test_workers_from_the_launcher():
    code = "from genzoo import threads; p = threads.measure(); print(p.workers, p.threads)"
    cpus = len(os.sched_getaffinity(0))
    assert child(code, {"LOCAL_WORLD_SIZE": "2"}) == f"2 {max(cpus // 2, 1)}"
    assert child(code, {"GENZOO_WORKERS": str(cpus * 2)}) == f"{cpus * 2} 1"


def test_the_command_line_sets_the_wait_policy_before_torch_loads():
    code = (
        "import os, sys; import genzoo.cli; from genzoo import threads\n"
        "p = threads.decide_before_torch()\n"
        "print('torch' in sys.modules, p.wait_policy, os.environ.get('OMP_WAIT_POLICY'))"
    )
    assert child(code, {"GENZOO_WORKERS": "2"}) == "False PASSIVE PASSIVE"
    # the user's own choice stays
    assert (
        child(code, {"GENZOO_WORKERS": "2", "OMP_WAIT_POLICY": "ACTIVE"}) == "False PASSIVE ACTIVE"
    )


def test_policy_off_is_torchs_default():
    code = (
        "from genzoo import threads; import torch; p = threads.apply()\n"
        "print(p.threads, torch.get_num_threads(), p.reason)"
    )
    cpus = len(os.sched_getaffinity(0))
    assert (
        child(code, {"GENZOO_THREAD_POLICY": "torch", "GENZOO_WORKERS": "2"})
        == f"{cpus} {cpus} GENZOO_THREAD_POLICY=torch"
    )


def test_explicit_counts_are_honoured():
    code = (
        "from genzoo import threads; import torch; p = threads.apply(3)\n"
        "print(p.threads, torch.get_num_threads(), p.reason)"
    )
    assert child(code) == "3 3 asked for"
    code = "from genzoo import threads; import torch; p = threads.apply(); print(p.threads)"
    assert child(code, {"OMP_NUM_THREADS": "3"}) == "3"


def run_texture(out: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GENZOO_THREAD_POLICY")
    }
    cmd = [
        sys.executable,
        "-m",
        "genzoo",
        "run",
        str(ROOT / "recipes" / "dt_texture.toml"),
        "--out",
        str(out),
        "--quiet",
        "--set",
        "model.width=0.0625",
        "--set",
        "data.size=32",
        "--set",
        "data.n_crops=32",
        "--set",
        "train.batch_size=4",
        "--set",
        "log.checkpoint_every=1",
        *extra,
    ]
    return subprocess.run(cmd, env={**base, **env}, capture_output=True, text=True, timeout=300)


def test_a_run_records_its_plan_and_a_resume_with_another_count_warns(tmp_path):
    run = tmp_path / "run"
    p = run_texture(run, {"GENZOO_WORKERS": "64"}, "--set", "train.steps=2")
    assert p.returncode == 0, p.stderr
    sidecar = json.loads(sorted((run / "checkpoints").glob("step_*.json"))[-1].read_text())
    plan = sidecar["thread_plan"]
    assert plan["threads"] == sidecar["threads"] == 1
    assert (plan["workers"], plan["wait_policy"]) == (64, "PASSIVE")
    # resumed where the policy picks another count: the warning names the recorded one
    p = run_texture(run, {"OMP_NUM_THREADS": "2"}, "--set", "train.steps=3", "--resume")
    assert p.returncode == 0, p.stderr
    assert "no longer bit-identical" in p.stderr and "train.threads = 1" in p.stderr


class _Threads(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.tensor(torch.get_num_threads())


def test_data_loader_workers_compute_on_one_thread():
    loader = DataLoader(_Threads(), batch_size=1, num_workers=2)
    assert {int(b) for b in loader} == {1}


def test_runs_started_together_count_each_other():
    """Two command lines starting at one moment: each registers before it imports torch, so
    when each settles its threads the other is there, and together they do not oversubscribe."""
    code = (
        "from genzoo import threads; import time, sys\n"
        "threads.decide_before_torch()\n"
        "with threads.computing():\n"
        "    sys.stdout.write('up\\n'); sys.stdout.flush(); sys.stdin.readline()\n"
        "    print(threads.apply().threads, flush=True); time.sleep(0.5)\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=base,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:  # both registered, as both would be a moment after starting
        assert p.stdout.readline().strip() == "up"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    counts = [int(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait(timeout=60)
    cpus = len(os.sched_getaffinity(0))
    assert sum(counts) <= max(cpus, 2)


def test_the_automatic_count_is_settled_once_per_process():
    code = (
        "from genzoo import threads\n"
        "a = threads.apply(); b = threads.apply(); c = threads.apply(1); d = threads.apply()\n"
        "print(a == b == d, c.threads)"
    )
    assert child(code) == "True 1"

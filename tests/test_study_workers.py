"""Studies on shared storage: two worker processes on one journal file share a grid, a worker
killed mid-cell leaves its trial failed and it runs again; two workers tune against a real
PostgreSQL server; tuning never reads the test split."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from study_files import TUNE, genzoo, study_text
from torch.utils.data import Dataset

from genzoo import hookimpl, plugins
from genzoo.data import DataSource
from genzoo.study.drive import drive
from genzoo.study.storage import open_storage

SLOW_CELLS = 'compute = "iterations"\niterations = 30'


def spawn_worker(path: Path, out: Path, storage: str, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "genzoo", "study", str(path), "--out", str(out)]
    cmd += ["--storage", storage, "--heartbeat", "1", "--quiet"]
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)


@pytest.mark.slow  # 33 s; the PostgreSQL and SIGTERM tests below share and requeue cells in the fast selection
def test_two_workers_share_a_grid_and_a_killed_cell_runs_again(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(
        study_text(seeds=(0, 1, 2), budget=SLOW_CELLS, variants=("triangle",), claims=())
    )
    out = tmp_path / "out"
    journal = tmp_path / "grid.journal"
    a = spawn_worker(path, out, str(journal), tmp_path / "a.log")
    b = spawn_worker(path, out, str(journal), tmp_path / "b.log")
    storage = None
    deadline = time.time() + 120
    victim = None
    while victim is None and time.time() < deadline:  # kill worker a in the middle of a cell
        time.sleep(0.3)
        if not journal.exists():
            continue
        storage = storage or open_storage(f"journal:{journal}", heartbeat=1)
        try:
            study = optuna.load_study(storage=storage, study_name="grid:cells")
        except KeyError:
            continue
        for t in study.get_trials(states=(TrialState.RUNNING,)):
            if t.user_attrs.get("worker") == f"{socket.gethostname()}:{a.pid}":
                victim = t
    assert victim is not None, (tmp_path / "a.log").read_text()
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    assert b.wait(timeout=300) == 0, (tmp_path / "b.log").read_text()
    trials = study.get_trials()
    complete = [
        (t.params["variant"], t.params["seed"]) for t in trials if t.state == TrialState.COMPLETE
    ]
    assert sorted(complete) == sorted((v, s) for v in ("triangle", "vae") for s in (0, 1, 2))
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [victim.number]  # failed by the heartbeat ...
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE  # ... and run again
    assert retry[0].params == victim.params
    table = (out / "table.md").read_text()
    assert "Not finished" not in table


def _postgres_bin() -> Path | None:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists():
            return d
    return None


@pytest.fixture
def postgres(tmp_path):
    """A PostgreSQL server of its own in a temporary folder, on a free port of 127.0.0.1."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL is not installed (Debian's postgresql package); .ci/run installs it"
        )
    # a folder the server's own user can reach (the suite's temporary folders are root's)
    home = Path(tempfile.mkdtemp(prefix="genzoo-pg-", dir="/tmp"))
    data = home / "data"
    data.mkdir()
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root
        for d in (home, data):
            shutil.chown(d, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True)
    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "genzoo", "--auth=trust")
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(data / "log"),
        "-w",
        "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
        "start",
    )
    run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "genzoo", "studies")
    try:
        yield f"postgresql://genzoo@127.0.0.1:{port}/studies"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_two_workers_tune_against_a_real_postgresql_server(tmp_path, postgres):
    path = tmp_path / "pg.toml"
    path.write_text(study_text(tune=TUNE))
    out = tmp_path / "out"
    p = genzoo("tune", path, "--out", out, "--storage", postgres, "--workers", "2", "--quiet")
    assert p.returncode == 0, p.stderr + "".join(
        f.read_text() for f in (out / "workers").glob("*.log")
    )
    storage = open_storage(postgres)
    for v in ("triangle", "vae"):
        study = optuna.load_study(storage=storage, study_name=f"pg:tune:{v}")
        finished = [
            t for t in study.get_trials() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        ]
        assert len(finished) >= 3
        points = [tuple(sorted(t.params.items())) for t in finished]
        assert len(set(points)) == len(points), points  # no two workers drew one point
        assert (out / "best" / f"{v}.toml").exists()
    cells = optuna.load_study(storage=storage, study_name="pg:cells")
    assert sum(t.state == TrialState.COMPLETE for t in cells.get_trials()) == 4
    workers = {
        t.user_attrs["worker"]
        for v in ("triangle", "vae")
        for t in optuna.load_study(storage=storage, study_name=f"pg:tune:{v}").get_trials()
    }
    assert len(workers) == 2  # the two workers both took trials


class SplitRead(Exception):
    pass


class Guarded(Dataset):
    """A test split that must not be read."""

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        raise SplitRead("the test split was read")


class GuardedTexture:
    @hookimpl
    def register_datasets(self, register):
        def guarded_texture(**options) -> DataSource:
            base = plugins.registry().get("datasets", "texture_image").obj(**options)
            return DataSource(
                base.train, base.sample_shape, test=Guarded(base.train), description="guarded"
            )

        register("guarded_texture", guarded_texture)


def test_tuning_measures_on_the_validation_split_and_never_reads_the_test_split(tmp_path):
    plugin = GuardedTexture()
    plugins.register_plugin(plugin, dist="genzoo-tests")
    try:
        text = study_text(tune=TUNE).replace('split = "validation"', 'split = "test"')
        text = text.replace("set = [", "set = ['data.name=\"guarded_texture\"', ")
        path = tmp_path / "guarded.toml"
        path.write_text(text)
        drive(path, tmp_path / "out", None, 1, 20, tune=True, cells=False, show=False)
        storage = open_storage(f"sqlite:///{tmp_path / 'out' / 'optuna.db'}")
        for v in ("triangle", "vae"):
            trials = optuna.load_study(storage=storage, study_name=f"guarded:tune:{v}").get_trials()
            assert len(trials) == 3 and all(t.state != TrialState.FAIL for t in trials)
        with pytest.raises(SplitRead):  # the guard does fire: the final table reads it
            from genzoo.analysis.evaluate import evaluate_run

            evaluate_run(next((tmp_path / "out" / "tune" / "vae").iterdir()), n=4)
    finally:
        plugins.unregister_plugin(plugin)


def test_a_sigterm_queues_the_running_cell_again_and_a_rerun_finishes(tmp_path):
    path = tmp_path / "term.toml"
    path.write_text(study_text(seeds=(0,), budget=SLOW_CELLS))
    out = tmp_path / "out"
    journal = tmp_path / "term.journal"
    worker = spawn_worker(path, out, str(journal), tmp_path / "w.log")
    deadline, study, running = time.time() + 300, None, False
    while time.time() < deadline and worker.poll() is None and not running:
        time.sleep(0.1)
        if not journal.exists():
            continue
        try:
            study = optuna.load_study(
                storage=open_storage(f"journal:{journal}", heartbeat=1), study_name="term:cells"
            )
        except KeyError:
            continue
        running = bool(study.get_trials(states=(TrialState.RUNNING,)))
    assert running, "the worker ended (or stalled) before a cell was seen running"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) != 0, (tmp_path / "w.log").read_text()[-3000:]
    trials = study.get_trials()
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]  # told at once ...
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == failed.number]
    assert retry.state == TrialState.WAITING and retry.params == failed.params  # ... and queued
    p = genzoo("study", path, "--out", out, "--storage", journal, "--quiet")
    assert p.returncode == 0, p.stderr
    assert "Not finished" not in (out / "table.md").read_text()


SWALLOWED = """
import signal, sys
from genzoo.study import work
signal.signal(signal.SIGTERM, work.stop_on_sigterm)
class Finalized:
    def __del__(self):  # Python ignores what a __del__ raises: the handler's SystemExit too
        signal.raise_signal(signal.SIGTERM)
        sum(range(1000))
Finalized()
print("went on", flush=True)
work.exit_if_stopped()
print("took the next trial", flush=True)
"""


def test_a_sigterm_a_finalizer_swallowed_still_ends_the_worker_before_its_next_trial():
    p = subprocess.run([sys.executable, "-c", SWALLOWED], capture_output=True, text=True)
    assert "went on" in p.stdout and "Exception ignored" in p.stderr  # it was swallowed ...
    assert "took the next trial" not in p.stdout and p.returncode == 128 + signal.SIGTERM


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")
def test_a_sigusr1_lets_the_running_cells_finish_and_a_rerun_trains_only_the_rest(tmp_path):
    path = tmp_path / "finish.toml"
    path.write_text(
        study_text(seeds=(0, 1, 2), budget=SLOW_CELLS, variants=("triangle",), claims=())
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "genzoo", "study", str(path), "--out", str(out), "--workers"]
    journal = tmp_path / "finish.journal"
    cmd += ["2", "--storage", str(journal), "--heartbeat", "1", "--quiet"]
    parent = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, study, running = time.time() + 300, None, []
    while time.time() < deadline and parent.poll() is None and len(running) < 2:
        time.sleep(0.1)
        try:
            study = study or optuna.load_study(
                storage=open_storage(f"journal:{journal}", heartbeat=1), study_name="finish:cells"
            )
        except (KeyError, OSError, ValueError):
            continue
        running = study.get_trials(states=(TrialState.RUNNING,))
    assert len(running) == 2, "the workers ended (or stalled) before two cells ran at once"
    parent.send_signal(signal.SIGUSR1)  # to the command alone: it passes it on to its workers
    _, err = parent.communicate(timeout=240)
    assert parent.returncode == 128 + signal.SIGUSR1, err
    assert "stopped between trials as asked (SIGUSR1)" in err and "Traceback" not in err
    trials = study.get_trials()
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert {t.number for t in done} == {t.number for t in running}  # both ran to their end
    assert not [t for t in trials if t.state in (TrialState.FAIL, TrialState.RUNNING)]
    ran = {(t.params["variant"], t.params["seed"]) for t in done}
    stamps = {
        c: (out / "cells" / c[0] / f"seed{c[1]}" / "evaluations.json").stat().st_mtime_ns
        for c in ran
    }
    p = genzoo("study", path, "--out", out, "--storage", journal, "--quiet")
    assert p.returncode == 0, p.stderr
    assert "Not finished" not in (out / "table.md").read_text()
    for (variant, seed), stamp in stamps.items():  # the finished cells were not trained again
        cell = out / "cells" / variant / f"seed{seed}" / "evaluations.json"
        assert cell.stat().st_mtime_ns == stamp

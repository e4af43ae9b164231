"""benchmarks/studies/run_registered.sh: the registered studies one after another, each
continuing from its journal under ROOT, ``genzoo tune`` for a study file with [tune] and
``genzoo study`` without; run again, it trains nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState
from study_files import ROOT, TUNE, study_text

from genzoo.study.storage import open_storage

SCRIPT = ROOT / "benchmarks" / "studies" / "run_registered.sh"


def run(cwd, root):
    bin_dir = Path(sys.executable).parent  # the genzoo of this environment
    env = {**os.environ, "STUDIES": "plain searched", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        ["sh", str(SCRIPT), "1", str(root)], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_each_study_runs_to_its_end_and_a_second_run_trains_nothing(tmp_path):
    code, root = tmp_path / "code", tmp_path / "root"
    (code / "benchmarks" / "studies").mkdir(parents=True)
    (root / "benchmarks" / "results" / "studies").mkdir(parents=True)
    (code / "benchmarks" / "studies" / "plain.toml").write_text(study_text())
    (code / "benchmarks" / "studies" / "searched.toml").write_text(study_text(tune=TUNE))
    p = run(code, root)
    assert p.returncode == 0, p.stderr
    assert [line.split()[1:] for line in p.stdout.splitlines()] == [
        ["study", "plain"],
        ["tune", "searched"],
    ]
    for name in ("plain", "searched"):
        assert (root / "benchmarks" / "results" / "studies" / f"{name}.journal").exists()
        meta = json.loads((root / "runs" / "studies" / name / "study.json").read_text())
        assert len(meta["cells"]) == 4 and not meta["missing"]
    assert "tuned" in json.loads((root / "runs/studies/searched/study.json").read_text())
    cells = sorted((root / "runs").rglob("*.safetensors"))
    before = {c: c.stat().st_mtime_ns for c in cells}
    p = run(code, root)
    assert p.returncode == 0, p.stderr
    assert {c: c.stat().st_mtime_ns for c in cells} == before


def test_a_sigusr1_to_the_group_finishes_the_running_cells_and_starts_no_other_study(tmp_path):
    code, root = tmp_path / "code", tmp_path / "root"
    (code / "benchmarks" / "studies").mkdir(parents=True)
    (root / "benchmarks" / "results" / "studies").mkdir(parents=True)
    slow = study_text(seeds=(0, 1), budget='compute = "iterations"\niterations = 30')
    slow = slow.replace('"triangle < vae on recon_mse"', "")
    (code / "benchmarks" / "studies" / "slow.toml").write_text(slow)
    (code / "benchmarks" / "studies" / "plain.toml").write_text(study_text())
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "STUDIES": "slow plain", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    p = subprocess.Popen(
        ["sh", str(SCRIPT), "2", str(root)],
        cwd=code,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a session's job
    )
    journal = root / "benchmarks" / "results" / "studies" / "slow.journal"
    deadline, study, running = time.time() + 300, None, []
    while time.time() < deadline and p.poll() is None and len(running) < 2:
        time.sleep(0.1)
        try:
            storage = open_storage(f"journal:{journal}", heartbeat=1)
            study = study or optuna.load_study(storage=storage, study_name="slow:cells")
        except (KeyError, OSError, ValueError):
            continue
        running = study.get_trials(states=(TrialState.RUNNING,))
    assert len(running) == 2, "the workers ended (or stalled) before both cells ran"
    os.killpg(p.pid, signal.SIGUSR1)
    out, err = p.communicate(timeout=240)
    assert p.returncode == 128 + signal.SIGUSR1, err
    assert "stopped between trials as asked" in err
    assert [line.split()[1:] for line in out.splitlines()] == [["study", "slow"]]  # plain: never
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.COMPLETE) == 2 and TrialState.FAIL not in states

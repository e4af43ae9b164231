"""benchmarks/studies/run_registered.sh: the registered studies one after another, each
continuing from its journal under ROOT, ``genzoo tune`` for a study file with [tune] and
``genzoo study`` without; run again, it trains nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

from study_files import ROOT, TUNE, study_text

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

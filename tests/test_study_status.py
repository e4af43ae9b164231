"""``genzoo status``: a study's progress read from its storage, as ``genzoo tune`` counts it,
with nothing written; a study that has not started is one line and exit 2."""

from __future__ import annotations

import json

import pytest
from study_files import TUNE, genzoo, study_text

from genzoo.study import progress, spec
from genzoo.study.storage import open_storage


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("status")
    (root / "s.toml").write_text(study_text(tune=TUNE))
    p = genzoo("tune", root / "s.toml", "--out", root / "out", "--quiet")
    assert p.returncode == 0, p.stderr
    return root


def snapshot(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_the_rows_are_what_the_finished_study_says(tuned):
    meta = json.loads((tuned / "out" / "study.json").read_text())
    s = spec.load(tuned / "s.toml")
    rows = {r.variant: r for r in progress.rows(s, open_storage(meta["storage"]))}
    for v in ("triangle", "vae"):
        t = meta["tuned"][v]
        assert rows[v].points == t["trials"] == 3
        assert rows[v].pruned == t["pruned"]
        assert rows[v].best == pytest.approx(t["best_value"])
        assert rows[v].cells == 2 and rows[v].seeds == 2 and rows[v].queued == 0
        assert rows[v].hours > 0


def test_status_prints_the_table_and_writes_nothing(tuned):
    before = snapshot(tuned / "out")
    p = genzoo("status", tuned / "s.toml", "--out", tuned / "out")
    assert p.returncode == 0, p.stderr
    lines = {line.split()[0]: line.split() for line in p.stdout.splitlines() if line.strip()}
    assert lines["triangle"][1] == "3/3" and lines["triangle"][-1] == "2/2"
    assert lines["vae"][1] == "3/3"
    assert snapshot(tuned / "out") == before


def test_status_names_the_variants_a_grown_study_file_adds(tuned, tmp_path):
    text = study_text(
        tune=TUNE,
        variants=("triangle", "vae", "wake_sleep"),
        claims=("triangle < vae on recon_mse", "triangle < wake_sleep on recon_mse"),
    )
    (tmp_path / "grown.toml").write_text(text)
    p = genzoo("status", tmp_path / "grown.toml", "--out", tuned / "out")
    assert p.returncode == 0, p.stderr
    assert "from its next run: wake_sleep" in p.stdout
    assert [w for w in p.stdout.split("\n") if w.startswith("wake_sleep")][0].split()[1] == "0/3"


def test_the_terminal_table_fits_80_columns_uncut(tmp_path):
    import io

    from rich.console import Console

    (tmp_path / "s.toml").write_text(study_text(tune=TUNE))
    s = spec.load(tmp_path / "s.toml")
    rows = [
        progress.Row(
            "latent_ebm",
            points=16,
            trials=16,
            pruned=5,
            repeated=10,
            failed=13,
            best=122.4375,
            hours=12.75,
            cells=3,
            cells_running=2,
            seeds=5,
        ),
        progress.Row("triangle", tuned_in="tables_fashion", cells=5, seeds=5),
    ]
    out = io.StringIO()
    progress.show(s, rows, Console(file=out, width=80))
    text = out.getvalue()
    assert "…" not in text
    line = next(w.split() for w in text.splitlines() if w.startswith("latent_ebm"))
    assert line == ["latent_ebm", "16/16", "5", "10", "13", "0", "122.4", "12.75", "3/5", "+2"]


def test_a_study_that_has_not_started_is_one_line(tmp_path):
    (tmp_path / "s.toml").write_text(study_text(tune=TUNE))
    p = genzoo("status", tmp_path / "s.toml", "--out", tmp_path / "nowhere")
    assert p.returncode == 2
    assert "has not started" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "nowhere").exists()


def test_hours_left_add_up_the_remaining_points_and_cells(tmp_path):
    text = study_text(tune=TUNE, budget="iterations = 8")  # cells: 8 iterations, trials: 4
    (tmp_path / "s.toml").write_text(text)
    s = spec.load(tmp_path / "s.toml")
    tri = progress.Row("triangle", points=1, trials=3, point_hours=0.5, seeds=2)
    tri.complete_hours = 0.5  # a cell: twice a complete trial's budget, so 1.0 hour
    vae = progress.Row("vae", points=3, trials=3, point_hours=1.0, seeds=2, cells=1)
    vae.cell_hours = 4.0
    # triangle: 2 points at 0.5 h + 2 cells at 1.0 h; vae: 1 cell at 4.0 h
    assert progress.hours_left(s, [tri, vae]) == pytest.approx(2 * 0.5 + 2 * 1.0 + 4.0)
    new = progress.Row("wake_sleep", points=0, trials=3, seeds=2)  # the others' means
    assert progress.hours_left(s, [tri, vae, new]) == pytest.approx(
        7.0 + 3 * (0.5 + 1.0) / 2 + 2 * (1.0 + 4.0) / 2
    )
    assert progress.hours_left(s, [progress.Row("triangle", trials=3, seeds=2)]) is None


def test_each_finished_trial_and_cell_says_which_code_measured_it(tuned):
    from genzoo.study.work import code_version

    meta = json.loads((tuned / "out" / "study.json").read_text())
    s = spec.load(tuned / "s.toml")
    counts = progress.codes(s, open_storage(meta["storage"]))
    assert counts == {code_version(): 3 + 3 + 4}  # two searches of three, four cells
    p = genzoo("status", tuned / "s.toml", "--out", tuned / "out")
    assert f"measured by: {code_version()} (10)" in p.stdout


def test_the_code_version_names_the_commit_and_changes_to_the_code(tmp_path):
    import subprocess

    from genzoo.study.work import checkout_version

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert checkout_version(tmp_path, "1.2") == "1.2"  # not a checkout
    (tmp_path / "genzoo").mkdir()
    (tmp_path / "genzoo" / "a.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("a\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert checkout_version(tmp_path, "1.2") == f"1.2 {head}"
    (tmp_path / "notes.md").write_text("b\n")  # not code
    assert checkout_version(tmp_path, "1.2") == f"1.2 {head}"
    (tmp_path / "genzoo" / "a.py").write_text("x = 2\n")
    assert checkout_version(tmp_path, "1.2") == f"1.2 {head}+changes"
    assert checkout_version(tmp_path / "genzoo", "1.2") == "1.2"  # a folder inside a checkout


def test_the_hours_left_in_words_with_the_wall_time_of_the_running_workers():
    assert progress.left_text(None, 2) == "left: too little finished to estimate"
    assert progress.left_text(14.0, 0).endswith(
        "worker-hours, from the finished trials' and cells' times"
    )
    assert progress.left_text(14.0, 4).endswith("; about 3.5 h with the 4 running now")

"""``genzoo study`` end to end on a tiny grid: the runs, the table, the claims' statistics
checked against scipy on the same numbers, matched compute, resuming, and bad study files."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from conftest import cli
from scipy import stats as sps
from study_files import TUNE, genzoo, study_text
from test_report import BROWSER, HEADLESS, Cells

from genzoo.study import stats
from genzoo.study.compute import iterations_for
from genzoo.study.spec import Budget


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    (root / "tiny.toml").write_text(study_text())
    p = genzoo("study", root / "tiny.toml", "--out", root / "out", "--quiet")
    assert p.returncode == 0, p.stderr
    return root


def test_every_cell_is_a_run_folder_and_the_table_is_written(finished):
    out = finished / "out"
    for v in ("triangle", "vae"):
        for s in (0, 1):
            ev = json.loads((out / "cells" / v / f"seed{s}" / "evaluations.json").read_text())
            steps = sorted(map(int, ev))
            assert steps == list(range(2, steps[-1] + 1, 2))  # every 2 iterations to the end
            assert (out / "cells" / v / f"seed{s}" / "checkpoints").is_dir()
    table = (out / "table.md").read_text()
    assert "| triangle |" in table and "triangle < vae on recon_mse" in table


def test_the_claims_statistics_are_scipys_on_the_same_numbers(finished):
    meta = json.loads((finished / "out" / "study.json").read_text())
    final = {}
    for c in meta["cells"]:
        ev = c["evaluations"]
        final[(c["variant"], c["seed"])] = ev[str(max(map(int, ev)))]["recon_mse"]
    a = [final[("triangle", s)] for s in (0, 1)]
    b = [final[("vae", s)] for s in (0, 1)]
    r = sps.ttest_rel(a, b)
    claim = meta["claims"][0]
    assert claim["test"] == "paired t"
    assert claim["t"] == pytest.approx(float(r.statistic))
    assert claim["p"] == pytest.approx(float(r.pvalue))
    assert claim["diff"] == pytest.approx(sum(a) / 2 - sum(b) / 2)
    assert claim["ci"] == pytest.approx(list(r.confidence_interval(0.95)))
    expected = "undecided" if r.pvalue >= 0.05 else ("holds" if claim["diff"] < 0 else "fails")
    assert claim["verdict"] == expected
    tri = meta["summary"]["triangle"]["recon_mse"]
    assert tri["mean"] == pytest.approx(sum(a) / 2) and tri["n"] == 2
    assert tri["ci"] == pytest.approx(list(sps.ttest_1samp(a, 0).confidence_interval(0.95)))


def test_matched_flops_give_iterations_in_the_inverse_ratio_of_the_flops(finished):
    plan = json.loads((finished / "out" / "study.json").read_text())["plan"]
    f, n = plan["flops_per_iteration"], plan["iterations"]
    assert f["triangle"] > f["vae"] > 0  # the triangle steps three players, the VAE two
    assert n["triangle"] == 4
    assert n["vae"] == math.floor(4 * f["triangle"] / f["vae"])
    assert n["vae"] * f["vae"] <= 4 * f["triangle"] < (n["vae"] + 1) * f["vae"]


def test_a_finished_study_trains_nothing_again(finished):
    out = finished / "out"
    ck = out / "cells" / "vae" / "seed0" / "checkpoints"
    before = {p.name: p.stat().st_mtime_ns for p in ck.iterdir()}
    p = genzoo("study", finished / "tiny.toml", "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    assert {q.name: q.stat().st_mtime_ns for q in ck.iterdir()} == before


def test_a_folder_refuses_another_study_file(finished, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text(study_text(seeds=(0, 1, 2)))
    p = genzoo("study", other, "--out", finished / "out")
    assert p.returncode == 2
    assert "other settings" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda t: t + "[variants.vae.train]\nsteps = 3\n", "variants.vae.train"),
        (
            lambda t: t.replace("triangle < vae on recon_mse", "triangle < gan on recon_mse"),
            "variant 'gan'",
        ),
        (lambda t: t.replace("triangle < vae on recon_mse", "triangle < vae on fd"), "metric 'fd'"),
        (
            lambda t: (
                t + TUNE.replace('"train.theta.lr" = {low = 1e-5, high = 1e-3, log = true}', "")
            ),
            "search space of variant 'triangle' is empty",
        ),
        (lambda t: t.replace('objective = "vae"', 'objective = "vea"'), "vea"),
    ],
    ids=["unknown-variant-key", "claim-variant", "claim-metric", "empty-space", "objective"],
)
def test_a_bad_study_file_is_one_line_and_writes_nothing(tmp_path, change, words):
    path = tmp_path / "bad.toml"
    path.write_text(change(study_text()))
    p = genzoo("tune" if "space" in words else "study", path, "--out", tmp_path / "out")
    assert p.returncode == 2, p.stderr
    assert words in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["study", "tune", "status"])
def test_a_missing_study_file_is_named_a_study_file(tmp_path, command, capsys):
    code, _, err = cli(capsys, command, tmp_path / "nope.toml", "--out", tmp_path / "out")
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"error: study file '{tmp_path / 'nope.toml'}' does not exist; check the path"
    ]
    assert not (tmp_path / "out").exists()


def test_an_unreachable_database_is_one_line_and_writes_nothing(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(study_text())
    url = "postgresql://nobody:secret@127.0.0.1:9/none"
    p = genzoo("study", path, "--out", tmp_path / "out", "--storage", url)
    assert p.returncode == 2
    assert "cannot be reached" in p.stderr and "secret" not in p.stderr
    assert not (tmp_path / "out").exists()


def test_holm_against_the_definition():
    # m = 4: sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, None, 0.9]) == pytest.approx([1.0, None, 1.0])


def test_welch_where_seeds_differ_and_the_verdicts():
    a, b = {0: 1.0, 1: 1.2, 2: 0.9}, {3: 2.0, 4: 2.2, 5: 2.4}
    t = stats.compare("a < b on m", a, b)
    r = sps.ttest_ind(list(a.values()), list(b.values()), equal_var=False)
    assert t.test == "Welch t" and t.p == pytest.approx(r.pvalue) and t.df == pytest.approx(r.df)
    (held,) = stats.decide([t], [True], 0.05)
    assert held.verdict == "holds"
    (failed,) = stats.decide([stats.compare("b < a on m", b, a)], [True], 0.05)
    assert failed.verdict == "fails"
    one = stats.compare("a < b on m", {0: 1.0}, {0: 2.0})
    assert stats.decide([one], [True], 0.05)[0].verdict == "undecided"


def test_iterations_for_a_seconds_budget():
    b = Budget(compute="seconds", seconds=10.0)
    assert iterations_for(b, {"a": 0.5, "b": 2.0}) == {"a": 20, "b": 5}


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "studies").glob("*.toml")),
    ids=lambda p: p.stem,
)
def test_the_shipped_study_files_are_valid(path):
    from genzoo.study import runs, spec

    s = spec.load(path)
    assert spec.claims_of(s)
    for v in s.variants:
        assert s.tune is None or spec.space_of(s, v)
        runs.variant_recipe(s, v)  # every variant's recipe and overrides load


@pytest.mark.skipif(BROWSER is None, reason="no Chromium: .ci/run installs Debian's chromium")
def test_the_study_report_in_a_real_browser(finished, tmp_path):
    report = tmp_path / "study.html"
    p = genzoo("report", finished / "out", "--out", report)
    assert p.returncode == 0, p.stderr
    page = subprocess.run(
        [BROWSER, *HEADLESS, "--virtual-time-budget=15000", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert page.returncode == 0
    parser = Cells()
    parser.feed(page.stdout)
    check = json.loads(parser.selfcheck)
    alts = [im["alt"] for im in check["images"]]
    assert "recon_mse curves" in alts and "f_data curves" in alts  # one figure per metric
    assert {"triangle samples", "vae samples"} <= set(alts)  # the final grids side by side
    assert all(im["complete"] and im["width"] > 0 for im in check["images"])
    assert check["errors"] == []
    claim = json.loads((finished / "out" / "study.json").read_text())["claims"][0]
    assert f'class="{claim["verdict"]}">{claim["verdict"]}<' in page.stdout


def test_one_iteration_is_timed_at_the_stated_thread_count(tmp_path):
    from genzoo.study import compute, runs, spec

    path = tmp_path / "s.toml"
    path.write_text(study_text())
    r = runs.variant_recipe(spec.load(path), "vae")
    seconds = compute.iteration_seconds(r, threads=1, iterations=3)
    assert 0 < seconds < 5


def test_a_trial_that_diverges_is_pruned_and_the_search_goes_on(tmp_path):
    """Settings that make training diverge are an outcome of the search, not a crash: the
    trial counts as finished (pruned, with the reason), it is not retried, and the workers go
    on to the other trials and variants."""
    import optuna

    from genzoo.study.storage import open_storage

    path = tmp_path / "diverge.toml"
    path.write_text(
        study_text(
            seeds=(0,),
            variants=("triangle",),
            claims=("triangle < blowup on recon_mse",),
            tune=TUNE,
        )
        + "[variants.blowup]\nobjective = \"triangle\"\nset = ['train.energy_bound=1e-12']\n"
    )
    journal = tmp_path / "diverge.journal"
    p = genzoo(
        "tune", path, "--out", tmp_path / "out", "--storage", journal, "--quiet", "--no-cells"
    )
    assert p.returncode == 0, p.stderr
    storage = open_storage(f"journal:{journal}")
    blowup = optuna.load_study(storage=storage, study_name="diverge:tune:blowup").get_trials()
    assert len(blowup) == 3  # the trial budget, none retried
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in blowup)
    assert all("diverged" in t.user_attrs["diverged"] for t in blowup)
    assert (tmp_path / "out" / "best" / "triangle.toml").exists()
    assert not (tmp_path / "out" / "best" / "blowup.toml").exists()  # no trial to pick


def test_a_cell_that_diverges_is_recorded_once_and_the_grid_finishes(tmp_path):
    import optuna

    from genzoo.study.storage import open_storage

    path = tmp_path / "cells.toml"
    path.write_text(
        study_text(
            seeds=(0,),
            budget='compute = "iterations"\niterations = 4',
            variants=("triangle",),
            claims=("triangle < blowup on recon_mse",),
        )
        + "[variants.blowup]\nobjective = \"triangle\"\nset = ['train.energy_bound=1e-12']\n"
    )
    journal = tmp_path / "cells.journal"
    p = genzoo("study", path, "--out", tmp_path / "out", "--storage", journal, "--quiet")
    assert p.returncode == 0, p.stderr
    trials = optuna.load_study(
        storage=open_storage(f"journal:{journal}"), study_name="cells:cells"
    ).get_trials()
    (failed,) = [t for t in trials if t.params["variant"] == "blowup"]  # not retried
    assert failed.state == optuna.trial.TrialState.FAIL and failed.user_attrs["diverged"]
    assert "Not finished: blowup seed 0" in (tmp_path / "out" / "table.md").read_text()

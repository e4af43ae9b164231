"""benchmarks/progressive_controls.py end to end on tiny runs: a progressive run against the
recipe frozen at 32x32 and kept at 32x32 throughout, FD-photos at the steps each comparison
needs, the claims tested over the seeds (checked against scipy), the grids and the page."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, benchmark, cli
from scipy import stats


def _run(capsys, out, seed, *extra):
    args = ["run", ROOT / "recipes" / "dt_progressive.toml", "--out", out, "--quiet"]
    for s in (
        "model.stage_steps=1",
        "model.fade_steps=1",
        "model.width=0.02",
        "train.batch_size=2",
        "train.steps=10",
        "data.n_crops=32",
        "log.checkpoint_every=1",
        "log.keep_checkpoints=20",
        f"seed={seed}",
        *extra,
    ):
        args += ["--set", s]
    code, _, err = cli(capsys, *args, "--device", "cpu")
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def controls():
    progressive_controls = benchmark("progressive_controls")
    return progressive_controls


@pytest.mark.slow  # about 2 minutes: six runs, a classifier and 16 FD measurements
def test_progressive_controls_benchmark(tmp_path, capsys, controls):
    features = tmp_path / "f.safetensors"
    options = ["labelled=true", "n_crops=270", "size=64", "resize=128"]
    code, _, err = cli(
        capsys, "features", "train", "photos", *[a for o in options for a in ("--option", o)],
        "--epochs", "1", "--out", features,
    )  # fmt: skip
    assert code == 0, err
    at32 = ("data.size=32", "data.resize=64")
    runs = {"progressive": [], "frozen": [], "fixed": []}
    for seed in (0, 1):
        runs["progressive"].append(_run(capsys, tmp_path / f"prog{seed}", seed))
        runs["frozen"].append(_run(capsys, tmp_path / f"frozen{seed}", seed, *at32))
        runs["fixed"].append(_run(capsys, tmp_path / f"fixed{seed}", seed, *at32, "model.start=32"))
    page, out, images = tmp_path / "progressive.md", tmp_path / "c.json", tmp_path / "img"
    page.write_text("# Progressive growing\n")
    common = ["--features", str(features), "--markdown", str(page), "--out", str(out)]
    common += ["--images", str(images), "--equal-stable", "2"]
    for k in ("frozen", "fixed"):
        common += [f"--{k}", *map(str, runs[k])]

    # the committed progressive measurements were made with other classifier weights: refused
    assert controls.main(common) == 2
    assert "measure the progressive runs with --progressive" in capsys.readouterr().err
    assert not out.exists()

    assert controls.main([*common, "--progressive", *map(str, runs["progressive"])]) == 0
    res = json.loads(out.read_text())
    # the steps: frozen reaches 32x32 at step 6 (1 + 3 x (1 fade + 1)), fixed trains at 32x32
    # from step 0; both end at 10; the progressive run's 64x64 stage has 2 stable iterations
    for s in ("0", "1"):
        assert res["frozen"][s]["steps_measured"] == {"end": 10, "equal_stable": 8}
        assert res["fixed"][s]["steps_measured"] == {"end": 10, "equal_stable": 2}
        assert res["frozen"][s]["resolution"] == 32 and res["fixed"][s]["stable_from"] == 0
        f = res["frozen"][s]["fd"]
        assert f["end"] > 0 and f["equal_stable"] > 0 and f["end"] != f["equal_stable"]
        assert res["progressive"][s]["fd_end"] > 0
        assert (images / res["frozen"][s]["grid"]).stat().st_size > 100
    # each claim is the paired t-test of the progressive end against the control's value
    (c_end, c_stable, c_fixed) = res["claims"]
    prog = [res["progressive"][s]["fd_end"] for s in ("0", "1")]
    for claim, kind, key in ((c_end, "frozen", "end"), (c_stable, "frozen", "equal_stable"),
                             (c_fixed, "fixed", "end")):  # fmt: skip
        ctrl = [res[kind][s]["fd"][key] for s in ("0", "1")]
        want = stats.ttest_rel(prog, ctrl)
        assert claim["test"] == "paired t" and claim["p"] == pytest.approx(want.pvalue)
        assert claim["diff"] == pytest.approx(sum(prog) / 2 - sum(ctrl) / 2)
        assert claim["p_holm"] >= claim["p"] and claim["verdict"] in ("holds", "fails", "undecided")
    assert "(its step 8)" in c_stable["claim"]
    text = page.read_text()
    assert "## Progressive growing against fixed-resolution controls" in text
    assert text.count("| paired t |") == 3 and "progressive_controls" in text


def test_the_claims_pair_the_seeds_the_runs_share(controls):
    """Seeds 0-2 have controls, seed 3 only a progressive run: the tests pair 0-2."""
    prog = {s: {"fd_end": v} for s, v in enumerate([60.0, 70.0, 50.0, 10.0])}

    def ctrl(end, stable):
        return {
            s: {
                "fd": {"end": e, "equal_stable": q},
                "steps_measured": {"end": 22, "equal_stable": 18},
            }
            for s, (e, q) in enumerate(zip(end, stable))
        }

    frozen, fixed = ctrl([110.0, 125.0, 101.0], [61.0, 69.0, 52.0]), ctrl([90.0, 95.0], [1, 1])
    c_end, c_stable, c_fixed = controls.claims(prog, frozen, fixed, 6)
    want = stats.ttest_rel([60, 70, 50], [110, 125, 101])
    assert c_end["p"] == pytest.approx(want.pvalue) and c_end["n_a"] == 3
    assert c_end["diff"] == pytest.approx(-52.0) and "(its step 22)" in c_end["claim"]
    assert "equal stable phase (6) (its step 18)" in c_stable["claim"]
    assert c_fixed["n_a"] == 2 and c_fixed["df"] == 1
    # Holm over the three: the smallest p times 3, and a verdict only where it is below 0.05
    ps = sorted(c["p"] for c in (c_end, c_stable, c_fixed))
    assert min(c["p_holm"] for c in (c_end, c_stable, c_fixed)) == pytest.approx(3 * ps[0])
    assert c_end["verdict"] == ("holds" if c_end["p_holm"] < 0.05 else "undecided")
    assert c_stable["verdict"] == "undecided"  # differences of -1, +1, -2: no sign to call

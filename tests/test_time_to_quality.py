"""benchmarks/time_to_quality.py: a recipe trained from scratch, FD measured at each
checkpoint against the trainer's clock, and the verdict on the target read off those points."""

import json

from conftest import ROOT, benchmark, make_fashion_like

time_to_quality = benchmark("time_to_quality")


def point(step, minutes, fd):
    return {"step": step, "seconds": 60.0 * minutes, "fd": fd, "kid": 0.0}


def test_the_verdict_reads_the_best_point_within_the_minutes():
    points = [point(500, 3, 80.0), point(1000, 6, 40.0), point(1500, 9, 29.0), point(2000, 12, 20)]
    v = time_to_quality.verdict(points, minutes=10, target=30)
    assert v["met"] and v["best_within"]["step"] == 1500 and v["first_at_target"]["step"] == 1500
    v = time_to_quality.verdict(points, minutes=8, target=30)  # 29 comes after 9 minutes
    assert not v["met"] and v["best_within"]["step"] == 1000
    assert v["first_at_target"]["step"] == 1500
    v = time_to_quality.verdict(points, minutes=1, target=30)
    assert not v["met"] and v["best_within"] is None
    assert time_to_quality.verdict(points, 20, 10)["first_at_target"] is None


def test_a_tiny_run_is_measured_at_each_checkpoint(tmp_path):
    root = make_fashion_like(tmp_path / "fm", n_train=128, n_test=64)
    page = tmp_path / "page.md"
    page.write_text("# Results\n")
    code = time_to_quality.main(
        [
            str(ROOT / "recipes" / "dt_fashion.toml"),
            "--steps",
            "6",
            "--every",
            "3",
            "--n",
            "64",
            "--set",
            "model.width=0.0625",
            "--set",
            "train.batch_size=16",
            "--set",
            f'data.root="{root}"',
            "--set",
            "log.every=1",
            "--set",
            "log.sample_every=1000",
            "--out",
            str(tmp_path / "runs"),
            "--results",
            str(tmp_path / "results"),
            "--image-dir",
            str(tmp_path / "images"),
            "--page",
            str(page),
            "--target",
            "1e9",
        ]
    )
    assert code == 0
    r = json.loads((tmp_path / "results" / "time_to_quality_dt_fashion.json").read_text())
    assert [p["step"] for p in r["points"]] == [3, 6]
    assert 0 < r["points"][0]["seconds"] < r["points"][1]["seconds"] <= r["command_seconds"]
    assert all(p["fd"] > 0 and p["fd"] == p["fd"] for p in r["points"])
    assert r["points"][0]["fd"] != r["points"][1]["fd"]  # two checkpoints, two models
    assert r["verdict"]["met"]  # any FD is under 1e9 within 10 minutes of 6 steps
    assert (tmp_path / "images" / "time_to_quality_dt_fashion.png").stat().st_size > 1000
    text = page.read_text()
    assert "Time to quality: dt_fashion" in text and "**met**" in text
    assert "(images/time_to_quality_dt_fashion.png)" in text  # relative to the page

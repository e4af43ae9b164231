"""benchmarks/tune_workers.py's table: the iterations the trials trained, each to its last
measured point, and the wall time per 1000 of them; a JSON from before it counted them reads
"—"."""

import json

from conftest import benchmark

tune_workers = benchmark("tune_workers")


def test_iterations_trained_are_each_trials_last_point(tmp_path):
    for variant, trial, points in (
        ("a", 0, [75, 150]),
        ("a", 1, [75, 150, 225, 300]),
        ("b", 0, [75]),
    ):
        folder = tmp_path / "tune" / variant / f"trial{trial}"
        folder.mkdir(parents=True)
        (folder / "evaluations.json").write_text(json.dumps({str(p): {} for p in points}))
    assert tune_workers.trained(tmp_path) == {"trials_run": 3, "iterations": 150 + 300 + 75}
    tuned = {v: {"pruned": 1, "trials": 8} for v in ("triangle", "vae")}
    rows = [
        {"workers": 1, "wall_seconds": 100.0, "tuned": tuned, "iterations": 2000},
        {"workers": 2, "wall_seconds": 50.0, "tuned": tuned},
    ]
    lines = tune_workers.table({"study": "s.toml", "rows": rows}).splitlines()
    assert lines[-2].endswith("| 1.00x | 1 of 8 | 1 of 8 | 2000 | 50.0 |")
    assert lines[-1].endswith("| 2.00x | 1 of 8 | 1 of 8 | — | — |")

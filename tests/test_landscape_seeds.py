"""benchmarks/landscape_seeds.py end to end on two tiny runs: the convergence check of a
checkpoint, then a map per seed with purity per level and path barriers, the claims tested
over the seeds, the pictures, and the section of the results page."""

import json

import pytest
from conftest import ROOT, benchmark, make_fashion_like

from genzoo.cli import main


def train(tmp_path, root, seed):
    run = tmp_path / f"seed{seed}"
    args = ["run", str(ROOT / "recipes" / "dt_landscape_fashion.toml"), "--out", str(run)]
    for s in (f'data.root="{root}"', "train.steps=3", "train.batch_size=8", "model.width=0.0625"):
        args += ["--set", s]
    args += ["--set", 'device="cpu"', "--set", f"seed={seed}", "--quiet"]
    args += ["--set", 'model.energy_activation="silu"']
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    return run


@pytest.mark.slow  # 30 s; the landscape's parts and test_landscape_study run in the fast selection
def test_landscape_seeds_benchmark(tmp_path):
    landscape_seeds = benchmark("landscape_seeds")
    root = make_fashion_like(tmp_path / "fm", n_train=64, n_test=40)
    runs = [train(tmp_path, root, s) for s in (0, 1)]
    out, page, images = tmp_path / "seeds.json", tmp_path / "landscape.md", tmp_path / "img"
    page.write_text("# Energy landscape\n")
    common = ["--out", str(out), "--page", str(page), "--images", str(images)]
    common += ["--n", "30", "--paths-n", "12", "--max-steps", "30", "--path-iterations", "5"]
    assert landscape_seeds.main(["--convergence", f"{runs[0]}@3", *common]) == 0
    (row,) = json.loads(out.read_text())["convergence"]["rows"]
    assert row["energy_activation"] == "silu" and 0 <= row["descent"]["converged"] <= 1
    assert row["energy_end"] <= row["energy_start"]  # a descent never climbs
    # descents that do not converge: each seed's reason, no map
    refused = [*common[2:], "--out", str(tmp_path / "no.json"), "--max-steps", "1"]
    refused += ["--min-converged", "1", "--page", str(tmp_path / "no.md")]
    assert landscape_seeds.main([str(runs[0]), *refused]) == 0
    (no,) = json.loads((tmp_path / "no.json").read_text())["seeds"].values()
    assert not no["full"]["mapped"] and "reached a minimum" in no["full"]["reason"]
    assert "not mapped" in (tmp_path / "no.md").read_text()
    common += ["--min-converged", "0"]
    assert landscape_seeds.main([str(r) for r in runs] + common) == 0
    res = json.loads(out.read_text())
    assert sorted(res["seeds"]) == ["0", "1"] and "convergence" in res  # the check is kept
    for entry in res["seeds"].values():
        assert (images / entry["picture"].rsplit("/", 1)[1]).stat().st_size > 1000
        assert (images / entry["graph"].rsplit("/", 1)[1]).stat().st_size > 1000
        full = entry["full"]
        assert full["mapped"] and full["n_starts"] == 30
        assert [r["clusters"] for r in full["levels"]][:2] == [1, 2]
        assert entry["paths"]["paths"]["pairs"] >= 1
    claims = {t["claim"]: t for t in res["claims"]}
    assert "path barrier height < straight-line height" in claims
    assert all(
        t["test"] == "paired t" and t["verdict"] in ("holds", "fails", "undecided")
        for t in claims.values()
    )
    text = page.read_text()
    assert text.count("<!-- landscape:seeds -->") == 2 and "| claim | test |" in text
    # a second run maps nothing again
    before = out.read_text()
    assert landscape_seeds.main([str(r) for r in runs] + common) == 0
    assert json.loads(out.read_text())["seeds"] == json.loads(before)["seeds"]

"""benchmarks/second_features.py: a finished study's cells measured again in another feature
network; measured in the study's own network it gives back the study's figures, and a claim
that holds in one measurement and fails in another is read as depending on the features."""

import json
import shutil

import pytest
from conftest import ROOT, benchmark, make_fashion_like, train_features
from study_files import genzoo, tiny_fashion

from genzoo.study.folder import StudyFolder

second_features = benchmark("second_features")


def test_the_reading_across_measurements():
    read = second_features.agreement
    assert read(["holds", "holds", "undecided", "holds"]) == "holds"
    assert read(["undecided", "holds", "holds", "holds"]) == "undecided"  # the registered test
    assert read(["holds", "fails", "holds", "holds"]) == "depends on the features"
    assert read(["undecided", "fails", "undecided", "holds"]) == "depends on the features"
    assert read(["fails", "undecided", "fails", "fails"]) == "fails"


def study(root, features) -> str:
    return "\n".join(
        [
            'name = "sf"',
            f'recipe = "{(ROOT / "recipes" / "dt_fashion.toml").as_posix()}"',
            "seeds = [0, 1]",
            tiny_fashion(root),
            'claims = ["triangle < vae on fd", "triangle < vae on recon_mse"]',
            "[budget]\niterations = 3",
            "[evaluate]",
            'metrics = ["fd", "kid", "recon_mse"]',
            f'n = 32\nsplit = "test"\nvalidation = 0.0\nfeatures = "{features.as_posix()}"',
            '[variants.triangle]\nobjective = "triangle"',
            '[variants.vae]\nobjective = "vae"',
        ]
    )


def test_a_study_measured_again_in_its_own_and_another_network(tmp_path, capsys):
    root = make_fashion_like(tmp_path / "fm", n_train=128, n_test=48)
    nets = []
    for seed in (0, 1):
        nets.append(tmp_path / f"features{seed}.safetensors")
        train_features(capsys, root, 2, "--seed", seed, "--out", nets[-1])
    path = tmp_path / "sf.toml"
    path.write_text(study(root, nets[0]))
    out = tmp_path / "study"
    p = genzoo("study", path, "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    page = tmp_path / "page.md"
    page.write_text("# Results\n")
    res = json.loads((out / "study.json").read_text())

    def again(net, name):
        args = [path, out / "study.json", page, "--features", net, "--cells", out]
        assert second_features.main([*map(str, args), "--out", str(tmp_path / name)]) == 0
        return json.loads((tmp_path / name).read_text())

    same = again(nets[0], "same.json")
    assert len(same["second"]) == 4
    for row in same["second"]:
        cell = next(
            c for c in res["cells"] if (c["variant"], c["seed"]) == (row["variant"], row["seed"])
        )
        measured = cell["evaluations"][str(max(map(int, cell["evaluations"])))]
        assert row["fd"] == measured["fd"] and row["kid"] == measured["kid"]
    assert [c["claim"] for c in same["claims"]] == ["triangle < vae on fd"]  # FD's claims only
    fams = same["families"]
    assert fams["fd (study's network)"] == fams["fd (second network)"]
    assert fams["kid (study's network)"] == fams["kid (second network)"]

    other = again(nets[1], "other.json")
    assert all(
        a["fd"] != b["fd"] for a, b in zip(same["second"], other["second"])
    )  # other features, other distances
    assert other["features"] == ["features0.safetensors", "features1.safetensors"]
    assert other["families"]["fd (study's network)"] == fams["fd (study's network)"]
    text = page.read_text()
    assert "`sf` in a second feature network" in text and "triangle < vae on fd" in text
    # interrupted after its first cell: a rerun measures only the others
    partial = {k: v for k, v in other.items() if k not in ("claims", "families")}
    partial |= {"finished": False, "second": [{**other["second"][0], "fd": 999.0}]}
    (tmp_path / "other.json").write_text(json.dumps(partial))
    resumed = again(nets[1], "other.json")
    assert resumed["finished"] and resumed["second"][0]["fd"] == 999.0  # kept, not measured
    assert resumed["second"][1:] == other["second"][1:]
    # what a run in another feature network left is not taken
    (tmp_path / "same.json").write_text(json.dumps(partial))
    assert again(nets[0], "same.json")["second"] == same["second"]

    # while the study runs: each cell measured where it was trained (here all but vae seed 1)
    cell = StudyFolder(out).cell("vae", 1) / "checkpoints"
    shutil.move(cell, tmp_path / "elsewhere")
    storage = StudyFolder(out).read()["storage"]
    kept = tmp_path / "kept.json"
    final = [path, out / "study.json", page, "--features", nets[1], "--cells", out, "--out", kept]
    before = page.read_text()
    assert second_features.main([*map(str, final), "--so-far", storage]) == 0
    so_far = json.loads(kept.read_text())
    assert not so_far["finished"] and so_far["study_sha256"] is None
    assert so_far["second"] == [
        r for r in other["second"] if (r["variant"], r["seed"]) != ("vae", 1)
    ]
    assert sorted(so_far["cells"]) == ["triangle/0", "triangle/1", "vae/0"]
    assert page.read_text() == before  # no tests, no page while it runs
    # the finished study's JSON needs the last cell's checkpoint, and measures only that cell
    with pytest.raises(SystemExit, match="vae seed 1: its checkpoint of step"):
        second_features.main(list(map(str, final)))
    shutil.move(tmp_path / "elsewhere", cell)
    so_far["second"][0]["fd"] = 999.0
    kept.write_text(json.dumps(so_far))
    assert second_features.main(list(map(str, final))) == 0
    whole = json.loads(kept.read_text())
    assert whole["finished"] and whole["second"][0]["fd"] == 999.0
    assert whole["second"][1:] == other["second"][1:]

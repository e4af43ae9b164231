"""benchmarks/longer_chains.py: a study's MCMC-sampled variant measured again with other chain
lengths; at the study's own length it gives back the study's figures, the cost of one sample
grows with the length, and the study's claims on that variant are tested again at each; an
interrupted run goes on where it stopped."""

import json

import pytest
from conftest import ROOT, benchmark
from study_files import fashion_study, tiny_fashion

from genzoo.study import runs, shared, spec
from genzoo.study.folder import StudyFolder

longer_chains = benchmark("longer_chains")


def study(root, features) -> str:
    return "\n".join(
        [
            'name = "lc"',
            f'recipe = "{(ROOT / "recipes" / "pcd_fashion.toml").as_posix()}"',
            "seeds = [0, 1]",
            tiny_fashion(
                root,
                "objectives.pcd.langevin_steps=2",
                "objectives.pcd.sample_steps=3",
                "objectives.pcd.buffer=64",
            ),
            'claims = ["triangle < pcd on fd"]',
            "[budget]\niterations = 3",
            "[evaluate]",
            'metrics = ["fd", "kid", "sample_gflops"]',
            f'n = 32\nsplit = "test"\nvalidation = 0.0\nfeatures = "{features.as_posix()}"',
            f'[variants.triangle]\nrecipe = "{(ROOT / "recipes" / "dt_fashion.toml").as_posix()}"',
            '[variants.pcd]\nobjective = "pcd"',
        ]
    )


def test_a_variant_measured_again_with_longer_chains(tmp_path, capsys):
    path, out, res = fashion_study(tmp_path, capsys, study)
    page = tmp_path / "page.md"
    page.write_text("# Results\n")
    evals = {p: p.read_text() for p in (out / "cells").rglob("eval.json")}
    assert len(evals) == 4
    args = [path, out / "study.json", page, "--variant", "pcd", "--cells", out]
    args += ["--option", "objectives.pcd.sample_steps", "--steps", "3,6"]
    assert longer_chains.main([*map(str, args), "--out", str(tmp_path / "lc.json")]) == 0
    result = json.loads((tmp_path / "lc.json").read_text())
    for seed, m in result["measured"]["3"].items():  # the study's own length: its own figures
        cell = next(c for c in res["cells"] if (c["variant"], c["seed"]) == ("pcd", int(seed)))
        measured = cell["evaluations"][str(max(map(int, cell["evaluations"])))]
        assert m["fd"] == measured["fd"] and m["kid"] == measured["kid"]
        assert m["sample_gflops"] == measured["sample_gflops"]
        longer = result["measured"]["6"][seed]
        assert longer["fd"] != m["fd"]  # other samples
        assert longer["sample_gflops"] / m["sample_gflops"] == pytest.approx(2.0)  # twice the steps
    # the study's own length is taken from the study: measuring it again gives the same
    run = out / "cells" / "pcd" / "seed0"
    assert longer_chains.own_length(run, "objectives.pcd.sample_steps") == 3
    s = spec.load(path)
    again = runs.measure(
        run,
        s,
        s.evaluate.split,
        shared.features_for(s, StudyFolder(out)),
        checkpoint=max(map(int, json.loads((run / "evaluations.json").read_text()))),
        sampler_of=longer_chains.with_option(run / "recipe.toml", "objectives.pcd.sample_steps", 3),
    )
    assert {k: again[k] for k in ("fd", "kid", "sample_gflops")} == result["measured"]["3"]["0"]
    claims = [t["claim"] for t in result["tests"]]
    assert claims == ["triangle < pcd@3 on fd", "triangle < pcd@6 on fd"]
    assert all(t["verdict"] in ("holds", "fails", "undecided") for t in result["tests"])
    text = page.read_text()
    assert "`pcd` of `lc` sampled with longer chains" in text and "triangle < pcd@6 on fd" in text
    assert {p: p.read_text() for p in evals} == evals  # the cells' own measurements stay
    # interrupted, as a run stopped after its first measurement leaves it: one seed, one length
    lc, whole = tmp_path / "lc.json", result
    assert whole["finished"] and len(whole["tests"]) == 2
    first = {k: v for k, v in whole.items() if k != "tests"}
    first |= {"finished": False, "measured": {"3": {"0": {**whole["measured"]["3"]["0"]}}}}
    first["measured"]["3"]["0"]["fd"] = 999.0  # marked: kept, not measured again
    lc.write_text(json.dumps(first))
    again_args = [*map(str, args), "--out", str(lc)]
    assert longer_chains.main(again_args) == 0
    again = json.loads(lc.read_text())
    assert again["finished"] and again["measured"]["3"]["0"]["fd"] == 999.0
    assert again["measured"]["3"]["1"] == whole["measured"]["3"]["1"]  # the rest measured
    assert again["measured"]["6"] == whole["measured"]["6"]
    # a cell the study JSON records otherwise (trained again) is measured again; the rest kept
    other = tmp_path / "other.json"
    cell = next(c for c in res["cells"] if (c["variant"], c["seed"]) == ("pcd", 0))
    cell["evaluations"][str(max(map(int, cell["evaluations"])))]["train_seconds"] += 1.0
    other.write_text(json.dumps(res))
    marked = json.loads(lc.read_text())
    marked["measured"]["6"]["1"]["fd"] = 998.0
    lc.write_text(json.dumps(marked))
    again_args[1] = str(other)
    assert longer_chains.main(again_args) == 0
    last = json.loads(lc.read_text())["measured"]
    assert (
        last["3"]["0"] == whole["measured"]["3"]["0"]
        and last["6"]["0"] == whole["measured"]["6"]["0"]
    )
    assert last["6"]["1"]["fd"] == 998.0  # seed 1's cell is unchanged: kept
    # while the study runs (--so-far on its storage): the same figures, kept, not finished
    storage = StudyFolder(out).read()["storage"]
    so_far = tmp_path / "so_far.json"
    assert longer_chains.main([*map(str, args), "--out", str(so_far), "--so-far", storage]) == 0
    kept = json.loads(so_far.read_text())
    assert (
        not kept["finished"] and "tests" not in kept and sorted(kept["cells"]) == ["pcd/0", "pcd/1"]
    )
    assert kept["measured"] == whole["measured"]

"""A study grown by variants: a study file that only adds variants, and claims naming them,
continues in the folder of the study it grows (whose cells are not trained again); any other
change is refused in one line."""

from __future__ import annotations

import json

import pytest
from study_files import TUNE, genzoo, study_text

from genzoo.errors import GenzooError
from genzoo.study import grown, spec
from genzoo.study.folder import StudyFolder

GROWN = dict(
    variants=("triangle", "vae", "wake_sleep"),
    claims=("triangle < vae on recon_mse", "triangle < wake_sleep on recon_mse"),
)


def mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*.safetensors")}


@pytest.fixture(scope="module")
def grew(tmp_path_factory):
    root = tmp_path_factory.mktemp("grown")
    (root / "study.toml").write_text(study_text())
    p = genzoo("study", root / "study.toml", "--out", root / "out", "--quiet")
    assert p.returncode == 0, p.stderr
    before = mtimes(root / "out" / "cells")
    (root / "study.toml").write_text(study_text(**GROWN))
    p = genzoo("study", root / "study.toml", "--out", root / "out", "--quiet")
    return root, before, p


def test_the_grown_study_trains_only_the_added_variant(grew):
    root, before, p = grew
    assert p.returncode == 0, p.stderr
    after = mtimes(root / "out" / "cells")
    assert {k: after[k] for k in before} == before  # the cells it had: not trained again
    added = {k for k in after if k not in before}
    assert added and all("wake_sleep" in k.parts for k in added)
    meta = json.loads((root / "out" / "study.json").read_text())
    assert {(c["variant"], c["seed"]) for c in meta["cells"]} == {
        (v, s) for v in GROWN["variants"] for s in (0, 1)
    }


def test_the_grown_study_tests_every_claim_and_says_what_was_added(grew):
    root, _, _ = grew
    meta = json.loads((root / "out" / "study.json").read_text())
    assert [c["claim"] for c in meta["claims"]] == list(GROWN["claims"])
    ps = sorted(c["p"] for c in meta["claims"])  # Holm over both claims, the old one included
    assert min(c["p_holm"] for c in meta["claims"]) == pytest.approx(min(1.0, 2 * ps[0]))
    assert meta["added"][0]["variants"] == ["wake_sleep"]
    assert meta["added"][0]["claims"] == ["triangle < wake_sleep on recon_mse"]
    assert set(meta["plan"]["iterations"]) == set(GROWN["variants"])
    table = (root / "out" / "table.md").read_text()
    assert "before they ran: variants wake_sleep" in table


def load(tmp_path, name, **kw):
    (tmp_path / name).write_text(study_text(**kw))
    return spec.load(tmp_path / name)


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(variants=("triangle",), claims=()), "changes or leaves out"),
        (dict(claims=()), "registered claim stays"),
        (dict(claims=("triangle < vae on recon_mse", "vae < triangle on f_data")), "already had"),
        (dict(seeds=(0, 1, 2)), "other settings"),
        (dict(extra="alpha = 0.01", **GROWN), "other settings"),
    ],
    ids=["variant left out", "claim removed", "claim on old variants", "seeds", "alpha"],
)
def test_a_change_that_is_not_an_addition_is_refused(tmp_path, change, words):
    folder = StudyFolder(tmp_path / "out")
    folder.claim(load(tmp_path, "first.toml"), None, 1)
    with pytest.raises(GenzooError, match=words):
        folder.claim(load(tmp_path, "second.toml", **change), None, 1)


def test_a_changed_variant_is_refused_even_beside_an_added_one(tmp_path):
    folder = StudyFolder(tmp_path / "out")
    folder.claim(load(tmp_path, "first.toml"), None, 1)
    text = study_text(**GROWN).replace(
        '[variants.vae]\nobjective = "vae"', '[variants.vae]\nobjective = "vae"\nset = ["seed=3"]'
    )
    (tmp_path / "second.toml").write_text(text)
    with pytest.raises(GenzooError, match="variant\\(s\\) vae"):
        folder.claim(spec.load(tmp_path / "second.toml"), None, 1)


def test_a_folder_from_before_parts_were_stored_grows_from_its_study_file(tmp_path):
    folder = StudyFolder(tmp_path / "out")
    folder.claim(load(tmp_path, "first.toml"), None, 1)
    meta = folder.read()
    meta.pop("parts")
    folder.write(meta)
    (tmp_path / "first.toml").write_text(study_text(**GROWN))
    folder.claim(spec.load(tmp_path / "first.toml"), None, 1)
    meta = folder.read()
    assert meta["added"][0]["variants"] == ["wake_sleep"]
    assert meta["fingerprint"] == spec.load(tmp_path / "first.toml").fingerprint()


def test_parts_of_an_unreadable_older_file_refuse(tmp_path):
    s = load(tmp_path, "first.toml")
    meta = {"name": "x", "fingerprint": s.fingerprint(), "study_file": "not = [toml"}
    assert grown.parts_before(meta, s) is None
    with pytest.raises(GenzooError, match="other settings"):
        grown.added_variants(meta, s, tmp_path)


def test_a_tuned_study_grows_by_a_searched_variant(tmp_path):
    first = dict(variants=("triangle", "vae"), tune=TUNE)
    (tmp_path / "s.toml").write_text(study_text(**first))
    p = genzoo("tune", tmp_path / "s.toml", "--out", tmp_path / "out", "--quiet")
    assert p.returncode == 0, p.stderr
    (tmp_path / "s.toml").write_text(study_text(tune=TUNE, **GROWN))
    p = genzoo("tune", tmp_path / "s.toml", "--out", tmp_path / "out", "--quiet")
    assert p.returncode == 0, p.stderr
    meta = json.loads((tmp_path / "out" / "study.json").read_text())
    assert set(meta["tuned"]) == set(GROWN["variants"])
    assert meta["tuned"]["wake_sleep"]["trials"] == 3
    assert (tmp_path / "out" / "best" / "wake_sleep.toml").exists()
    assert len(meta["cells"]) == 6

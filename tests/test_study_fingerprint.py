"""A study's fingerprint guards its folder against another study file: it must not move when
genzoo adds a setting that a study file leaves at its default, or every study run before
(committed storage included) would refuse to continue."""

import json

import pytest
from conftest import ROOT

from genzoo.study import spec

COMMITTED = sorted((ROOT / "benchmarks" / "results" / "studies").glob("*.json"))
COMMITTED = [p for p in COMMITTED if "fingerprint" in json.loads(p.read_text())]


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_the_committed_studies_keep_their_fingerprints(path):
    res = json.loads(path.read_text())
    study = ROOT / "benchmarks" / "studies" / f"{res['name']}.toml"
    assert spec.load(study).fingerprint() == res["fingerprint"]


def test_a_setting_away_from_its_default_changes_the_fingerprint(tmp_path):
    path = ROOT / "benchmarks" / "studies" / "tables_fashion.toml"
    text = path.read_text().replace("../../recipes", str(ROOT / "recipes"))
    text = text.replace("../results", str(ROOT / "benchmarks" / "results"))
    (tmp_path / "same.toml").write_text(text)
    (tmp_path / "other.toml").write_text(
        text.replace("[variants.wake_sleep]\n", '[variants.wake_sleep]\ntuned_in = "elsewhere"\n')
    )
    same, other = spec.load(tmp_path / "same.toml"), spec.load(tmp_path / "other.toml")
    assert other.variants["wake_sleep"].tuned_in == "elsewhere"
    assert other.fingerprint() != same.fingerprint()

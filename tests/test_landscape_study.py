"""benchmarks/landscape_study.py on a run with a generator and on an energy trained by MCMC
alone (no generator): its samples are the ones its evaluation draws, the descent never climbs,
and the section names each model."""

import json

import pytest
import torch
from conftest import ROOT, benchmark, make_fashion_like

from genzoo import api
from genzoo.analysis.landscape import energy_of
from genzoo.cli import main


def train(tmp_path, root, recipe: str, extra=()):
    run = tmp_path / recipe
    args = ["run", str(ROOT / "recipes" / f"{recipe}.toml"), "--out", str(run), "--quiet"]
    sets = [f'data.root="{root}"', "train.steps=2", "train.batch_size=8", "model.width=0.0625"]
    for s in [*sets, 'device="cpu"', "log.checkpoint_every=2", *extra]:
        args += ["--set", s]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    return run


@pytest.fixture(scope="module")
def landscape_study():
    landscape_study = benchmark("landscape_study")
    return landscape_study


def test_the_study_maps_a_triangle_and_an_energy_without_generator(tmp_path, landscape_study):
    root = make_fashion_like(tmp_path / "fm", n_train=64, n_test=24)
    triangle = train(tmp_path, root, "dt_fashion")
    short_run = train(
        tmp_path, root, "short_run_fashion", ["objectives.short_run.langevin_steps=3"]
    )
    out, page = tmp_path / "ls.json", tmp_path / "landscape.md"
    page.write_text("# Energy landscape\n")
    common = ["--n", "12", "--steps", "5,10", "--grid", "4", "--fine-grid", "8", "--basins", "3"]
    common += ["--json", str(out), "--markdown", str(page), "--tag", "tiny"]
    assert landscape_study.main([str(triangle), str(short_run), *common]) == 0
    rows = {r["run"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {str(triangle), str(short_run)}
    for run, row in rows.items():
        model = api.load(run)
        # the samples' energy is that of the samples its evaluation draws (short_run: Langevin)
        f = model.models.energy
        expected = float(energy_of(f, model.sample(12, 0)).mean())
        assert row["energy"]["samples"] == pytest.approx(expected, rel=1e-5)
        energies = [t["energy"] for t in row["descent"]]
        assert energies[1] <= energies[0] + 1e-6  # energy -f: a descent never climbs
        assert [c["basins"] for c in row["clusterings"]][0] <= 3
    text = page.read_text()
    assert "Energy landscape: what the mapping finds (section 4.3): tiny" in text
    assert str(short_run) in text and str(triangle) in text
    # the short-run model has no generator to draw from: drawing g(z) would fail
    assert not api.load(short_run).models.uses("theta")
    assert torch.isfinite(torch.tensor(rows[str(short_run)]["energy"]["noise"]))

"""The Python API, notebook style: genzoo.train, genzoo.load, the Model's methods against what
the trainer's own networks compute, export -> load bit for bit, and bad inputs."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import ROOT, cli

import genzoo
from genzoo import recipe as recipe_mod
from genzoo.analysis.evaluate import evaluate_run
from genzoo.assemble import build_data
from genzoo.errors import GenzooError
from genzoo.metrics import mse_unit_range
from genzoo.store.loading import load_trained

TINY = {
    "train.steps": 6,
    "train.batch_size": 8,
    "model.width": 0.0625,
    "data.size": 32,
    "data.n_crops": 64,
    "log.checkpoint_every": 3,
    "log.sample_every": 3,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return genzoo.train(ROOT / "recipes" / "dt_texture.toml", out=out, overrides=TINY)


def test_train_returns_the_run_and_load_gives_the_trainers_networks(run):
    assert run.dir.is_dir() and run.metrics["step"] == 6 and run.recipe.train.steps == 6
    model = genzoo.load(run)
    assert model.step == 6 and model.sample_shape == (1, 32, 32) and "texture" in repr(model)
    _, models, _ = load_trained(run.dir)
    g = torch.Generator().manual_seed(5)
    z = torch.randn((9, *models.generator.latent_shape), generator=g)
    with torch.no_grad():
        expected = models.generator(z)
    assert torch.equal(model.sample(9, seed=5), expected)  # bit for bit
    assert torch.equal(model.decode(z), expected)
    x = expected.clamp(-1, 1)
    with torch.no_grad():
        q = models.encoder(x)
        assert torch.equal(model.encode(x).mean, q.mean)
        assert torch.equal(model.energy(x), models.energy(x))
        assert torch.equal(model.reconstruct(x), models.generator(q.mean))


def test_reconstruction_error_equals_genzoo_evals(run):
    report = evaluate_run(run.dir, n=20, seed=3)
    model = genzoo.load(run)
    x, _, _ = build_data(model.recipe).draw_held_out(20, 3)
    assert float(mse_unit_range(x, model.reconstruct(x)).mean()) == report["recon_mse"]


def test_interpolate_and_langevin(run):
    model = genzoo.load(run)
    z = model.prior(2, seed=1)
    line = model.interpolate(z[:1], z[1:], steps=5)
    assert line.shape == (5, 1, 32, 32)
    # the line's ends are the two latents' samples (to round-off: batch sizes pick kernels)
    assert torch.allclose(line[0], model.decode(z[:1])[0], atol=1e-5)
    assert torch.allclose(line[-1], model.decode(z[1:])[0], atol=1e-5)
    x = model.sample(6, seed=0)
    up = model.langevin(x, steps=5, step_size=0.05, noise=False)  # gradient ascent on f
    assert float(model.energy(up).mean()) > float(model.energy(x).mean())
    assert float(up.abs().max()) <= 1
    a = model.langevin(x, steps=3, step_size=0.01, seed=4)
    assert torch.equal(a, model.langevin(x, steps=3, step_size=0.01, seed=4))


def test_a_recipe_object_with_dict_overrides_trains_too(tmp_path):
    r = recipe_mod.load(ROOT / "recipes" / "dt_texture.toml")
    out = genzoo.train(r, out=tmp_path / "r", overrides={**TINY, "train.steps": 2})
    assert out.metrics["step"] == 2 and out.load().step == 2


@pytest.mark.parametrize(
    "bad,message",
    [
        (torch.zeros(2, 3, 32, 32), r"must have shape \(B, 1, 32, 32\)"),
        (torch.full((2, 1, 32, 32), 3.0), r"must lie in \[-1, 1\]"),
        (torch.full((1, 32, 32), float("nan")), "NaN"),
        ([[0.0]], "must be a torch tensor"),
        (torch.zeros(2, 1, 32, 32, dtype=torch.uint8), "floating point"),
    ],
)
def test_bad_inputs_are_one_clear_error(run, bad, message):
    model = genzoo.load(run)
    with pytest.raises(GenzooError, match=message):
        model.energy(bad)
    with pytest.raises(GenzooError, match="latents must have shape"):
        model.decode(torch.zeros(2, 3))
    with pytest.raises(GenzooError, match="positive integer"):
        model.sample(0)


def test_export_and_load_round_trip_bit_for_bit(run, tmp_path, capsys):
    evaluate_run(run.dir, n=16)  # eval numbers go into the model card
    code, out, err = cli(capsys, "export", run.dir, "--out", tmp_path / "m")
    assert code == 0, err
    folder = tmp_path / "m"
    for name in ("model.safetensors", "config.json", "recipe.toml", "README.md", "samples.png"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == 1 and config["plugins"]["architecture"]["distribution"] == "genzoo"
    assert config["plugins"]["architecture"]["version"]
    card = (folder / "README.md").read_text()
    assert "library_name: genzoo" in card and "![samples](samples.png)" in card
    assert re.search(r"test reconstruction MSE.*\| 0\.\d{5} \|", card)
    a, b = genzoo.load(run), genzoo.load(folder)
    assert torch.equal(a.sample(7, seed=2), b.sample(7, seed=2))
    for net in ("generator", "encoder", "energy"):
        for (k, v), (k2, v2) in zip(
            getattr(a.models, net).state_dict().items(), getattr(b.models, net).state_dict().items()
        ):
            assert k == k2 and torch.equal(v, v2)
    code, _, err = cli(capsys, "sample", folder, "--n", 4, "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").is_file()  # the CLI reads model folders too


def test_export_refuses_a_foreign_folder_and_loads_refuse_newer_or_missing(run, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(GenzooError, match="not an exported model"):
        genzoo.load(run).save(tmp_path / "mine")
    folder = genzoo.load(run).save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "format": 99}))
    with pytest.raises(GenzooError, match="newer genzoo"):
        genzoo.load(folder)
    config["plugins"]["architecture"] = {
        "name": "hyper_nets",
        "distribution": "genzoo-hyper",
        "version": "2.0",
    }
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(GenzooError, match="pip install genzoo-hyper"):
        genzoo.load(folder)
    with pytest.raises(GenzooError, match="no checkpoint of step 4"):
        genzoo.load(run, checkpoint=4)
    assert genzoo.load(run, checkpoint=3).step == 3


def test_the_api_page_example_runs_as_written(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "api.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")
    exec(compile(code, "docs/api.md", "exec"), {})
    assert (tmp_path / "models" / "api_demo" / "README.md").is_file()

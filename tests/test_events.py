"""Training events as plugin hooks: genzoo's own sinks (metrics.jsonl, sample grids,
TensorBoard) and a third party's, registered by entry point, see every event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT, cli, tiny_texture_toml
from test_plugins import fake_distribution

from genzoo import hookimpl, plugins
from genzoo import recipe as recipe_mod
from genzoo.training import Trainer
from genzoo.training import step as step_mod
from genzoo.training.step import DivergenceError

TINY = tiny_texture_toml(
    "events", seed=0, image="brick", n_crops=32, steps=4, sample_every=2, checkpoint_every=2
)


class Recorder:
    """An in-process sink: every event, in order, with what it carried."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def on_fit_start(self, run, step):
        self.seen.append(("fit_start", step, str(run.dir)))

    @hookimpl
    def on_log(self, run, step, metrics):
        self.seen.append(("log", step, dict(metrics)))

    @hookimpl
    def on_samples(self, run, step, name, images, real):
        self.seen.append(("samples", step, name, tuple(images.shape)))

    @hookimpl
    def on_checkpoint(self, run, step, path):
        self.seen.append(("checkpoint", step, path.name))

    @hookimpl
    def on_stage_end(self, run, step, resolution):
        self.seen.append(("stage_end", step, resolution))

    @hookimpl
    def on_divergence(self, run, step, reason, rolled_back_to):
        self.seen.append(("divergence", step, rolled_back_to))

    @hookimpl
    def on_fit_end(self, run, step, metrics):
        self.seen.append(("fit_end", step))


@pytest.fixture
def recorder():
    rec = Recorder()
    plugins.register_plugin(rec, dist="test-sink")
    yield rec
    plugins.unregister_plugin(rec)


def test_an_in_process_sink_sees_every_event_in_order(recorder, tmp_path, monkeypatch):
    r = recipe_mod.from_dict(
        {
            **tomllib.loads(TINY),
            "train": {"steps": 6, "batch_size": 4, "on_divergence": "rollback"},
            "log": {**tomllib.loads(TINY)["log"], "progress": False},
        }
    )
    t = Trainer(r)
    real_check = step_mod.check_divergence
    fired = []

    def once(checks, group, bound, step, largest):  # diverge once, at step 5: a rollback
        if step == 5 and not fired:
            fired.append(1)
            raise DivergenceError("a test divergence", "alpha")
        return real_check(checks, group, bound, step, largest)

    monkeypatch.setattr(step_mod, "check_divergence", once)
    t.fit(tmp_path / "run")
    kinds = [e[0] for e in recorder.seen]
    assert kinds[0] == "fit_start" and kinds[-1] == "fit_end"
    assert ("samples", 0, "data", (4, 1, 32, 32)) in recorder.seen
    assert ("divergence", 5, 4) in recorder.seen
    assert [e[1] for e in recorder.seen if e[0] == "checkpoint"] == [0, 2, 4, 6]
    logs = [e for e in recorder.seen if e[0] == "log"]
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e[2] for e in logs] == lines and [ln["step"] for ln in lines] == [1, 2, 3, 4, 5, 6]


def test_growing_networks_report_each_stage_end(recorder, tmp_path, capsys):
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_progressive.toml",
        "--out",
        tmp_path / "run",
        "--quiet",
        "--set",
        "train.steps=5",
        "--set",
        "model.stage_steps=1",
        "--set",
        "model.fade_steps=1",
        "--set",
        "model.width=0.02",
        "--set",
        "train.batch_size=2",
        "--set",
        "data.n_crops=16",
        "--device",
        "cpu",
    )
    assert code == 0, err
    ends = [e[2] for e in recorder.seen if e[0] == "stage_end"]
    assert ends[:3] == ["4x4", "8x8", "16x16"]


def test_without_the_built_in_sinks_fit_writes_only_checkpoints(tmp_path):
    reg = plugins.build_registry()
    for name in ("sink_metrics_log", "sink_grids", "sink_tensorboard", "sink_texture"):
        reg.pm.unregister(name=name)
    r = recipe_mod.from_dict(tomllib.loads(TINY))
    Trainer(r, registry=reg).fit(tmp_path / "run")
    made = {p.name for p in (tmp_path / "run").iterdir()}
    assert made == {"checkpoints", "recipe.toml", ".genzoo-run", ".lock"}


def test_tensorboard_holds_every_scalar_of_metrics_jsonl(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(
        capsys,
        "run",
        tmp_path / "r.toml",
        "--out",
        tmp_path / "run",
        "--quiet",
        "--set",
        "log.tensorboard=true",
    )
    assert code == 0, err
    acc = EventAccumulator(
        str(tmp_path / "run" / "tensorboard"),
        size_guidance={"scalars": 0, "images": 0, "tensors": 0},
    )
    acc.Reload()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    for key in lines[0]:
        if key == "step":
            continue
        events = acc.Scalars(key)
        assert [e.step for e in events] == [ln["step"] for ln in lines]
        for e, ln in zip(events, lines):
            assert e.value == pytest.approx(ln[key], rel=1e-6, abs=1e-6)
    assert set(acc.Tags()["images"]) >= {"data", "samples"}
    assert acc.Tags()["tensors"]  # the recipe as text


def test_tensorboard_missing_is_one_line(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tb(name, *a, **k):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tb)
    (tmp_path / "r.toml").write_text(TINY)
    code, _, err = cli(
        capsys,
        "run",
        tmp_path / "r.toml",
        "--out",
        tmp_path / "run",
        "--quiet",
        "--set",
        "log.tensorboard=true",
    )
    assert code == 2 and "pip install 'genzoo[tensorboard]'" in err


SINK = """
import json, os
from genzoo import hookimpl

def _out(kind, **kw):
    with open(os.environ["SINK_LOG"], "a") as fh:
        fh.write(json.dumps({"event": kind, **kw}) + "\\n")

@hookimpl
def on_fit_start(run, step): _out("fit_start", step=step)
@hookimpl
def on_log(run, step, metrics): _out("log", step=step, keys=sorted(metrics))
@hookimpl
def on_samples(run, step, name, images, real): _out("samples", step=step, name=name)
@hookimpl
def on_checkpoint(run, step, path): _out("checkpoint", step=step, path=str(path))
@hookimpl
def on_stage_end(run, step, resolution): _out("stage_end", step=step, resolution=resolution)
@hookimpl
def on_divergence(run, step, reason, rolled_back_to): _out("divergence", step=step)
@hookimpl
def on_fit_end(run, step, metrics): _out("fit_end", step=step)
"""


@pytest.mark.slow  # 19 s: a pip install and a run; test_plugins installs an entry-point package in the fast selection
def test_a_third_party_sink_registered_by_entry_point_receives_every_event(tmp_path):
    site = tmp_path / "site"
    fake_distribution(site, "genzoo-sink-demo", "sink_demo", SINK, "demo_sink")
    (tmp_path / "r.toml").write_text(TINY)
    log = tmp_path / "events.jsonl"
    env = {**os.environ, "PYTHONPATH": str(site), "SINK_LOG": str(log)}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "genzoo",
            "run",
            str(tmp_path / "r.toml"),
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert events[0] == {"event": "fit_start", "step": 0}
    assert events[-1] == {"event": "fit_end", "step": 4}
    assert [e["step"] for e in events if e["event"] == "log"] == [1, 2, 3, 4]
    assert [e["name"] for e in events if e["event"] == "samples"] == [
        "data",
        "step_00000002",
        "final",
    ]
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2, 4]
    # a growing network's stage ends, and a divergence that stops the run, reach it too
    log.unlink()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "genzoo",
            "run",
            str(ROOT / "recipes" / "dt_progressive.toml"),
            "--out",
            str(tmp_path / "grow"),
            "--quiet",
            "--device",
            "cpu",
            "--set",
            "train.steps=3",
            "--set",
            "model.stage_steps=1",
            "--set",
            "model.fade_steps=1",
            "--set",
            "model.width=0.02",
            "--set",
            "train.batch_size=2",
            "--set",
            "data.n_crops=16",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["resolution"] for e in events if e["event"] == "stage_end"] == ["4x4", "8x8"]
    log.unlink()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "genzoo",
            "run",
            str(tmp_path / "r.toml"),
            "--out",
            str(tmp_path / "div"),
            "--quiet",
            "--set",
            "train.energy_bound=1e-12",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert {"event": "divergence", "step": 1} in events


def test_plugins_lists_the_event_sinks(recorder, capsys):
    names = [name for name, _, _ in plugins.registry().sinks()]
    assert {"sink_metrics_log", "sink_grids", "sink_tensorboard"} <= set(names)
    assert any(dist == "test-sink" for _, dist, _ in plugins.registry().sinks())
    code, out, _ = cli(capsys, "plugins")
    assert code == 0 and "event sink" in out and "sink_grids" in out

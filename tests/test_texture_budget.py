"""benchmarks/texture_budget.py reads a shorter budget off a longer run's checkpoint: that
checkpoint must be what a run of that many steps ends with (constant learning rates,
the weight average included), and a folder holding it alone must measure from it."""

import sys

import pytest
from conftest import ROOT
from safetensors.torch import load_file

from genzoo.cli import main
from genzoo.store import checkpoint

sys.path.insert(0, str(ROOT / "benchmarks"))
try:
    import texture_budget
finally:
    sys.path.remove(str(ROOT / "benchmarks"))


def _run(capsys, out, steps):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "run",
                str(ROOT / "recipes" / "dt_texture.toml"),
                "--out",
                str(out),
                "--quiet",
                "--device",
                "cpu",
                "--set",
                f"train.steps={steps}",
                "--set",
                "log.checkpoint_every=3",
                "--set",
                "log.sample_every=1000",
                "--set",
                "model.width=0.0625",
                "--set",
                "train.threads=1",
            ]
        )
    assert exc.value.code == 0, capsys.readouterr().err


def test_a_longer_runs_checkpoint_is_the_shorter_run(tmp_path, capsys):
    _run(capsys, tmp_path / "short", 3)
    _run(capsys, tmp_path / "long", 7)
    alone = texture_budget.the_checkpoint_alone(tmp_path / "long", 3, tmp_path / "alone")
    newest = checkpoint.latest(alone / "checkpoints")
    assert newest is not None and newest.step == 3
    read = load_file(alone / "checkpoints" / "step_00000003.safetensors")
    short = load_file(tmp_path / "short" / "checkpoints" / "step_00000003.safetensors")
    longest = load_file(tmp_path / "long" / "checkpoints" / "step_00000007.safetensors")
    assert read.keys() == short.keys()
    assert any(k.startswith("model.theta_ema.") for k in read)
    for k in read:
        assert (read[k] == short[k]).all(), k
    assert any(not (read[k] == longest[k]).all() for k in read if k.startswith("model."))
    with pytest.raises(SystemExit, match="no checkpoint at step 5"):
        texture_budget.the_checkpoint_alone(tmp_path / "long", 5, tmp_path / "none")

"""benchmarks/texture_budget.py reads a shorter budget off a longer run's checkpoint: that
checkpoint must be what a run of that many steps ends with (constant learning rates, the
weight average included), and the study's measurement of it the shorter run's."""

from conftest import ROOT, cli
from safetensors.torch import load_file

from genzoo.study import runs
from genzoo.study import spec as spec_mod

STUDY = f"""recipe = "{(ROOT / "recipes" / "dt_texture.toml").as_posix()}"
seeds = [0]
[budget]
iterations = 3
[evaluate]
metrics = ["high_frequency_ratio", "nyquist_ratio", "orientation_distance", "gram_distance"]
n = 8
split = "train"
validation = 0.0
[variants.nearest_ema]
set = ["train.generator_ema=0.995"]
"""


def _run(capsys, out, steps):
    sets = [f"train.steps={steps}", "log.checkpoint_every=3", "log.sample_every=1000"]
    sets += ["model.width=0.0625", "train.threads=1"]
    args = ["run", ROOT / "recipes" / "dt_texture.toml", "--out", out, "--quiet"]
    code, _, err = cli(capsys, *args, "--device", "cpu", *(x for s in sets for x in ("--set", s)))
    assert code == 0, err


def test_a_longer_runs_checkpoint_is_the_shorter_run(tmp_path, capsys):
    _run(capsys, tmp_path / "short", 3)
    _run(capsys, tmp_path / "long", 7)
    read = load_file(tmp_path / "long" / "checkpoints" / "step_00000003.safetensors")
    short = load_file(tmp_path / "short" / "checkpoints" / "step_00000003.safetensors")
    longest = load_file(tmp_path / "long" / "checkpoints" / "step_00000007.safetensors")
    assert read.keys() == short.keys()
    assert any(k.startswith("model.theta_ema.") for k in read)
    for k in read:
        assert (read[k] == short[k]).all(), k
    assert any(not (read[k] == longest[k]).all() for k in read if k.startswith("model."))

    (tmp_path / "s.toml").write_text(STUDY)
    spec = spec_mod.load(tmp_path / "s.toml")
    at_3 = runs.measure(tmp_path / "long", spec, "train", None, checkpoint=3)
    assert at_3 == runs.measure(tmp_path / "short", spec, "train", None)
    assert at_3 != runs.measure(tmp_path / "long", spec, "train", None)  # the newest: step 7

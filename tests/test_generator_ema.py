"""train.generator_ema: the moving average of the generator's weights that samples come from.
Its recursion against the formula, its batch-norm statistics against its own activations, and a
run: training unchanged by it, exact on resume, and what grids, stage measurements and
load_trained draw from."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ROOT, benchmark, cli
from safetensors.torch import load_file
from torch import nn

from genzoo.store.loading import load_trained
from genzoo.training.ema import NORM_BATCHES, GeneratorEMA, warmed_decay


def test_the_average_follows_its_recursion():
    net = nn.Linear(3, 2)
    ema = GeneratorEMA(net, 0.9)
    weights = [torch.randn(2, 3) for _ in range(30)]
    expected = None
    for n, w in enumerate(weights):
        with torch.no_grad():
            net.weight.copy_(w)
        ema.update(net)
        d = warmed_decay(0.9, n)
        expected = w.clone() if expected is None else d * expected + (1 - d) * w
    assert ema.updates == 30
    assert torch.allclose(ema.module.weight, expected, atol=1e-6)
    # the warm-up: early updates forget the start fast, later ones use the decay itself
    assert (
        warmed_decay(0.9, 0) == pytest.approx(0.1)
        and warmed_decay(0.9, 1) == pytest.approx(2 / 11)
        and warmed_decay(0.9, 100) == 0.9
    )
    # the live network is not touched, and the average takes no gradients
    assert torch.equal(net.weight, weights[-1])
    assert not any(p.requires_grad for p in ema.module.parameters())
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        GeneratorEMA(net, 1.0)


class _BNGenerator(nn.Module):
    latent_shape = (4,)

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.bn = nn.BatchNorm1d(6)

    def forward(self, z):
        return self.bn(self.fc(z))


def test_batch_norm_statistics_are_the_averaged_weights_own():
    torch.manual_seed(0)
    live = _BNGenerator()
    ema = GeneratorEMA(live, 0.5)
    for _ in range(5):
        with torch.no_grad():
            live.fc.weight.add_(torch.randn_like(live.fc.weight))
            live.bn.running_mean.fill_(7.0)  # statistics of other weights than the average's
        ema.update(live)
    rng = torch.get_rng_state()
    ema.refresh_norm((4,), batch_size=5, seed=3)
    assert torch.equal(torch.get_rng_state(), rng)  # no other random stream moves
    g = torch.Generator().manual_seed(3)
    draws = [torch.randn(5, 4, generator=g) for _ in range(NORM_BATCHES)]
    with torch.no_grad():
        h = [ema.module.fc(z) for z in draws]
    assert torch.allclose(ema.module.bn.running_mean, torch.cat(h).mean(0), atol=1e-5)
    assert torch.allclose(
        ema.module.bn.running_var, torch.stack([b.var(0) for b in h]).mean(0), atol=1e-5
    )
    assert not torch.allclose(ema.module.bn.running_mean, live.bn.running_mean)
    # the next update takes the live buffers again; the refresh left the weights alone
    w = ema.module.fc.weight.clone()
    ema.refresh_norm((4,), batch_size=5, seed=4)
    assert torch.equal(ema.module.fc.weight, w)


def _run(capsys, out, *extra):
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_progressive.toml",
        "--out",
        out,
        "--quiet",
        "--set",
        "model.stage_steps=1",
        "--set",
        "model.fade_steps=1",
        "--set",
        "model.width=0.02",
        "--set",
        "train.batch_size=2",
        "--set",
        "data.n_crops=32",
        "--set",
        "log.checkpoint_every=1",
        "--set",
        "log.keep_checkpoints=20",
        "--device",
        "cpu",
        *extra,
    )
    assert code == 0, err
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def _trained(lines):
    return [{k: v for k, v in ln.items() if not k.startswith(("stage/", "time/"))} for ln in lines]


def test_a_run_samples_from_the_average_and_trains_as_without_it(tmp_path, capsys):
    ema = ("--set", "train.generator_ema=0.5")
    with_ema = _run(capsys, tmp_path / "ema", "--set", "train.steps=7", *ema)
    without = _run(
        capsys, tmp_path / "live", "--set", "train.steps=7", "--set", "train.generator_ema=0"
    )
    # the average only watches: every loss of every logged step is the same
    assert _trained(with_ema) == _trained(without)
    stages = [ln for ln in with_ema if "stage/resolution" in ln]
    live_stages = [ln for ln in without if "stage/resolution" in ln]
    assert [ln["stage/resolution"] for ln in stages] == [4, 8, 16, 32]
    assert stages[-1]["stage/sharpness"] != live_stages[-1]["stage/sharpness"]

    # the checkpoint holds the average; load_trained gives it, or the live generator
    ckpt = tmp_path / "ema" / "checkpoints" / "step_00000007.safetensors"
    tensors = load_file(ckpt)
    assert int(tensors["model.theta_ema.n_averaged"]) == 7
    _, averaged, _ = load_trained(tmp_path / "ema")
    _, live, _ = load_trained(tmp_path / "ema", average=False)
    name, w = next(iter(averaged.generator.state_dict().items()))
    assert torch.equal(w, tensors[f"model.theta_ema.module.{name}"])
    assert torch.equal(live.generator.state_dict()[name], tensors[f"model.theta.{name}"])
    assert not torch.equal(w, live.generator.state_dict()[name])

    # the stage measurements were drawn from the average: measured again from the checkpoint
    progressive_stages = benchmark("progressive_stages")
    again = progressive_stages.Remeasured(tmp_path / "ema").stage(7)
    for k in ("recon_mse", "f_samples", "sharpness", "norm_gap"):
        assert again[k] == pytest.approx(stages[-1][f"stage/{k}"], rel=1e-4, abs=1e-7), k

    # the stage table takes runs one call at a time with --add; the options name the average
    md, js = tmp_path / "results.md", tmp_path / "stages.json"
    md.write_text("# Results\n")
    common = ["--json", str(js), "--markdown", str(md)]
    assert progressive_stages.main([str(tmp_path / "ema"), *common]) == 0
    assert progressive_stages.main([str(tmp_path / "live"), "--add", *common]) == 0
    assert list(json.loads(js.read_text())) == ["ema", "live"]
    assert "generator_ema=0.5" in md.read_text() and "| live |" in md.read_text()
    assert progressive_stages.main([str(tmp_path / "live"), *common]) == 0  # without: anew
    assert list(json.loads(js.read_text())) == ["live"]

    # stopped at step 4 and resumed: the same average as the uninterrupted run
    _run(capsys, tmp_path / "resumed", "--set", "train.steps=4", *ema)
    _run(capsys, tmp_path / "resumed", "--set", "train.steps=7", "--resume", *ema)
    resumed = load_file(tmp_path / "resumed" / "checkpoints" / "step_00000007.safetensors")
    for k, v in tensors.items():
        if k.startswith("model.theta_ema."):
            assert torch.equal(resumed[k], v), k


def test_a_decay_out_of_range_is_one_line(tmp_path, capsys):
    for bad in ("1.0", "-0.1", "nan"):
        code, _, err = cli(
            capsys,
            "run",
            ROOT / "recipes" / "dt_progressive.toml",
            "--out",
            tmp_path / "bad",
            "--set",
            f"train.generator_ema={bad}",
        )
        assert code == 2 and "generator_ema" in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow  # 14 s; feature classifiers and FD are tested on Fashion-MNIST, fast
def test_progressive_detail_benchmark(tmp_path, capsys):
    """benchmarks/progressive_detail.py: FD-photos of a run's stable-phase points, from a
    classifier trained on labelled crops; an image set's FD to itself is 0."""
    code, out, err = cli(
        capsys,
        "features",
        "train",
        "photos",
        "--option",
        "labelled=true",
        "--option",
        "n_crops=270",
        "--option",
        "size=32",
        "--option",
        "resize=40",
        "--epochs",
        "1",
        "--out",
        tmp_path / "f.safetensors",
    )
    assert code == 0, err
    _run(capsys, tmp_path / "ema", "--set", "train.steps=7", "--set", "train.generator_ema=0.5")
    progressive_detail = benchmark("progressive_detail")
    md = tmp_path / "results.md"
    md.write_text("# Results\n")
    assert (
        progressive_detail.main(
            [
                str(tmp_path / "ema"),
                "--features",
                str(tmp_path / "f.safetensors"),
                "--json",
                str(tmp_path / "d.json"),
                "--markdown",
                str(md),
            ]
        )
        == 0
    )
    got = json.loads((tmp_path / "d.json").read_text())
    points = got["runs"]["ema"]["points"]
    assert [(p["step"], p["resolution"]) for p in points] == [(5, 16), (7, 32)]
    assert all(p["fd"] > 0 for p in points) and points[-1]["end"]
    assert "| ema | average 0.5 |" in md.read_text()
    # the statistic itself: a set against itself is 0, other crops are further
    from genzoo import assemble, recipe

    data = assemble.build_data(recipe.load(tmp_path / "ema" / "recipe.toml"))
    detail = progressive_detail.Detail(tmp_path / "f.safetensors", data)
    same, other = detail.fd(detail.real), detail.fd(-detail.real)
    assert abs(same) < 1e-3 and other > 100 * abs(same)
    code = progressive_detail.main(
        [str(tmp_path / "ema"), "--features", str(tmp_path / "missing.safetensors")]
    )
    assert code == 2 and "not found" in capsys.readouterr().err

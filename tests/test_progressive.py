"""Progressive growing: the schedule, the data at each stage, continuity of every fade-in, shapes
through every stage up to 1024x1024, and the recipe end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import ROOT, benchmark, cli

from genzoo.errors import GenzooError
from genzoo.growth import GrowthSchedule, Stage, downsample, real_at, upsample
from genzoo.recipe import from_dict
from genzoo.store.loading import load_trained
from genzoo.training import Trainer
from genzoo_progressive.nets import build_progressive, channels_at


def test_schedule_stages_and_fades():
    g = GrowthSchedule(4, 32, stage_steps=10, fade_steps=4)
    assert g.steps_to_final == 10 + 3 * 14
    assert g.at(0) == Stage(0, 4, 1.0) and g.at(9) == Stage(0, 4, 1.0)
    assert g.at(10) == Stage(1, 8, 0.0)
    assert g.at(12) == Stage(1, 8, 0.5)
    assert g.at(14) == Stage(1, 8, 1.0) and g.at(23) == Stage(1, 8, 1.0)
    assert g.at(24) == Stage(2, 16, 0.0)
    assert g.at(g.steps_to_final) == Stage(3, 32, 1.0) and g.at(10**6).resolution == 32
    assert g.stage_ends() == [(10, 4), (24, 8), (38, 16), (52, 32)]
    # the final resolution trains on to the run's end, and its stage ends there
    assert g.stage_ends(70) == [(10, 4), (24, 8), (38, 16), (70, 32)]
    assert g.stage_ends(40) == g.stage_ends()
    # sharpness points: evenly over each stable phase (after the fade), the last at its end
    assert g.stable_points(k=2) == {5: 4, 10: 4, 19: 8, 24: 8, 33: 16, 38: 16, 47: 32, 52: 32}
    points = g.stable_points(70, k=3)
    assert [p for p, r in points.items() if r == 32] == [52, 61, 70]  # 28 stable steps at 32
    assert all(g.at(p - 1).fade == 1.0 and g.at(p - 1).resolution == r for p, r in points.items())
    # a later start keeps the network levels (level counts doublings from 4x4)
    assert GrowthSchedule(16, 64, 5, 5).at(0) == Stage(2, 16, 1.0)
    assert GrowthSchedule(8, 8, 5, 0).at(100) == Stage(1, 8, 1.0)


def test_schedule_without_fade_switches_at_once():
    g = GrowthSchedule(4, 16, stage_steps=3, fade_steps=0)
    assert [g.at(s).resolution for s in range(8)] == [4, 4, 4, 8, 8, 8, 16, 16]
    assert all(g.at(s).fade == 1.0 for s in range(8))


@pytest.mark.parametrize("start,final", [(3, 16), (4, 48), (8, 4)])
def test_schedule_rejects_sizes_that_do_not_double(start, final):
    with pytest.raises(ValueError, match="powers of two"):
        GrowthSchedule(start, final, 10, 10)


def test_real_data_is_averaged_down_and_faded_like_the_generator():
    x = torch.rand(2, 3, 16, 16)
    now = real_at(x, Stage(1, 8, 1.0))
    assert now.shape == (2, 3, 8, 8)
    assert torch.allclose(now[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    at0 = real_at(x, Stage(1, 8, 0.0))
    assert torch.allclose(at0, upsample(downsample(x, 4)))  # the 4x4 data, blocky
    half = real_at(x, Stage(1, 8, 0.5))
    assert torch.allclose(half, 0.5 * at0 + 0.5 * now)
    assert torch.equal(real_at(x, Stage(2, 16, 1.0)), x)


def _models(size=32, width=0.03, latent=8, **options):
    m = build_progressive(
        (3, size, size), width=width, latent_dim=latent, stage_steps=5, fade_steps=5, **options
    )
    for net in m.players().values():
        net.eval()  # batch norm with running statistics: the same function at every call
    return m


def test_every_stage_has_the_right_shapes():
    m = _models(32)
    z = m.generator.sample_latent(3)
    for level, res in enumerate((4, 8, 16, 32)):
        for fade in (0.0, 0.5, 1.0):
            for net in m.players().values():
                net.set_stage(Stage(level, res, fade))
            x = m.generator(z)
            assert x.shape == (3, 3, res, res) and x.abs().max() <= 1
            q = m.encoder(x)
            assert q.mean.shape == (3, 8) and q.log_std.shape == (3, 8)
            assert m.energy(x).shape == (3,)


@pytest.mark.parametrize("options", [{}, {"equalized_lr": True, "generator_norm": "pixel"}])
@pytest.mark.parametrize("level,res", [(1, 8), (2, 16), (3, 32)])
def test_fade_in_is_continuous(level, res, options):
    """Right after a layer is added (fade 0) every network computes what it did before: the
    generator's output is the old output upsampled, the encoder and energy of an image equal
    the old ones of the image averaged down."""
    torch.manual_seed(level)
    m = _models(32, **options)
    z = m.generator.sample_latent(4)
    x = torch.rand(4, 3, res, res) * 2 - 1
    before, after = Stage(level - 1, res // 2, 1.0), Stage(level, res, 0.0)
    outs = {}
    for name, stage in (("before", before), ("after", after)):
        for net in m.players().values():
            net.set_stage(stage)
        with torch.no_grad():
            inp = downsample(x, res // 2) if name == "before" else x
            outs[name] = (m.generator(z), m.encoder(inp).mean, m.energy(inp))
    assert torch.allclose(outs["after"][0], upsample(outs["before"][0]), atol=1e-6)
    assert torch.allclose(outs["after"][1], outs["before"][1], atol=1e-5)
    assert torch.allclose(outs["after"][2], outs["before"][2], atol=1e-5)
    # and the new layer does matter once it fades in
    for net in m.players().values():
        net.set_stage(Stage(level, res, 1.0))
    with torch.no_grad():
        assert not torch.allclose(m.generator(z), outs["after"][0], atol=1e-3)


def test_equalized_convolutions_scale_at_run_time_and_keep_unit_scale_with_depth():
    from genzoo_progressive.nets import EqualizedConv2d

    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 32, 3, 1, 1)
    x = torch.randn(8, 16, 12, 12)
    want = torch.nn.functional.conv2d(x, conv.weight * (2 / (16 * 9)) ** 0.5, conv.bias, 1, 1)
    assert torch.allclose(conv(x), want, atol=1e-6)
    # He's constant keeps a deep LReLU stack's signal at unit scale; the DCGAN init
    # N(0, 0.02) shrinks it by orders of magnitude (why the 64x64 energy saw little detail)
    from genzoo.assemble import init_weights

    for size in (32, 64):
        x = (torch.rand(16, 3, size, size) * 2 - 1).requires_grad_(True)
        for eq in (True, False):
            m = build_progressive((3, size, size), width=0.125, latent_dim=8, equalized_lr=eq)
            for net in m.players().values():
                init_weights(net, 0.02)  # as a recipe assembles it: equalized weights stay N(0, 1)
                net.set_stage(Stage(int(math.log2(size // 4)), size, 1.0))
            f = m.energy(x)
            (g,) = torch.autograd.grad(f.sum(), x)
            scale, grad = float(f.detach().abs().mean()), float(g.flatten(1).norm(dim=1).mean())
            if eq:  # measured: |f| 0.60 / 0.17, |grad_x f| 0.11 / 0.07 at 32 / 64
                assert scale > 0.05 and grad > 0.01, (size, scale, grad)
            else:  # measured: |f| 3e-7 / 3e-8, |grad_x f| 4e-7 / 5e-9
                assert scale < 1e-5 and grad < 1e-5, (size, scale, grad)


def test_equalized_lr_can_be_given_to_some_networks_only(tmp_path, capsys):
    from genzoo_progressive.nets import EqualizedConv2d

    def equalized(net):
        convs = [m for m in net.modules() if isinstance(m, (EqualizedConv2d, torch.nn.Conv2d))]
        kinds = {isinstance(m, EqualizedConv2d) for m in convs}
        assert len(kinds) == 1, "a network's convolutions are all equalised or none"
        return kinds.pop()

    for option, want in (
        (True, (True, True, True)),
        (False, (False, False, False)),
        (["encoder", "energy"], (False, True, True)),
        (["generator"], (True, False, False)),
    ):
        m = build_progressive((3, 16, 16), width=0.125, latent_dim=8, equalized_lr=option)
        assert (equalized(m.generator), equalized(m.encoder), equalized(m.energy)) == want
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_progressive.toml",
        "--out",
        tmp_path / "bad",
        "--set",
        'model.equalized_lr=["enrgy"]',
        "--device",
        "cpu",
    )
    assert code == 2 and "'generator', 'encoder', 'energy'" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


def test_pixel_norm_gives_each_pixel_unit_mean_square():
    from genzoo_progressive.nets import PixelNorm

    y = PixelNorm()(torch.randn(4, 8, 5, 5) * 7)
    assert torch.allclose(y.pow(2).mean(1), torch.ones(4, 5, 5), atol=1e-4)


def test_the_same_code_reaches_1024():
    m = build_progressive((3, 1024, 1024), width=1 / 64, latent_dim=16)
    assert [channels_at(r, 1.0) for r in (4, 32, 64, 1024)] == [512, 256, 128, 8]
    assert m.growth.at(10**9) == Stage(8, 1024, 1.0)
    m.set_step(10**9)
    with torch.no_grad():
        x = m.generator(m.generator.sample_latent(1))
        assert x.shape == (1, 3, 1024, 1024)
        assert m.encoder(x).mean.shape == (1, 16) and m.energy(x).shape == (1,)


def test_non_square_or_odd_sizes_are_refused():
    with pytest.raises(ValueError, match="square"):
        build_progressive((3, 32, 64))
    with pytest.raises(ValueError, match="powers of two"):
        build_progressive((3, 48, 48))


def _tiny(tmp_path, steps):
    raw = {
        "name": "prog",
        "objective": "triangle",
        "seed": 0,
        "device": "cpu",
        "model": {
            "arch": "progressive",
            "width": 0.02,
            "latent_dim": 8,
            "stage_steps": 2,
            "fade_steps": 2,
        },
        "data": {
            "name": "photos",
            "names": ["astronaut", "coffee"],
            "resize": 32,
            "size": 16,
            "n_crops": 64,
        },
        "train": {"steps": steps, "batch_size": 4},
        "log": {
            "every": 1,
            "progress": False,
            "checkpoint_every": 3,
            "n_samples": 4,
            "interpolation": True,
        },
    }
    return from_dict(raw)


def test_training_grows_each_step_and_resume_lands_on_the_same_stage(tmp_path):
    r = _tiny(tmp_path, steps=12)  # 4 -> 8 -> 16: 2 + 2 x (2 + 2) = 10 steps, then 2 more
    t = Trainer(r)
    t.fit(tmp_path / "run")
    assert t.models.stage == Stage(2, 16, 1.0)
    names = {p.name for p in (tmp_path / "run" / "samples").iterdir()}
    assert {
        "stage_4x4.png",
        "stage_8x8.png",
        "stage_16x16.png",
        "interpolation.png",
        "final.png",
    } <= names
    # a run stopped mid-fade and resumed ends with the same parameters
    r7 = _tiny(tmp_path, steps=7)
    Trainer(r7).fit(tmp_path / "split")
    t2 = Trainer(r)
    t2.fit(tmp_path / "split", resume=True)
    for p in t.players:
        for a, b in zip(t.players[p].state_dict().values(), t2.players[p].state_dict().values()):
            assert torch.equal(a, b)
    _, models, ckpt = load_trained(tmp_path / "run")
    assert ckpt.step == 12 and models.stage == Stage(2, 16, 1.0)


def test_progressive_recipe_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_progressive.toml",
        "--out",
        out,
        "--quiet",
        "--set",
        "train.steps=7",
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
        "--device",
        "cpu",
    )
    assert code == 0, err
    names = {p.name for p in (out / "samples").iterdir()}
    assert {f"stage_{r}x{r}.png" for r in (4, 8, 16, 32)} <= names
    assert "interpolation.png" in names
    # each stage end logs its measurements at that resolution
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    stages = [ln for ln in lines if "stage/resolution" in ln]
    assert [ln["stage/resolution"] for ln in stages] == [4, 8, 16, 32]
    assert [ln["step"] for ln in stages] == [1, 3, 5, 7]
    for ln in stages:
        assert 0 <= ln["stage/recon_mse"] <= 1 and ln["stage/sharpness"] >= 0
        assert 0 < ln["stage/norm_gap"] <= 1  # batch norm in the generator: the modes differ
        assert all(math.isfinite(ln[f"stage/{k}"]) for k in ("f_data", "f_samples", "f_noise"))
        assert ln["stage/samples"] == 64  # more than the grid's 16: a steadier sharpness
        assert ln["stage/sharpness_points"] == 1  # stable phases of one step: one point each
        assert ln["stage/sharpness_mean"] == ln["stage/sharpness"]
    points = {
        ln["step"]: ln["stage/sharpness_point"] for ln in lines if "stage/sharpness_point" in ln
    }
    assert points == {ln["step"]: ln["stage/sharpness"] for ln in stages}
    # benchmarks/progressive_stages.py --remeasure: the run's last checkpoint gives its last
    # stage's measurements again
    progressive_stages = benchmark("progressive_stages")
    again = progressive_stages.Remeasured(out).stage(7)
    assert again["samples"] == 64 and again["resolution"] == 32
    for k in ("recon_mse", "f_data", "f_samples", "f_noise", "sharpness", "norm_gap"):
        assert again[k] == pytest.approx(stages[-1][f"stage/{k}"], rel=1e-4, abs=1e-7), k
    assert progressive_stages.Remeasured(out).stage(3) is None  # no checkpoint kept there
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_progressive.toml",
        "--out",
        tmp_path / "bad",
        "--set",
        "data.size=48",
        "--device",
        "cpu",
    )
    assert code == 2 and "powers of two" in err and "Traceback" not in err


def test_photos_dataset_errors():
    from genzoo_datasets.photos import photos

    with pytest.raises(GenzooError, match="did you mean 'coffee'"):
        photos(names=["cofee"])
    with pytest.raises(GenzooError, match="resize"):
        photos(size=64, resize=32)
    src = photos(
        names=["astronaut", "coffee"], resize=40, size=32, n_crops=10, test_photo="chelsea"
    )
    assert len(src.train) == 10 and src.sample_shape == (3, 32, 32)
    assert src.test[0].shape == (3, 32, 32)


def test_photos_labelled_by_photograph():
    from genzoo_datasets.photos import photos

    src = photos(
        names=["astronaut", "coffee", "rocket"], resize=40, size=32, n_crops=30, labelled=True
    )
    labels = [src.train[i][1] for i in range(len(src.train))]
    assert labels == [0] * 10 + [1] * 10 + [2] * 10
    assert sorted({src.test[i][1] for i in range(len(src.test))}) == [0, 1, 2]
    x, y = src.train[12]
    assert x.shape == (3, 32, 32) and torch.equal(
        x, photos(names=["astronaut", "coffee", "rocket"], resize=40, size=32, n_crops=30).train[12]
    )
    # the test crops lie elsewhere in the same photographs
    assert not torch.equal(src.test[0][0], src.train[0][0])
    with pytest.raises(GenzooError, match="test_photo"):
        photos(names=["astronaut", "coffee"], labelled=True, test_photo="coffee")


def test_the_sharpness_statistic_falls_with_blur():
    from genzoo.metrics import high_frequency_energy

    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    assert float(high_frequency_energy(blurred).mean()) < 0.2 * float(
        high_frequency_energy(x).mean()
    )
    assert float(high_frequency_energy(torch.zeros(1, 1, 8, 8))) == 0.0


def test_s_resolution_keeps_the_reconstruction_weight_per_image_across_stages(tmp_path):
    """With ``model.s_resolution = R``, s at resolution r is ``s r / R``: at 4x4 the
    reconstruction term ||x - g(z^)||^2 / (2 s^2) is (R / 4)^2 times the term with s fixed, for
    the same draws; a network that does not grow refuses the key."""
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def first_recon(s_resolution):
        raw = _tiny(tmp_path, steps=1).to_dict()
        raw["model"]["s_resolution"] = s_resolution
        trainer = Trainer(from_dict(raw))
        assert trainer.models.stage.resolution == 4
        return float(trainer.step(x)["phi/vae.kl_q_p.recon"])

    plain = first_recon(0)
    assert first_recon(16) == pytest.approx(16 * plain, rel=1e-5)  # s / 4 at 4x4
    assert first_recon(8) == pytest.approx(4 * plain, rel=1e-5)
    assert first_recon(4) == pytest.approx(plain, rel=1e-6)
    raw = _tiny(tmp_path, steps=1).to_dict()
    raw["model"] = {"arch": "dcgan", "s_resolution": 16}
    raw["data"].update(resize=40, size=32)
    with pytest.raises(GenzooError, match="does not grow"):
        Trainer(from_dict(raw))


def test_running_stats_from_prior_draws_alone_change_no_parameter():
    """``model.running_stats = "prior"``: training computes the same losses and parameters (the
    generator trains in batch-statistics mode either way), but its batch-norm running
    statistics follow g(z) alone: one update per iteration instead of two."""
    from genzoo.sampling import running_stats_frozen

    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    trained = {}
    for mode in ("all", "prior"):
        raw = _tiny(None, steps=3).to_dict()
        raw["model"]["running_stats"] = mode
        t = Trainer(from_dict(raw))
        losses = [float(t.step(x)["theta/loss"]) for _ in range(3)]
        trained[mode] = (t, losses)
    (t_all, l_all), (t_prior, l_prior) = trained["all"], trained["prior"]
    assert l_all == l_prior
    for a, b in zip(t_all.models.generator.parameters(), t_prior.models.generator.parameters()):
        assert torch.equal(a, b)
    bn_all = [m for m in t_all.models.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    bn_prior = [
        m for m in t_prior.models.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)
    ]
    counts_all = [int(m.num_batches_tracked) for m in bn_all]
    assert counts_all[:2] == [6, 6]  # the 4x4 block: both passes in each of 3 iterations
    assert [int(m.num_batches_tracked) for m in bn_prior] == [c // 2 for c in counts_all]
    assert not torch.equal(bn_all[0].running_var, bn_prior[0].running_var)
    # any other pass on inferred codes (e.g. refilling incomplete images) goes through the
    # same context: with "prior" it leaves the statistics, with "all" it counts
    from genzoo.objective import Draws

    z = torch.randn(4, 8)
    for t, counted in ((t_prior, 0), (t_all, 1)):
        d = Draws(t.models, x, z, 1.0, running_stats=t.recipe.model.running_stats)
        before = int(t.models.generator.first[1].num_batches_tracked)
        with torch.no_grad(), d.posterior_pass():
            t.models.generator(z)
        assert int(t.models.generator.first[1].num_batches_tracked) == before + counted
    # the context leaves a training batch's normalisation alone and restores momentum
    bn = torch.nn.BatchNorm1d(3)
    h = torch.randn(8, 3) * 5 + 2
    with running_stats_frozen(bn):
        out = bn(h)
    assert torch.equal(bn.running_mean, torch.zeros(3)) and int(bn.num_batches_tracked) == 0
    assert torch.allclose(out, bn(h)) and bn.momentum == 0.1
    assert torch.allclose(bn.running_mean, 0.1 * h.mean(0))

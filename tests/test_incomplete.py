"""Learning from incomplete images (section 4.4): masks, the refill of hidden pixels, hidden
values never reaching a loss, the recovery error, ABP's Langevin revision, and the recipe and
CLI end to end."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
import torch
from conftest import ROOT, cli, make_fashion_like, params_of
from torch.utils.data import Dataset

from genzoo import hookimpl, plugins
from genzoo.data import DataSource
from genzoo.errors import GenzooError
from genzoo.occlusion import OccludedDataset, Occlusion, mask_of, recovery_error
from genzoo.recipe import AllowNonFinite, from_dict, load
from genzoo.toml_text import dumps
from genzoo.training import Trainer

B20 = {"kind": "blocks", "count": 1, "size": 9, "label": "B20"}


# --- masks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.5, 0.7])
def test_pixel_masks_hide_exactly_the_fraction_and_are_fixed_per_example(fraction):
    occ = Occlusion("pixels", fraction=fraction)
    m = mask_of(occ, 28, 28, seed=3, index=7)
    assert m.shape == (1, 28, 28) and m.dtype == torch.bool
    assert int((~m).sum()) == round(fraction * 784)
    assert torch.equal(m, mask_of(occ, 28, 28, seed=3, index=7))  # same every visit
    assert not torch.equal(m, mask_of(occ, 28, 28, seed=3, index=8))
    assert not torch.equal(m, mask_of(occ, 28, 28, seed=4, index=7))


@pytest.mark.parametrize("size", [4, 9, 13, 28])
def test_one_block_hides_a_size_by_size_square(size):
    m = mask_of(Occlusion("blocks", count=1, size=size), 28, 28, seed=0, index=5)[0]
    rows, cols = (~m).nonzero(as_tuple=True)
    assert int((~m).sum()) == size * size
    assert int(rows.max() - rows.min()) + 1 == size and int(cols.max() - cols.min()) + 1 == size


def test_several_blocks_are_squares_of_the_size_that_may_overlap():
    occ = Occlusion("blocks", count=10, size=4)
    hidden = []
    for i in range(50):
        m = ~mask_of(occ, 28, 28, seed=0, index=i)[0]
        hidden.append(int(m.sum()))
        # every hidden pixel lies in a fully hidden 4x4 square
        sq = torch.nn.functional.max_pool2d(
            (torch.nn.functional.avg_pool2d(m[None].float(), 4, stride=1) == 1).float(), 1
        )
        covered = torch.nn.functional.conv_transpose2d(sq, torch.ones(1, 1, 4, 4))[0] > 0
        assert torch.equal(covered, m)
    assert max(hidden) <= 160 and min(hidden) >= 16
    assert sum(hidden) / len(hidden) > 100  # mostly apart at 28x28


def test_occlusions_that_do_not_fit_say_what_to_fix():
    with pytest.raises(ValueError, match="fraction must lie in"):
        Occlusion("pixels", fraction=1.0).check((1, 28, 28))
    with pytest.raises(ValueError, match="size <= 28"):
        Occlusion("blocks", size=29).check((1, 28, 28))
    with pytest.raises(ValueError, match="images"):
        Occlusion("pixels").check((2,))


def test_recovery_error_on_a_hand_made_case():
    true = torch.tensor([[[[-1.0, 1.0], [0.5, 0.0]]]])
    recovered = torch.tensor([[[[-1.0, 0.0], [0.5, 1.0]]]])
    mask = torch.tensor([[[[True, False], [True, False]]]])
    # hidden: |0 - 1| = 1 and |1 - 0| = 1: mean 1 over a range of 2
    assert recovery_error(true, recovered, mask) == pytest.approx(0.5)
    assert recovery_error(true, true, mask) == 0.0
    recovered[0, 0, 0, 0] = 100.0  # an observed pixel does not count
    assert recovery_error(true, recovered, mask) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        recovery_error(true, true, torch.ones_like(mask))


# --- hidden values never reach a loss ---------------------------------------------------------
class Poisoned(Dataset):
    """Fashion-like images whose pixels hidden by ``occ`` hold ``value``."""

    def __init__(self, base, occ, seed, value):
        self.base, self.occ, self.seed, self.value = base, occ, seed, value

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        m = mask_of(self.occ, 28, 28, self.seed, i)
        return torch.where(m, x, torch.full_like(x, self.value)), y


@pytest.fixture
def poisoned_plugin(tmp_path):
    from genzoo_datasets.idx import fashion_mnist

    root = make_fashion_like(tmp_path / "fm", n_train=32, n_test=8)

    class P:
        @hookimpl
        def register_datasets(self, register):
            def poisoned(
                value: Annotated[float, AllowNonFinite] = 0.0, kind: str = "pixels"
            ) -> DataSource:
                src = fashion_mnist(root)
                occ = Occlusion(kind, fraction=0.5, count=2, size=9)
                return DataSource(Poisoned(src.train, occ, 0, value), src.sample_shape, src.test)

            register("poisoned", poisoned)

    p = P()
    plugins.register_plugin(p, dist="genzoo-tests")
    yield root
    plugins.unregister_plugin(p)


def occluded_recipe(data, objective="triangle", steps=3, **train):
    occ = {"kind": data.get("kind", "pixels"), "fraction": 0.5, "count": 2, "size": 9}
    return from_dict(
        {
            "name": "occ",
            "objective": objective,
            "seed": 0,
            "device": "cpu",
            "model": {"arch": "dcgan", "width": 0.0625, "latent_dim": 8},
            "data": {**data, "occlusion": occ},
            "objectives": {"abp": {"langevin_steps": 3, "step_size": 0.1}},
            "train": {"steps": steps, "batch_size": 8, **train},
            "log": {"every": 1, "progress": False, "checkpoint_every": 2},
        }
    )


@pytest.mark.parametrize("objective", ["triangle", "vae", "abp"])
@pytest.mark.parametrize("kind", ["pixels", "blocks"])
def test_hidden_values_nan_or_huge_change_nothing(poisoned_plugin, objective, kind):
    params = []
    for value in (0.0, float("nan"), 1e30):
        r = occluded_recipe({"name": "poisoned", "value": value, "kind": kind}, objective)
        t = Trainer(r)
        for _ in range(3):
            x, mask, index = next(
                iter(
                    torch.utils.data.DataLoader(
                        t.data.train,
                        batch_size=8,
                        collate_fn=__import__("genzoo.data").data._collate,
                    )
                )
            )
            t.step(x, mask, index)
        params.append(
            {
                k: v
                for n, m in t.players.items()
                for k, v in ((f"{n}.{k}", v) for k, v in params_of(m).items())
            }
        )
        assert all(torch.isfinite(v).all() for v in params[-1].values())
        assert torch.isfinite(t.per_example.tensors["fill"]).all()
    for other in params[1:]:
        assert all(torch.equal(params[0][k], other[k]) for k in params[0])


# --- the refill -------------------------------------------------------------------------------
def test_hidden_pixels_start_at_zero_and_are_refilled_with_the_reconstruction(poisoned_plugin):
    r = occluded_recipe({"name": "poisoned", "value": 5.0})
    t = Trainer(r)
    x, mask, index = next(
        iter(
            torch.utils.data.DataLoader(
                t.data.train, batch_size=8, collate_fn=__import__("genzoo.data").data._collate
            )
        )
    )
    assert torch.equal(x[~mask], torch.zeros(int((~mask).sum())))  # zero-filled
    seen = {}
    real_terms = t.objective.terms

    def spy(player, d):
        seen.setdefault(player, d.x.clone())
        return real_terms(player, d)

    t.objective.terms = spy
    t.step(x, mask, index)
    assert torch.equal(seen["alpha"], x)  # first visit: hidden pixels are 0
    fill = t.per_example.tensors["fill"][index]
    with torch.no_grad():
        expected = t.models.generator(t.models.encoder(seen["alpha"]).mean)
    # the fill is g(mean of q(z|x)) by the networks after the iteration's steps
    assert torch.allclose(fill, expected, atol=1e-6)
    assert fill.abs().sum() > 0
    others = torch.ones(len(t.data.train), dtype=torch.bool)
    others[index] = False
    assert t.per_example.tensors["fill"][others].abs().sum() == 0  # only the batch's rows
    seen.clear()
    t.step(x, mask, index)
    assert torch.equal(seen["alpha"][~mask], fill[~mask])  # next visit: the refill
    assert torch.equal(seen["alpha"][mask], x[mask])  # observed pixels as they are


def test_fill_and_abp_latents_are_checkpointed_and_resume_exactly(poisoned_plugin, tmp_path):
    for objective in ("triangle", "abp"):
        full = Trainer(occluded_recipe({"name": "poisoned"}, objective, steps=4))
        full.fit(tmp_path / f"{objective}_a")
        half = Trainer(occluded_recipe({"name": "poisoned"}, objective, steps=2))
        half.fit(tmp_path / f"{objective}_b")
        resumed = Trainer(occluded_recipe({"name": "poisoned"}, objective, steps=4))
        resumed.fit(tmp_path / f"{objective}_b", resume=True)
        for k, v in full.per_example.tensors.items():
            assert torch.equal(v, resumed.per_example.tensors[k]), (objective, k)
        a, b = params_of(full.models.generator), params_of(resumed.models.generator)
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert set(resumed.per_example.tensors) == {"fill", "abp.z"}


# --- ABP ----------------------------------------------------------------------------------------
def test_abp_langevin_lowers_the_posterior_energy_on_a_toy_generator():
    from genzoo.interfaces import Generator
    from genzoo.objective import Draws
    from genzoo_baselines.abp import ABP

    class Linear(Generator):
        def __init__(self):
            super().__init__()
            self.latent_shape = (2,)
            self.w = torch.nn.Parameter(torch.tensor([[1.0, 0.5], [-0.5, 2.0], [0.3, 0.3]]))

        def forward(self, z):
            return z @ self.w.T

    g = Linear()
    torch.manual_seed(0)
    x = g(torch.randn(16, 2)).detach() + 0.05 * torch.randn(16, 3)
    s = 0.5

    def energy(z):  # -log p(z|x) up to a constant
        return ((x - g(z)) ** 2).sum(1) / (2 * s**2) + (z**2).sum(1) / 2

    from genzoo.per_example import PerExample

    state = PerExample()
    state.add("abp.z", torch.randn(16, 2) * 2)
    models = type("M", (), {"generator": g})()
    index = torch.arange(16)
    for noise, steps in ((False, 5), (True, 30)):
        abp = ABP(langevin_steps=steps, step_size=0.1, noise=noise)
        d = Draws(models, x, None, s, index=index, per_example=state)
        before = energy(d.rows("abp.z")).detach()
        z = abp.latents(d)
        after = energy(z).detach()
        assert torch.equal(state.tensors["abp.z"], z)  # kept for the next visit
        if noise:
            assert after.mean() < before.mean()
        else:
            assert bool((after < before).all())  # gradient descent on every example
    # the learning step: theta's term is the reconstruction error at the revised z
    abp = ABP(langevin_steps=0)
    d = Draws(models, x, None, s, index=index, per_example=state)
    term = abp.theta(d)["kl_data_p.recon"]
    z = state.tensors["abp.z"]
    assert term.item() == pytest.approx(
        (((x - g(z)) ** 2).sum(1) / (2 * s**2)).mean().item(), rel=1e-5
    )


def test_abp_trains_on_complete_data_too(tmp_path, capsys):
    root = make_fashion_like(tmp_path / "fm", n_train=32, n_test=8)
    out = tmp_path / "run"
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_occluded_fashion.toml",
        "--out",
        out,
        "--quiet",
        "--set",
        f'data.root="{root}"',
        "--set",
        'objective="abp"',
        "--set",
        'data.occlusion.kind="pixels"',
        "--set",
        "train.steps=3",
        "--set",
        "train.batch_size=8",
        "--set",
        "model.width=0.0625",
        "--set",
        "objectives.abp.langevin_steps=2",
    )
    assert code == 0, err
    t = Trainer(
        load(
            ROOT / "recipes" / "dt_occluded_fashion.toml",
            [f'data.root="{root}"', 'objective="abp"', "model.width=0.0625"],
        )
    )
    assert set(t.per_example.tensors) == {"fill", "abp.z"}
    raw = from_dict(
        {
            "name": "c",
            "objective": "abp",
            "device": "cpu",
            "model": {"arch": "dcgan", "width": 0.0625, "latent_dim": 8},
            "data": {"name": "fashion_mnist", "root": str(root)},
            "objectives": {"abp": {"langevin_steps": 2}},
            "train": {"steps": 2, "batch_size": 8},
            "log": {"progress": False},
        }
    )
    t = Trainer(raw)
    before = t.per_example.tensors["abp.z"].clone()
    t.fit(tmp_path / "complete")
    assert set(t.per_example.tensors) == {"abp.z"}
    changed = (t.per_example.tensors["abp.z"] != before).any(1)
    assert int(changed.sum()) == 16  # two batches of 8 revised, the rest untouched


# --- recipes and the CLI ----------------------------------------------------------------------
def test_occlusion_recipe_round_trip_and_identity():
    r = load(ROOT / "recipes" / "dt_occluded_fashion.toml")
    assert r.data.occlusion == Occlusion("blocks", count=1, size=9, label="B20")
    again = from_dict(__import__("tomllib").loads(dumps(r.to_dict())))
    assert again.data == r.data and again.identity_hash() == r.identity_hash()
    other = load(ROOT / "recipes" / "dt_occluded_fashion.toml", ["data.occlusion.size=13"])
    assert other.identity_hash() != r.identity_hash()
    with pytest.raises(GenzooError, match="data.occlusion.kind"):
        load(ROOT / "recipes" / "dt_occluded_fashion.toml", ['data.occlusion.kind="holes"'])


def test_bad_occlusion_is_one_line_and_exit_2(tmp_path, capsys):
    root = make_fashion_like(tmp_path / "fm", n_train=16, n_test=8)
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_occluded_fashion.toml",
        "--out",
        tmp_path / "r",
        "--quiet",
        "--set",
        f'data.root="{root}"',
        "--set",
        "data.occlusion.size=40",
    )
    assert code == 2
    assert "size <= 28" in err and "fix [data.occlusion]" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_eval_reports_the_recovery_error_and_writes_the_picture(tmp_path, capsys):
    root = make_fashion_like(tmp_path / "fm", n_train=32, n_test=8)
    out = tmp_path / "run"
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_occluded_fashion.toml",
        "--out",
        out,
        "--quiet",
        "--set",
        f'data.root="{root}"',
        "--set",
        "train.steps=4",
        "--set",
        "train.batch_size=8",
        "--set",
        "model.width=0.0625",
    )
    assert code == 0, err
    code, _, err = cli(capsys, "eval", out, "--n", 8)
    assert code == 0, err
    rec = json.loads((out / "eval.json").read_text())["recovery"]
    assert rec["occlusion"] == "B20" and rec["n_images"] == 32
    assert rec["hidden_fraction"] == pytest.approx(81 / 784)
    assert "recovery error, B20" in err
    assert (out / "recovery.png").is_file()
    # the same number from the definition: the checkpoint's fill against the clean images
    from genzoo.store import checkpoint
    from genzoo_datasets.idx import fashion_mnist

    ckpt = checkpoint.latest(out / "checkpoints")
    fill = ckpt.tensors["per_example.fill"]
    clean = fashion_mnist(root).train
    occ = OccludedDataset(clean, Occlusion("blocks", count=1, size=9), (1, 28, 28), 0)
    diffs = [(fill[i] - clean[i][0]).abs()[~occ.mask(i)] for i in range(32)]
    assert rec["error"] == pytest.approx(float(torch.cat(diffs).mean() / 2), rel=1e-5)

"""The baselines (gan, wgan_gp, coopnet) and the shared Langevin sampler: loss signs and the players
each objective moves on a toy whose right direction is known, Langevin against Gaussians, the
critic schedule, and each recipe end to end."""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT, cli, make_fashion_like
from torch import nn

from genzoo import plugins
from genzoo.interfaces import Encoder, Energy, Generator, Models, Posterior
from genzoo.langevin import langevin
from genzoo.objective import Draws, compose


# --- a 1-D toy: data at +1, the generator's samples around -1, f(x) = a * x --------------------
class Shift(Generator):
    def __init__(self):
        super().__init__()
        self.latent_shape = (1,)
        self.b = nn.Parameter(torch.tensor([-1.0]))

    def forward(self, z):
        return self.b + 0.1 * z


class Unused(Encoder):
    def __init__(self):
        super().__init__()
        self.latent_shape = (1,)
        self.c = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return Posterior(x * 0 + self.c, x * 0)


class Slope(Energy):
    def __init__(self, a=0.5):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([a]))

    def forward(self, x):
        return (self.a * x).sum(1)


def toy(a=0.5):
    torch.manual_seed(0)
    m = Models(Shift(), Unused(), Slope(a))
    return m, Draws(m, torch.ones(64, 1), torch.randn(64, 1), s=1.0)


def grads(loss, module):
    g = torch.autograd.grad(loss, list(module.parameters()), allow_unused=True, retain_graph=True)
    return [x if x is not None else torch.zeros(1) for x in g]


@pytest.mark.parametrize("name", ["gan", "wgan_gp", "coopnet"])
def test_energy_learns_to_prefer_data_and_generator_moves_towards_it(name):
    obj = compose(name, {"coopnet": {"noise": False}}, plugins.registry())
    m, d = toy()
    assert obj.terms("phi", d) == {}  # no inference model: phi is never stepped
    alpha = sum(obj.terms("alpha", d).values())
    (da,) = grads(alpha, m.energy)
    assert da.item() < 0  # gradient descent raises a: f(data) = a > f(fake) = -a
    theta = sum(obj.terms("theta", d).values())
    (db,) = grads(theta, m.generator)
    assert db.item() < 0  # gradient descent raises b: samples move towards the data at +1


def test_gan_terms_are_the_binary_cross_entropy():
    obj = compose("gan", {}, plugins.registry())
    m, d = toy(a=0.7)
    t = obj.terms("alpha", d)
    data = -torch.log(torch.sigmoid(torch.tensor(0.7)))
    assert t["gan.bce.data"].item() == pytest.approx(data.item(), rel=1e-5)
    fake = d.x_tilde.detach()
    ref = -torch.log(1 - torch.sigmoid(0.7 * fake)).mean()
    assert t["gan.bce.dream"].item() == pytest.approx(ref.item(), rel=1e-5)


def test_gradient_penalty_pulls_the_critic_slope_to_one():
    obj = compose("wgan_gp", {"wgan_gp": {"penalty": 10.0}}, plugins.registry())
    for a, sign in ((3.0, 1), (0.2, -1)):
        m, d = toy(a)
        gp = obj.terms("alpha", d)["wgan_gp.gradient_penalty"]
        assert gp.item() == pytest.approx(10 * (a - 1) ** 2, rel=1e-5)  # |grad f| = a everywhere
        (da,) = grads(gp, m.energy)
        assert torch.sign(da).item() == sign  # descent moves a towards 1


def test_coopnet_revision_climbs_the_energy_and_is_drawn_once():
    obj = compose(
        "coopnet",
        {
            "coopnet": {
                "noise": False,
                "langevin_steps": 5,
                "step_size": 0.5,
                "reference_sigma": 0.0,
            }
        },
        plugins.registry(),
    )
    m, d = toy(a=1.0)
    before = d.x_tilde.detach()
    revised = obj.parts[0].objective.revised(d)
    # with f = x and no noise each step adds step_size^2 / 2 = 0.125, then clamps to [-1, 1]
    expected = before
    for _ in range(5):
        expected = (expected + 0.125).clamp(-1, 1)
    assert torch.allclose(revised, expected, atol=1e-6)
    assert bool((revised > before).all())
    d.after_step("alpha")
    assert obj.parts[0].objective.revised(d) is revised  # theta learns from the same x^


def test_coopnet_samples_are_the_revised_ones_fixed_by_the_latent():
    """Its samples are g(z) after the Langevin revision (its authors' measured samples), the
    chains' noise fixed by z; ``samples = "generator"`` draws g(z) alone."""
    from genzoo.sampling import CHAIN_SEED

    options = {"langevin_steps": 5, "step_size": 0.5, "reference_sigma": 0.0}
    m, _ = toy(a=1.0)
    z = torch.randn(16, 1)
    quiet = compose("coopnet", {"coopnet": {**options, "noise": False}}, plugins.registry())
    expected = m.generator(z).detach()
    for _ in range(5):  # f = x without noise: each step adds step_size^2 / 2, then clamps
        expected = (expected + 0.125).clamp(-1, 1)
    assert torch.allclose(quiet.sampler(m)(z), expected, atol=1e-6)
    noisy = compose("coopnet", {"coopnet": options}, plugins.registry()).sampler(m)
    a, b = noisy(z), noisy(z)
    assert torch.equal(a, b)  # the same z, the same sample; the global random state untouched
    chains = torch.Generator().manual_seed(CHAIN_SEED)
    by_hand = m.generator(z).detach()
    for _ in range(5):
        by_hand = (by_hand + 0.125 + 0.5 * torch.randn(16, 1, generator=chains)).clamp(-1, 1)
    assert torch.allclose(a, by_hand, atol=1e-6)
    plain = compose("coopnet", {"coopnet": {"samples": "generator"}}, plugins.registry())
    assert plain.sampler(m) is None  # g(z) itself


# --- Langevin against Gaussians --------------------------------------------------------------
def test_langevin_samples_a_gaussian_energy():
    mu, sigma = 1.5, 0.5
    g = torch.Generator().manual_seed(0)
    x = langevin(
        lambda x: -((x - mu) ** 2).sum(1) / (2 * sigma**2),
        torch.zeros(4000, 1),
        steps=1000,
        step_size=0.05,
        generator=g,
    )
    assert x.mean().item() == pytest.approx(mu, abs=0.03)
    assert x.var().item() == pytest.approx(sigma**2, rel=0.08)


def test_langevin_reference_gaussian_multiplies_in():
    """exp(f) N(0, tau^2) with f a Gaussian of mean mu, std sigma: a Gaussian of precision
    1/sigma^2 + 1/tau^2 and mean mu / sigma^2 / precision."""
    mu, sigma, tau = 2.0, 0.5, 0.5
    g = torch.Generator().manual_seed(1)
    x = langevin(
        lambda x: -((x - mu) ** 2).sum(1) / (2 * sigma**2),
        torch.zeros(4000, 1),
        steps=1000,
        step_size=0.04,
        reference_sigma=tau,
        generator=g,
    )
    prec = 1 / sigma**2 + 1 / tau**2
    assert x.mean().item() == pytest.approx(mu / sigma**2 / prec, abs=0.03)
    assert x.var().item() == pytest.approx(1 / prec, rel=0.08)


def test_langevin_without_noise_is_gradient_ascent_and_checks_arguments():
    x = langevin(
        lambda x: -(x**2).sum(1), torch.full((3, 2), 4.0), steps=50, step_size=0.5, noise=False
    )
    assert x.abs().max() < 1e-3
    with pytest.raises(ValueError):
        langevin(lambda x: x.sum(1), torch.zeros(1, 1), steps=1, step_size=0.0)


# --- the critic schedule and the recipes ------------------------------------------------------
def test_wgan_generator_steps_once_per_n_critic_iterations(toy_plugin):
    from conftest import params_of, toy_recipe

    from genzoo.training import Trainer

    t = Trainer(toy_recipe(objective="wgan_gp", objectives={"wgan_gp": {"n_critic": 3}}))
    encoder = params_of(t.models.encoder)
    moved = []
    for _i in range(6):
        before = params_of(t.models.generator)
        t.step(torch.randn(64, 2))
        after = params_of(t.models.generator)
        moved.append(any(not torch.equal(before[k], after[k]) for k in before))
    assert moved == [True, False, False, True, False, False]
    after = params_of(t.models.encoder)
    assert all(torch.equal(encoder[k], after[k]) for k in encoder)  # no inference model


@pytest.mark.parametrize(
    "recipe", ["gan_fashion", "wgan_fashion", "coop_fashion", "ali_fashion", "alice_fashion"]
)
def test_baseline_recipe_end_to_end(recipe, tmp_path, capsys):
    root = make_fashion_like(tmp_path / "fm", n_train=64, n_test=16)
    out = tmp_path / "run"
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / f"{recipe}.toml",
        "--out",
        out,
        "--quiet",
        "--device",
        "cpu",
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
    assert (out / "samples" / "final.png").is_file()
    code, _, err = cli(
        capsys, "sample", out, "--n", 4, "--out", tmp_path / "s.png", "--langevin-steps", 3
    )
    assert code == 0, err
    assert (tmp_path / "s.png").is_file()


def test_a_player_stepping_every_kth_iteration_is_logged_as_its_own_mean(toy_plugin, tmp_path):
    """metrics.jsonl averages each term over the iterations that computed it: with the
    generator stepping once per 3 iterations, a line every 3 iterations holds that step's
    loss, not a third of it."""
    import json

    from conftest import toy_recipe

    from genzoo.training import Trainer

    lines = {}
    for every in (1, 3):
        r = toy_recipe(
            objective="wgan_gp",
            objectives={"wgan_gp": {"n_critic": 3}},
            train={"steps": 3, "batch_size": 64},
            log={"every": every, "progress": False},
        )
        Trainer(r).fit(tmp_path / f"every{every}")
        lines[every] = [
            json.loads(x)
            for x in (tmp_path / f"every{every}" / "metrics.jsonl").read_text().splitlines()
        ]
    assert "theta/loss" in lines[1][0] and "theta/loss" not in lines[1][1]
    assert lines[3][0]["theta/loss"] == pytest.approx(lines[1][0]["theta/loss"], rel=1e-6)
    alpha = sum(x["alpha/loss"] for x in lines[1]) / 3
    assert lines[3][0]["alpha/loss"] == pytest.approx(alpha, rel=1e-5)

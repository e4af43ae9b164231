"""The MCMC-trained energy models (genzoo_ebm): the Langevin sampler against energies with known
answers, the latent prior's tilt, the replay buffer's restarts and resume, and each objective on
the ring of Gaussians."""

import math

import pytest
import torch
from conftest import params_of, ring_centres, toy_recipe
from genzoo_ebm.samplers import CHAIN_SEED, PriorThenGenerator, uniform_start

from genzoo.errors import GenzooError
from genzoo.langevin import chain, langevin
from genzoo.store.checkpoint import latest
from genzoo.training import Trainer
from genzoo.training.step import DivergenceError


# --- the sampler against the math ----------------------------------------------------------------
def test_langevin_on_a_correlated_gaussian_matches_its_mean_and_covariance():
    mu = torch.tensor([0.5, -1.0])
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.5]])
    prec = torch.linalg.inv(cov)
    n = 4000
    x = langevin(
        lambda x: -0.5 * (((x - mu) @ prec) * (x - mu)).sum(1),
        torch.zeros(n, 2),
        steps=2000,
        step_size=0.1,
        generator=torch.Generator().manual_seed(0),
    )
    # sampling error of n draws: sd(mean_i) = sqrt(cov_ii / n), sd(cov_ij) <= sqrt(2 / n) * 1
    assert torch.allclose(x.mean(0), mu, atol=4 * math.sqrt(1.0 / n))
    measured = torch.cov(x.T)
    assert torch.allclose(measured, cov, atol=4 * math.sqrt(2.0 / n) + 0.03), measured


def test_langevin_on_a_two_mode_mixture_gives_the_known_mode_weights():
    """f = log(0.3 N(-1, 0.6^2) + 0.7 N(1, 0.6^2)): the share of chains right of 0 is the
    mixture's P(x > 0) = 0.3 Phi(-1/0.6) + 0.7 Phi(1/0.6)."""
    w, m, s = torch.tensor([0.3, 0.7]), torch.tensor([-1.0, 1.0]), 0.6

    def f(x):
        comp = torch.log(w) - (x - m) ** 2 / (2 * s**2)  # (B, 2)
        return torch.logsumexp(comp, 1)

    n = 4000
    x = langevin(
        f,
        torch.randn(n, 1, generator=torch.Generator().manual_seed(1)),
        steps=3000,
        step_size=0.1,
        generator=torch.Generator().manual_seed(2),
    )
    phi = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))
    expected = 0.3 * phi(-1 / s) + 0.7 * phi(1 / s)
    share = float((x > 0).float().mean())
    assert share == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / n))


def test_chain_separates_the_gradient_step_from_the_noise_and_clips():
    x0 = torch.zeros(3, 2)
    # f = 5 x_0: the gradient is (5, 0); clipped at 0.5, each of 4 steps moves 0.3 * 0.5
    x = chain(
        lambda x: 5 * x[:, 0], x0, steps=4, gradient_step=0.3, noise_std=0.0, gradient_clip=0.5
    )
    assert torch.allclose(x, torch.tensor([[0.6, 0.0]] * 3))
    x = chain(lambda x: 5 * x[:, 0], x0, 4, 0.3, 0.0, bounds=(-1.0, 0.25))
    assert torch.allclose(x[:, 0], torch.full((3,), 0.25))
    g = torch.Generator().manual_seed(3)
    noisy = chain(lambda x: 0 * x.sum(1), torch.zeros(20000, 1), 4, 1.0, 0.1, generator=g)
    assert noisy.std().item() == pytest.approx(0.1 * 2, rel=0.03)  # 4 steps: sqrt(4) * 0.1
    with pytest.raises(ValueError):
        chain(lambda x: x.sum(1), x0, 1, -1.0, 0.0)


def test_uniform_start_maps_the_normal_latent_to_uniform_noise():
    u = uniform_start(torch.randn(200000, generator=torch.Generator().manual_seed(4)))
    assert u.min() >= -1 and u.max() <= 1
    assert u.mean().item() == pytest.approx(0.0, abs=0.01)
    assert u.var().item() == pytest.approx(1 / 3, rel=0.02)  # Var U[-1, 1]


def test_a_linear_latent_prior_tilts_the_normal_to_its_mean():
    """p(z) ∝ exp(a.z) N(0, I) is N(a, I): the prior's Langevin draws have that mean and
    covariance."""
    a = torch.tensor([0.8, -0.5, 0.3])
    prior = lambda z: z @ a

    class Identity(torch.nn.Module):
        latent_shape = (3,)

        def forward(self, z):
            return z

    sampler = PriorThenGenerator(Identity(), prior, steps=1500, step_size=0.2)
    torch.manual_seed(5)
    z = sampler.prior_draws(torch.randn(6000, 3))
    n = len(z)
    assert torch.allclose(z.mean(0), a, atol=4 / math.sqrt(n))
    assert torch.allclose(torch.cov(z.T), torch.eye(3), atol=4 * math.sqrt(2.0 / n) + 0.03)


# --- the replay buffer --------------------------------------------------------------------------
def pcd_recipe(steps: int, **pcd):
    return toy_recipe(
        objective="pcd",
        objectives={"pcd": {"buffer": 100, "langevin_steps": 5, "gradient_clip": 0.0, **pcd}},
        train={"steps": steps, "batch_size": 64},
        data={"n": 512},
    )


def test_the_buffer_restarts_the_share_of_chains_it_is_set_to(toy_plugin):
    t = Trainer(pcd_recipe(1, reinit=0.2))
    obj = t.objective.parts[0].objective
    fresh = []
    real_starts = obj.starts

    def seen(d):
        x0, f = real_starts(d)
        fresh.append(f)
        return x0, f

    obj.starts = seen
    _, batches = t.batches()
    for _ in range(60):
        t.step_on(next(batches))
    share, draws = float(torch.cat(fresh).float().mean()), 60 * 64
    assert share == pytest.approx(0.2, abs=4 * math.sqrt(0.2 * 0.8 / draws))
    buf = t.per_example.tensors["pcd.buffer"]
    assert buf.shape == (100, 2)  # smaller than the data: example i uses row i mod 100


def test_the_buffer_is_kept_in_checkpoints_and_a_resumed_run_continues_it_exactly(
    toy_plugin, tmp_path
):
    full = Trainer(pcd_recipe(6))
    full.fit(tmp_path / "a")
    half = Trainer(pcd_recipe(3))
    half.fit(tmp_path / "b")
    resumed = Trainer(pcd_recipe(6))
    resumed.fit(tmp_path / "b", resume=True)
    assert torch.equal(
        full.per_example.tensors["pcd.buffer"], resumed.per_example.tensors["pcd.buffer"]
    )
    a, b = params_of(full.models.energy), params_of(resumed.models.energy)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(  # the chains moved: the buffer is not its uniform start
        full.per_example.tensors["pcd.buffer"],
        Trainer(pcd_recipe(6)).per_example.tensors["pcd.buffer"],
    )


# --- each objective on the ring -----------------------------------------------------------------
def ring_energy_gap(t: Trainer) -> float:
    f = t.models.energy
    with torch.no_grad():
        data = t.data.train.tensors[0][:1000]
        noise = torch.rand(1000, 2, generator=torch.Generator().manual_seed(9)) * 2 - 1
        return float(f(data).mean() - f(noise).mean())


def train(t: Trainer, steps: int) -> Trainer:
    _, batches = t.batches()
    for _ in range(steps):
        t.step_on(next(batches))
    return t


@pytest.mark.parametrize("objective", ["short_run", "pcd"])
def test_the_energy_bound_watches_an_energy_trained_by_mcmc(toy_plugin, objective):
    r = toy_recipe(
        objective=objective,
        objectives={objective: {"langevin_steps": 2}},
        train={"steps": 3, "energy_bound": 1e-12},  # any f at all is beyond it
    )
    with pytest.raises(DivergenceError, match="at step 1: the energy model's mean f is"):
        train(Trainer(r), 1)
    r = toy_recipe(objective=objective, objectives={objective: {"langevin_steps": 2}})
    t = Trainer(r)
    metrics = t.step_on(next(t.batches()[1]))
    assert "energy/f_data" in metrics  # logged as the triangle's is


@pytest.mark.parametrize(
    "objective,options",
    [
        ("short_run", {"langevin_steps": 20, "gradient_step": 0.05, "noise_std": 0.01}),
        # the persistent chains mix through the buffer, so chains from fresh noise need more steps
        (
            "pcd",
            {
                "langevin_steps": 20,
                "gradient_step": 0.05,
                "gradient_clip": 0.0,
                "sample_steps": 100,
            },
        ),
    ],
)
def test_an_mcmc_trained_energy_rises_on_the_ring_above_noise(toy_plugin, objective, options):
    r = toy_recipe(
        objective=objective,
        objectives={objective: options},
        model={"hidden": 64},
        data={"n": 2048},
        train={"steps": 300, "batch_size": 128, "alpha": {"lr": 1e-3, "weight_decay": 0.0}},
    )
    t = Trainer(r)
    before = ring_energy_gap(t)
    train(t, 300)
    # f starts flat (gap ~1e-5) and learns data above noise (0.026-0.085 over seeds 0-4); a
    # sign error would push it below
    assert ring_energy_gap(t) > before + 0.01, (before, ring_energy_gap(t))
    # its samples are the sampler's chains, not the untrained generator's g(z)
    x = t.team.sample(torch.randn(500, 2, generator=torch.Generator().manual_seed(1)))
    dist = torch.cdist(x, ring_centres()).min(1).values
    # uniform noise on the square lies 0.301 from the nearest centre on average; the chains end
    # at 0.39-0.48 (short-run) and 0.26-0.33 (pcd) of that over seeds 0-4
    noise = torch.rand(20000, 2, generator=torch.Generator().manual_seed(2)) * 2 - 1
    start = torch.cdist(noise, ring_centres()).min(1).values
    assert dist.mean() < 0.6 * start.mean(), (dist.mean(), start.mean())


def test_the_latent_prior_generator_learns_the_ring(toy_plugin):
    r = toy_recipe(
        objective="latent_ebm",
        objectives={
            "latent_ebm": {
                "hidden": 32,
                "prior_steps": 20,
                "posterior_steps": 10,
                "likelihood_sigma": 0.1,
            }
        },
        model={"hidden": 64},
        data={"n": 2048},
        train={
            "steps": 600,
            "batch_size": 128,
            "alpha": {"lr": 1e-3, "weight_decay": 0.0},
            "theta": {"lr": 1e-3, "weight_decay": 0.0},
        },
    )
    t = Trainer(r)
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    before = torch.cdist(t.team.sample(z), ring_centres()).min(1).values.mean()
    train(t, 600)
    after = torch.cdist(t.team.sample(z), ring_centres()).min(1).values.mean()
    assert after < 0.5 * before, (before, after)
    assert "extra.latent_ebm.prior" in t.team.networks


# --- an energy-only run through the library ---------------------------------------------------
def test_an_energy_only_run_samples_by_its_chains_evaluates_exports_and_reports(
    toy_plugin, tmp_path
):
    import io

    from rich.console import Console

    import genzoo
    from genzoo.analysis.evaluate import evaluate_run, print_report
    from genzoo.analysis.report import build_report

    r = toy_recipe(
        objective="short_run",
        objectives={"short_run": {"langevin_steps": 5, "gradient_step": 0.05}},
        train={"steps": 4, "batch_size": 64},
    )
    run = tmp_path / "run"
    Trainer(r).fit(run)
    model = genzoo.load(run)
    assert model.latent_shape == (2,)  # the chains' starting noise, of the data's shape
    x = model.sample(64, seed=0)
    assert torch.equal(x, model.sample(64, seed=0))  # the latent fixes the sample
    assert x.abs().max() <= 1
    # only the energy is built, stepped and checkpointed: no generator or inference model
    assert set(model.models.players()) == {"alpha"}
    ckpt = latest(run / "checkpoints")
    kinds = {k.split(".")[1] for k in ckpt.tensors if k.startswith(("model.", "optim."))}
    assert kinds == {"alpha"} and set(ckpt.meta["optim"]) == {"alpha"}
    with pytest.raises(GenzooError, match="encode needs the inference model q_phi"):
        model.encode(x)
    with pytest.raises(GenzooError, match="does not use the generator g_theta"):
        model.models.generator(model.prior(4, seed=0))
    with pytest.warns(UserWarning, match="no feature network"):
        rep = evaluate_run(run, n=128)
    assert rep["recon_mse"] is None
    out = io.StringIO()
    print_report(rep, Console(file=out, width=200))
    assert "does not apply: objective 'short_run' trains no inference model" in out.getvalue()
    exported = model.save(tmp_path / "exported")
    assert torch.equal(genzoo.load(exported).sample(64, seed=0), x)
    assert "short_run" in build_report([run], tmp_path / "r.html").read_text()


def test_the_latent_prior_is_exported_with_the_generator(toy_plugin, tmp_path):
    import genzoo

    r = toy_recipe(
        objective="latent_ebm",
        objectives={"latent_ebm": {"hidden": 8, "prior_steps": 3, "posterior_steps": 2}},
        train={"steps": 3, "batch_size": 64},
    )
    run = tmp_path / "run"
    Trainer(r).fit(run)
    model = genzoo.load(run)
    x = model.sample(32, seed=1)
    back = genzoo.load(model.save(tmp_path / "exported"))
    assert torch.equal(back.sample(32, seed=1), x)
    # reconstructions are g of the posterior chains: there is no encoder
    data = back.check_images(torch.rand(32, 2) * 0.2 - 0.1)
    recon = back.reconstruct(data)
    assert torch.equal(recon, model.reconstruct(data))
    assert set(model.models.players()) == {"theta"}  # the image energy and q_phi are not built
    assert set(back.models.players()) == {"theta"}
    with torch.no_grad():
        noise = torch.Generator().manual_seed(CHAIN_SEED)  # the start, then the chains' noise
        z = torch.randn(32, 2, generator=noise)
        chains = model.models.reconstructor.posterior_draws(data, z, noise)
        by_chains = model.models.generator(chains)
    assert torch.allclose(recon, by_chains, atol=1e-6)
    prior = dict(back.models.extras)["latent_ebm.prior"][1]
    trained = dict(model.models.extras)["latent_ebm.prior"][1]
    assert all(torch.equal(a, b) for a, b in zip(prior.parameters(), trained.parameters()))


# --- what a sample costs ------------------------------------------------------------------------
def test_flops_are_torchs_count_and_a_chain_costs_k_times_one_step(toy_plugin):
    import copy

    from genzoo_ebm.samplers import ChainsFromNoise
    from torch.utils.flop_counter import FlopCounterMode

    from genzoo.flops import CountFlops

    t = Trainer(toy_recipe())
    _, batches = t.batches()
    batch = next(batches)
    twin = copy.deepcopy(t)
    with FlopCounterMode(display=False) as theirs:
        t.step_on(batch)
    with CountFlops() as ours:
        twin.step_on(batch)
    assert ours.total == theirs.get_total_flops() > 0
    # a linear energy f(x) = w.x + b on 2-D points: per example and step, the forward's
    # matmul (2 * 2 flops) and the backward's gradient to x (2 * 2); nothing else is counted
    f = torch.nn.Linear(2, 1)
    energy = lambda x: f(x).squeeze(1)
    costs = {}
    for k in (5, 10):
        with CountFlops() as c:
            ChainsFromNoise(energy, (2,), k, 0.1, 0.01)(torch.randn(8, 2))
        costs[k] = c.total
    assert costs[10] - costs[5] == 5 * 8 * (4 + 4)

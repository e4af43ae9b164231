"""The objectives against the math of objectives.md: which players each term moves, the VAE's
negative ELBO, the ACD gradient, and the triangle as the sum of VAE and ACD."""

import math

import pytest
import torch
from conftest import params_of, toy_recipe
from torch import nn

from genzoo import plugins
from genzoo.interfaces import Encoder, Energy, Generator, Models, Posterior
from genzoo.objective import Draws, compose
from genzoo.training import Trainer


# --- Posterior math -------------------------------------------------------------------------
def test_posterior_neg_log_prob_and_kl_match_torch_distributions():
    torch.manual_seed(0)
    mean, log_std = torch.randn(4, 3), torch.randn(4, 3) * 0.5
    q = Posterior(mean, log_std)
    z = torch.randn(4, 3)
    ref = torch.distributions.Normal(mean, log_std.exp())
    assert torch.allclose(q.neg_log_prob(z), -ref.log_prob(z).sum(1), atol=1e-5)
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    kl = torch.distributions.kl_divergence(ref, prior).sum(1)
    assert torch.allclose(q.kl_to_prior("sum"), kl, atol=1e-5)
    assert torch.allclose(q.kl_to_prior("mean"), kl / 3, atol=1e-5)


# --- a linear toy where every term has a closed form ------------------------------------------
class LinGen(Generator):
    def __init__(self, W):
        super().__init__()
        self.latent_shape = (W.shape[1],)
        self.W = nn.Parameter(W.clone())

    def forward(self, z):
        return z @ self.W.T


class LinEnc(Encoder):
    def __init__(self, A, b):
        super().__init__()
        self.latent_shape = (A.shape[0],)
        self.A = nn.Parameter(A.clone())
        self.b = nn.Parameter(b.clone())

    def forward(self, x):
        return Posterior(x @ self.A.T, self.b.expand(x.shape[0], -1))


class LinEnergy(Energy):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        return x @ self.w


def linear_models(seed=0, D=5, d=2):
    g = torch.Generator().manual_seed(seed)
    return Models(
        LinGen(torch.randn(D, d, generator=g)),
        LinEnc(torch.randn(d, D, generator=g), 0.3 * torch.randn(d, generator=g)),
        LinEnergy(torch.randn(D, generator=g)),
    )


def objective(spec, options=None):
    return compose(spec, options or {}, plugins.registry())


def test_vae_equals_hand_computed_negative_elbo():
    m = linear_models()
    s = 0.5
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    d = Draws(m, x, z=torch.zeros(3, 2), s=s, rng=torch.Generator().manual_seed(7))
    vae = objective("vae", {"vae": {"prior_kl": "sum"}})
    phi_loss = sum(vae.terms("phi", d).values())
    # by hand: z^ = mu + sigma * eps with the same eps, then the Gaussian negative ELBO
    eps = torch.randn(3, 2, generator=torch.Generator().manual_seed(7))
    mu = x @ m.encoder.A.detach().T
    sigma = m.encoder.b.detach().exp()
    z_hat = mu + sigma * eps
    x_hat = z_hat @ m.generator.W.detach().T
    D = x.shape[1]
    log_px = (
        -((x - x_hat) ** 2).sum(1) / (2 * s**2) - D * math.log(s) - D / 2 * math.log(2 * math.pi)
    )
    kl = 0.5 * (mu**2 + sigma**2 - 1 - 2 * sigma.log()).sum(1)
    neg_elbo = (-log_px + kl).mean()
    const = D * math.log(s) + D / 2 * math.log(2 * math.pi)
    assert torch.allclose(phi_loss.detach(), neg_elbo - const, atol=1e-5)
    theta_loss = sum(vae.terms("theta", d).values())
    assert torch.allclose(
        theta_loss.detach(), (((x - x_hat) ** 2).sum(1) / (2 * s**2)).mean(), atol=1e-5
    )
    assert vae.terms("alpha", d) == {}


def test_acd_alpha_gradient_is_dream_mean_minus_data_mean():
    # f(x) = w.x, so d/dw [mean f(x~) - mean f(x)] = mean x~ - mean x  (eq. 17, negated)
    m = linear_models()
    x = torch.randn(6, 5)
    z = torch.randn(6, 2)
    d = Draws(m, x, z, s=1.0)
    loss = sum(objective("acd").terms("alpha", d).values())
    (grad,) = torch.autograd.grad(loss, [m.energy.w])
    x_tilde = z @ m.generator.W.detach().T
    assert torch.allclose(grad, x_tilde.mean(0) - x.mean(0), atol=1e-5)


def test_acd_energy_l2_gradient_matches_the_math():
    # alpha's loss + w (mean f(x)^2 + mean f(x~)^2), f(x) = w.x: the penalty's gradient is
    # 2 w (mean_i f(x_i) x_i + mean_j f(x~_j) x~_j)
    m = linear_models()
    x, z = torch.randn(6, 5), torch.randn(6, 2)
    d = Draws(m, x, z, s=1.0)
    terms = objective("acd", {"acd": {"energy_l2": 0.3}}).terms("alpha", d)
    assert set(terms) == {"acd.kl_p_pi", "acd.kl_q_pi", "acd.energy_l2"}
    (grad,) = torch.autograd.grad(sum(terms.values()), [m.energy.w])
    x_tilde = z @ m.generator.W.detach().T
    w = m.energy.w.detach()
    expected = (
        x_tilde.mean(0)
        - x.mean(0)
        + 2 * 0.3 * (((x @ w)[:, None] * x).mean(0) + ((x_tilde @ w)[:, None] * x_tilde).mean(0))
    )
    assert torch.allclose(grad, expected, atol=1e-5)
    assert "acd.energy_l2" not in objective("acd").terms("alpha", Draws(m, x, z, s=1.0))


@pytest.mark.parametrize("weight", [0.05, 0.5])
def test_acd_energy_l2_bounds_the_gap_between_data_and_dream_energies(weight):
    # f separates a data point from a dream point; without the penalty alpha's descent widens
    # the gap for ever, with it the gap settles at 1 / weight
    m = linear_models()
    x, x_tilde = torch.ones(1, 5), -torch.ones(1, 5)
    z = torch.ones(1, 2)
    with torch.no_grad():
        m.energy.w.zero_()
        m.generator.W.fill_(-0.5)  # g(z) = -1 everywhere
    acd = objective("acd", {"acd": {"energy_l2": weight}})
    plain = objective("acd")
    opt = torch.optim.SGD([m.energy.w], lr=0.05)
    for _ in range(600):
        d = Draws(m, x, z, s=1.0)
        opt.zero_grad()
        sum(acd.terms("alpha", d).values()).backward()
        opt.step()
    gap = (m.energy(x) - m.energy(x_tilde)).item()
    assert gap == pytest.approx(1 / weight, rel=1e-3)
    d = Draws(m, x, z, s=1.0)
    (g,) = torch.autograd.grad(sum(plain.terms("alpha", d).values()), [m.energy.w])
    assert float(g @ (x - x_tilde)[0]) < 0  # without it the gap keeps growing


def test_acd_theta_and_phi_terms_match_kl_p_pi():
    m = linear_models()
    x, z = torch.randn(4, 5), torch.randn(4, 2)
    d = Draws(m, x, z, s=1.0)
    acd = objective("acd", {"acd": {"entropy_weight": 0.25}})
    x_tilde = z @ m.generator.W.T
    q = m.encoder(x_tilde)
    nlq = Posterior(q.mean, q.log_std).neg_log_prob(z)
    theta = acd.terms("theta", d)
    assert torch.allclose(theta["acd.kl_p_pi.energy"], -(x_tilde @ m.energy.w).mean())
    assert torch.allclose(theta["acd.kl_p_pi.entropy"], 0.25 * nlq.mean())
    assert torch.allclose(acd.terms("phi", d)["acd.kl_p_pi.inference"], 0.25 * nlq.mean())
    # theta's gradient flows through x~ = g(z): the -f(x~) term alone gives -mean_i w z_i^T
    (g,) = torch.autograd.grad(theta["acd.kl_p_pi.energy"], [m.generator.W])
    assert torch.allclose(g, -torch.outer(m.energy.w.detach(), z.mean(0)), atol=1e-5)


def test_wake_sleep_terms():
    m = linear_models()
    x, z = torch.randn(4, 5), torch.randn(4, 2)
    d = Draws(m, x, z, s=1.0)
    ws = objective("wake_sleep")
    phi = ws.terms("phi", d)
    assert set(phi) == {"wake_sleep.kl_p_q.sleep"}
    assert set(ws.terms("theta", d)) == {"wake_sleep.kl_q_p.wake"}
    assert ws.terms("alpha", d) == {}
    # the sleep term trains phi from dream data only: no gradient reaches theta's W via phi's
    # loss once x~ is held fixed, and its value is -log q(z|x~)
    x_tilde = (z @ m.generator.W.T).detach()
    expected = m.encoder(x_tilde).neg_log_prob(z).mean()
    assert torch.allclose(phi["wake_sleep.kl_p_q.sleep"], expected)


@pytest.mark.parametrize("spec", ["triangle", "vae", "acd", "wake_sleep"])
def test_each_step_moves_only_its_own_player(toy_plugin, spec):
    tr = Trainer(toy_recipe(objective=spec, train={"theta_steps": 2}), device="cpu")
    snapshots = [("start", {p: params_of(m) for p, m in tr.players.items()})]
    for player, opt in tr.team.optimizers.items():
        original = opt.step

        def step(*a, _p=player, _orig=original, **k):
            out = _orig(*a, **k)
            snapshots.append((_p, {p: params_of(m) for p, m in tr.players.items()}))
            return out

        opt.step = step
    tr.step(torch.randn(64, 2))
    stepped = [name for name, _ in snapshots[1:]]
    expected = {
        "triangle": ["alpha", "phi", "theta", "theta"],
        "vae": ["phi", "theta", "theta"],
        "acd": ["alpha", "phi", "theta", "theta"],
        "wake_sleep": ["phi", "theta", "theta"],
    }[spec]
    assert stepped == expected
    for (_, before), (player, after) in zip(snapshots, snapshots[1:]):
        for p in after:
            changed = any(not torch.equal(before[p][k], after[p][k]) for k in after[p])
            assert changed == (p == player), f"{p} changed={changed} in a step of {player}"


def test_every_loss_is_finite_and_reaches_only_its_player(toy_plugin):
    tr = Trainer(toy_recipe(), device="cpu")
    d = Draws(tr.models, torch.randn(16, 2), torch.randn(16, 2), s=0.1)
    for player in ("alpha", "phi", "theta"):
        loss = sum(tr.objective.terms(player, d).values())
        assert torch.isfinite(loss)
        own = tr.team.params[player]
        grads = torch.autograd.grad(loss, own, retain_graph=True, allow_unused=True)
        assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_triangle_is_vae_plus_acd(toy_plugin):
    results = []
    for spec in ("triangle", ["vae", "acd"]):
        tr = Trainer(toy_recipe(objective=spec), device="cpu")
        x = torch.randn(64, 2, generator=torch.Generator().manual_seed(3))
        metrics = [tr.step(x) for _ in range(3)]
        results.append((metrics, {p: params_of(m) for p, m in tr.players.items()}))
    (m1, p1), (m2, p2) = results
    assert [sorted(m) for m in m1] == [sorted(m) for m in m2]
    for a, b in zip(m1, m2):
        for k in a:
            assert torch.equal(a[k], b[k]), k
    for player in p1:
        for k in p1[player]:
            assert torch.equal(p1[player][k], p2[player][k])


def test_weighted_composition_scales_terms():
    m = linear_models()
    x, z = torch.randn(4, 5), torch.randn(4, 2)
    plain = objective("acd").terms("alpha", Draws(m, x, z, 1.0))
    half = objective([{"name": "acd", "weight": 0.5}]).terms("alpha", Draws(m, x, z, 1.0))
    for k in plain:
        assert torch.allclose(half[k], 0.5 * plain[k])
    both = objective(["triangle", "wake_sleep"])
    assert both.names == ["vae", "acd", "wake_sleep"]


def test_draws_share_forward_passes_and_drop_stale_ones():
    m = linear_models()
    calls = {"g": 0}
    forward = m.generator.forward

    def counting(z):
        calls["g"] += 1
        return forward(z)

    m.generator.forward = counting
    d = Draws(m, torch.randn(4, 5), torch.randn(4, 2), 1.0)
    tri = objective("triangle")
    tri.terms("alpha", d)
    tri.terms("phi", d)  # reuses x~ = g(z), adds g(z^)
    assert calls["g"] == 2
    d.after_step("phi")
    z_hat = d.z_hat
    assert not z_hat.requires_grad  # held as drawn, without phi's graph
    tri.terms("theta", d)  # x~ and g(z^) reused: theta has not moved, z^ is held as drawn
    assert calls["g"] == 2
    d.after_step("theta")
    tri.terms("theta", d)  # a second theta-step regenerates x~ and g(z^)
    assert calls["g"] == 4


def test_same_seed_same_run_and_another_seed_another(toy_plugin, tmp_path):
    def train(seed, out):
        tr = Trainer(toy_recipe(seed=seed), device="cpu")
        tr.fit(tmp_path / out)
        return {p: params_of(m) for p, m in tr.players.items()}

    a, b, c = train(1, "a"), train(1, "b"), train(2, "c")
    assert all(torch.equal(a[p][k], b[p][k]) for p in a for k in a[p])
    assert not all(torch.equal(a[p][k], c[p][k]) for p in a for k in a[p])


def test_trainer_step_equals_the_triangle_written_out(tmp_path):
    """The trainer's iteration (composed terms, shared forward passes, retained graphs) against
    benchmarks/throughput.py's plain loop, which writes eqs. 14-18 out by hand with a fresh
    forward pass for every term: the same parameters after three iterations."""
    import importlib.util

    from conftest import ROOT, make_fashion_like

    from genzoo.recipe import from_dict

    spec = importlib.util.spec_from_file_location(
        "throughput", ROOT / "benchmarks" / "throughput.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    root = make_fashion_like(tmp_path / "fm", n_train=48, n_test=8)
    t = Trainer(
        from_dict(
            {
                "name": "eq",
                "objective": "triangle",
                "seed": 0,
                "device": "cpu",
                "model": {"arch": "dcgan", "width": 0.125, "latent_dim": 8},
                "data": {"name": "fashion_mnist", "root": str(root)},
                "train": {"batch_size": 16},
                "log": {"progress": False},
            }
        )
    )
    plain = bench.PlainLoop(t, reuse=False)
    for k in range(3):
        x = torch.stack([t.data.train[i][0] for i in range(16 * k, 16 * k + 16)])
        torch.manual_seed(k)
        t.step(x)
        torch.manual_seed(k)
        plain.step(x)
    for mine, theirs in (
        (t.models.generator, plain.g),
        (t.models.encoder, plain.q),
        (t.models.energy, plain.f),
    ):
        for (name, a), b in zip(mine.named_parameters(), theirs.parameters()):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-7), name

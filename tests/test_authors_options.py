"""The recipe options that choose between the paper's Algorithm 1 / genzoo's earlier choices and
the authors' code: bias init, the encoder's second head, the theta-step's z^, the epoch-0 decay
and the generator's normalisation when sampling."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import build_mlp, toy_recipe
from torch import nn

from genzoo.assemble import init_weights
from genzoo.interfaces import Encoder, Posterior
from genzoo.objective import Draws
from genzoo.sampling import generate, norm_mode
from genzoo.training import Trainer


def test_bias_init_zero_or_pytorchs_default():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(4, 5))
    init_weights(net, 0.02, "zero")
    assert all(float(m.bias.detach().abs().max()) == 0 for m in net)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(4, 5))
    kept = [m.bias.detach().clone() for m in net]
    init_weights(net, 0.02, "default")
    for m, b in zip(net, kept):
        assert torch.equal(m.bias, b) and float(b.abs().max()) > 0
        fan_in = m.weight[0].numel()
        assert float(b.abs().max()) <= 1 / math.sqrt(fan_in)  # PyTorch's U(-1/sqrt(fan_in), .)
    assert abs(float(net[0].weight.detach().std()) - 0.02) < 0.005


class Heads(Encoder):
    latent_shape = (3,)

    def forward(self, x):
        return self.to_posterior(x[:, :3], x[:, 3:])


def test_encoder_reads_its_second_head_as_log_std_or_log_var_clamped_or_not():
    e = Heads()
    mean, second = torch.zeros(1, 3), torch.tensor([[-30.0, 1.0, 14.0]])
    x = torch.cat([mean, second], 1)
    assert torch.equal(e(x).log_std, torch.tensor([[-10.0, 1.0, 5.0]]))
    e.posterior_head = "log_var"
    assert torch.equal(e(x).log_std, torch.tensor([[-10.0, 0.5, 5.0]]))
    e.posterior_clamp = False
    q = e(x)
    assert torch.equal(q.log_std, torch.tensor([[-15.0, 0.5, 7.0]]))
    # the authors' -log q: 0.5 log var + 0.5 (z - mu)^2 / (1e-6 + var) (+ the constant)
    z = torch.tensor([[1e-4, 1.0, 2.0]])
    var = second.exp()
    ref = (0.5 * second + 0.5 * (z - mean) ** 2 / (1e-6 + var)).sum() + 1.5 * math.log(2 * math.pi)
    assert float(q.neg_log_prob(z)) == pytest.approx(float(ref), rel=1e-6)
    assert Posterior(mean, q.log_std).neg_log_prob(z) > q.neg_log_prob(z)  # the floor matters


def test_recipe_sets_the_encoders_head(toy_plugin):
    r = toy_recipe(model={"posterior": "log_var", "posterior_clamp": False})
    t = Trainer(r)
    assert t.models.encoder.posterior_head == "log_var"
    assert t.models.encoder.posterior_clamp is False


def _draws(fresh: str):
    torch.manual_seed(0)
    m = build_mlp((2,))
    x, z = torch.randn(16, 2), torch.randn(16, 2)
    return m, Draws(m, x, z, 0.1, theta_z_hat=fresh)


def test_theta_z_hat_reuse_keeps_the_draw_fresh_re_encodes_with_a_new_eps():
    for mode in ("reuse", "fresh"):
        m, d = _draws(mode)
        first = d.z_hat.detach().clone()
        rec = d.x_recon
        with torch.no_grad():  # phi steps
            for p in m.encoder.parameters():
                p.add_(0.1)
        d.after_step("phi")
        if mode == "reuse":
            assert torch.equal(d.z_hat, first) and d.x_recon is rec
        else:
            q = m.encoder(d.x)
            z2 = d.z_hat
            assert not torch.equal(z2, first) and d.x_recon is not rec
            eps = (z2 - q.mean) / q.std  # a new draw from the moved encoder
            eps_first = (first - m.encoder(d.x).mean) / q.std
            assert not torch.allclose(eps, eps_first)
            assert z2.requires_grad  # the theta-step's z^ carries the new encoder's graph


def test_lr_decay_from_epoch_0_or_1(toy_plugin):
    for epoch0, expected in ((False, [1e-4, 0.5e-4]), (True, [0.5e-4, 0.25e-4])):
        t = Trainer(toy_recipe(train={"lr_decay": 0.5, "lr_decay_epoch0": epoch0}))
        got = []
        for epoch in (0, 1):
            t.team.set_learning_rates(epoch)
            got.append(t.team.optimizers["alpha"].param_groups[0]["lr"])
        assert got == pytest.approx(expected)


def test_sampling_with_batch_statistics_leaves_the_model_unchanged():
    torch.manual_seed(0)
    g = build_mlp((2,), batch_norm=True).generator
    g.train()
    for _ in range(3):  # running statistics that differ from any one batch's
        g(torch.randn(32, 2) * 3 + 1)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    z = torch.randn(20, 2)
    with torch.no_grad():
        g.eval()
        running = g(z)
        g.train()
        batch = g(z[:10])
    g.load_state_dict(before)
    g.eval()
    out_b = generate(g, z, "batch", batch=10)
    out_r = generate(g, z, "running", batch=7)
    assert torch.allclose(out_b[:10], batch, atol=1e-6) and torch.allclose(
        out_r, running, atol=1e-6
    )
    assert not torch.allclose(out_b, out_r, atol=1e-3)
    for k, v in g.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert g.training is False  # the mode it was in
    with pytest.raises(ValueError, match="one of running, batch"):
        with norm_mode(g, "train"):
            pass


def zero_step_samplers(g):
    """The samplers that draw through a generator they borrow, with no Langevin step: their
    samples are ``g(z)`` itself, in the mode sampling sets."""
    from genzoo_ebm.samplers import PriorThenGenerator

    from genzoo_baselines.coopnet import RevisedSamples

    energy = lambda x: x.sum(1)  # noqa: E731
    return {
        "latent_ebm": PriorThenGenerator(g, energy, steps=0, step_size=0.1),
        "coopnet": RevisedSamples(g, energy, 0, 0.01, True, 1.0),
    }


@pytest.mark.parametrize("name", ["latent_ebm", "coopnet"])
def test_a_sampler_switches_the_batch_norm_of_the_generator_it_draws_through(name):
    torch.manual_seed(0)
    g = build_mlp((2,), batch_norm=True).generator
    g.train()
    for _ in range(3):
        g(torch.randn(32, 2) * 3 + 1)
    sampler = zero_step_samplers(g)[name]
    assert sampler.draws_through() is g
    z = torch.randn(20, 2)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    with torch.no_grad():
        g.eval()
        running = g(z)
        g.train()
        batch = g(z[:10])
    g.load_state_dict(before)  # in train mode, as during training when grids are drawn
    out_r = generate(sampler, z, "running", batch=7)
    out_b = generate(sampler, z, "batch", batch=10)
    assert torch.allclose(out_r, running, atol=1e-6)
    assert torch.allclose(out_b[:10], batch, atol=1e-6)
    for k, v in g.state_dict().items():  # drawing never moves the running statistics
        assert torch.equal(v, before[k]), k
    assert g.training is True

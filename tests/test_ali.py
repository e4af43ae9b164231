"""ALI and ALICE: the joint discriminator's loss signs and the players each term moves on a toy
whose right direction is known, and the objective-owned network trained, checkpointed and
resumed like the players' own."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import params_of, toy_recipe
from test_baselines import grads, toy
from torch import nn

from genzoo import plugins
from genzoo.errors import GenzooError
from genzoo.objective import compose
from genzoo.training import Trainer


class KnownJoint(nn.Module):
    """``l(x, z) = a x + w z``: believes large x (and, for w > 0, large z) come from data."""

    def __init__(self, a=0.5, w=0.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([a]))
        self.w = nn.Parameter(torch.tensor([w]))

    def forward(self, x, z):
        return (self.a * x).sum(1) + (self.w * z).sum(1)


def ali_toy(name="ali", options=None, a=0.5, w=0.0):
    obj = compose(name, {name: options or {}}, plugins.registry())
    m, d = toy()
    joint = KnownJoint(a, w)
    m.extras = {"ali_joint": ("alpha", joint)}
    return obj, m, d, joint


@pytest.mark.parametrize("name", ["ali", "alice"])
def test_joint_discriminator_learns_to_tell_data_pairs_from_dream_pairs(name):
    obj, m, d, joint = ali_toy(name)
    terms = obj.terms("alpha", d)
    assert set(terms) == {f"{name}.jsd_joint.data", f"{name}.jsd_joint.dream"}
    da, dw = grads(sum(terms.values()), joint)
    assert da.item() < 0  # descent raises a: data at +1, dream at -1
    assert all(g.abs().sum() == 0 for g in grads(sum(terms.values()), m.energy))  # f unused


@pytest.mark.parametrize("name", ["ali", "alice"])
def test_generator_moves_its_samples_towards_what_the_discriminator_calls_data(name):
    obj, m, d, _ = ali_toy(name)
    theta = obj.terms("theta", d)
    assert f"{name}.jsd_joint.dream" in theta and f"{name}.jsd_joint.data" not in theta
    (db,) = grads(theta[f"{name}.jsd_joint.dream"], m.generator)
    assert db.item() < 0  # descent raises b: x~ = b + 0.1 z moves up, towards the data


def test_encoder_moves_its_codes_away_from_what_the_discriminator_calls_data():
    """With l = w z, w > 0, the discriminator calls large codes 'data'; the encoder's
    non-saturating term -log(1 - D(x, z^)) lowers its codes to fool it."""
    obj, m, d, _ = ali_toy("ali", a=0.0, w=1.0)
    phi = obj.terms("phi", d)
    assert set(phi) == {"ali.jsd_joint.data"}
    (dc,) = grads(phi["ali.jsd_joint.data"], m.encoder)
    assert dc.item() > 0  # descent lowers c, the posterior mean


def test_terms_are_the_binary_cross_entropies_and_alice_adds_the_per_pixel_reconstruction():
    obj, m, d, joint = ali_toy("alice", {"reconstruction_weight": 2.0}, a=0.7, w=0.3)
    z_hat = d.z_hat.detach()
    l_data = 0.7 * 1.0 + 0.3 * z_hat.squeeze(1)
    t = obj.terms("alpha", d)
    assert t["alice.jsd_joint.data"].item() == pytest.approx(
        -torch.log(torch.sigmoid(l_data)).mean().item(), rel=1e-5
    )
    l_dream = 0.7 * d.x_tilde.detach().squeeze(1) + 0.3 * d.z.squeeze(1)
    assert t["alice.jsd_joint.dream"].item() == pytest.approx(
        -torch.log(1 - torch.sigmoid(l_dream)).mean().item(), rel=1e-5
    )
    phi = obj.terms("phi", d)
    assert phi["alice.jsd_joint.data"].item() == pytest.approx(
        F.softplus(l_data).mean().item(), rel=1e-5
    )
    recon = m.generator(z_hat).detach()
    expected = 2.0 * ((1.0 - recon) ** 2 / (2 * d.s**2)).mean()  # D = 1 value per sample
    assert phi["alice.cond_entropy"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert obj.terms("theta", d)["alice.cond_entropy"].item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_bad_options_are_clear_errors():
    for opts in ({"hidden": 0}, {"dropout": 1.0}):
        with pytest.raises(GenzooError, match="fix \\[objectives.ali\\]"):
            compose("ali", {"ali": opts}, plugins.registry())


def test_two_objectives_adding_the_same_network_is_an_error(toy_plugin):
    with pytest.raises(GenzooError, match="'ali_joint'"):
        Trainer(toy_recipe(objective=["ali", "alice"]))


def test_the_added_network_is_trained_by_its_player_checkpointed_and_resumed(toy_plugin, tmp_path):
    r = toy_recipe(
        objective="alice",
        train={"steps": 4, "batch_size": 64},
        log={"every": 1, "progress": False, "checkpoint_every": 2},
    )
    t = Trainer(r)
    joint = t.models.extras["ali_joint"][1]
    assert joint.x_branch is not t.models.encoder  # a copy of the layout, not the encoder
    before, energy = params_of(joint), params_of(t.models.energy)
    t.fit(tmp_path / "a")
    after = params_of(joint)
    assert all(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))
    assert all(torch.equal(energy[k], v) for k, v in params_of(t.models.energy).items())
    # an interrupted run resumed from step 2 ends with the same joint network and optimiser
    t2 = Trainer(
        toy_recipe(
            objective="alice",
            train={"steps": 2, "batch_size": 64},
            log={"every": 1, "progress": False, "checkpoint_every": 2},
        )
    )
    t2.fit(tmp_path / "b")
    t3 = Trainer(r)
    t3.fit(tmp_path / "b", resume=True)
    resumed = params_of(t3.models.extras["ali_joint"][1])
    assert all(torch.equal(after[k], resumed[k]) for k in after)

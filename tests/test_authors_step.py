"""recipes/dt_cifar10.toml is the authors' CIFAR-10 run: one Trainer.step moves every
parameter as their train_cifar10.py does.

The oracle below is their networks and their training step written out literally (E step,
I step, G step; Adam, clipping, weight decay and the per-epoch schedulers as they set them).
Their energy network outputs E = -f, so the copy of its last layer into genzoo's f-network is
negated; their encoder's two heads are stacked into genzoo's one output convolution.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, make_cifar_like
from torch import nn

from genzoo import recipe
from genzoo.training import Trainer

NZ, NC, W = 100, 3, 64


class _netG(nn.Module):
    def __init__(self):
        super().__init__()
        self.deconv1 = nn.ConvTranspose2d(NZ, W * 8, 4, 1, 0, bias=False)
        self.deconv1_bn = nn.BatchNorm2d(W * 8)
        self.deconv2 = nn.ConvTranspose2d(W * 8, W * 8, 4, 2, 1, bias=False)
        self.deconv2_bn = nn.BatchNorm2d(W * 8)
        self.deconv3 = nn.ConvTranspose2d(W * 8, W * 4, 4, 2, 1, bias=False)
        self.deconv3_bn = nn.BatchNorm2d(W * 4)
        self.deconv4 = nn.ConvTranspose2d(W * 4, W * 2, 4, 2, 1, bias=False)
        self.deconv4_bn = nn.BatchNorm2d(W * 2)
        self.deconv5 = nn.ConvTranspose2d(W * 2, NC, 3, 1, 1)

    def forward(self, x):
        x = F.relu(self.deconv1_bn(self.deconv1(x)))
        x = F.relu(self.deconv2_bn(self.deconv2(x)))
        x = F.relu(self.deconv3_bn(self.deconv3(x)))
        x = F.relu(self.deconv4_bn(self.deconv4(x)))
        return torch.tanh(self.deconv5(x))


class _netE(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(NC, W, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(W, W * 2, 4, 2, 1, bias=False)
        self.conv3 = nn.Conv2d(W * 2, W * 4, 4, 2, 1, bias=False)
        self.conv4 = nn.Conv2d(W * 4, W * 4, 4, 2, 1, bias=False)
        self.conv5 = nn.Conv2d(W * 4, 1, 4, 1, 0)

    def forward(self, x):
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.leaky_relu(conv(x), 0.2)
        return self.conv5(x)


class _netI(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(NC, W, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(W, W * 2, 4, 2, 1, bias=False)
        self.conv3 = nn.Conv2d(W * 2, W * 4, 4, 2, 1, bias=False)
        self.conv4 = nn.Conv2d(W * 4, W * 8, 4, 2, 1, bias=False)
        self.conv51 = nn.Conv2d(W * 8, NZ, 4, 1, 0)  # mu
        self.conv52 = nn.Conv2d(W * 8, NZ, 4, 1, 0)  # log_sigma (a log-variance)

    def forward(self, x):
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.leaky_relu(conv(x), 0.2)
        return self.conv51(x), self.conv52(x)


def weights_init(m):
    if m.__class__.__name__.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif m.__class__.__name__.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def diag_normal_NLL(z, z_mu, z_log_sigma):
    nll = 0.5 * torch.sum(z_log_sigma.squeeze(), dim=1) + 0.5 * torch.sum(
        (torch.mul(z - z_mu, z - z_mu) / (1e-6 + torch.exp(z_log_sigma))).squeeze(), dim=1
    )
    return nll.squeeze()


def reparametrize(mu, log_sigma):
    std = torch.exp(log_sigma.mul(0.5))
    eps = std.data.new(std.size()).normal_()
    return eps.mul(std).add_(mu)


class Authors:
    """Their three networks, optimisers and schedulers; ``iteration`` is one inner-loop pass."""

    def __init__(self):
        self.netG, self.netE, self.netI = _netG(), _netE(), _netI()
        for net in (self.netG, self.netE, self.netI):
            net.apply(weights_init)
        adam = lambda net, lr, wd: torch.optim.Adam(
            net.parameters(),
            lr=lr,  # noqa: E731
            betas=(0.5, 0.999),
            weight_decay=wd,
        )
        self.optE, self.optG, self.optI = (
            adam(self.netE, 1e-4, 0.0),
            adam(self.netG, 3e-4, 5e-4),
            adam(self.netI, 3e-4, 0.0),
        )
        self.scheds = [
            torch.optim.lr_scheduler.ExponentialLR(o, 0.998)
            for o in (self.optE, self.optI, self.optG)
        ]

    def epoch_start(self):
        for s in self.scheds:
            s.step()

    def iteration(self, inputV):
        netE, netG, netI = self.netE, self.netG, self.netI
        batch_size = inputV.size(0)
        mse_loss = nn.MSELoss(reduction="sum")
        netE.zero_grad()
        E_T = torch.mean(netE(inputV).squeeze())
        noiseV = torch.empty(
            batch_size, NZ, 1, 1
        ).normal_()  # their FloatTensor, in the default dtype
        samples = netG(noiseV)
        E_F = torch.mean(netE(samples.detach()).squeeze())
        errE = E_T - E_F
        errE.backward()
        torch.nn.utils.clip_grad_norm_(netE.parameters(), 100)
        self.optE.step()

        netI.zero_grad()
        mu, log_sigma = netI(inputV)
        errRecon = mse_loss(netG(reparametrize(mu, log_sigma)), inputV) / batch_size
        errKld = -0.5 * torch.mean(1 + log_sigma - mu.pow(2) - log_sigma.exp())
        mu_gen, log_sigma_gen = netI(samples.detach())
        errLatent = 0.1 * torch.mean(diag_normal_NLL(noiseV, mu_gen, log_sigma_gen))
        errI = errRecon + errKld + errLatent
        errI.backward()
        torch.nn.utils.clip_grad_norm_(netI.parameters(), 100)
        self.optI.step()

        netG.zero_grad()
        mu, log_sigma = netI(inputV)
        errRecon = mse_loss(netG(reparametrize(mu, log_sigma)), inputV) / batch_size
        E_F = torch.mean(netE(samples).squeeze())
        mu_gen, log_sigma_gen = netI(samples)
        errLatent = 0.1 * torch.mean(diag_normal_NLL(noiseV, mu_gen, log_sigma_gen))
        errG = errRecon + E_F + errLatent
        errG.backward()
        torch.nn.utils.clip_grad_norm_(netG.parameters(), 100)
        self.optG.step()


def genzoo_state(a: Authors) -> dict[str, dict[str, torch.Tensor]]:
    """The authors' weights under genzoo's names (E's last layer negated: f = -E)."""
    g = [t for _, t in a.netG.state_dict().items()]
    i = a.netI.state_dict()
    e = a.netE.state_dict()
    enc = [i[f"conv{k}.weight"] for k in range(1, 5)] + [
        torch.cat([i["conv51.weight"], i["conv52.weight"]]),
        torch.cat([i["conv51.bias"], i["conv52.bias"]]),
    ]
    en = [e[f"conv{k}.weight"] for k in range(1, 5)] + [-e["conv5.weight"], -e["conv5.bias"]]
    return {"theta": g, "phi": enc, "alpha": en}


def load_into(trainer: Trainer, state) -> None:
    for player, tensors in state.items():
        net = trainer.players[player]
        keys = list(net.state_dict())
        assert len(keys) == len(tensors), player
        net.load_state_dict({k: t.clone() for k, t in zip(keys, tensors)})


def authors_trainer(tmp_path, monkeypatch, batch: int, *overrides) -> Trainer:
    root = make_cifar_like(tmp_path / "cifar", monkeypatch, n_train=2 * batch, n_test=4)
    r = recipe.load(
        ROOT / "recipes" / "dt_cifar10.toml",
        [f'data.root="{root}"', f"train.batch_size={batch}", 'device="cpu"', *overrides],
    )
    return Trainer(r)


def test_the_recipes_networks_are_the_authors_layer_for_layer(tmp_path, monkeypatch):
    t = authors_trainer(tmp_path, monkeypatch, 4)
    a = Authors()
    for player, tensors in genzoo_state(a).items():
        mine = list(t.players[player].state_dict().values())
        assert [tuple(x.shape) for x in mine] == [tuple(x.shape) for x in tensors], player


def run_both(tmp_path, monkeypatch, *overrides, steps=2, batch=8):
    """Both steps in float64: Adam's first updates are about lr * sign(gradient), so float32
    round-off in a gradient near 0 can flip a whole update; in float64 it cannot."""
    torch.set_default_dtype(torch.float64)
    try:
        return _run_both(tmp_path, monkeypatch, overrides, steps, batch)
    finally:
        torch.set_default_dtype(torch.float32)


def _run_both(tmp_path, monkeypatch, overrides, steps, batch):
    torch.manual_seed(3)
    a = Authors()
    t = authors_trainer(tmp_path, monkeypatch, batch, *overrides)
    load_into(t, genzoo_state(a))
    x = torch.rand(steps, batch, NC, 32, 32) * 2 - 1
    a.epoch_start()  # their epoch 0 begins with a scheduler step
    for k in range(steps):
        torch.manual_seed(100 + k)
        a.iteration(x[k])
        torch.manual_seed(100 + k)
        t.step(x[k])
    return a, t


def deviations(a: Authors, t: Trainer) -> dict[str, float]:
    """Largest |genzoo - authors| of each player's tensors, relative to how far the authors'
    parameters moved from where both started."""
    out = {}
    for player, tensors in genzoo_state(a).items():
        mine = list(t.players[player].state_dict().values())
        out[player] = max(
            float((m - o).abs().max()) for m, o in zip(mine, tensors) if o.is_floating_point()
        )
    return out


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_one_step_moves_every_parameter_as_the_authors_step(tmp_path, monkeypatch):
    torch.manual_seed(3)
    torch.set_default_dtype(torch.float64)
    try:
        start = genzoo_state(Authors())
    finally:
        torch.set_default_dtype(torch.float32)
    a, t = run_both(tmp_path, monkeypatch)
    moved = {
        p: max(
            float((n - o).abs().max())
            for n, o in zip(genzoo_state(a)[p], start[p])
            if o.is_floating_point()
        )
        for p in start
    }
    dev = deviations(a, t)
    for player in ("alpha", "phi", "theta"):
        assert moved[player] > 1e-4, player  # the step did move them
        assert dev[player] < 1e-10, (player, dev[player], moved[player])  # float64 round-off
    # the learning rates are the authors' epoch-0 rates (0.998 applied already)
    assert t.team.optimizers["theta"].param_groups[0]["lr"] == pytest.approx(
        3e-4 * 0.998, rel=1e-12
    )


@pytest.mark.filterwarnings("ignore:Detected call of")
@pytest.mark.parametrize(
    "override",
    [
        'train.theta_z_hat="reuse"',
        *(
            pytest.param(o, marks=pytest.mark.slow)  # the suite's time: one in the fast selection
            for o in (
                'model.posterior="log_std"',
                "train.lr_decay_epoch0=false",
                "train.alpha.weight_decay=5e-4",
                "train.phi.weight_decay=5e-4",
            )
        ),
    ],
)
def test_each_departure_from_the_authors_changes_the_step(tmp_path, monkeypatch, override):
    """The oracle has teeth: switching one authors' option back to genzoo's earlier choice
    moves some player's parameters away from theirs by far more than round-off."""
    a, t = run_both(tmp_path, monkeypatch, override, steps=1)
    assert max(deviations(a, t).values()) > 1e-7

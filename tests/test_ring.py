"""objectives.md's toy check: on a ring of 8 Gaussians the triangle's generator covers every
mode, and the energy model's f is higher on the data than away from it."""

import math

import torch
from conftest import ring_centres, toy_recipe

from genzoo.data import batch_stream
from genzoo.training import Trainer


def test_triangle_covers_all_eight_modes_and_f_peaks_on_the_data(toy_plugin):
    steps = 1000  # at lr 1e-3 it takes 2000 steps to the same margins
    lr = 2e-3
    r = toy_recipe(
        model={"s": 0.1, "hidden": 64},
        data={"n": 4096},
        objectives={"vae": {"prior_kl": "sum"}},
        train={
            "steps": steps,
            "batch_size": 128,
            "alpha": {"lr": lr, "weight_decay": 0.0},
            "phi": {"lr": 3 * lr, "weight_decay": 0.0},
            "theta": {"lr": 3 * lr, "weight_decay": 0.0},
        },
    )
    tr = Trainer(r, device="cpu")
    _, batches = batch_stream(tr.data.train, 128, seed=0)
    for _ in range(steps):
        tr.step(next(batches))

    centres = ring_centres()
    x = tr.team.sample(torch.randn(2000, 2, generator=torch.Generator().manual_seed(1)))
    dist, mode = torch.cdist(x, centres).min(1)
    counts = torch.bincount(mode[dist < 0.15], minlength=8)
    assert (counts >= 20).all(), f"modes dropped: samples per mode {counts.tolist()}"
    assert (dist < 0.15).float().mean() > 0.3

    f = tr.models.energy
    with torch.no_grad():
        data = tr.data.train.tensors[0][:2000]
        a = (torch.arange(64) + 0.5) * 2 * math.pi / 64
        inside = torch.cat([r * torch.stack([a.cos(), a.sin()], 1) for r in (0.0, 0.2, 0.4)])
        b = (torch.arange(8) + 0.5) * 2 * math.pi / 8
        between = 0.8 * torch.stack([b.cos(), b.sin()], 1)
        f_data, f_inside, f_between = f(data).mean(), f(inside).mean(), f(between).mean()
    assert f_data > f_inside + 0.2, (f_data, f_inside)
    assert f_data > f_between, (f_data, f_between)

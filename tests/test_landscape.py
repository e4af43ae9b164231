"""Landscape mapping against an analytic energy: sums of Gaussian bumps in 2-D, whose minima,
saddles and merge order are known."""

import math

import torch
from torch import nn

from genzoo.analysis.landscape import barrier, cluster, descend, map_landscape, merge_minima
from genzoo.analysis.landscape_purity import purity


class Bumps(nn.Module):
    """f(x) = sum_k A_k exp(-|x - mu_k|^2 / (2 sigma^2)); the energy -f has a minimum near
    each centre."""

    def __init__(self, centres, sigma=0.5, heights=None):
        super().__init__()
        self.mu = torch.tensor(centres, dtype=torch.float64)
        self.sigma = sigma
        self.a = torch.tensor(heights or [1.0] * len(centres), dtype=torch.float64)

    def forward(self, x):
        d2 = ((x.unsqueeze(1) - self.mu) ** 2).sum(-1)
        return (self.a * torch.exp(-d2 / (2 * self.sigma**2))).sum(1)


def starts_around(centres, n=20, radius=0.6, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in centres:
        ang = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
        r = radius * torch.rand(n, generator=g, dtype=torch.float64)
        out.append(
            torch.tensor(c, dtype=torch.float64) + torch.stack([r * ang.cos(), r * ang.sin()], 1)
        )
    return torch.cat(out)


FAR = [[-1.5, 0.0], [1.5, 0.0], [0.0, 2.5]]


def test_descent_finds_every_minimum():
    f = Bumps(FAR, heights=[1.0, 1.0, 1.5])
    x, e, steps = descend(
        f, starts_around(FAR), eta=0.05, max_steps=2000, grad_tol=1e-6, energy_tol=0, bounds=None
    )
    rep = merge_minima(x, e, tol=1e-3)
    found = x[rep.unique()]
    assert len(found) == 3
    for c in FAR:  # the bumps barely overlap: minima sit on the centres
        assert torch.cdist(found, torch.tensor([c], dtype=torch.float64)).min() < 1e-3
    assert (steps > 0).all()
    assert torch.allclose(
        torch.sort(e[rep.unique()]).values,
        torch.tensor([-1.5, -1.0, -1.0], dtype=torch.float64),
        atol=1e-4,
    )


def test_barrier_equals_the_known_saddle():
    d, s = 0.6, 0.5
    f = Bumps([[-d, 0.0], [d, 0.0]], sigma=s)
    x, e, _ = descend(
        f,
        torch.tensor([[-0.9, 0.1], [0.8, -0.2]], dtype=torch.float64),
        eta=0.05,
        max_steps=5000,
        grad_tol=1e-9,
        energy_tol=0,
        bounds=None,
    )

    # the minima, independently: zero of d/dx f(x, 0) for x > 0, by bisection
    def df(t):
        return -(t - d) * math.exp(-((t - d) ** 2) / (2 * s * s)) - (t + d) * math.exp(
            -((t + d) ** 2) / (2 * s * s)
        )

    lo, hi = 0.05, 1.5
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if df(mid) > 0 else (lo, mid)
    assert abs(float(x[1, 0]) - lo) < 1e-4 and abs(float(x[0, 0]) + lo) < 1e-4
    saddle = -2 * math.exp(-d * d / (2 * s * s))  # at the origin, on the straight path
    b = barrier(f, x[:1], x[1:], grid=33)
    assert abs(float(b[0]) - saddle) < 1e-6


def test_clustering_merges_in_the_known_order():
    centres = [[-0.6, 0.0], [0.6, 0.0], [3.0, 0.0]]
    f = Bumps(centres)
    land = map_landscape(
        f,
        starts_around(centres, radius=0.3),
        eta=0.05,
        max_steps=3000,
        grad_tol=1e-6,
        energy_tol=0,
        neighbours=2,
        grid=65,
        bounds=None,
        threshold=-0.5,
    )
    assert len(land.minima) == 3
    levels = [m[0] for m in land.tree.merges]
    assert levels == sorted(levels) and len(levels) == 2
    first = set(land.tree.links[0])
    xs = land.minima[:, 0]
    assert {int(xs[i] > 0) for i in first} == {0, 1} and all(abs(xs[i]) < 1 for i in first)

    # known barriers: the highest energy on the x-axis between the minima, on a fine grid
    def energy(t):
        return -sum(math.exp(-((t - c[0]) ** 2) / (2 * 0.25)) for c in centres)

    mins = sorted(float(v) for v in xs)
    between = [
        max(energy(a + (b - a) * k / 20000) for k in range(20001)) for a, b in zip(mins, mins[1:])
    ]
    assert abs(levels[0] - between[0]) < 1e-3 and abs(levels[1] - between[1]) < 1e-3
    assert levels[0] < -0.9 < levels[1]  # the close pair's saddle first, then the wide gap
    assert land.n_basins == 2  # cut at -0.5: the close pair shares a basin
    basin_tree = land.basin_tree()
    assert len(basin_tree.merges) == 1 and abs(basin_tree.merges[0][0] - levels[1]) < 1e-9
    assert sorted(land.basin_levels) == sorted(land.basin_levels)


def test_cluster_single_linkage_on_a_chain():
    pairs = torch.tensor([[0, 1], [1, 2], [2, 3], [0, 3]])
    bars = torch.tensor([1.0, 3.0, 2.0, 5.0])
    tree = cluster(4, pairs, bars)
    assert [m[0] for m in tree.merges] == [1.0, 2.0, 3.0]
    assert tree.merges[2][1:3] in ((4, 5), (5, 4))
    assert tree.clusters_below(2.5)[0] == tree.clusters_below(2.5)[1]
    assert tree.clusters_below(2.5)[1] != tree.clusters_below(2.5)[2]


def test_purity_on_a_labelled_toy():
    overall, per = purity([0, 0, 0, 1, 1], [1, 1, 2, 3, 3])
    assert overall == 4 / 5 and per == {0: 2 / 3, 1: 1.0}


def test_chance_purity_is_the_majority_share_for_one_basin_and_lower_for_singletons():
    from genzoo.analysis.landscape_purity import chance_purity

    labels = [0] * 6 + [1] * 3 + [2]
    mean, std = chance_purity([0] * 10, labels)  # one basin: its majority share, always
    assert mean == 0.6 and std == 0
    mean, std = chance_purity(list(range(10)), labels)  # singletons are pure by construction
    assert mean == 1.0
    # two basins of 5: purity of a random split; a split along the labels beats it
    mean, std = chance_purity([0] * 5 + [1] * 5, labels, draws=400)
    assert 0.6 <= mean < 0.8 and std > 0
    assert purity([0] * 6 + [1] * 4, labels)[0] == 0.9 > mean + 2 * std


def test_descent_report_sees_points_pinned_at_the_box_and_true_minima():
    from genzoo.analysis.landscape import descent_report, projected_grad_norm

    def f(x):  # -E: grows without bound towards +1 in every pixel (a corner of the box)
        return x.flatten(1).sum(1)

    x = torch.ones(3, 4)  # at the corner: the gradient points out of the box everywhere
    assert torch.equal(projected_grad_norm(f, x), torch.zeros(3))
    x0 = torch.zeros(3, 4)  # inside: the full gradient, norm 2
    assert torch.allclose(projected_grad_norm(f, x0), torch.full((3,), 2.0))
    xs, _, taken = descend(f, x0, eta=0.3, max_steps=50)
    rep = descent_report(f, xs, taken, 50)
    assert rep["at_bound"] == 1.0 and rep["grad_norm_median"] == 0.0 and rep["converged"] == 1


def test_landscape_command_end_to_end_on_a_tiny_run(tmp_path, capsys):
    import json

    import pytest
    from conftest import ROOT, make_fashion_like

    from genzoo.cli import main

    root = make_fashion_like(tmp_path / "fm", n_train=64, n_test=40)
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "run",
                str(ROOT / "recipes" / "dt_landscape_fashion.toml"),
                "--out",
                str(run),
                "--quiet",
                "--set",
                f'data.root="{root}"',
                "--set",
                "train.steps=3",
                "--set",
                "train.batch_size=8",
                "--set",
                "model.width=0.0625",
                "--set",
                'device="cpu"',
            ]
        )
    assert exc.value.code == 0
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "landscape",
                str(run),
                "--n",
                "30",
                "--max-steps",
                "20",
                "--basins",
                "5",
                "--min-size",
                "1",
                "--min-converged",
                "0",
                "--paths",
                "--path-iterations",
                "3",
                "--path-images",
                "4",
            ]
        )
    assert exc.value.code == 0, capsys.readouterr().err
    report = json.loads((run / "landscape" / "landscape.json").read_text())
    assert report["n_starts"] == 30 and 1 <= report["n_minima"] <= 30
    assert report["n_basins"] == min(5, report["n_minima"])
    assert sum(b["size"] for b in report["basins"]) == 30
    assert 0 < report["purity"] <= 1  # held-out Fashion-MNIST-like data carries labels
    chance = report["purity_chance"]  # the same basin sizes, labels permuted
    assert 0 < chance["mean"] <= 1 and chance["std"] >= 0
    d = report["descent"]
    assert 0 <= d["converged"] <= 1 and 0 <= d["at_bound"] <= 1 and d["max_steps"] == 20
    assert len(report["merges"]) == report["n_basins"] - 1  # the tree ends in one basin
    png = run / "landscape" / "disconnectivity.png"
    assert png.stat().st_size > 5000
    assert d["method"] == "projected"
    levels = report["levels"]  # purity at 1, 2, 4, ... clusters of the minima's tree
    assert [r["clusters"] for r in levels][:2] == [1, 2] and levels[0]["purity"] <= 1
    assert levels[0]["purity"] == pytest.approx(levels[0]["chance_mean"])  # one cluster: chance
    ps = report["paths"]
    assert ps["pairs"] == report["barriers_computed"] and 0 <= ps["lower_share"] <= 1
    assert ps["height_path_median"] <= ps["height_straight_median"] + 1e-9
    # too few steps to reach minima: one line, exit 2, no map (the descent's report is kept)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(
            ["landscape", str(run), "--n", "30", "--max-steps", "1", "--grad-tol", "0"]
            + ["--out", str(tmp_path / "r")]
        )
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert "reached a minimum" in err and "--max-steps" in err
    assert not (tmp_path / "r" / "landscape.json").exists()
    assert json.loads((tmp_path / "r" / "descent.json").read_text())["converged"] < 0.9
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "landscape",
                str(run),
                "--n",
                "30",
                "--start",
                "samples",
                "--max-steps",
                "5",
                "--min-converged",
                "0",
                "--out",
                str(tmp_path / "from_samples"),
            ]
        )
    assert exc.value.code == 0
    assert json.loads((tmp_path / "from_samples" / "landscape.json").read_text())["purity"] is None

"""Minima that are minima and barriers along minimum-energy paths, against energies with known
answers: the projected descent stops only where no direction in the box lowers the energy, and
the string method finds the saddle a curved valley passes over where the straight line climbs
a wall."""

import math

import pytest
import torch

from genzoo.analysis.box_descent import descend_box, projected
from genzoo.analysis.landscape import barrier, cluster, map_landscape
from genzoo.analysis.landscape_purity import chance_purity, purity, purity_by_level
from genzoo.analysis.paths import equal_arc_length, path_barriers, string_paths

SADDLE = 0.7


def ring(x):
    """f = -E, E = 10 (r - 1)^2 + SADDLE sin^2(theta): minima at (+-1, 0) with E = 0, joined
    along the ring over saddles at (0, +-1) with E = SADDLE; the straight line between the
    minima crosses the centre, E = 10."""
    r2 = (x**2).sum(1)
    return -(10 * (r2.sqrt() - 1) ** 2 + SADDLE * x[:, 1] ** 2 / r2.clamp_min(1e-12))


def banana(x):
    """f = -E, E = 10 (y - (1 - x^2))^2 + SADDLE (x^2 - 1)^2: minima at (+-1, 0), E = 0, joined
    along the parabola y = 1 - x^2 over the saddle (0, 1), E = SADDLE; the straight line
    between the minima crosses (0, 0), E = 10 + SADDLE."""
    u, v = x[:, 0], x[:, 1]
    return -(10 * (v - (1 - u**2)) ** 2 + SADDLE * (u**2 - 1) ** 2)


def test_the_projected_descent_reaches_the_ring_minima_and_says_so():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(64, 2, generator=g, dtype=torch.float64) * 1.5
    x0 = x0[x0[:, 0].abs() > 0.05]  # off the line x = 0, where the two basins meet
    d = descend_box(ring, x0, step=0.01, max_steps=2000, grad_tol=1e-6, bounds=None)
    start = projected(torch.func.vmap(torch.func.grad(lambda x: ring(x[None])[0]))(x0), x0, None)
    assert bool(d.converged.all())
    assert bool((d.grad_norm <= 1e-6 * start.norm(dim=1)).all())
    assert torch.allclose(
        d.minima.abs(), torch.tensor([1.0, 0.0], dtype=torch.float64).expand_as(d.minima), atol=1e-4
    )
    assert torch.equal(d.minima[:, 0].sign(), x0[:, 0].sign())  # each in its own basin
    assert float(d.energies.abs().max()) < 1e-8  # E = 0 at the minima


def test_the_projected_descent_stops_at_box_corners_and_reports_what_did_not_converge():
    def tilt(x):  # -E rises towards +1 in every pixel: the minimum is the box's corner
        return x.flatten(1).sum(1)

    d = descend_box(tilt, torch.zeros(3, 5), step=0.1, max_steps=100, grad_tol=1e-6)
    assert torch.equal(d.minima, torch.ones(3, 5)) and bool(d.converged.all())
    assert torch.equal(projected(torch.ones(3, 5), d.minima, (-1.0, 1.0)), torch.zeros(3, 5))
    slow = descend_box(ring, torch.tensor([[0.3, 0.2]]), step=1e-4, max_steps=3, bounds=None)
    assert not bool(slow.converged.any()) and float(slow.grad_norm[0]) > 1e-3
    flat = descend_box(lambda x: 0 * x.sum(1), torch.zeros(2, 3), max_steps=5)
    assert bool(flat.converged.all()) and int(flat.steps.sum()) == 0  # a minimum already


def test_the_line_search_never_raises_the_energy():
    x0 = torch.tensor([[0.2, 0.9], [-1.7, 0.4]], dtype=torch.float64)
    e0 = -ring(x0)
    for steps in (1, 2, 5, 20):  # a step too long for the wall is refused, not taken
        d = descend_box(ring, x0, step=5.0, max_steps=steps, grad_tol=0, bounds=None)
        assert bool((d.energies <= e0 + 1e-12).all())
        e0 = d.energies


def test_equal_arc_length_spaces_points_along_the_polyline():
    path = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [0.2, 0.0], [3.0, 0.0], [3.0, 1.0]]])
    out = equal_arc_length(path)  # total length 4: points every 1.0 along the L
    want = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [3.0, 1.0]]])
    assert torch.allclose(out, want, atol=1e-6)


def test_the_string_finds_the_banana_saddle_the_straight_line_overstates():
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[-1.0, 0.0]], dtype=torch.float64)
    straight = barrier(banana, a, b, grid=65)
    along = path_barriers(banana, a, b, images=16, iterations=300, step=0.02, bounds=None)
    assert float(straight) == pytest.approx(10 + SADDLE)  # it climbs the wall at the centre
    assert float(along) == pytest.approx(SADDLE, rel=0.02)
    path = string_paths(banana, a, b, images=16, iterations=300, step=0.02, bounds=None)
    u, v = path[0, :, 0], path[0, :, 1]
    assert float((v - (1 - u**2)).abs().max()) < 0.05  # in the valley (the straight line: 1)


def test_paths_lower_the_barriers_and_the_landscape_keeps_both():
    x0 = torch.tensor([[1.1, 0.1], [0.9, -0.1], [-1.1, 0.1], [-0.9, -0.2]], dtype=torch.float64)
    # the straight line's barrier is read at the centre (an odd grid), the string's at the saddle
    land = map_landscape(
        banana,
        x0,
        eta=0.01,
        max_steps=2000,
        grad_tol=1e-6,
        same_tol=1e-3,
        n_basins=2,
        grid=33,
        bounds=None,
        method="projected",
        paths={"images": 16, "iterations": 300, "step": 0.02},
    )
    assert len(land.minima) == 2 and bool(land.converged.all())
    assert float(land.straight_barriers[0]) == pytest.approx(10 + SADDLE, rel=1e-4)
    assert float(land.barriers[0]) == pytest.approx(SADDLE, rel=0.05)
    assert land.tree.merges[0][0] == pytest.approx(SADDLE, rel=0.05)


def test_purity_by_level_against_its_definition():
    class Land:  # four minima: two pairs merging low, the pairs merging high
        minima = torch.zeros(4, 1)
        start_to_min = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
        tree = cluster(4, torch.tensor([[0, 1], [2, 3], [1, 2]]), torch.tensor([1.0, 1.5, 3.0]))

    labels = [0, 0, 0, 1, 1, 1, 1, 0]
    rows = purity_by_level(Land, labels, draws=50)
    assert [r["clusters"] for r in rows] == [1, 2, 4]
    for row, of_min in zip(rows, ([0, 0, 0, 0], [0, 0, 2, 2], [0, 1, 2, 3])):
        of_start = [of_min[m] for m in Land.start_to_min.tolist()]
        assert row["purity"] == purity(of_start, labels)[0]
        assert (row["chance_mean"], row["chance_std"]) == chance_purity(of_start, labels, 50, 0)
    assert rows[1]["purity"] == 6 / 8 and rows[2]["purity"] == 6 / 8
    assert not math.isnan(rows[2]["above_chance_in_std"])

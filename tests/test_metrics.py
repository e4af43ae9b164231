"""Metrics against closed forms."""

import math

import torch

from genzoo.metrics import (frechet_distance, frechet_distance_of, inception_score,
                            mse_unit_range, precision_recall)


def test_frechet_distance_of_two_gaussians_in_closed_form():
    # diagonal covariances commute: FD = |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert math.isclose(frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)), expected,
                        rel_tol=1e-9)
    # a rotated pair: FD is invariant under a common rotation
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
    fd = frechet_distance(q @ mu1.double(), q @ torch.diag(a).double() @ q.T,
                          q @ mu2.double(), q @ torch.diag(b).double() @ q.T)
    assert math.isclose(fd, expected, rel_tol=1e-7)


def test_frechet_distance_from_samples():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 2, generator=g, dtype=torch.float64)
    y = torch.randn(20000, 2, generator=g, dtype=torch.float64) * 2 + torch.tensor([3.0, 0.0])
    # N(0, I) vs N((3,0), 4I): 9 + 2 * (2 - 1)^2 = 11
    assert abs(frechet_distance_of(x, y) - 11) < 0.2
    assert frechet_distance_of(x, x) < 1e-9


def test_inception_score_extremes():
    confident_diverse = torch.eye(10).repeat(5, 1)  # one class each, all classes equally
    assert math.isclose(inception_score(confident_diverse)[0], 10, rel_tol=1e-6)
    uniform = torch.full((50, 10), 0.1)
    assert math.isclose(inception_score(uniform)[0], 1, rel_tol=1e-6)
    collapsed = torch.zeros(50, 10)
    collapsed[:, 3] = 1
    assert math.isclose(inception_score(collapsed)[0], 1, rel_tol=1e-6)


def test_precision_recall_on_known_point_sets():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    real = torch.cat([c + 0.1 * torch.randn(200, 2, generator=g) for c in centres])
    same = torch.cat([c + 0.1 * torch.randn(200, 2, generator=g) for c in centres])
    p, r = precision_recall(real, same)
    assert p > 0.9 and r > 0.9
    one_mode = centres[0] + 0.1 * torch.randn(400, 2, generator=g)  # drops a mode
    p, r = precision_recall(real, one_mode)
    assert p > 0.9 and 0.4 < r < 0.6
    off = torch.tensor([5.0, 5.0]) + 0.1 * torch.randn(400, 2, generator=g)  # nowhere near
    p, r = precision_recall(real, off)
    assert p == 0 and r == 0


def test_mse_on_a_known_pair():
    x = torch.full((2, 1, 2, 2), -1.0)
    y = torch.ones(2, 1, 2, 2)
    assert torch.equal(mse_unit_range(x, y), torch.ones(2))  # 0 vs 1 on the [0, 1] scale
    y[1] = 0.0
    assert torch.allclose(mse_unit_range(x, y), torch.tensor([1.0, 0.25]))

"""Metrics against closed forms."""

import math

import pytest
import torch

from genzoo.metrics import (
    Extractor,
    density_coverage,
    mse_unit_range,
    precision_recall,
    sample_quality,
)


def identity(logits_of=None):
    """Features = the input vectors; logits = ``logits_of(x)`` (default: the input)."""
    return Extractor(lambda x: (x, (logits_of or (lambda v: v))(x)), 2, {"feature_network": "id"})


@pytest.mark.filterwarnings("ignore:Metric `")
def test_fd_through_torchmetrics_matches_the_closed_form():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 2, generator=g, dtype=torch.float64)
    y = torch.randn(20000, 2, generator=g, dtype=torch.float64) * 2 + torch.tensor([3.0, 0.0])
    # N(0, I) vs N((3,0), 4I): |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2 = 9 + 2 * (2 - 1)^2
    q = sample_quality(identity(), x, y, batch=4096, kid_subset=500, kid_subsets=20)
    assert abs(q["fd"] - 11) < 0.2
    assert q["kid"] > 1  # the polynomial-kernel MMD of two different Gaussians
    same = sample_quality(
        identity(), x[:10000], x[10000:], batch=4096, kid_subset=500, kid_subsets=20
    )
    assert same["fd"] < 0.01 and abs(same["kid"]) < 0.05
    assert same["protocol"]["n_real"] == 10000 and same["protocol"]["library"].startswith(
        "torchmetrics"
    )


@pytest.mark.filterwarnings("ignore:Metric `")
def test_inception_score_extremes_through_torchmetrics():
    x = torch.randn(50, 2)
    confident_diverse = 100 * torch.eye(10).repeat(5, 1)  # one class each, all classes equally
    ext = identity(lambda v: confident_diverse[: len(v)])
    assert math.isclose(sample_quality(ext, x, x, kid_subset=10)["is"], 10, rel_tol=1e-4)
    ext = identity(lambda v: torch.zeros(len(v), 10))  # uniform
    assert math.isclose(sample_quality(ext, x, x, kid_subset=10)["is"], 1, rel_tol=1e-6)
    collapsed = torch.zeros(50, 10)
    collapsed[:, 3] = 100
    ext = identity(lambda v: collapsed[: len(v)])
    assert math.isclose(sample_quality(ext, x, x, kid_subset=10)["is"], 1, rel_tol=1e-4)


def test_density_and_coverage_on_known_point_sets():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(2000, 2, generator=g)
    d, c = density_coverage(real, torch.randn(2000, 2, generator=g))
    assert 0.8 < d < 1.2 and c > 0.8  # alike: density about 1, coverage about 1 - 2^-k
    d, c = density_coverage(real, 0.05 * torch.randn(2000, 2, generator=g))  # crowded centre
    assert d > 1.1 and c < 0.2
    d, c = density_coverage(real, torch.randn(2000, 2, generator=g) + 20)  # nowhere near
    assert d == 0 and c == 0


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


@pytest.mark.filterwarnings("ignore:Metric `")
@pytest.mark.filterwarnings("ignore:std")
def test_remembered_data_features_are_found_by_contents_and_give_the_same_numbers(monkeypatch):
    from genzoo import metrics

    monkeypatch.setattr(metrics, "_REMEMBERED", {})
    passes = []

    def counted(protocol):
        def pair(x):
            passes.append(len(x))
            return x * 2, x

        return Extractor(pair, 2, protocol)

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g) + 1
    plain = sample_quality(counted({"n": "a"}), real, fake, batch=100, kid_subset=50)
    assert passes == [100] * 6  # one pass per batch, the metric objects sharing it
    passes.clear()
    first = sample_quality(counted({"n": "a"}), real, fake, batch=100, kid_subset=50, remember=True)
    again = sample_quality(
        counted({"n": "a"}), real.clone(), fake, batch=100, kid_subset=50, remember=True
    )
    assert passes == [100] * 6 + [100] * 3  # the data's three batches are passed once
    for q in (first, again):
        for k in ("fd", "kid", "is", "precision", "recall", "density", "coverage"):
            assert q[k] == plain[k], k
    passes.clear()
    moved = real.clone()
    moved[0, 0] += 1e-3  # other contents, or another feature network: passed again
    sample_quality(counted({"n": "a"}), moved, fake, batch=100, kid_subset=50, remember=True)
    assert len(passes) == 1 + 3  # its first batch, then the samples' three
    sample_quality(counted({"n": "b"}), real, fake, batch=100, kid_subset=50, remember=True)
    assert len(passes) == 4 + 6

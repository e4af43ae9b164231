"""Sample-quality and reconstruction metrics: Fréchet distance, Inception-Score analogue,
k-NN precision/recall, per-pixel MSE. Pure tensor math, tested against closed forms."""

from __future__ import annotations

import torch


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of ``features`` (N, D), in float64."""
    f = features.double()
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / max(1, len(f) - 1)


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2): the Fréchet (2-
    Wasserstein) distance between N(mu1, S1) and N(mu2, S2)."""
    mu1, mu2, s1, s2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    r1 = _sqrt_psd(s1)
    inner = r1 @ s2 @ r1
    tr_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + s1.trace() + s2.trace() - 2 * tr_sqrt)


def frechet_distance_of(a: torch.Tensor, b: torch.Tensor) -> float:
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


def inception_score(probs: torch.Tensor, splits: int = 1) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) over ``splits`` parts: mean and standard deviation."""
    p = probs.double().clamp(min=1e-12)
    scores = []
    for part in p.chunk(splits):
        py = part.mean(0, keepdim=True)
        scores.append(float((part * (part.log() - py.log())).sum(1).mean().exp()))
    t = torch.tensor(scores)
    return float(t.mean()), float(t.std()) if len(scores) > 1 else 0.0


def _kth_radius(x: torch.Tensor, k: int, batch: int = 1024) -> torch.Tensor:
    out = []
    for i in range(0, len(x), batch):
        d = torch.cdist(x[i:i + batch], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(out)


def _covered(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
             batch: int = 1024) -> torch.Tensor:
    out = []
    for i in range(0, len(points), batch):
        d = torch.cdist(points[i:i + batch], centres)
        out.append((d <= radii.unsqueeze(0)).any(1))
    return torch.cat(out)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision and recall (Kynkäänniemi et al., 2019): precision is the share
    of generated points inside the real manifold (the union of balls around each real point
    reaching its k-th nearest real neighbour); recall the share of real points inside the
    generated manifold. Mode dropping lowers recall."""
    real, fake = real.double(), fake.double()
    precision = _covered(fake, real, _kth_radius(real, k)).double().mean()
    recall = _covered(real, fake, _kth_radius(fake, k)).double().mean()
    return float(precision), float(recall)


def mse_unit_range(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example mean squared error per pixel after mapping [-1, 1] to [0, 1]."""
    return ((x - y) / 2).pow(2).flatten(1).mean(1)

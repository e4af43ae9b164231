"""Barriers along minimum-energy paths: the simplified string method (E, Ren and
Vanden-Eijnden, J. Chem. Phys. 126, 164103, 2007) between pairs of minima, beside the paper's
straight line.

A string of ``images`` points joins the two minima (its ends fixed). Each iteration moves the
inner points down the energy ``-f`` (a gradient step of ``step``, kept in the box) and then
spaces all points again at equal arc length along the string; the string relaxes to a path
whose points feel no force across it, the minimum-energy path, and its highest point to the
saddle between the minima. Both the straight line's highest point and the string's are upper
bounds of the barrier that any path between the minima must cross; the string's is the
tighter.
"""

from __future__ import annotations

import torch

from genzoo.analysis.box_descent import energy_of


def equal_arc_length(path: torch.Tensor) -> torch.Tensor:
    """``path`` (P, M, D) respaced to M points at equal arc length along its polyline (linear
    interpolation; the ends stay)."""
    P, M, _ = path.shape
    seg = (path[:, 1:] - path[:, :-1]).norm(dim=2)  # (P, M-1)
    s = torch.cat([torch.zeros(P, 1, dtype=path.dtype, device=path.device), seg.cumsum(1)], 1)
    total = s[:, -1:].clamp_min(1e-12)
    s = s / total
    target = torch.linspace(0, 1, M, dtype=path.dtype, device=path.device).expand(P, M)
    k = torch.searchsorted(s.contiguous(), target.contiguous(), right=True).clamp(1, M - 1) - 1
    s0, s1 = s.gather(1, k), s.gather(1, k + 1)
    w = ((target - s0) / (s1 - s0).clamp_min(1e-12)).clamp(0, 1).unsqueeze(2)
    idx = k.unsqueeze(2).expand(-1, -1, path.shape[2])
    out = path.gather(1, idx) * (1 - w) + path.gather(1, idx + 1) * w
    out[:, 0], out[:, -1] = path[:, 0], path[:, -1]
    return out


def string_paths(
    f,
    a: torch.Tensor,
    b: torch.Tensor,
    images: int = 12,
    iterations: int = 100,
    step: float = 0.01,
    bounds: tuple[float, float] | None = (-1.0, 1.0),
) -> torch.Tensor:
    """The relaxed strings between ``a[k]`` and ``b[k]``: (P, images, *a.shape[1:])."""
    shape = a.shape[1:]
    gam = torch.linspace(0, 1, images, dtype=a.dtype, device=a.device).view(1, images, 1)
    fa, fb = a.flatten(1).unsqueeze(1), b.flatten(1).unsqueeze(1)
    path = fa + gam * (fb - fa)  # (P, M, D): the straight line to start from
    for _ in range(iterations):
        inner = path[:, 1:-1].reshape(-1, *shape).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(inner).sum(), inner)
        with torch.no_grad():
            moved = inner + step * g
            if bounds is not None:
                moved = moved.clamp(*bounds)
            path = torch.cat([fa, moved.reshape(len(a), images - 2, -1), fb], 1)
            path = equal_arc_length(path)
    return path.detach().reshape(len(a), images, *shape)


def path_barriers(
    f,
    a: torch.Tensor,
    b: torch.Tensor,
    images: int = 12,
    iterations: int = 100,
    step: float = 0.01,
    bounds: tuple[float, float] | None = (-1.0, 1.0),
    refine: int = 4,
    pairs_per_batch: int = 16,
    progress=None,
) -> torch.Tensor:
    """The highest energy ``-f`` along each relaxed string, read on ``refine`` points per
    segment of its polyline."""
    task = progress.add_task("path barriers", total=len(a)) if progress is not None else None
    out = []
    for i in range(0, len(a), pairs_per_batch):
        path = string_paths(
            f,
            a[i : i + pairs_per_batch],
            b[i : i + pairs_per_batch],
            images,
            iterations,
            step,
            bounds,
        )
        flat = path.flatten(2)
        t = torch.linspace(0, 1, refine + 1, dtype=a.dtype, device=a.device)[:-1].view(1, 1, -1, 1)
        fine = flat[:, :-1, None] + t * (flat[:, 1:, None] - flat[:, :-1, None])
        fine = torch.cat([fine.flatten(1, 2), flat[:, -1:]], 1)  # (P, (M-1)*refine + 1, D)
        e = energy_of(f, fine.reshape(-1, *a.shape[1:])).view(len(path), -1)
        out.append(e.max(1).values)
        if progress is not None:
            progress.advance(task, len(path))
    return torch.cat(out) if out else torch.zeros(0)

"""A descent that reaches minima: projected gradient descent on the energy ``-f`` inside the
pixel box, with a backtracking (Armijo) line search per point, and convergence reported per
point by the first-order condition of the box-constrained problem: the projected gradient's
norm down to ``grad_tol`` times its norm at the start (scale-free: an energy's scale is its
own).

The paper's fixed-step steepest descent (:func:`genzoo.analysis.landscape.descend`) stops
where the energy changes little, which on a nearly flat or piecewise-linear energy is far
from a minimum; this one stops only at a point where no direction inside the box lowers the
energy (or at ``max_steps``, reported as not converged).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ARMIJO = 1e-4  # the share of the first-order decrease a step must achieve
GROW, SHRINK = 1.5, 0.5  # a point's step after an accepted / a rejected trial


@dataclass
class Descent:
    minima: torch.Tensor  # (n, ...) where each descent ended
    energies: torch.Tensor  # (n,) -f there
    steps: torch.Tensor  # (n,) accepted steps
    converged: torch.Tensor  # (n,) bool: projected gradient norm <= grad_tol x its start
    grad_norm: torch.Tensor  # (n,) the projected gradient's norm at the end


def energy_of(f, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """``-f(x)`` in batches, without gradients."""
    with torch.no_grad():
        return torch.cat([-f(x[i : i + batch]) for i in range(0, len(x), batch)])


def projected(g: torch.Tensor, x: torch.Tensor, bounds) -> torch.Tensor:
    """``g`` (an ascent direction of f) without the components that push a pixel at a bound
    further out: zero exactly at a minimum of the box-constrained energy."""
    if bounds is None:
        return g
    lo, hi = bounds
    return g.masked_fill(((x >= hi) & (g > 0)) | ((x <= lo) & (g < 0)), 0.0)


def _value_and_grad(f, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    v = f(x)
    (g,) = torch.autograd.grad(v.sum(), x)
    return v.detach(), g.detach()


def descend_box(
    f,
    x0: torch.Tensor,
    step: float = 0.01,
    max_steps: int = 500,
    grad_tol: float = 1e-3,
    bounds: tuple[float, float] | None = (-1.0, 1.0),
    batch: int = 256,
    progress=None,
) -> Descent:
    """From each row of ``x0``: ``x <- clip(x + t grad f(x))`` with a step ``t`` of the
    point's own, accepted when f rises by at least ``ARMIJO`` of the first-order gain
    ``grad f . (x' - x)`` (then ``t`` grows by 1.5), else halved; until the projected
    gradient's norm is at most ``grad_tol`` times its norm at ``x0`` (zero: a minimum
    already) or ``max_steps`` trials have run."""
    outs, energies, taken, conv, norms = [], [], [], [], []
    task = progress.add_task("descending", total=len(x0)) if progress is not None else None
    for i in range(0, len(x0), batch):
        x = x0[i : i + batch].detach().clone()
        if bounds is not None:
            x = x.clamp(*bounds)
        n = len(x)
        t = torch.full((n,), float(step), device=x.device, dtype=x.dtype)
        accepted = torch.zeros(n, dtype=torch.long, device=x.device)
        done = torch.zeros(n, dtype=torch.bool, device=x.device)
        gnorm = torch.full((n,), float("inf"), device=x.device, dtype=x.dtype)
        tol = None  # each point's grad_tol x its starting norm
        for _ in range(max_steps):
            idx = (~done).nonzero().squeeze(1)
            if len(idx) == 0:
                break
            xa = x[idx]
            v, g = _value_and_grad(f, xa)
            pg = projected(g, xa, bounds)
            gnorm[idx] = pg.flatten(1).norm(dim=1)
            if tol is None:
                tol = grad_tol * gnorm.clone()
            stop = gnorm[idx] <= tol[idx]
            done[idx[stop]] = True
            go = ~stop
            idx, xa, v, g = idx[go], xa[go], v[go], g[go]
            if len(idx) == 0:
                break
            shape = (-1,) + (1,) * (xa.dim() - 1)
            trial = xa + t[idx].view(shape) * g
            if bounds is not None:
                trial = trial.clamp(*bounds)
            with torch.no_grad():
                gain = f(trial) - v
            expected = (g * (trial - xa)).flatten(1).sum(1)
            ok = (gain >= ARMIJO * expected) & (gain >= 0)
            x[idx[ok]] = trial[ok]
            accepted[idx[ok]] += 1
            t[idx] = torch.where(ok, t[idx] * GROW, t[idx] * SHRINK)
        # points still moving at the end: their gradient where they stopped
        rest = (~done).nonzero().squeeze(1)
        if len(rest):
            _, g = _value_and_grad(f, x[rest])
            gnorm[rest] = projected(g, x[rest], bounds).flatten(1).norm(dim=1)
            done[rest] = gnorm[rest] <= tol[rest]
        with torch.no_grad():
            energies.append(-f(x).detach())
        outs.append(x)
        taken.append(accepted.cpu())
        conv.append(done.cpu())
        norms.append(gnorm.cpu())
        if progress is not None:
            progress.advance(task, n)
    return Descent(
        torch.cat(outs), torch.cat(energies), torch.cat(taken), torch.cat(conv), torch.cat(norms)
    )


def report(d: Descent, bounds, max_steps: int, grad_tol: float) -> dict:
    """The descent's summary: the share of points that converged, the median projected
    gradient norm at the end, and the share of pixels on a bound."""
    at_bound = 0.0
    if bounds is not None and len(d.minima):
        at_bound = float(((d.minima <= bounds[0]) | (d.minima >= bounds[1])).float().mean())
    return {
        "method": "projected",
        "converged": float(d.converged.float().mean()) if len(d.converged) else 1.0,
        "grad_norm_median": float(d.grad_norm.median()) if len(d.grad_norm) else 0.0,
        "at_bound": at_bound,
        "max_steps": max_steps,
        "grad_tol": grad_tol,
    }

"""Langevin dynamics on a learned energy: the one sampler CoopNets, alternating back-propagation
and ``genzoo sample --langevin-steps`` share.

For a density ``p(x) ∝ exp(f(x)) · N(x; 0, sigma^2 I)`` (the reference Gaussian is optional),
each step is

    x <- x + (delta^2 / 2) * grad_x [f(x) - |x|^2 / (2 sigma^2)] + delta * eps,   eps ~ N(0, I)

which samples ``p`` as ``delta -> 0`` and the number of steps grows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def langevin(
    f: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    steps: int,
    step_size: float,
    noise: bool = True,
    reference_sigma: float = 0.0,
    bounds: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``steps`` Langevin steps of size ``step_size`` (delta) from ``x0`` on ``log p = f`` (plus
    the reference Gaussian's ``-|x|^2 / (2 sigma^2)`` when ``reference_sigma > 0``). ``f``
    returns one value per example; ``noise = False`` gives gradient ascent; ``bounds`` clamps
    after every step. Returns the final points, detached."""
    if steps < 0 or step_size <= 0:
        raise ValueError("Langevin needs steps >= 0 and step_size > 0")
    x = x0.detach().clone()
    for _ in range(steps):
        x.requires_grad_(True)
        with torch.enable_grad():
            log_p = f(x).sum()
            if reference_sigma > 0:
                log_p = log_p - x.pow(2).sum() / (2 * reference_sigma**2)
            (grad,) = torch.autograd.grad(log_p, x)
        with torch.no_grad():
            x = x + 0.5 * step_size**2 * grad
            if noise:
                x = x + step_size * torch.randn(
                    x.shape, generator=generator, device=x.device, dtype=x.dtype
                )
            if bounds is not None:
                x = x.clamp(*bounds)
        x = x.detach()
    return x

"""Langevin dynamics on a learned energy: the one sampler CoopNets, alternating back-propagation,
the MCMC-trained energy-based models (genzoo_ebm) and ``genzoo sample --langevin-steps`` share.

For a density ``p(x) ∝ exp(f(x)) · N(x; 0, sigma^2 I)`` (the reference Gaussian is optional),
each step is

    x <- x + (delta^2 / 2) * grad_x [f(x) - |x|^2 / (2 sigma^2)] + delta * eps,   eps ~ N(0, I)

which samples ``p`` as ``delta -> 0`` and the number of steps grows (:func:`langevin`).
:func:`chain` is the same loop with the gradient's step and the noise's scale set apart, as
the short-run and replay-buffer EBMs run it (``x <- x + a * grad + b * eps``, ``b`` much smaller
than ``sqrt(2 a)``: a non-convergent sampler that is learned with, not a sampler of ``p``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def chain(
    f: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    steps: int,
    gradient_step: float,
    noise_std: float,
    reference_sigma: float = 0.0,
    bounds: tuple[float, float] | None = None,
    gradient_clip: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``steps`` updates ``x <- x + gradient_step * grad log p(x) + noise_std * eps`` from
    ``x0``, with ``log p = f`` (plus ``-|x|^2 / (2 sigma^2)`` when ``reference_sigma > 0``);
    ``gradient_clip > 0`` clamps each gradient entry to ``[-clip, clip]`` first and ``bounds``
    clamps ``x`` after every update. ``f`` returns one value per example. Returns the final
    points, detached; the networks' parameters get no gradient."""
    if steps < 0 or gradient_step < 0 or noise_std < 0 or gradient_clip < 0:
        raise ValueError("a Langevin chain needs steps, gradient step, noise and clip >= 0")
    x = x0.detach().clone()
    for _ in range(steps):
        x.requires_grad_(True)
        with torch.enable_grad():
            log_p = f(x).sum()
            if reference_sigma > 0:
                log_p = log_p - x.pow(2).sum() / (2 * reference_sigma**2)
            (grad,) = torch.autograd.grad(log_p, x)
        with torch.no_grad():
            if gradient_clip > 0:
                grad = grad.clamp(-gradient_clip, gradient_clip)
            x = x + gradient_step * grad
            if noise_std > 0:
                x = x + noise_std * torch.randn(
                    x.shape, generator=generator, device=x.device, dtype=x.dtype
                )
            if bounds is not None:
                x = x.clamp(*bounds)
        x = x.detach()
    return x


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
    return chain(
        f,
        x0,
        steps,
        gradient_step=0.5 * step_size**2,
        noise_std=step_size if noise else 0.0,
        reference_sigma=reference_sigma,
        bounds=bounds,
        generator=generator,
    )

"""Latent vectors for pictures: straight lines between pairs of prior draws (Fig. 10)."""

from __future__ import annotations

import torch


def interpolation_latents(
    latent_shape: tuple[int, ...], rows: int, steps: int, seed: int = 0
) -> torch.Tensor:
    """``rows`` lines of ``steps`` points ``(1 - a) z0 + a z1``, a in [0, 1], row by row:
    shape ``(rows * steps, *latent_shape)``."""
    g = torch.Generator().manual_seed(seed)
    z0, z1 = (
        torch.randn((rows, *latent_shape), generator=g),
        torch.randn((rows, *latent_shape), generator=g),
    )
    a = torch.linspace(0, 1, steps).view(1, steps, *([1] * len(latent_shape)))
    return ((1 - a) * z0.unsqueeze(1) + a * z1.unsqueeze(1)).flatten(0, 1)


def fixed_noise(recipe, models, n: int) -> torch.Tensor:
    """The latents of a run's sample grids (their first rows) and stage measurements."""
    g = torch.Generator().manual_seed(recipe.seed + 12345)
    return torch.randn((n, *models.drawing.latent_shape), generator=g)

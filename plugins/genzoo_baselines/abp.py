"""Alternating back-propagation (Han, Lu, Zhu and Wu, AAAI 2017; the paper's reference [5])."""

from __future__ import annotations

import torch

from genzoo.interfaces import Models
from genzoo.langevin import langevin
from genzoo.objective import Draws, Objective, Terms, per_example_sq_error


class ABP(Objective):
    """Alternating back-propagation (Han et al., 2017): a generator learned by maximum
    likelihood without an inference model.

    Each training example ``x_i`` keeps its own latent vector ``z_i`` (per-example state
    ``abp.z``, drawn from N(0, I) at the start). Each visit (inferential back-propagation)
    revises it by ``langevin_steps`` Langevin steps of size ``step_size`` on the posterior
    ``log p(z|x) = -|x - g(z)|^2 / (2 s^2) - |z|^2 / 2 + const`` (``genzoo.langevin``; ``noise =
    false`` gives gradient ascent) and keeps the result; then (learning back-propagation) theta
    minimises ``|x - g(z_i)|^2 / (2 s^2)`` (``kl_data_p.recon``: maximum likelihood is
    ``KL(p_data || p_theta)``). alpha and phi are not stepped.
    """

    state = "abp.z"

    def __init__(self, langevin_steps: int = 20, step_size: float = 0.1, noise: bool = True):
        if langevin_steps < 0 or step_size <= 0:
            raise ValueError("abp needs langevin_steps >= 0 and step_size > 0")
        self.steps, self.step_size, self.noise = langevin_steps, step_size, noise

    def per_example(self, n: int, models: Models) -> dict[str, torch.Tensor]:
        return {self.state: torch.randn((n, *models.generator.latent_shape))}

    def log_posterior(self, d: Draws, x: torch.Tensor):
        """``z -> log p(x|z)`` per example, up to a constant (the prior is Langevin's
        reference Gaussian)."""
        return lambda z: -per_example_sq_error(x, d.models.generator(z)) / (2.0 * d.s**2)

    def latents(self, d: Draws) -> torch.Tensor:
        """The batch's ``z_i`` after this visit's Langevin revision (once per iteration)."""

        def revise():
            z = langevin(
                self.log_posterior(d, d.x),
                d.rows(self.state),
                self.steps,
                self.step_size,
                self.noise,
                reference_sigma=1.0,
            )
            d.set_rows(self.state, z)
            return z

        return d.memo("abp.z", (), revise)

    def theta(self, d: Draws) -> Terms:
        recon = per_example_sq_error(d.x, d.models.generator(self.latents(d)))
        return {"kl_data_p.recon": (recon / (2.0 * d.s**2)).mean()}

    def reconstruct(self, d: Draws) -> torch.Tensor:
        return d.models.generator(self.latents(d))

"""WGAN with gradient penalty (Gulrajani et al., 2017)."""

import torch

from genzoo.objective import Draws, Objective, Terms


class WGANGP(Objective):
    """WGAN with gradient penalty (Gulrajani et al., 2017).

    The energy network is the critic ``f``.

    alpha minimises ``E_p f(x~) - E_data f(x)`` (``wasserstein``) plus
    ``penalty * E (|grad f(x^)| - 1)^2`` at random points ``x^`` between real and generated
    examples (``gradient_penalty``); theta minimises ``-E_p f(x~)``. The generator steps once per
    ``n_critic`` critic steps, each critic step on a fresh batch (an iteration is one critic
    step). No inference model.
    """

    def __init__(self, penalty: float = 10.0, n_critic: int = 5):
        if penalty < 0 or n_critic < 1:
            raise ValueError("wgan_gp needs penalty >= 0 and n_critic >= 1")
        self.penalty = penalty
        self.every = {"theta": n_critic}

    def alpha(self, d: Draws) -> Terms:
        return {
            "wasserstein": d.f_dream.mean() - d.f_data.mean(),
            "gradient_penalty": self.penalty * self._penalty(d),
        }

    def theta(self, d: Draws) -> Terms:
        return {"wasserstein": -d.f_dream.mean()}

    @staticmethod
    def _penalty(d: Draws) -> torch.Tensor:
        x, fake = d.x, d.x_tilde.detach()
        eps = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype)
        between = (eps * x + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(d.models.energy(between).sum(), between, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

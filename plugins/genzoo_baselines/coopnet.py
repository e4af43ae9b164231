"""Cooperative training of an energy model and a generator (CoopNets, Xie et al., 2018)."""

from genzoo.langevin import langevin
from genzoo.objective import Draws, Objective, Terms, per_example_sq_error


class CoopNet(Objective):
    """Cooperative training of an energy model and a generator (CoopNets, Xie et al., 2018).

    The generator's samples ``x~ = g(z)`` are revised by ``langevin_steps`` Langevin steps on
    the energy model (``genzoo.langevin``, step ``step_size``, reference Gaussian
    ``reference_sigma``; 0 for none), once per iteration: ``x^``.

    alpha learns from the revised samples by maximum likelihood, minimising
    ``E f(x^) - E_data f(x)`` (``mle``); theta learns how Langevin revised its samples,
    minimising ``|x^ - g(z)|^2 / (2 s^2)`` for the same ``z`` (``revision``). No inference model.
    """

    def __init__(
        self,
        langevin_steps: int = 15,
        step_size: float = 0.01,
        reference_sigma: float = 1.0,
        noise: bool = True,
    ):
        if langevin_steps < 0 or step_size <= 0 or reference_sigma < 0:
            raise ValueError(
                "coopnet needs langevin_steps >= 0, step_size > 0 and reference_sigma >= 0"
            )
        self.steps, self.step_size = langevin_steps, step_size
        self.reference_sigma, self.noise = reference_sigma, noise

    def revised(self, d: Draws):
        """``x^``: drawn once per iteration with the energy model as it was then."""
        return d.memo(
            "coopnet.revised",
            (),
            lambda: langevin(
                d.models.energy,
                d.x_tilde.detach(),
                self.steps,
                self.step_size,
                self.noise,
                self.reference_sigma,
                bounds=(-1.0, 1.0),
            ),
        )

    def alpha(self, d: Draws) -> Terms:
        return {"mle": d.models.energy(self.revised(d)).mean() - d.f_data.mean()}

    def theta(self, d: Draws) -> Terms:
        return {
            "revision": (per_example_sq_error(self.revised(d), d.x_tilde) / (2.0 * d.s**2)).mean()
        }

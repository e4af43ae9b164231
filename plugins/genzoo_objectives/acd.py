"""Adversarial contrastive divergence, max_alpha min_theta min_phi KL(P||Pi) - KL(Q||Pi)
(section 3.2.2, eqs. 15-18)."""

from typing import Annotated

from pydantic import Field

from genzoo.objective import Draws, Objective, Terms


class ACD(Objective):
    """Adversarial contrastive divergence: KL(P||Pi) - KL(Q||Pi).

    Here P = p(z) p_theta(x|z), Pi = pi_alpha(x) q_phi(z|x), Q = q_data(x) q_phi(z|x).

    log Z(alpha) cancels between the two KLs, so alpha minimises
    ``E_P f(x~) - E_data f(x)`` (the alpha-parts of KL(P||Pi) and -KL(Q||Pi), eq. 17).
    KL(P||Pi) = E_P[-f(x~) - log q_phi(z|x~)] + const also trains theta (chasing pi_alpha, with
    -log q as the variational bound on the generator's negative entropy, eq. 18) and phi (the
    sleep phase: infer z from dream data). KL(Q||Pi) does not depend on theta or phi.

    ``entropy_weight`` scales the -log q_phi(z|x~) terms (the authors' code: 0.1).
    ``energy_l2`` (0: off, the paper) adds ``w (E_data f^2 + E_P f^2)`` to alpha's loss, the
    energy-magnitude penalty of Du & Mordatch (2019). The KLs fix f only up to its scale, so
    without it nothing stops f on data and on dream data from drifting apart without bound;
    with it the gap between their means settles at no more than ``1 / w``.
    CEGAN (Dai et al., 2017) is this objective.
    """

    def __init__(
        self, entropy_weight: float = 0.1, energy_l2: Annotated[float, Field(ge=0, le=1e3)] = 0.0
    ):
        self.entropy_weight = entropy_weight
        self.energy_l2 = energy_l2

    def alpha(self, d: Draws) -> Terms:
        terms = {
            "kl_p_pi": d.f_dream.mean(),  # +E_P f: push f down on dream data
            "kl_q_pi": -d.f_data.mean(),  # -E_data f: push f up on real data
        }
        if self.energy_l2:
            terms["energy_l2"] = self.energy_l2 * (
                d.f_data.square().mean() + d.f_dream.square().mean()
            )
        return terms

    def phi(self, d: Draws) -> Terms:
        return {"kl_p_pi.inference": self.entropy_weight * d.neg_log_q_dream().mean()}

    def theta(self, d: Draws) -> Terms:
        return {
            "kl_p_pi.energy": -d.f_dream.mean(),
            "kl_p_pi.entropy": self.entropy_weight * d.neg_log_q_dream().mean(),
        }

"""Variational learning, min_theta min_phi KL(Q||P) (section 3.2.1, eq. 14)."""

from typing import Literal

from genzoo.objective import Draws, Objective, Terms


class VAE(Objective):
    """Variational auto-encoder: KL(Q||P), Q = q_data(x) q_phi(z|x), P = p(z) p_theta(x|z).

    Up to constants, KL(Q||P) = E_Q[ ||x - g(z^)||^2 / (2 s^2) ] + E_x KL(q_phi(.|x) || p(z)):
    the reconstruction term (``kl_q_p.recon``) and the prior term (``kl_q_p.prior``).

    ``prior_kl``: "sum" over latent units (the textbook ELBO) or "mean" (the authors' code,
    a 1/d weight). ``prior_weight`` scales the prior term.
    """

    def __init__(self, prior_kl: Literal["sum", "mean"] = "mean", prior_weight: float = 1.0):
        self.prior_kl = prior_kl
        self.prior_weight = prior_weight

    def phi(self, d: Draws) -> Terms:
        return {
            "kl_q_p.recon": d.reconstruction_error().mean(),
            "kl_q_p.prior": self.prior_weight * d.posterior.kl_to_prior(self.prior_kl).mean(),
        }

    def theta(self, d: Draws) -> Terms:
        return {"kl_q_p.recon": d.reconstruction_error().mean()}

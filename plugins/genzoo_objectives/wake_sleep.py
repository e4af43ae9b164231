"""The wake-sleep algorithm (Hinton et al., 1995; section 3.2.1): no single objective."""

from genzoo.objective import Draws, Objective, Terms


class WakeSleep(Objective):
    """The wake-sleep algorithm (Hinton et al., 1995): no single objective.

    Wake: theta minimises KL(Q||P) with z^ ~ q_phi(z|x) held fixed (``kl_q_p.wake``).
    Sleep: phi minimises KL(P||Q) = E_P[-log q_phi(z|x~)] + const on dream data
    (``kl_p_q.sleep``), instead of the VAE's KL(Q||P).

    ``sleep_weight`` scales the sleep term.
    """

    def __init__(self, sleep_weight: float = 1.0):
        self.sleep_weight = sleep_weight

    def phi(self, d: Draws) -> Terms:
        return {"kl_p_q.sleep": self.sleep_weight * d.neg_log_q_dream().mean()}

    def theta(self, d: Draws) -> Terms:
        # theta's step never moves z^ (gradients go to theta only): the wake phase.
        return {"kl_q_p.wake": d.reconstruction_error().mean()}

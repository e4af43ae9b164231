"""The paper's objectives: VAE, adversarial contrastive divergence, wake-sleep, the triangle."""

from genzoo import hookimpl
from genzoo_objectives.acd import ACD
from genzoo_objectives.vae import VAE
from genzoo_objectives.wake_sleep import WakeSleep


@hookimpl
def register_objectives(register):
    register("vae", VAE)
    register("acd", ACD)
    register("wake_sleep", WakeSleep)
    # The divergence triangle D = KL(Q||P) + KL(P||Pi) - KL(Q||Pi) (eq. 13) is the sum of the
    # VAE and ACD objectives, composed exactly as a recipe's objective = ["vae", "acd"] is.
    register("triangle", ["vae", "acd"])

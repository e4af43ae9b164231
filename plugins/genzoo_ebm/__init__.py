"""Energy-based models trained by MCMC, the ones the divergence triangle sets out to avoid:
short-run Langevin from noise (Nijkamp et al., 2019), persistent chains in a replay buffer (Du &
Mordatch, 2019) and the latent-space energy prior of a generator (Pang et al., 2020)."""

from genzoo import hookimpl
from genzoo_ebm.latent_prior import LatentEBM
from genzoo_ebm.pcd import PCD
from genzoo_ebm.short_run import ShortRun


@hookimpl
def register_objectives(register):
    register("short_run", ShortRun)
    register("pcd", PCD)
    register("latent_ebm", LatentEBM)

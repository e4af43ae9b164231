"""The baselines of the paper's Tables 1-3 on genzoo's players: the energy network serves as
discriminator or critic (ALI and ALICE add a joint discriminator of their own), the generator is
the paper's, the inference model is unused where the baseline has none (GANs, CoopNets, ABP).
CEGAN (Dai et al., 2017) is the ``acd`` objective of genzoo_objectives."""

from genzoo import hookimpl
from genzoo_baselines.abp import ABP
from genzoo_baselines.ali import ALI, ALICE
from genzoo_baselines.coopnet import CoopNet
from genzoo_baselines.gan import GAN
from genzoo_baselines.wgan_gp import WGANGP


@hookimpl
def register_objectives(register):
    register("gan", GAN)
    register("wgan_gp", WGANGP)
    register("coopnet", CoopNet)
    register("ali", ALI)
    register("alice", ALICE)
    register("abp", ABP)

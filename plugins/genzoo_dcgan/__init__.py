"""DCGAN-style networks of the paper's appendix (Tables 4-6)."""

from genzoo import hookimpl
from genzoo_dcgan.nets import build_dcgan


@hookimpl
def register_architectures(register):
    register("dcgan", build_dcgan)

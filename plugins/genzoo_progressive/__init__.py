"""High-resolution progressive training (section 4.1.3): networks that grow in synchrony."""

from genzoo import hookimpl
from genzoo_progressive.nets import build_progressive


@hookimpl
def register_architectures(register):
    register("progressive", build_progressive)

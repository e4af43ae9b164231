"""Texture networks of section 4.1.4."""

from genzoo import hookimpl
from genzoo_texture.nets import build_texture


@hookimpl
def register_architectures(register):
    register("texture", build_texture)

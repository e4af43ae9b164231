"""MkDocs hooks: the CLI reference documents the whole ``genzoo`` group, the commands plugins
add through ``register_commands`` (the analysis commands among them) included; docstrings'
Sphinx roles are shown as code."""

import re

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc):\s*(<code>)(~?)([\w.]*?)(\w+)(</code>)")


def on_startup(**kwargs):
    from genzoo.cli import add_plugin_commands

    add_plugin_commands()


def on_page_content(html, **kwargs):
    """``:class:`~genzoo.x.Y``` becomes the code ``Y`` (``~`` shortens to the last name, as
    Sphinx does) and ``:func:`genzoo.f``` the code ``genzoo.f``."""
    return ROLE.sub(lambda m: m[1] + (m[4] if m[2] else m[3] + m[4]) + m[5], html)

"""MkDocs hooks: the CLI reference documents the whole ``genzoo`` group, the commands plugins
add through ``register_commands`` (the analysis commands among them) included."""


def on_startup(**kwargs):
    from genzoo.cli import add_plugin_commands

    add_plugin_commands()


ROLE = None


def on_page_content(html, **kwargs):
    """Docstrings name things with Sphinx roles (``:class:`~genzoo.x.Y```): shown as code,
    the role left out and a leading ``~`` shortened to the last name, as Sphinx does."""
    import re

    global ROLE
    ROLE = ROLE or re.compile(
        r":(?:class|func|meth|mod|attr|data|exc):\s*(<code>)~?([\w.]*?)([\w]+)(</code>)"
    )

    def shown(m):
        full = m.group(2) + m.group(3)
        return f"{m.group(1)}{m.group(3) if '~' in m.group(0) else full}{m.group(4)}"

    return ROLE.sub(shown, html)

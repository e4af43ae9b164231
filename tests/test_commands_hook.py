"""``register_commands``: a plugin adds a ``genzoo`` subcommand exactly as the built-in
analysis commands are added; its bad input is one line with exit code 2."""

from __future__ import annotations

import click
import pytest
from conftest import cli

from genzoo import GenzooError, hookimpl, plugins


class Greeter:
    """Says hello (a test plugin)."""

    @hookimpl
    def register_commands(self, cli):
        @cli.command()
        @click.argument("name")
        def hello(name):
            """Greet NAME."""
            if not name.strip():
                raise GenzooError("a name cannot be blank; pass one")
            click.echo(f"hello {name}")


@pytest.fixture
def greeter():
    plugin = Greeter()
    plugins.register_plugin(plugin, "genzoo-greeter")
    yield plugin
    plugins.unregister_plugin(plugin)


def test_a_plugin_adds_a_command(capsys, greeter):
    code, out, _ = cli(capsys, "hello", "zoo")
    assert (code, out.strip()) == (0, "hello zoo")
    code, out, _ = cli(capsys, "--help")
    assert "hello" in out and "eval" in out  # beside the built-in analysis commands
    code, out, _ = cli(capsys, "plugins")
    assert "genzoo-greeter" in out


def test_a_plugins_bad_input_is_one_line(capsys, greeter):
    code, out, err = cli(capsys, "hello", " ")
    assert code == 2 and err.strip() == "error: a name cannot be blank; pass one"


def test_the_command_leaves_with_its_plugin(capsys, greeter):
    plugins.unregister_plugin(greeter)
    code, _, err = cli(capsys, "hello", "zoo")
    assert code == 2 and "No such command 'hello'" in err


def test_the_analysis_commands_come_through_the_hook(capsys):
    reg = plugins.registry()
    adders = {name for name, _, _ in reg.command_plugins()}
    assert "analysis_commands" in adders
    code, out, _ = cli(capsys, "eval", "--help")
    assert code == 0 and "FD/IS/precision/recall" in out

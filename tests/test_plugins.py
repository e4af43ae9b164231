"""Plugins come in through the 'genzoo' entry-point group, built-in and third-party alike."""

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import ROOT

from genzoo import plugins, recipe
from genzoo.errors import GenzooError
from genzoo.training import Trainer

EXAMPLE = ROOT / "docs" / "example_plugin"


def fake_distribution(site: Path, dist: str, module: str, source: str, ep_name: str) -> None:
    """A minimal installed distribution: a module plus a .dist-info folder whose
    entry_points.txt names it in the genzoo group (what pip writes on install)."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[genzoo]\n{ep_name} = {module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    plugins.reset()
    yield path
    plugins.reset()


def tiny_texture_recipe(arch, tmp_path, **model):
    return recipe.from_dict(
        {
            "objective": "triangle",
            "device": "cpu",
            "model": {"arch": arch, **model},
            "data": {"name": "texture_image", "size": 32, "n_crops": 64},
            "train": {"steps": 3, "batch_size": 8},
            "log": {"every": 1, "progress": False, "n_samples": 4},
        }
    )


def test_builtin_plugins_come_from_the_genzoo_distribution():
    reg = plugins.build_registry()
    for kind, name in [
        ("objectives", "triangle"),
        ("objectives", "vae"),
        ("objectives", "acd"),
        ("objectives", "wake_sleep"),
        ("architectures", "dcgan"),
        ("architectures", "texture"),
        ("datasets", "texture_image"),
        ("datasets", "fashion_mnist"),
        ("datasets", "image_folder"),
    ]:
        assert reg.get(kind, name).dist == "genzoo"


def test_third_party_distribution_registers_an_architecture_a_recipe_uses(site, tmp_path):
    fake_distribution(
        site, "acme-nets", "acme_nets", EXAMPLE.joinpath("genzoo_example.py").read_text(), "acme"
    )
    reg = plugins.registry()
    assert reg.get("architectures", "example_fc").dist == "acme-nets"
    assert reg.get("objectives", "example_energy_only").dist == "acme-nets"
    tr = Trainer(tiny_texture_recipe("example_fc", tmp_path, hidden=16), device="cpu")
    last = tr.fit(tmp_path / "run")
    assert last["step"] == 3 and (tmp_path / "run" / "samples" / "final.png").exists()


def test_two_distributions_registering_one_name_is_a_clear_conflict(site):
    src = (
        "from genzoo import hookimpl\n@hookimpl\ndef register_architectures(register):\n"
        "    register('dcgan', lambda shape: None)\n"
    )
    fake_distribution(site, "copycat", "copycat_nets", src, "copycat")
    with pytest.raises(GenzooError) as exc:
        plugins.registry()
    msg = str(exc.value)
    assert "architecture 'dcgan' is registered twice" in msg
    assert "'genzoo'" in msg and "'copycat'" in msg


def test_a_plugin_that_fails_to_import_is_named_and_skipped(site):
    fake_distribution(
        site, "broken-plugin", "broken_mod", "raise ImportError('no numpy 9')\n", "broken"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = plugins.registry()
    assert any(
        "plugin 'broken' from 'broken-plugin' failed to load" in str(w.message) for w in caught
    )
    assert "triangle" in reg.names("objectives")


def test_the_documented_example_package_installs_with_pip_and_registers(tmp_path, monkeypatch):
    target, src = tmp_path / "target", tmp_path / "src"
    shutil.copytree(EXAMPLE, src)  # builds in a copy: the docs folder stays clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.syspath_prepend(str(target))
    plugins.reset()
    try:
        reg = plugins.registry()
        assert reg.get("architectures", "example_fc").dist == "genzoo-example-plugin"
    finally:
        plugins.reset()


def _cli(site, *args, env=None):
    import os

    env = {**os.environ, "PYTHONPATH": str(site), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "genzoo", *args], capture_output=True, text=True, env=env
    )


def test_cli_names_a_broken_plugin_and_carries_on(tmp_path):
    fake_distribution(
        tmp_path, "broken-plugin", "broken_mod", "raise RuntimeError('boom')\n", "broken"
    )
    p = _cli(tmp_path, "plugins")
    assert p.returncode == 0
    assert (
        "warning: plugin 'broken' from 'broken-plugin' failed to load and is skipped: "
        "RuntimeError: boom"
    ) in p.stderr
    assert "triangle" in p.stdout and "Traceback" not in p.stderr


def test_cli_reports_a_name_conflict_in_one_line(tmp_path):
    src = (
        "from genzoo import hookimpl\n@hookimpl\ndef register_objectives(register):\n"
        "    register('vae', object)\n"
    )
    fake_distribution(tmp_path, "copycat", "copycat_obj", src, "copycat")
    p = _cli(tmp_path, "plugins")
    assert p.returncode == 2
    (line,) = p.stderr.strip().splitlines()
    assert line.startswith("error: objective 'vae' is registered twice, by '")
    assert "'genzoo'" in line and "'copycat'" in line
    assert line.endswith("; uninstall one of them or rename the plugin's objective")


def test_summaries_are_whole_first_sentences():
    doc = (
        "Growing nets for square images whose side is a power\n    of two (4 to 1024, "
        "e.g. 64).\nMore of the same paragraph.\n\nAnother paragraph."
    )
    assert (
        plugins.first_sentence(doc)
        == "Growing nets for square images whose side is a power of two (4 to 1024, e.g. 64)."
    )
    assert plugins.first_sentence("No full stop") == "No full stop"
    reg = plugins.registry()
    for kind in plugins.KINDS:
        for name in reg.names(kind):
            entry = reg.entries[kind][name]
            if not isinstance(entry.obj, (list, tuple)):  # composites say "sum of ..."
                assert entry.summary.endswith((".", "?", "!")), (kind, name, entry.summary)


def test_cli_wraps_descriptions_instead_of_cutting_them(tmp_path):
    p = _cli(tmp_path, "plugins", env={"COLUMNS": "100"})
    flat = " ".join(line.strip(" │┃") for line in p.stdout.splitlines())
    words = " ".join(flat.replace("│", " ").split())
    assert "whose side is a power of two (4 to 1024 and beyond)." in words

"""The core's shape: the wings' dependency rules, no import cycle, and the sizes that keep the
trainer a short story. Read from the source with ``ast``, so a lazy import inside a function
counts as much as one at the top of a file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "genzoo"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in CORE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code: ``from a.b import c`` counts as
    ``a.b.c`` where that is a module, else as ``a.b``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if full in MODULES else node.module)
    return out


GRAPH = {m: {i for i in imports_of(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def reaches(start: str, wanted) -> list[str] | None:
    """A chain of imports from ``start`` to a module for which ``wanted`` holds, if any."""
    seen, stack = {start}, [[start]]
    while stack:
        chain = stack.pop()
        for nxt in sorted(GRAPH[chain[-1]]):
            if wanted(nxt):
                return chain + [nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append(chain + [nxt])
    return None


def test_the_graph_is_read():
    assert "genzoo.training.fit" in MODULES and "genzoo.store.loading" in MODULES
    assert "genzoo.training.players" in GRAPH["genzoo.training.fit"]


def test_no_import_cycle():
    for m in MODULES:
        chain = reaches(m, lambda n, m=m: n == m)
        assert chain is None, " -> ".join(chain)


@pytest.mark.parametrize(
    "reader", ["genzoo.api", *sorted(m for m in MODULES if m.startswith("genzoo.analysis"))]
)
def test_reading_a_run_never_goes_through_training(reader):
    chain = reaches(reader, lambda n: n.startswith("genzoo.training"))
    assert chain is None, " -> ".join(chain)


def test_store_knows_nothing_of_training_or_analysis():
    for m in (m for m in MODULES if m.startswith("genzoo.store")):
        chain = reaches(m, lambda n: n.startswith(("genzoo.training", "genzoo.analysis")))
        assert chain is None, " -> ".join(chain)


def test_the_core_imports_no_plugin_package():
    for m, p in MODULES.items():
        plugins = sorted(i for i in imports_of(p) if i.split(".")[0].startswith("genzoo_"))
        assert not plugins, f"{m} imports {plugins}: ask the registry instead"


def test_no_file_over_400_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long


def span(tree: ast.AST, kind, name: str) -> int:
    node = next(n for n in ast.walk(tree) if isinstance(n, kind) and n.name == name)
    return node.end_lineno - node.lineno + 1


def test_the_trainer_reads_as_a_short_story():
    tree = ast.parse(MODULES["genzoo.training.fit"].read_text())
    assert span(tree, ast.ClassDef, "Trainer") <= 200
    assert span(tree, ast.FunctionDef, "_fit") <= 100


@pytest.mark.parametrize(
    "reader", ["genzoo.study.stats", "genzoo.study.spec", "genzoo.study.results"]
)
def test_reading_a_study_never_goes_through_training(reader):
    chain = reaches(reader, lambda n: n.startswith("genzoo.training"))
    assert chain is None, " -> ".join(chain)


def test_only_the_report_command_reaches_into_the_study_wing():
    # `genzoo report STUDY_FOLDER` reads a study's results, which never reach training
    for m in (m for m in MODULES if not m.startswith("genzoo.study")):
        into = {i for i in GRAPH[m] if i.startswith("genzoo.study")}
        assert into <= ({"genzoo.study.report"} if m == "genzoo.analysis.commands" else set())

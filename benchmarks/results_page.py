"""Sections of docs/results.md that benchmark scripts own: each between two copies of its
marker, replaced in place when the script runs again."""

from __future__ import annotations

from pathlib import Path

HEAD = "# Results\n\nTables produced by the scripts in `benchmarks/`; rerun them to refresh.\n"


def write_section(path: Path, mark: str, title: str, body: str) -> None:
    text = path.read_text() if path.exists() else HEAD
    section = f"{mark}\n## {title}\n\n{body}{mark}\n"
    if mark in text:
        a = text.index(mark)
        b = text.index(mark, a + len(mark)) + len(mark) + 1
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)

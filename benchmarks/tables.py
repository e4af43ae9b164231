"""What the benchmark scripts that write a table share: the checkout's root, and their section
of a page of docs/results/ (between two copies of the script's marker, replaced in place on a
rerun). Studies of variants over seeds are study files (benchmarks/studies/, `genzoo study`)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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

"""What the benchmark scripts that train several runs and write a table share: their common
command-line options, the recipe overrides those give every run, and their section of
a page of docs/results/ (between two copies of the script's marker, replaced in place on a rerun)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAD = "# Results\n\nTables produced by the scripts in `benchmarks/`; rerun them to refresh.\n"
#: the page of docs/results/ each table script writes its section into
MARKDOWN = {"objectives_table": "objectives", "incomplete_table": "incomplete"}


def add_common_options(ap: argparse.ArgumentParser, name: str) -> None:
    """``--width --seed --device --data-root --out-dir --json --markdown --set``."""
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-root", default=None, help="Fashion-MNIST IDX folder")
    ap.add_argument("--out-dir", default=str(ROOT / "runs" / name))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / f"{name}.json"))
    ap.add_argument(
        "--markdown", default=str(ROOT / "docs" / "results" / f"{MARKDOWN.get(name, name)}.md")
    )
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="extra recipe overrides for every run",
    )


def common_overrides(args: argparse.Namespace) -> list[str]:
    """The recipe overrides of every run: steps, width, seed, device, data root, ``--set``."""
    out = [
        f"train.steps={args.steps}",
        f"model.width={args.width}",
        f"seed={args.seed}",
        f'device="{args.device}"',
        "log.progress=false",
        *args.overrides,
    ]
    if args.data_root:
        out.append(f'data.root="{args.data_root}"')
    return out


def publish(
    args: argparse.Namespace,
    settings: dict,
    rows: list[dict],
    table: str,
    mark: str,
    title: str,
    rows_key: str = "rows",
) -> None:
    """Write the runs' settings and rows to ``--json``, print the table and put it in its
    section of ``--markdown``."""
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"settings": settings, rows_key: rows}, indent=1))
    print(table)
    write_section(Path(args.markdown), mark, title, table)


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


def spread(v, spec: str) -> str:
    if v is None:
        return "—"
    mean, std, n = v
    return f"{mean:{spec}} ± {std:{spec}}" if n > 1 else f"{mean:{spec}} (1 seed)"


def compare(a, b, lower_is_better: bool = True) -> str:
    """'<' / '>' between two (mean, std, n), and whether it holds beyond the spread."""
    (ma, sa, na), (mb, sb, nb) = a, b
    better = ma < mb if lower_is_better else ma > mb
    beyond = abs(ma - mb) > sa + sb and na > 1 and nb > 1
    return ("reproduced" if better else "NOT reproduced") + (
        " (beyond the spread)"
        if beyond
        else " (within the spread)"
        if na > 1 and nb > 1
        else " (one seed)"
    )


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """``(mean, std, n)`` of a metric over seeds (std 0 for one seed)."""
    import statistics

    return (
        statistics.fmean(values),
        statistics.stdev(values) if len(values) > 1 else 0.0,
        len(values),
    )

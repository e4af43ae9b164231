"""Two tagged runs of objectives_table.py side by side (e.g. the triangle with genzoo's earlier
choices against the authors'): each metric's mean ± std over seeds in each sampling mode, the
difference, and whether it holds beyond the spread (|difference| > the sum of the stds).

    python benchmarks/compare_settings.py triangle_before triangle_authors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from objectives_table import METRICS, summarise
from tables import ROOT, write_section

LOWER_IS_BETTER = {"fd": True, "is": False, "precision": False, "recall": False, "recon_mse": True}
SHOWN = {
    "fd": ("FD-FMNIST", ".2f"),
    "is": ("IS", ".3f"),
    "precision": ("precision", ".3f"),
    "recall": ("recall", ".3f"),
    "recon_mse": ("test MSE", ".5f"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--objective", default="triangle")
    ap.add_argument("--markdown", default=str(ROOT / "docs" / "results" / "objectives.md"))
    args = ap.parse_args(argv)
    tables = {
        t: json.loads((ROOT / "benchmarks" / "results" / f"objectives_table_{t}.json").read_text())
        for t in (args.a, args.b)
    }
    lines = [
        f"`{args.objective}`: `{args.a}` against `{args.b}` (seeds "
        f"{', '.join(map(str, tables[args.a]['settings']['seeds']))} and "
        f"{', '.join(map(str, tables[args.b]['settings']['seeds']))}; mean ± std over "
        f'seeds). "beyond the spread": |difference| > the sum of the two stds.',
        "",
    ]
    for norm in tables[args.a]["settings"]["norms"]:
        rows = {t: summarise(tables[t]["runs"], norm).get(args.objective) for t in tables}
        if not all(rows.values()):
            continue
        lines += [
            f"Sampling with **{norm}** batch-norm statistics:",
            "",
            f"| metric | {args.a} | {args.b} | {args.b} − {args.a} | better | beyond the spread |",
            "|---|---|---|---|---|---|",
        ]
        for m in METRICS:
            a, b = rows[args.a][m], rows[args.b][m]
            if not a or not b:
                continue
            name, spec = SHOWN[m]
            diff = b[0] - a[0]
            better = args.b if (diff < 0) == LOWER_IS_BETTER[m] and diff != 0 else args.a
            beyond = "yes" if abs(diff) > a[1] + b[1] and a[2] > 1 and b[2] > 1 else "no"
            lines.append(
                f"| {name} | {a[0]:{spec}} ± {a[1]:{spec}} | {b[0]:{spec}} ± "
                f"{b[1]:{spec}} | {diff:+{spec}} | {better} | {beyond} |"
            )
        lines.append("")
    text = "\n".join(lines)
    print(text)
    write_section(
        Path(args.markdown),
        f"<!-- compare_{args.a}_{args.b} -->",
        f"Settings compared: {args.a} against {args.b}",
        text,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

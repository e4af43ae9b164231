"""Wall time of `genzoo tune` on benchmarks/studies/tune_workers.toml (two variants x eight
trials with median pruning, the search only) with 1 worker and with 2, each in a fresh study
folder; prints a table and writes JSON (trials, pruned, best value per variant).

    python benchmarks/tune_workers.py            # about 3 minutes on 2 idle cores
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tables import ROOT, write_section

STUDY = ROOT / "benchmarks" / "studies" / "tune_workers.toml"
MARK = "<!-- tune_workers -->"
TITLE = "The search with one and two workers"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--out-dir", default=str(ROOT / "runs" / "tune_workers"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "tune_workers.json"))
    ap.add_argument("--markdown", default=str(ROOT / "docs" / "results" / "studies.md"))
    ap.add_argument("--table-only", action="store_true", help="rewrite the table from --json")
    args = ap.parse_args(argv)
    if args.table_only:
        write_section(
            Path(args.markdown), MARK, TITLE, table(json.loads(Path(args.json).read_text()))
        )
        return 0
    rows = []
    for n in map(int, args.workers.split(",")):
        out = Path(args.out_dir) / f"workers{n}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "genzoo", "tune", str(STUDY), "--out", str(out)]
        cmd += ["--workers", str(n), "--no-cells", "--quiet"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        tuned = json.loads((out / "study.json").read_text())["tuned"]
        rows.append({"workers": n, "wall_seconds": round(wall, 1), "tuned": tuned, **trained(out)})
        print(
            f"{n} worker(s): {wall:.1f} s; "
            + "; ".join(
                f"{v}: {t['trials']} trials, {t['pruned']} pruned, best {t['best_value']:.5f}"
                for v, t in tuned.items()
            )
        )
    result = {"study": STUDY.name, "cpus": os.cpu_count(), "rows": rows}
    Path(args.json).write_text(json.dumps(result, indent=1))
    write_section(Path(args.markdown), MARK, TITLE, table(result))
    return 0


def trained(out: Path) -> dict:
    """The iterations the trials trained (each to its last measured point: pruning stops a
    trial early), from the trial folders."""
    reached = [
        max(map(int, json.loads(p.read_text())))
        for p in sorted((out / "tune").glob("*/trial*/evaluations.json"))
    ]
    return {"trials_run": len(reached), "iterations": sum(reached)}


def table(result: dict) -> str:
    rows = result["rows"]
    lines = [
        f"`genzoo tune benchmarks/studies/{result['study']} --no-cells` (two variants x eight "
        f"trials of 300 iterations, median pruning at every 75, texture crops at 32x32, width "
        f"0.125, the paper's transposed-convolution generator) in a fresh study folder, on "
        f"{result.get('cpus', 2)} CPU cores with nothing else running; `python "
        f"benchmarks/tune_workers.py`. The wall time per 1000 iterations trained counts "
        f"everything a trial does besides training (building, checkpoints, measurements), so "
        f"it is the figure to compare between runs whose pruning stopped trials at other "
        f"points.",
        "",
        "| workers | wall time (s) | speed-up | triangle: pruned of trials | vae: pruned of "
        "trials | iterations trained | wall s per 1000 iterations |",
        "|---|---|---|---|---|---|---|",
    ]
    base = rows[0]["wall_seconds"]
    for r in rows:
        t = r["tuned"]
        its = r.get("iterations")
        per = f"{1000 * r['wall_seconds'] / its:.1f}" if its else "—"
        lines.append(
            f"| {r['workers']} | {r['wall_seconds']:.1f} | {base / r['wall_seconds']:.2f}x | "
            f"{t['triangle']['pruned']} of {t['triangle']['trials']} | "
            f"{t['vae']['pruned']} of {t['vae']['trials']} | {its or '—'} | {per} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

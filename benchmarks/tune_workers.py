"""Wall time of `genzoo tune` on benchmarks/studies/tune_workers.toml (two variants x eight
trials with median pruning, the search only) with 1 worker and with 2, each in a fresh study
folder; prints a table and writes JSON (trials, pruned, best value per variant).

    python benchmarks/tune_workers.py            # about 3 minutes on 2 idle cores
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "benchmarks" / "studies" / "tune_workers.toml"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--out-dir", default=str(ROOT / "runs" / "tune_workers"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "tune_workers.json"))
    args = ap.parse_args(argv)
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
        rows.append({"workers": n, "wall_seconds": round(wall, 1), "tuned": tuned})
        print(
            f"{n} worker(s): {wall:.1f} s; "
            + "; ".join(
                f"{v}: {t['trials']} trials, {t['pruned']} pruned, best {t['best_value']:.5f}"
                for v, t in tuned.items()
            )
        )
    Path(args.json).write_text(json.dumps({"study": STUDY.name, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

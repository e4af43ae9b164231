"""What one sample costs at inference, per trained model: the seconds per image of drawing a
batch (the median of REPEATS timed batches after a warm-up, at THREADS threads) and the FLOPs
per image (torch's count, the Langevin chains' backward passes included). One generator pass
for the triangle, K Langevin steps for an energy model trained by MCMC. Run it with nothing
else busy on the machine; writes JSON and a section of a page of docs/results/. The JSON keeps
the rows of earlier runs at the same settings (a run measured again replaces its row; each
row has its date), so models trained at different times can be measured as each is there.

    python benchmarks/sample_cost.py runs/studies/ebm_fashion/cells/*/seed0 --tag ebm_fashion
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from tables import ROOT, write_section

from genzoo.store.files import atomic_write


def cost(run: Path, batch: int, repeats: int) -> dict:
    import genzoo
    from genzoo.flops import CountFlops

    model = genzoo.load(run)
    model.sample(2, seed=0)  # warm
    seconds = []
    for k in range(repeats):
        t0 = time.perf_counter()
        model.sample(batch, seed=k)
        seconds.append(time.perf_counter() - t0)
    with CountFlops() as counter:
        model.sample(batch, seed=0)
    return {
        "run": run.as_posix(),
        "date": datetime.date.today().isoformat(),
        "objective": model.recipe.objective,
        "seconds_per_image": statistics.median(seconds) / batch,
        "seconds_spread": [min(seconds) / batch, max(seconds) / batch],
        "gflops_per_image": counter.total / batch / 1e9,
    }


def render(rows: list[dict], settings: dict) -> str:
    base = min(rows, key=lambda r: r["seconds_per_image"])
    dates = sorted({r.get("date", "undated") for r in rows})
    lines = [
        f"Batches of {settings['batch']} images, the median of {settings['repeats']} timed "
        f"batches after a warm-up, {settings['threads']} thread(s), {settings['cpus']} CPU "
        f"cores, nothing else running, on {', '.join(dates)}; FLOPs by torch's count (machine "
        f"independent). One machine's times: a measurement, not a tested comparison"
        + ("." if len(dates) == 1 else "; times of different days compare less well than FLOPs."),
        "",
        "| run | objective | ms per image [min, max] | GFLOPs per image | × the cheapest (time) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["seconds_spread"]
        lines.append(
            f"| `{r['run']}` | {r['objective']} | {1e3 * r['seconds_per_image']:.3g} "
            f"[{1e3 * lo:.3g}, {1e3 * hi:.3g}] | {r['gflops_per_image']:.4g} | "
            f"{r['seconds_per_image'] / base['seconds_per_image']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--tag", default="ebm_fashion")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--markdown", type=Path, default=ROOT / "docs" / "results" / "ebm.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.json or ROOT / "benchmarks" / "results" / f"sample_cost_{args.tag}.json"
    settings = {
        "batch": args.batch,
        "repeats": args.repeats,
        "threads": args.threads,
        "cpus": os.cpu_count(),
    }
    old = json.loads(out.read_text()) if out.exists() else {}
    rows = old.get("rows", []) if old.get("settings") == settings else []
    for run in args.runs:
        rows = [r for r in rows if r["run"] != run.as_posix()]
        rows.append(cost(run, args.batch, args.repeats))
        print(json.dumps(rows[-1]))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, (json.dumps({"settings": settings, "rows": rows}, indent=1) + "\n").encode())
    rel = out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out
    body = f"From `{Path(rel).as_posix()}` (`python benchmarks/sample_cost.py`).\n\n"
    write_section(
        args.markdown,
        f"<!-- sample_cost:{args.tag} -->",
        f"What one sample costs: {args.tag}",
        body + render(rows, settings),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

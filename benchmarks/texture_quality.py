"""Texture statistics (genzoo.analysis.texture) of texture runs' sample grids against their
``data.png``: the share of power at the highest frequencies and on the Nyquist row and column,
the orientation distance and the Gram distance of a fixed random network, for every grid a run
wrote (over training, and the final one). Prints a table and writes JSON.

    python benchmarks/texture_quality.py runs/dt_texture [RUN ...] --json OUT.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genzoo.analysis.texture import texture_report
from genzoo.store.rundir import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def tiles(grid: Path, size: int, padding: int = 2) -> torch.Tensor:
    """The ``size`` x ``size`` tiles of a grid PNG (torchvision's make_grid layout), in [-1, 1]."""
    a = np.asarray(Image.open(grid).convert("L"), dtype=np.float32) / 127.5 - 1
    step = size + padding
    rows, cols = (a.shape[0] - padding) // step, (a.shape[1] - padding) // step
    out = [
        a[
            padding + r * step : padding + r * step + size,
            padding + c * step : padding + c * step + size,
        ]
        for r in range(rows)
        for c in range(cols)
    ]
    return torch.from_numpy(np.stack(out))[:, None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "texture_quality.json"))
    args = ap.parse_args()
    rows = []
    for run in args.runs:
        size = load_recipe(run).data.options.get("size", 64)
        data = tiles(run / "samples" / "data.png", size)
        grids = sorted((run / "samples").glob("step_*.png")) + [run / "samples" / "final.png"]
        for grid in (g for g in grids if g.is_file()):
            rows.append(
                {
                    "run": str(run),
                    "grid": grid.name,
                    "tiles": len(data),
                    **texture_report(tiles(grid, size), data),
                }
            )
    print(
        f"{'run':<24} {'grid':<22} {'hf share':>9} {'data':>8} {'nyquist':>9} {'data':>9} "
        f"{'orient.':>8} {'gram':>7}"
    )
    for r in rows:
        print(
            f"{Path(r['run']).name:<24} {r['grid']:<22} {r['high_frequency_share']:>9.4f} "
            f"{r['high_frequency_share_data']:>8.4f} {r['nyquist_share']:>9.5f} "
            f"{r['nyquist_share_data']:>9.5f} {r['orientation_distance']:>8.3f} "
            f"{r['gram_distance']:>7.3f}"
        )
    Path(args.json).write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

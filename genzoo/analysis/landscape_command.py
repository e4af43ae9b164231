"""``genzoo landscape``: map a trained run's energy landscape and write JSON and a picture."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from genzoo import assemble
from genzoo.analysis.landscape import chance_purity, map_landscape, purity
from genzoo.analysis.landscape_plot import draw_disconnectivity
from genzoo.assemble import resolve_device
from genzoo.errors import GenzooError
from genzoo.store.files import atomic_write
from genzoo.store.loading import load_trained


def starting_points(run_dir: Path, n: int, start: str, seed: int, device):
    """``n`` held-out examples (with labels if the data set has them) or generated samples."""
    recipe, models, _ = load_trained(run_dir, device)
    g = torch.Generator().manual_seed(seed)
    if start == "samples":
        z = torch.randn((n, *models.drawing.latent_shape), generator=g).to(device)
        with torch.no_grad():
            return (
                models,
                torch.cat([models.drawing(z[i : i + 256]) for i in range(0, n, 256)]),
                None,
            )
    x, labels, _ = assemble.build_data(recipe).draw_held_out(n, seed)
    return models, models.real_view(x).to(device), labels.tolist() if labels is not None else None


def run_landscape(
    run_dir: Path,
    out: Path,
    n: int,
    start: str,
    eta: float,
    max_steps: int,
    grad_tol: float,
    energy_tol: float,
    same_tol: float,
    threshold: float | None,
    n_basins: int,
    neighbours: int,
    grid: int,
    min_size: int,
    seed: int,
    device: str,
) -> dict:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    device = resolve_device(device)
    models, x0, labels = starting_points(Path(run_dir), n, start, seed, device)
    f = models.energy
    t0 = time.perf_counter()
    image = x0.dim() == 4
    land = map_landscape(
        f,
        x0,
        eta=eta,
        max_steps=max_steps,
        grad_tol=grad_tol,
        energy_tol=energy_tol,
        same_tol=same_tol,
        threshold=threshold,
        n_basins=n_basins,
        neighbours=neighbours,
        grid=grid,
        bounds=(-1.0, 1.0) if image else None,
        show_progress=True,
    )
    seconds = time.perf_counter() - t0
    basin_of_start = land.basin_of_start
    sizes = torch.bincount(torch.tensor(basin_of_start), minlength=land.n_basins).tolist()
    overall, per = purity(basin_of_start, labels) if labels else (None, {})
    chance = chance_purity(basin_of_start, labels, seed=seed) if labels else None
    basins = []
    for b in range(land.n_basins):
        members = [y for bb, y in zip(basin_of_start, labels or []) if bb == b]
        basins.append(
            {
                "id": b,
                "size": sizes[b],
                "min_energy": land.basin_levels[b],
                "minima": sum(1 for m in land.basin_of_min if m == b),
                "majority_label": max(set(members), key=members.count) if members else None,
                "purity": per.get(b),
            }
        )
    report = {
        "run": str(run_dir),
        "start": start,
        "n_starts": len(x0),
        "n_minima": len(land.minima),
        "n_basins": land.n_basins,
        "threshold": land.threshold,
        "purity": overall,
        "purity_chance": None if chance is None else {"mean": chance[0], "std": chance[1]},
        "descent": land.descent,
        "barriers_computed": len(land.pairs),
        "seconds": round(seconds, 2),
        "settings": {
            "eta": eta,
            "max_steps": max_steps,
            "grad_tol": grad_tol,
            "energy_tol": energy_tol,
            "same_tol": same_tol,
            "neighbours": neighbours,
            "grid": grid,
            "min_size": min_size,
            "seed": seed,
            "basins": n_basins,
        },
        "basins": basins,
        "merges": [
            {"level": lv, "a": a, "b": b, "new": c} for lv, a, b, c in land.basin_tree().merges
        ],
    }
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenzooError(f"--out '{out}' is a file; pass a folder")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "landscape.json", json.dumps(report, indent=1).encode())
    draw_disconnectivity(land, out / "disconnectivity.png", min_size=min_size, labels=labels)
    table = Table(title=f"energy landscape of {run_dir}")
    for col in ("starts", "minima", "basins", "threshold", "purity", "by chance", "seconds"):
        table.add_column(col)
    table.add_row(
        str(len(x0)),
        str(len(land.minima)),
        str(land.n_basins),
        f"{land.threshold:.4g}",
        "-" if overall is None else f"{overall:.3f}",
        "-" if chance is None else f"{chance[0]:.3f} ± {chance[1]:.3f}",
        f"{seconds:.1f}",
    )
    console.print(table)
    d = land.descent
    if d["converged"] < 0.5:
        console.print(
            f"[yellow]warning: {1 - d['converged']:.0%} of the descents were still "
            f"moving after --max-steps {max_steps} (median gradient norm "
            f"{d['grad_norm_median']:.3g} inside the pixel box, "
            f"{d['at_bound']:.0%} of pixels at its bounds): the minima are not yet "
            f"minima; raise --max-steps or --eta, and see docs/landscape.md[/]"
        )
    console.print(f"wrote {out / 'landscape.json'} and {out / 'disconnectivity.png'}")
    return report

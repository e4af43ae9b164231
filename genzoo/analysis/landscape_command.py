"""``genzoo landscape``: map a trained run's energy landscape and write JSON and a picture."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from genzoo import assemble
from genzoo.analysis.landscape import map_landscape
from genzoo.analysis.landscape_plot import draw_disconnectivity
from genzoo.analysis.landscape_purity import chance_purity, purity, purity_by_level
from genzoo.assemble import resolve_device
from genzoo.errors import GenzooError
from genzoo.store.files import atomic_write
from genzoo.store.loading import load_trained


def starting_points(run_dir: Path, n: int, start: str, seed: int, device):
    """``n`` held-out examples (with labels if the data set has them) or generated samples."""
    recipe, models, _ = load_trained(run_dir, device)
    if not models.uses("alpha"):
        raise GenzooError(
            f"'{run_dir}' has no energy model on its data to map (objective "
            f"{recipe.objective!r}); map a run whose objective trains one"
        )
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
    method: str = "projected",
    min_converged: float = 0.9,
    paths: dict | None = None,
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
        method=method,
        paths=paths,
    )
    seconds = time.perf_counter() - t0
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenzooError(f"--out '{out}' is a file; pass a folder")
    d = land.descent
    if d["converged"] < min_converged:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "descent.json", json.dumps(d, indent=1).encode())
        raise GenzooError(
            f"only {d['converged']:.0%} of the descents reached a minimum within --max-steps "
            f"{max_steps} (median projected gradient {d['grad_norm_median']:.3g}, "
            f"{d['at_bound']:.0%} of pixels at a bound), under --min-converged "
            f"{min_converged:g}: a map of points that are not minima is not drawn; raise "
            f"--max-steps, or train the energy further (details in {out / 'descent.json'})"
        )
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
        "levels": purity_by_level(land, labels, seed=seed) if labels else None,
        "paths": path_summary(land, n_basins, labels) if land.path_barriers is not None else None,
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
            "method": method,
            "min_converged": min_converged,
            "paths": paths,
        },
        "basins": basins,
        "merges": [
            {"level": lv, "a": a, "b": b, "new": c} for lv, a, b, c in land.basin_tree().merges
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "landscape.json", json.dumps(report, indent=1).encode())
    draw_disconnectivity(land, out / "disconnectivity.png", min_size=min_size, labels=labels)
    table = Table(title=f"energy landscape of {run_dir}")
    for col in ("starts", "converged", "minima", "basins", "threshold", "purity", "by chance"):
        table.add_column(col)
    table.add_column("seconds")
    table.add_row(
        str(len(x0)),
        f"{d['converged']:.0%}",
        str(len(land.minima)),
        str(land.n_basins),
        f"{land.threshold:.4g}",
        "-" if overall is None else f"{overall:.3f}",
        "-" if chance is None else f"{chance[0]:.3f} ± {chance[1]:.3f}",
        f"{seconds:.1f}",
    )
    console.print(table)
    if report["levels"]:
        levels = Table(title="purity at each level of the merge tree")
        for col in ("clusters", "threshold", "purity", "by chance", "above chance (std)"):
            levels.add_column(col)
        for row in report["levels"]:
            z = row["above_chance_in_std"]
            levels.add_row(
                str(row["clusters"]),
                f"{row['threshold']:.4g}",
                f"{row['purity']:.3f}",
                f"{row['chance_mean']:.3f} ± {row['chance_std']:.3f}",
                "-" if z is None else f"{z:.1f}",
            )
        console.print(levels)
    if report["paths"]:
        ps = report["paths"]
        console.print(
            f"minimum-energy paths: lower than the straight line for {ps['lower_share']:.0%} "
            f"of {ps['pairs']} pairs; median height above the higher minimum "
            f"{ps['height_straight_median']:.4g} straight, {ps['height_path_median']:.4g} "
            f"along the path; {ps['basins_straight']} basins by straight lines alone"
        )
    console.print(f"wrote {out / 'landscape.json'} and {out / 'disconnectivity.png'}")
    return report


def path_summary(land, n_basins: int, labels) -> dict:
    """The strings' barriers against the straight lines': how many pairs they lower, the
    median heights above the higher of the two minima, and the basins (and their purity)
    that the straight lines alone would give at the same number of basins."""
    from genzoo.analysis.landscape import cluster

    e = land.energies[land.pairs].max(1).values
    straight, along = land.straight_barriers, land.path_barriers
    tree = cluster(len(land.minima), land.pairs, straight)
    comp = tree.clusters_below(tree.threshold_for(n_basins))
    of_start = [comp[i] for i in land.start_to_min.tolist()]
    return {
        "pairs": len(land.pairs),
        "lower_share": float((along < straight - 1e-6).float().mean()),
        "height_straight_median": float((straight - e).median()),
        "height_path_median": float((torch.minimum(along, straight) - e).median()),
        "basins_straight": len(set(comp)),
        "purity_straight": purity(of_start, labels)[0] if labels else None,
    }

"""Why the mapped landscape (section 4.3) shows one basin: for each trained run (or checkpoint)
check, on the same held-out images, whether the steepest descent reaches minima, whether the
barriers are resolved finely enough, what single linkage does against other linkages and a
depth-relative barrier, and how far each partition's purity is above chance. Writes JSON and
a section of docs/results/landscape.md.

    python benchmarks/landscape_study.py runs/objectives_table_seeds/triangle/seed0
    python benchmarks/landscape_study.py RUN@2000 RUN@6000 RUN@10000 --n 300   # over training

Every number is computed on the same ``--n`` test images (seed ``--seed``); barriers are
computed between *every* pair of minima (no nearest-neighbour shortcut), so ``--n`` stays in
the hundreds on a CPU (300: about 45,000 barriers, a few minutes a model).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from tables import ROOT, write_section

MARK = "<!-- landscape_study -->"


def parse_target(text: str) -> tuple[Path, int | None]:
    """``RUN`` or ``RUN@STEP``."""
    if "@" in text:
        run, step = text.rsplit("@", 1)
        return Path(run), int(step)
    return Path(text), None


def all_barriers(f, x: torch.Tensor, grid: int, batch: int = 4096) -> torch.Tensor:
    """The symmetric matrix of barriers between every pair of minima (diagonal: own energy)."""
    from genzoo.analysis.landscape import barrier, energy_of

    n = len(x)
    i, j = torch.triu_indices(n, n, offset=1)
    b = barrier(f, x[i], x[j], grid, batch)
    out = torch.empty(n, n, dtype=b.dtype)
    out[i, j] = b
    out[j, i] = b
    out.fill_diagonal_(0)
    out += torch.diag(energy_of(f, x))
    return out


def cut(matrix: torch.Tensor, method: str, k: int) -> list[int]:
    """Hierarchical clustering (scipy) of a dissimilarity matrix, cut into ``k`` clusters."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    d = matrix.double().clone()
    d -= d.min()  # shifting every dissimilarity leaves single and average linkage unchanged
    d.fill_diagonal_(0)
    z = linkage(squareform(d.numpy(), checks=False), method=method)
    return [int(c) - 1 for c in fcluster(z, t=k, criterion="maxclust")]


def nn_agreement(matrix: torch.Tensor, labels: list[int]) -> float:
    """Share of points whose nearest other point under ``matrix`` carries the same label."""
    d = matrix.clone().double()
    d.fill_diagonal_(float("inf"))
    nn = d.argmin(1).tolist()
    return statistics.fmean(float(labels[i] == labels[j]) for i, j in enumerate(nn))


def study(
    target: str, n: int, seed: int, eta: float, steps: list[int], grid: int, fine_grid: int, k: int
) -> dict:
    from genzoo import api
    from genzoo.analysis.landscape import descend, descent_report, energy_of, merge_minima
    from genzoo.analysis.landscape_command import starting_points
    from genzoo.analysis.landscape_purity import chance_purity, purity
    from genzoo.store.loading import load_trained

    run, step = parse_target(target)
    models, x0, labels = starting_points(run, n, "test", seed, "cpu")
    if step is not None:
        models = load_trained(run, "cpu", checkpoint=step)[1]
    f = models.energy
    t0 = time.perf_counter()
    # the model's own samples, drawn as its evaluation draws them: g(z), or the objective's
    # sampler where it has one (Langevin chains of an energy trained by MCMC, CoopNets' revision)
    samples = api.load(run, "cpu", checkpoint=step).sample(n, seed)
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(x0.shape, generator=g) * 2 - 1
    out = {
        "run": str(run),
        "step": step,
        "n": n,
        "energy": {
            "data": float(energy_of(f, x0).mean()),
            "samples": float(energy_of(f, samples).mean()),
            "noise": float(energy_of(f, noise).mean()),
            "all_black": float(energy_of(f, -torch.ones_like(x0[:1]))),
            "all_white": float(energy_of(f, torch.ones_like(x0[:1]))),
        },
    }
    # 1. does the descent converge? continue it in stages and look at each
    x, done, trace = x0, 0, []
    for total in steps:
        x, e, taken = descend(f, x, eta=eta, max_steps=total - done, grad_tol=1e-3, energy_tol=1e-6)
        rep = descent_report(f, x, taken, total - done)
        done = total
        scale = x0[0].numel() ** 0.5
        trace.append(
            {
                "steps": total,
                "energy": float(e.mean()),
                "grad_norm_median": rep["grad_norm_median"],
                "at_bound": rep["at_bound"],
                "still_moving": 1 - rep["converged"],
                "rms_move": float(((x - x0).flatten(1).norm(dim=1) / scale).median()),
                "distinct": int(merge_minima(x, e, 1e-3).unique().numel()),
            }
        )
    out["descent"] = trace
    # 2. barriers between all pairs, and how much a finer path changes them
    bars = all_barriers(f, x, grid)
    i, j = torch.triu_indices(n, n, offset=1)
    pick = torch.randperm(len(i), generator=g)[:1000]
    from genzoo.analysis.landscape import barrier

    fine = barrier(f, x[i[pick]], x[j[pick]], fine_grid)
    coarse = bars[i[pick], j[pick]]
    e_min = torch.diagonal(bars).clone()
    excess = bars - torch.maximum(e_min[:, None], e_min[None, :])
    spread = float(bars[i, j].std())
    out["barrier_resolution"] = {
        "grid": grid,
        "fine_grid": fine_grid,
        "pairs": len(pick),
        "max_abs_diff": float((fine - coarse).abs().max()),
        "median_abs_diff": float((fine - coarse).abs().median()),
        "barrier_std": spread,
        "excess_median": float(excess[i, j].median()),
        "share_without_barrier": float((excess[i, j] <= 1e-6).float().mean()),
    }
    # 3. clusterings at k basins, each purity against chance
    l2 = torch.cdist(x.flatten(1), x.flatten(1))
    variants = {
        "single linkage, barrier (genzoo landscape)": (bars, "single"),
        "average linkage, barrier": (bars, "average"),
        "single linkage, barrier above the higher minimum": (excess, "single"),
        "average linkage, barrier above the higher minimum": (excess, "average"),
        "average linkage, L2 between minima (no energy)": (l2, "average"),
    }
    out["clusterings"] = []
    for name, (m, method) in variants.items():
        basin = cut(m, method, k)
        sizes = sorted(torch.bincount(torch.tensor(basin)).tolist(), reverse=True)
        p = purity(basin, labels)[0]
        c_mean, c_std = chance_purity(basin, labels, seed=seed)
        out["clusterings"].append(
            {
                "name": name,
                "basins": len(set(basin)),
                "largest": sizes[0] / n,
                "purity": p,
                "chance": c_mean,
                "chance_std": c_std,
            }
        )
    # 4. nearest neighbours: does a low barrier join images of one class?
    counts = torch.bincount(torch.tensor(labels)).double()
    out["nearest_neighbour"] = {
        "barrier": nn_agreement(bars, labels),
        "barrier_above_higher_minimum": nn_agreement(excess, labels),
        "l2_minima": nn_agreement(l2, labels),
        "l2_images": nn_agreement(torch.cdist(x0.flatten(1), x0.flatten(1)), labels),
        "chance": float(((counts / counts.sum()) ** 2).sum()),
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def model_name(row: dict) -> str:
    return row["run"] + (f" @ {row['step']}" if row["step"] else "")


def render(rows: list[dict], settings: dict) -> str:
    lines = [
        f"{settings['n']} Fashion-MNIST test images (seed {settings['seed']}) per model; "
        f"descent `x <- clamp(x + {settings['eta']} grad f(x), -1, 1)`; barriers on "
        f"{settings['grid']} points of the straight path between *every* pair of minima; "
        f"partitions cut at {settings['k']} basins; chance = the purity of the same basin "
        f"sizes under 200 random label permutations (mean ± std).",
        "",
        "Energies and the descent (energy -f; mean over the images):",
        "",
        "| model | -f data | its samples | noise | all -1 | all +1 | descent steps: energy, "
        "median projected gradient, pixels at a bound, distinct end points |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = model_name(r)
        e = r["energy"]
        trace = "; ".join(
            f"{t['steps']}: {t['energy']:.3g}, {t['grad_norm_median']:.3g}, "
            f"{t['at_bound']:.0%}, {t['distinct']}"
            for t in r["descent"]
        )
        lines.append(
            f"| {name} | {e['data']:.3g} | {e['samples']:.3g} | {e['noise']:.3g} | "
            f"{e['all_black']:.3g} | {e['all_white']:.3g} | {trace} |"
        )
    lines += [
        "",
        "Barrier resolution (1000 random pairs, coarse against fine path):",
        "",
        "| model | grid → fine grid | max / median abs diff | std of barriers | median "
        "barrier above the higher minimum | pairs with no barrier |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = model_name(r)
        b = r["barrier_resolution"]
        lines.append(
            f"| {name} | {b['grid']} → {b['fine_grid']} | {b['max_abs_diff']:.3g} / "
            f"{b['median_abs_diff']:.3g} | {b['barrier_std']:.3g} | "
            f"{b['excess_median']:.3g} | {b['share_without_barrier']:.1%} |"
        )
    lines += [
        "",
        "Partitions and their purity against chance:",
        "",
        "| model | partition | basins | largest basin | purity | by chance |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = model_name(r)
        for c in r["clusterings"]:
            lines.append(
                f"| {name} | {c['name']} | {c['basins']} | {c['largest']:.0%} | "
                f"{c['purity']:.3f} | {c['chance']:.3f} ± {c['chance_std']:.3f} |"
            )
    lines += [
        "",
        "Nearest neighbour with the same label (chance: the sum of squared label shares):",
        "",
        "| model | lowest barrier | lowest barrier above the higher minimum | L2 between "
        "minima | L2 between the images | chance |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = model_name(r)
        nn = r["nearest_neighbour"]
        lines.append(
            f"| {name} | {nn['barrier']:.3f} | {nn['barrier_above_higher_minimum']:.3f}"
            f" | {nn['l2_minima']:.3f} | {nn['l2_images']:.3f} | {nn['chance']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "targets",
        nargs="*",
        help="RUN or RUN@STEP (none: write the table of the JSON's rows again)",
    )
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eta", type=float, default=0.01)
    ap.add_argument(
        "--steps", default="300,1000,3000", help="descent lengths looked at (cumulative)"
    )
    ap.add_argument("--grid", type=int, default=32)
    ap.add_argument("--fine-grid", type=int, default=256)
    ap.add_argument("--basins", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--tag", default="", help="a name for this study (its own section and JSON)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "landscape_study.json"))
    ap.add_argument("--markdown", default=str(ROOT / "docs" / "results" / "landscape.md"))
    args = ap.parse_args(argv)
    if args.tag and args.json.endswith("landscape_study.json"):
        args.json = args.json.replace("landscape_study.json", f"landscape_study_{args.tag}.json")
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = [int(s) for s in args.steps.split(",")]
    settings = {
        "n": args.n,
        "seed": args.seed,
        "eta": args.eta,
        "steps": steps,
        "grid": args.grid,
        "k": args.basins,
    }
    old = json.loads(Path(args.json).read_text()) if Path(args.json).exists() else {}
    rows = old.get("rows", []) if old.get("settings") == settings else []
    for target in args.targets:
        run, step = parse_target(target)
        rows = [r for r in rows if (r["run"], r["step"]) != (str(run), step)]
        rows.append(
            study(
                target, args.n, args.seed, args.eta, steps, args.grid, args.fine_grid, args.basins
            )
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"settings": settings, "rows": rows}, indent=1))
    table = render(rows, settings)
    print(table)
    mark = MARK if not args.tag else MARK.replace(" -->", f"_{args.tag} -->")
    title = "Energy landscape: what the mapping finds (section 4.3)" + (
        f": {args.tag}" if args.tag else ""
    )
    write_section(Path(args.markdown), mark, title, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

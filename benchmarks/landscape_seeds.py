"""The energy landscape over several seeds of a landscape recipe, with the checks a map needs
first: whether descents from held-out images converge (projected descent), whether the energy
prefers saturated images to the data, then purity per level of the merge tree against chance
and the minimum-energy paths' barriers against the straight lines', each tested over the seeds
(paired t, Holm over the table's claims), as a section of docs/results/landscape.md.

    python benchmarks/landscape_seeds.py runs/landscape/seed0 runs/landscape/seed1 \\
        runs/landscape/seed2 --n 1000 --paths-n 300

Each seed's map is kept in the JSON as soon as it is made: a rerun maps only the seeds
missing (with the same settings).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from tables import write_section

from genzoo.errors import GenzooError
from genzoo.study import stats

OUT = Path(__file__).parent / "results" / "landscape_seeds.json"
PAGE = Path(__file__).parents[1] / "docs" / "results" / "landscape.md"
IMAGES = Path(__file__).parents[1] / "docs" / "images" / "landscape"
MARK, TITLE = "<!-- landscape:seeds -->", "Minima that are minima, over seeds"


def saturation(run: Path, n: int, step: int | None = None) -> dict:
    """Mean f on held-out images against f on an all-black and an all-white image."""
    from genzoo import assemble
    from genzoo.store.loading import load_trained

    recipe, models, _ = load_trained(run, "cpu", checkpoint=step)
    x, _, _ = assemble.build_data(recipe).draw_held_out(n, 0)
    x = models.real_view(x)
    with torch.no_grad():
        f = models.energy
        return {
            "f_data": float(f(x).mean()),
            "f_black": float(f(-torch.ones_like(x[:1]))),
            "f_white": float(f(torch.ones_like(x[:1]))),
        }


def minima_picture(run: Path, path: Path, max_steps: int) -> str:
    """16 held-out images above the minima their descents reach, as a committed PNG."""
    import torchvision

    from genzoo import assemble
    from genzoo.analysis import box_descent
    from genzoo.store.loading import load_trained

    recipe, models, _ = load_trained(run, "cpu")
    x, _, _ = assemble.build_data(recipe).draw_held_out(16, 0)
    x = models.real_view(x)
    d = box_descent.descend_box(models.energy, x, 0.01, max_steps, 1e-3)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = torch.cat([x, d.minima]) * 0.5 + 0.5
    torchvision.utils.save_image(grid, path, nrow=16, padding=1, pad_value=0.5)
    return path.as_posix()


def convergence(target: str, n: int, max_steps: int) -> dict:
    """``RUN@STEP``: the projected descent from ``n`` held-out images of that checkpoint, with
    the energy's preference for saturated images: the check that comes before any map."""
    import time

    from genzoo import assemble
    from genzoo.analysis import box_descent
    from genzoo.store.loading import load_trained

    run, _, step = target.rpartition("@")
    recipe, models, _ = load_trained(Path(run), "cpu", checkpoint=int(step))
    x, _, _ = assemble.build_data(recipe).draw_held_out(n, 0)
    t0 = time.perf_counter()
    d = box_descent.descend_box(models.energy, models.real_view(x), 0.01, max_steps, 1e-3)
    return {
        "target": target,
        "energy_activation": recipe.model.options.get("energy_activation", "leaky_relu"),
        "energy_l2": recipe.objectives.get("acd", {}).get("energy_l2", 0.0),
        "descent": box_descent.report(d, (-1.0, 1.0), max_steps, 1e-3),
        "mean_steps": float(d.steps.float().mean()),
        "energy_start": float(box_descent.energy_of(models.energy, models.real_view(x)).mean()),
        "energy_end": float(d.energies.mean()),
        "seconds": round(time.perf_counter() - t0, 1),
        **saturation(Path(run), 256, int(step)),
    }


def map_one(
    run: Path, n: int, paths: dict | None, max_steps: int, folder: Path, min_converged: float
) -> dict:
    from genzoo.analysis.landscape_command import run_landscape

    settings = dict(
        n=n,
        start="data",
        eta=0.01,
        max_steps=max_steps,
        grad_tol=1e-3,
        energy_tol=1e-5,
        same_tol=1e-3,
        threshold=None,
        n_basins=20,
        neighbours=10,
        grid=32,
        min_size=4,
        seed=0,
        device="cpu",
        method="projected",
    )
    try:
        rep = run_landscape(run, folder, paths=paths, min_converged=min_converged, **settings)
    except GenzooError as exc:  # descents that did not converge: no map, the reason kept
        return {
            "mapped": False,
            "reason": str(exc),
            "descent": json.loads((folder / "descent.json").read_text()),
        }
    keep = ("n_starts", "n_minima", "n_basins", "purity", "purity_chance", "descent")
    keep += ("levels", "paths", "seconds", "settings")
    return {"mapped": True, **{k: rep[k] for k in keep}}


def claims(seeds: dict) -> list[dict]:
    """Purity above chance at each level of the tree, and path barriers below straight ones:
    paired over the seeds that were mapped, Holm over all of them."""
    mapped = {s: r for s, r in seeds.items() if r["full"]["mapped"]}
    tests, less = [], []
    levels = {}
    for s, r in mapped.items():
        for row in r["full"]["levels"] or []:
            levels.setdefault(row["clusters"], {})[s] = row
    for k, rows in sorted(levels.items()):
        if k == 1 or len(rows) < 2:  # one cluster: purity is chance by definition
            continue
        a = {s: row["purity"] for s, row in rows.items()}
        b = {s: row["chance_mean"] for s, row in rows.items()}
        tests.append(stats.compare(f"purity > chance at {k} clusters", a, b))
        less.append(False)
    with_paths = {s: r["paths"] for s, r in mapped.items() if r.get("paths", {}).get("mapped")}
    if len(with_paths) > 1:
        a = {s: r["paths"]["height_path_median"] for s, r in with_paths.items()}
        b = {s: r["paths"]["height_straight_median"] for s, r in with_paths.items()}
        tests.append(stats.compare("path barrier height < straight-line height", a, b))
        less.append(True)
    out = []
    for t in stats.decide(tests, less, 0.05):
        out.append(t.__dict__)
    return out


def convergence_table(rows: list[dict], n: int, max_steps: int) -> list[str]:
    lines = [
        f"Does the descent reach minima? Projected descent from {n} held-out images, at most "
        f"{max_steps} steps (`--convergence`). A check before any map, not a comparison: the "
        f"checkpoints differ in length (the leaky-ReLU run kept step 1000, the others 2000 and "
        f"3000).",
        "",
        "| checkpoint | energy activation | energy_l2 | converged | median projected gradient "
        "| pixels at a bound | energy start → end | f data / black / white |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = r["descent"]
        lines.append(
            f"| `{r['target']}` | {r['energy_activation']} | {r['energy_l2']:g} | "
            f"{d['converged']:.1%} | {d['grad_norm_median']:.3g} | {d['at_bound']:.0%} | "
            f"{r['energy_start']:.3g} → {r['energy_end']:.3g} | {r['f_data']:.3g} / "
            f"{r['f_black']:.3g} / {r['f_white']:.3g} |"
        )
    return lines + [""]


def section(res: dict) -> str:
    lines = []
    if res.get("convergence"):
        c = res["convergence"]
        lines += convergence_table(c["rows"], c["n"], c["max_steps"])
    if not res.get("seeds"):
        return "\n".join(lines) + "\n"
    lines += [
        f"From `benchmarks/results/landscape_seeds.json`, written by `python "
        f"benchmarks/landscape_seeds.py {' '.join(res['runs'])} --n {res['n']} --paths-n "
        f"{res['paths_n']} --path-iterations {res['path_iterations']} --max-steps "
        f"{res['max_steps']}` (recipe {res['recipe']}{res.get('overrides', '')}, one run per "
        f"seed). Descent: projected gradient with a line search, at most {res['max_steps']} "
        f"steps; converged where the projected gradient falls to 1e-3 of its start. A seed is "
        f"mapped only where at least {res['min_converged']:.0%} of its descents converged.",
        "",
        "| seed | descents converged | pixels at a bound | f data / black / white | minima | "
        "purity (20 basins) | chance |",
        "|---|---|---|---|---|---|---|",
    ]
    for s, r in sorted(res["seeds"].items()):
        full, sat = r["full"], r["saturation"]
        d = full["descent"]
        energy = f"{sat['f_data']:.3g} / {sat['f_black']:.3g} / {sat['f_white']:.3g}"
        if not full["mapped"]:
            lines.append(
                f"| {s} | {d['converged']:.1%} | {d['at_bound']:.0%} | {energy} | not mapped "
                f"| – | – |"
            )
            continue
        ch = full["purity_chance"]
        lines.append(
            f"| {s} | {d['converged']:.1%} | {d['at_bound']:.0%} | {energy} | "
            f"{full['n_minima']} | {full['purity']:.3f} | {ch['mean']:.3f} ± {ch['std']:.3f} |"
        )
    lines += [
        "",
        "Held-out images (top row) and the minima their descents reach (below), per seed:",
        "",
    ]
    for s, r in sorted(res["seeds"].items()):
        name = Path(r["picture"]).name
        lines += [f"![seed {s}: 16 test images above their minima](../images/landscape/{name})", ""]
    graphs = [(s, r["graph"]) for s, r in sorted(res["seeds"].items()) if r.get("graph")]
    if graphs:
        lines += ["Disconnectivity graphs (barriers relative to the minima, per seed):", ""]
        for s, g in graphs:
            lines += [f"![seed {s}: disconnectivity graph](../images/landscape/{Path(g).name})", ""]
    rows = [r for r in res["seeds"].values() if r["full"]["mapped"] and r["full"]["levels"]]
    if rows:
        lines += ["", "Purity per level of the merge tree (mean over seeds):", ""]
        lines += ["| clusters | purity | chance |", "|---|---|---|"]
        by_k: dict[int, list] = {}
        for r in rows:
            for row in r["full"]["levels"]:
                by_k.setdefault(row["clusters"], []).append(row)
        for k, group in sorted(by_k.items()):
            p = sum(g["purity"] for g in group) / len(group)
            c = sum(g["chance_mean"] for g in group) / len(group)
            lines.append(f"| {k} | {p:.3f} | {c:.3f} |")
    paths = [(s, r["paths"]) for s, r in sorted(res["seeds"].items()) if r.get("paths")]
    if paths:
        lines += ["", f"Minimum-energy paths on {res['paths_n']} starting images per seed:", ""]
        lines += [
            "| seed | pairs | string lower | median height straight | along the path | "
            "basins by straight lines / with paths |",
            "|---|---|---|---|---|---|",
        ]
        for s, p in paths:
            if not p.get("mapped"):
                lines.append(f"| {s} | not mapped | | | | |")
                continue
            ps = p["paths"]
            lines.append(
                f"| {s} | {ps['pairs']} | {ps['lower_share']:.0%} | "
                f"{ps['height_straight_median']:.4g} | {ps['height_path_median']:.4g} | "
                f"{ps['basins_straight']} / {p['n_basins']} |"
            )
    if res["claims"]:
        lines += [""] + stats.claims_table(res["claims"])
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--n", type=int, default=1000, help="held-out images per seed")
    ap.add_argument("--paths-n", type=int, default=300, help="images of the map with paths")
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--page", type=Path, default=PAGE)
    ap.add_argument("--path-iterations", type=int, default=100)
    ap.add_argument("--min-converged", type=float, default=0.9, help="as genzoo landscape's")
    ap.add_argument("--images", type=Path, default=IMAGES, help="where the minima's PNGs go")
    ap.add_argument(
        "--convergence",
        nargs="+",
        metavar="RUN@STEP",
        help="only check whether descents from these checkpoints converge (no map)",
    )
    args = ap.parse_args(argv)
    res = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.convergence:
        rows = [convergence(t, args.n, args.max_steps) for t in args.convergence]
        res["convergence"] = {"n": args.n, "max_steps": args.max_steps, "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
        write_section(args.page, MARK, TITLE, section(res))
        print(f"wrote {args.out} and the section in {args.page}")
        return 0
    keys = ("n", "paths_n", "max_steps", "min_converged", "path_iterations")
    same = {k: res.get(k) for k in keys} == {k: getattr(args, k) for k in keys}
    if not same:
        res = {"convergence": res["convergence"]} if "convergence" in res else {}
    from genzoo.store import rundir

    res.update(
        runs=[r.as_posix() for r in args.runs],
        n=args.n,
        paths_n=args.paths_n,
        max_steps=args.max_steps,
        min_converged=args.min_converged,
        path_iterations=args.path_iterations,
        recipe=rundir.load_recipe(args.runs[0]).name,
    )
    first = rundir.load_recipe(args.runs[0])
    res["overrides"] = (
        f" with model.energy_activation = {first.model.options.get('energy_activation', 'leaky_relu')}"
        f", objectives.acd.energy_l2 = {first.objectives.get('acd', {}).get('energy_l2', 0.0):g}"
    )
    res.setdefault("seeds", {})
    for run in args.runs:
        seed = str(rundir.load_recipe(run).seed)
        if seed in res["seeds"]:
            continue
        print(f"seed {seed}: {run}", flush=True)
        entry = {"run": run.as_posix(), "saturation": saturation(run, 256)}
        picture = args.images / f"minima_seed{seed}.png"
        minima_picture(run, picture, args.max_steps)
        entry["picture"] = f"docs/images/landscape/{picture.name}"
        entry["full"] = map_one(
            run, args.n, None, args.max_steps, run / "landscape_full", args.min_converged
        )
        if entry["full"]["mapped"]:  # the disconnectivity graph, for the page
            graph = args.images / f"graph_seed{seed}.png"
            shutil.copyfile(run / "landscape_full" / "disconnectivity.png", graph)
            entry["graph"] = f"docs/images/landscape/{graph.name}"
        paths = {"images": 10, "iterations": args.path_iterations, "step": 0.01}
        entry["paths"] = map_one(
            run, args.paths_n, paths, args.max_steps, run / "landscape_paths", args.min_converged
        )
        res["seeds"][seed] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    res["claims"] = claims(res["seeds"])
    args.out.write_text(json.dumps(res, indent=1))
    write_section(args.page, MARK, TITLE, section(res))
    print(f"wrote {args.out} and the section in {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

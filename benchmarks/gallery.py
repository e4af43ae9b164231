"""The documentation's gallery: for every shipped recipe, its final sample grid (and its
reconstructions, interpolations, disconnectivity graph or frame strip where they apply), from a
run this script trains (at the recipe's own budget, or ``--steps`` when smaller) or finds
(``--find DIR``: a folder of run folders named after the recipes). The budget and the time are
recorded under each picture. Recipes whose data this machine lacks are listed with the reason.
Writes benchmarks/results/gallery.json, docs/images/gallery/*.png and docs/gallery.md.

    python benchmarks/gallery.py --steps 600          # everything whose data is here
    python benchmarks/gallery.py --only dt_texture    # one recipe
    python benchmarks/gallery.py --render             # docs/gallery.md from the JSON alone
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
IMAGES = ROOT / "docs" / "images" / "gallery"
JSON = ROOT / "benchmarks" / "results" / "gallery.json"
PAGE = ROOT / "docs" / "gallery.md"
PICTURES = (  # (file in the run folder, caption)
    ("samples/final.png", "final samples"),
    ("samples/final_frames.png", "final clips, frame by frame"),
    ("reconstructions.png", "held-out images (odd rows) and reconstructions (even rows)"),
    ("interpolations.png", "interpolations between latents"),
    ("landscape/disconnectivity.png", "disconnectivity graph"),
)


def genzoo(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genzoo", *map(str, args)], capture_output=True, text=True, **kw
    )


def data_problem(recipe_path: Path) -> str | None:
    """Why this machine cannot train the recipe (its data is missing), or None."""
    from genzoo import assemble, recipe
    from genzoo.errors import GenzooError

    try:
        assemble.build_data(recipe.load(recipe_path))
    except GenzooError as exc:
        return str(exc).split(";")[0]
    return None


def plain(reason: str) -> str:
    """A reason without this machine's own paths in it."""
    return reason.replace(str(ROOT), ".").replace(str(Path.home()), "~").rstrip(".")


def one(recipe_path: Path, steps: int, work: Path, find: Path | None) -> dict:
    from genzoo import recipe

    r = recipe.load(recipe_path)
    entry = {"recipe": recipe_path.name, "name": r.name, "recipe_steps": r.train.steps}
    run = (find / r.name) if find else work / r.name
    if find and (run / "samples" / "final.png").is_file():
        entry.update(
            source="found",
            steps=json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"],
        )
    else:
        problem = data_problem(recipe_path)
        if problem:
            return {**entry, "shown": False, "reason": plain(problem)}
        budget = min(steps, r.train.steps) if steps else r.train.steps
        t0 = time.perf_counter()
        p = genzoo(
            "run", recipe_path, "--out", run, "--force", "--quiet", "--set", f"train.steps={budget}"
        )
        if p.returncode:
            return {**entry, "shown": False, "reason": plain(p.stderr.strip().splitlines()[-1])}
        entry.update(source="trained", steps=budget, seconds=round(time.perf_counter() - t0, 1))
        genzoo("reconstruct", run)  # where they apply (a clip has no interpolation grid)
        genzoo("interpolate", run)
        if "landscape" in r.name:
            genzoo("landscape", run, "--n", 200)
    IMAGES.mkdir(parents=True, exist_ok=True)
    shown = []
    for rel, caption in PICTURES:
        if (run / rel).is_file():
            target = IMAGES / f"{r.name}_{Path(rel).stem}.png"
            shutil.copyfile(run / rel, target)
            shown.append({"file": target.name, "caption": caption})
    return {**entry, "shown": bool(shown), "pictures": shown}


def trains_an_encoder(entry: dict) -> bool:
    """Whether the recipe's objective steps the inference model (GANs and CoopNets do not)."""
    from genzoo import recipe

    spec = recipe.load(ROOT / "recipes" / entry["recipe"]).objective
    names = [
        o["name"] if isinstance(o, dict) else o
        for o in (spec if isinstance(spec, list) else [spec])
    ]
    return not set(names) <= {"gan", "wgan_gp", "coopnet"}


def render(report: dict) -> str:
    lines = [
        "# Gallery",
        "",
        "What each shipped recipe produces, made by `benchmarks/gallery.py` "
        f"({report.get('command', 'not run yet')}) on {report.get('machine', '-')}. Under each "
        "picture: the iterations "
        "trained (the recipe's own budget, or the smaller one stated) and the wall-clock time. "
        "Recipes whose data was not on that machine (the GPU benchmarks' data sets, the "
        "dynamic texture's clip) are listed with the reason; `python benchmarks/gallery.py "
        "--only NAME` adds one where its data is (docs/data.md says how to get each).",
        "",
    ]
    for e in report["recipes"]:
        lines += [f"## `{e['recipe']}`", ""]
        if not e["shown"]:
            lines += [f"Not shown: {e['reason']}.", ""]
            continue
        budget = (
            f"{e['steps']} iterations (the recipe's own budget)"
            if e["steps"] >= e["recipe_steps"]
            else f"{e['steps']} of the recipe's {e['recipe_steps']} iterations"
        )
        when = f", {e['seconds']:.0f} s" if "seconds" in e else ", a run found on disk"
        for pic in e["pictures"]:
            caption = pic["caption"]
            if pic["file"].endswith("_reconstructions.png") and not trains_an_encoder(e):
                caption += (
                    " (this objective trains no inference model: its encoder is as initialised)"
                )
            lines += [
                f"![{pic['caption']}](images/gallery/{pic['file']})",
                "",
                f"*{caption}: {budget}{when}*",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=0, help="at most this many iterations a recipe")
    ap.add_argument("--only", default="", help="comma-separated recipe names")
    ap.add_argument("--find", type=Path, default=None, help="a folder of finished runs")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "gallery")
    ap.add_argument("--render", action="store_true", help="only rewrite docs/gallery.md")
    args = ap.parse_args()
    report = json.loads(JSON.read_text()) if JSON.exists() else {"recipes": []}
    if not args.render:
        import os
        import platform

        known = {e["recipe"]: e for e in report["recipes"]}
        only = {n.strip() for n in args.only.split(",") if n.strip()}
        for path in sorted((ROOT / "recipes").glob("*.toml")):
            if only and path.stem not in only:
                continue
            known[path.name] = one(path, args.steps, args.work, args.find)
            print(json.dumps(known[path.name]), flush=True)
        report = {
            "command": "python benchmarks/gallery.py"
            + (f" --steps {args.steps}" if args.steps else ""),
            "machine": f"{len(os.sched_getaffinity(0))} CPU cores ({platform.machine()})",
            "recipes": [known[k] for k in sorted(known)],
        }
        JSON.write_text(json.dumps(report, indent=1) + "\n")
    PAGE.write_text(render(report))
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()

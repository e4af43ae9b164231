"""Progressive growing against fixed-resolution controls: does the 64x64 stage of
`dt_progressive` end closer to the data than the same recipe kept at 32x32? FD-photos
(progressive_detail.py: the classifier of the nine photographs, every sample enlarged to 64x64
and judged against the same 1024 64x64 crops), paired by seed, Holm over the claims.

Controls, each the recipe with the data at 32x32 (the photographs scaled to a 64-pixel short
side and cropped at 32: the field of view of the 64x64 crops of the recipe's 128-pixel
photographs):

- **frozen**: grows 4x4 -> 32x32 as the recipe does and stays at 32x32 for the rest of the
  2200 iterations (200 fade-in + 1000 stable at 32x32). Compared at equal iterations (its
  step 2200) and at an equal stable phase (its step 1800: 600 stable iterations at 32x32, as
  the 64x64 stage has).
- **fixed**: no growing, 32x32 networks for all 2200 iterations (`model.start = 32`).

    genzoo run recipes/dt_progressive.toml --out runs/prog_controls/frozen32_seedK --set seed=K \\
        --set data.size=32 --set data.resize=64 --set log.checkpoint_every=25 \\
        --set log.keep_checkpoints=1000          # fixed32_seedK: also --set model.start=32
    python benchmarks/progressive_controls.py --features runs/features/photos64.safetensors \\
        --frozen runs/prog_controls/frozen32_seed{0,1,2} --fixed runs/prog_controls/fixed32_seed{0,1,2}

The progressive runs' FD-photos are those of benchmarks/results/progressive_detail.json (their
64x64 stage's end, from the generator average), usable only under the same classifier: the
script refuses other weights. ``--progressive RUN...`` measures progressive runs afresh instead.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

from progressive_detail import Detail, run_points, samples_at, summary
from tables import ROOT, write_section

from genzoo.errors import GenzooError
from genzoo.study import stats

MARK = "<!-- progressive_controls -->"
TITLE = "Progressive growing against fixed-resolution controls"
OUT = ROOT / "benchmarks" / "results" / "progressive_controls.json"
DETAIL = ROOT / "benchmarks" / "results" / "progressive_detail.json"
IMAGES = ROOT / "docs" / "images" / "progressive_controls"
EQUAL_STABLE = 600  # the 64x64 stage's stable phase in dt_progressive


def seed_of(run: Path) -> int:
    from genzoo.store import rundir

    return int(rundir.load_recipe(run).seed)


def final_stage(run: Path) -> dict:
    """The run's last resolution, the step its stable phase there begins, and its length."""
    from genzoo.store.loading import load_trained

    recipe, models, _ = load_trained(run, average=False)
    g = models.growth
    begins = g.steps_to_final - g.stage_steps
    return {"resolution": g.final, "stable_from": begins, "steps": recipe.train.steps}


def measure_control(run: Path, detail: Detail, equal_stable: int, images: Path) -> dict:
    """FD-photos at the end and after ``equal_stable`` stable iterations at its last
    resolution; its last stage's grid copied to ``images``."""
    stage = final_stage(run)
    at = {"end": stage["steps"], "equal_stable": stage["stable_from"] + equal_stable}
    fd = {k: detail.fd(samples_at(run, step)) for k, step in at.items()}
    grid = images / f"{run.name}.png"
    src = run / "samples" / f"stage_{stage['resolution']}x{stage['resolution']}.png"
    images.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, grid)  # every finished run draws its last stage's grid
    return {"seed": seed_of(run), **stage, "steps_measured": at, "fd": fd, "grid": grid.name}


def progressive_from_detail(weights_sha: str) -> dict[int, dict]:
    """The committed progressive runs' 64x64 end FD (generator average), by seed."""
    d = json.loads(DETAIL.read_text())
    if d["protocol"]["weights_sha256"] != weights_sha:
        raise GenzooError(
            f"{DETAIL.name} was measured with classifier weights {d['protocol']['weights_sha256']}"
            f", not {weights_sha}; measure the progressive runs with --progressive RUN..."
        )
    out = {}
    for name, r in d["runs"].items():
        m = re.fullmatch(r"progG_seed(\d+)", name)
        if m and r["samples_from"].startswith("average"):
            s = {int(k): v for k, v in r["summary"].items()}
            out[int(m.group(1))] = {"run": name, "fd_end": s[max(s)]["end"]}
    return out


def measure_progressive(runs: list[Path], detail: Detail) -> dict[int, dict]:
    out = {}
    for run in runs:
        s = summary(run_points(run, detail.fd, stages=1))
        out[seed_of(run)] = {"run": run.name, "fd_end": s[max(s)]["end"]}
    return out


def claims(progressive: dict, frozen: dict, fixed: dict, equal_stable: int) -> list[dict]:
    """Each claim: the 64x64 stage's end FD below the control's (paired by seed)."""
    rows = []

    def add(name, control, key):
        seeds = sorted(set(progressive) & set(control))
        if not seeds:
            return
        a = {s: progressive[s]["fd_end"] for s in seeds}
        b = {s: control[s]["fd"][key] for s in seeds}
        step = control[seeds[0]]["steps_measured"][key]
        rows.append(stats.compare(f"{name} (its step {step})", a, b))

    add("64x64 end < frozen 32x32 at equal iterations", frozen, "end")
    add(
        f"64x64 end < frozen 32x32 after an equal stable phase ({equal_stable})",
        frozen,
        "equal_stable",
    )
    add("64x64 end < fixed 32x32 at equal iterations", fixed, "end")
    return [t.__dict__ for t in stats.decide(rows, [True] * len(rows), 0.05)]


def section(res: dict) -> str:
    prog, frozen, fixed = res["progressive"], res["frozen"], res["fixed"]
    seeds = sorted(set(frozen) | set(fixed))
    lines = [
        f"From `benchmarks/results/progressive_controls.json`, written by `python "
        f"benchmarks/progressive_controls.py {res['command']}`. FD-photos (lower is closer to "
        f"the data's 64×64 crops; the data's own crops score {res['calibration']['data crops']:.2g},"
        f" the data blurred to 32×32 {res['calibration']['data at 32x32, enlarged']:.3g}) of "
        f"512 samples from the generator average, enlarged to 64×64. The progressive column is "
        f"the 64×64 stage's end ({res['equal_stable']} stable iterations) from "
        f"{res['progressive_source']}. Iterations are matched, compute is not: a 64×64 "
        f"iteration costs more than a 32×32 one, so the progressive run spends more.",
        "",
        "| seed | progressive 64×64, end | frozen 32×32, equal stable phase "
        "| frozen 32×32, end | fixed 32×32, end |",
        "|---|---|---|---|---|",
    ]

    def cell(runs, s, key):
        return f"{runs[s]['fd'][key]:.3g}" if s in runs else "—"

    for s in seeds:
        p = f"{prog[s]['fd_end']:.3g}" if s in prog else "—"
        lines.append(
            f"| {s} | {p} | {cell(frozen, s, 'equal_stable')} | {cell(frozen, s, 'end')} | "
            f"{cell(fixed, s, 'end')} |"
        )
    lines += ["", "Claims (paired t over the seeds, Holm over the table's claims, α = 0.05):", ""]
    lines += stats.claims_table(res["claims"])
    lines += ["", "| seed | progressive 64×64 | frozen 32×32 | fixed 32×32 |", "|---|---|---|---|"]
    for s in seeds:
        pics = [f"![](../images/progressive_ema_seed{s}_stage_64x64.png)"]
        for runs in (frozen, fixed):
            pics.append(
                f"![](../images/progressive_controls/{runs[s]['grid']})" if s in runs else "—"
            )
        lines.append(f"| {s} | " + " | ".join(pics) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--frozen", type=Path, nargs="*", default=[])
    ap.add_argument("--fixed", type=Path, nargs="*", default=[])
    ap.add_argument("--progressive", type=Path, nargs="*", default=[])
    ap.add_argument(
        "--equal-stable",
        type=int,
        default=EQUAL_STABLE,
        help="the progressive run's stable iterations at its last stage (default: 600)",
    )
    ap.add_argument("--markdown", type=Path, default=ROOT / "docs" / "results" / "progressive.md")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--images", type=Path, default=IMAGES)
    args = ap.parse_args(argv)
    from genzoo import assemble
    from genzoo.recipe import load

    try:
        data = assemble.build_data(load(ROOT / "recipes" / "dt_progressive.toml"))
        detail = Detail(args.features, data)
        sha = detail.protocol["weights_sha256"]
        if args.progressive:
            progressive, source = measure_progressive(args.progressive, detail), "the runs named"
        else:
            progressive = progressive_from_detail(sha)
            source = f"`{DETAIL.relative_to(ROOT)}` (the same classifier, sha256 {sha})"
        frozen = {
            r["seed"]: r
            for r in (
                measure_control(p, detail, args.equal_stable, args.images) for p in args.frozen
            )
        }
        fixed = {
            r["seed"]: r
            for r in (
                measure_control(p, detail, args.equal_stable, args.images) for p in args.fixed
            )
        }
        calibration = detail.calibration(data)
    except GenzooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = " ".join(
        [f"--features {args.features}"]
        + [
            f"--{k} " + " ".join(str(p) for p in getattr(args, k))
            for k in ("frozen", "fixed", "progressive")
            if getattr(args, k)
        ]
    )
    res = {
        "command": shown,
        "protocol": detail.protocol,
        "calibration": calibration,
        "progressive_source": source,
        "progressive": progressive,
        "frozen": frozen,
        "fixed": fixed,
        "claims": claims(progressive, frozen, fixed, args.equal_stable),
        "equal_stable": args.equal_stable,
    }
    args.out.write_text(json.dumps(res, indent=1))
    body = section(json.loads(args.out.read_text(), object_hook=_int_keys))
    print(body)
    write_section(args.markdown, MARK, TITLE, body)
    return 0


def _int_keys(d: dict) -> dict:
    return {int(k) if k.isdigit() else k: v for k, v in d.items()}


if __name__ == "__main__":
    sys.exit(main())

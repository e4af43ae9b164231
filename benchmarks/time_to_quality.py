"""Sample quality against wall-clock: a recipe trained from scratch in a fresh folder,
checkpointed every EVERY iterations, each checkpoint's FD and KID measured afterwards (the
measuring is not counted as training time) on the test split in the features of the committed
Fashion-MNIST classifier, the protocol of the tables_fashion study. Seconds are the trainer's
own clock at each checkpoint (time/elapsed_s of metrics.jsonl, checkpoints and grids
included); the whole command's time, start-up included, is reported beside them. The target
is FD <= TARGET within MINUTES. Writes benchmarks/results/time_to_quality_NAME.json, a plot
docs/images/time_to_quality_NAME.png and its section of docs/results/objectives.md. Run it
with nothing else busy on the machine.

    python benchmarks/time_to_quality.py recipes/dt_fashion.toml --steps 4000 --every 500
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

FEATURES = ROOT / "benchmarks" / "results" / "studies" / "fashion_mnist_features.safetensors"
PAGE = ROOT / "docs" / "results" / "objectives.md"


def seconds_at(metrics: Path, step: int) -> float:
    """The trainer's clock at ``step``: the first logged line at or after it."""
    for line in metrics.read_text().splitlines():
        row = json.loads(line)
        if row["step"] >= step:
            return row["time/elapsed_s"]
    raise SystemExit(f"{metrics} logs nothing at or after step {step}")


def train(recipe: Path, run: Path, steps: int, every: int, overrides: list[str]) -> float:
    shutil.rmtree(run, ignore_errors=True)
    sets = [f"train.steps={steps}", f"log.checkpoint_every={every}", "log.keep_checkpoints=1000"]
    cmd = [sys.executable, "-m", "genzoo", "run", str(recipe), "--out", str(run), "--quiet"]
    for s in [*sets, *overrides]:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def measure(run: Path, steps: list[int], n: int, features: Path) -> list[dict]:
    from genzoo.analysis.evaluate import evaluate_run

    points = []
    for step in steps:
        rep = evaluate_run(run, n=n, features=features, checkpoint=step, split="test")
        fm = rep["feature_metrics"]
        points.append(
            {
                "step": step,
                "seconds": seconds_at(run / "metrics.jsonl", step),
                "fd": fm["fd"],
                "kid": fm["kid"],
            }
        )
        print(json.dumps(points[-1]), flush=True)
    return points


def plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    minutes = [p["seconds"] / 60 for p in result["points"]]
    ax.plot(minutes, [p["fd"] for p in result["points"]], "o-", label=result["name"])
    ax.axhline(result["target_fd"], color="grey", ls="--", lw=1, label=f"FD {result['target_fd']}")
    ax.axvline(result["minutes"], color="grey", ls=":", lw=1, label=f"{result['minutes']} min")
    ax.set_xlabel(f"training minutes on {result['cpus']} CPU cores")
    ax.set_ylabel(f"FD-FMNIST (test, n={result['n']})")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def verdict(points: list[dict], minutes: float, target: float) -> dict:
    within = [p for p in points if p["seconds"] <= minutes * 60]
    reached = [p for p in points if p["fd"] <= target]
    best = min(within, key=lambda p: p["fd"]) if within else None
    return {
        "best_within": best,
        "first_at_target": reached[0] if reached else None,
        "met": bool(best and best["fd"] <= target),
    }


def write_page(r: dict, image: Path, page: Path) -> None:
    v, rel = r["verdict"], Path(os.path.relpath(image, page.parent)).as_posix()
    best = v["best_within"]
    first = v["first_at_target"]
    rows = "\n".join(
        f"| {p['step']} | {p['seconds'] / 60:.1f} | {p['fd']:.1f} | {p['kid']:.4f} |"
        for p in r["points"]
    )
    said = (
        f"best FD within {r['minutes']} minutes: {best['fd']:.1f} (step {best['step']}, "
        f"{best['seconds'] / 60:.1f} min)"
        if best
        else f"no checkpoint within {r['minutes']} minutes"
    )
    reach = (
        f"FD {r['target_fd']} first reached at step {first['step']} "
        f"({first['seconds'] / 60:.1f} min)"
        if first
        else f"FD {r['target_fd']} not reached in {r['steps']} steps"
    )
    write_section(
        page,
        f"<!-- time_to_quality:{r['name']} -->",
        f"Time to quality: {r['name']}",
        f"From `benchmarks/results/time_to_quality_{r['name']}.json` (`{r['command']}`, nothing "
        f"else running, {r['cpus']} CPU cores; the whole command took "
        f"{r['command_seconds'] / 60:.1f} min for {r['steps']} steps). FD and KID on {r['n']} "
        f"test images in the committed classifier's features (the tables_fashion protocol); "
        f"minutes are the trainer's clock at each checkpoint. Target FD ≤ {r['target_fd']} "
        f"within {r['minutes']} minutes: **{'met' if v['met'] else 'not met'}**; {said}; "
        f"{reach}. One seed: a time, not a tested comparison.\n\n"
        f"| step | minutes | FD | KID |\n|---|---|---|---|\n{rows}\n\n"
        f"![FD against training minutes]({rel})\n",
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--target", type=float, default=30.0)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--features", type=Path, default=FEATURES)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "time_to_quality")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--image-dir", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--page", type=Path, default=PAGE)
    args = ap.parse_args(argv)
    name = args.recipe.stem
    run = args.out / name
    wall = train(args.recipe, run, args.steps, args.every, args.overrides)
    steps = list(range(args.every, args.steps + 1, args.every))
    if steps[-1] != args.steps:
        steps.append(args.steps)
    points = measure(run, steps, args.n, args.features)
    command = " ".join(
        ["python benchmarks/time_to_quality.py", args.recipe.as_posix()]
        + [f"--steps {args.steps}", f"--every {args.every}"]
        + [f"--set {s}" for s in args.overrides]
    )
    result = {
        "name": name,
        "command": command,
        "recipe": args.recipe.as_posix(),
        "steps": args.steps,
        "cpus": os.cpu_count(),
        "command_seconds": round(wall, 1),
        "minutes": args.minutes,
        "target_fd": args.target,
        "n": args.n,
        "points": points,
        "verdict": verdict(points, args.minutes, args.target),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"time_to_quality_{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    image = args.image_dir / f"time_to_quality_{name}.png"
    plot(result, image)
    write_page(result, image, args.page)
    print(json.dumps(result["verdict"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

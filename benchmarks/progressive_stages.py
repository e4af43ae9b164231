"""Progressive growing, stage by stage: the per-stage measurements that training writes to
metrics.jsonl (reconstruction error of held-out crops, energies on data, samples and noise,
and the samples' sharpness against the data's) for one or more runs side by side, as a table
in docs/results.md and JSON.

    genzoo run recipes/dt_progressive.toml --out runs/prog_base
    genzoo run recipes/dt_progressive.toml --out runs/prog_eq --set model.equalized_lr=true
    python benchmarks/progressive_stages.py runs/prog_base runs/prog_eq

Sharpness is the mean high-frequency energy of 64 samples over that of 64 data crops at the
same resolution (1: as detailed as the data; genzoo.metrics.high_frequency_energy).
The norm gap is the mean squared difference (images in [0, 1]) between the samples drawn with
the generator's batch-norm running statistics and with each batch's own (— : a run from before
it was measured).
The energy scale of a stage is the largest of |f| on data, samples and noise; "x first" is its
ratio to the first stage's (one number per stage, since a first-stage mean can sit near 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tables import ROOT, write_section

MARK = "<!-- progressive_stages -->"


def stages(run: Path) -> list[dict]:
    rows = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        if "stage/resolution" in m:
            rows.append({"step": m["step"], **{k.split("/", 1)[1]: v for k, v in m.items()
                                               if k.startswith("stage/")}})
    return rows


def energy_scale(stage: dict) -> float:
    return max(abs(stage["f_data"]), abs(stage["f_samples"]), abs(stage["f_noise"]))


def verdicts(name: str, stages: list[dict]) -> list[str]:
    """The issue's two targets: the last stage at least as sharp as the one before, and every
    stage's energy scale within 10x of the first stage's."""
    if len(stages) < 2:
        return []
    last, before = stages[-1], stages[-2]
    ratio = max(energy_scale(s) for s in stages) / energy_scale(stages[0])
    sharp = "met" if last["sharpness"] >= before["sharpness"] else "NOT met"
    scale = "met" if ratio <= 10 else "NOT met"
    return [f"- {name}: sharpness {last['resolution']}x{last['resolution']} "
            f"{last['sharpness']:.3g} vs {before['resolution']}x{before['resolution']} "
            f"{before['sharpness']:.3g}: {sharp}; largest energy scale {ratio:.3g}x the first "
            f"stage's: {scale}."]


def _maybe(v) -> str:
    return "—" if v is None else f"{v:.3g}"


def render(runs: dict[str, dict]) -> str:
    lines = ["| run | options | resolution | step | test MSE | f data | f samples | f noise | "
             "x first | sharpness | norm gap | train s (wall) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for name, r in runs.items():
        first = energy_scale(r["stages"][0]) if r["stages"] else 1.0
        for s in r["stages"]:
            lines.append(f"| {name} | {r['options']} | {s['resolution']}x{s['resolution']} | "
                         f"{s['step']} | {s['recon_mse']:.4f} | {s['f_data']:.3g} | "
                         f"{s['f_samples']:.3g} | {s['f_noise']:.3g} | "
                         f"{energy_scale(s) / first:.3g} | {s['sharpness']:.3g} | "
                         f"{_maybe(s.get('norm_gap'))} | "
                         f"{r['seconds'] if r['seconds'] is not None else '—'} |")
        notes += verdicts(name, r["stages"])
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" /
                                          "progressive_stages.json"))
    ap.add_argument("--markdown", default=str(ROOT / "docs" / "results.md"))
    args = ap.parse_args(argv)
    from genzoo import recipe as recipe_mod
    from genzoo.rundir import RECIPE

    runs = {}
    for run in args.runs:
        r = recipe_mod.load(run / RECIPE)
        opts = {k: v for k, v in r.model.options.items()
                if k in ("equalized_lr", "generator_norm", "stage_steps", "fade_steps")}
        if r.model.running_stats != "all":
            opts["running_stats"] = r.model.running_stats
        if r.model.sample_norm != "running":
            opts["sample_norm"] = r.model.sample_norm
        if r.objectives.get("vae", {}).get("prior_kl"):
            opts["prior_kl"] = r.objectives["vae"]["prior_kl"]
        if r.model.s_resolution:
            opts["s_resolution"] = r.model.s_resolution
        if r.objectives.get("acd", {}).get("energy_l2"):
            opts["energy_l2"] = r.objectives["acd"]["energy_l2"]
        opts["lr (alpha/phi/theta)"] = "/".join(f"{getattr(r.train, p).lr:g}"
                                                for p in ("alpha", "phi", "theta"))
        lines = (run / "metrics.jsonl").read_text().splitlines()
        elapsed = [json.loads(x).get("time/elapsed_s") for x in lines]
        elapsed = [e for e in elapsed if e is not None]
        runs[run.name] = {"options": ", ".join(f"{k}={v}" for k, v in opts.items()),
                          "stages": stages(run),
                          "seconds": round(elapsed[-1]) if elapsed else None}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(runs, indent=1))
    table = render(runs)
    print(table)
    write_section(Path(args.markdown), MARK, "Progressive growing, stage by stage", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Progressive growing, stage by stage: the per-stage measurements that training writes to
metrics.jsonl (reconstruction error of held-out crops, energies on data, samples and noise,
and the samples' sharpness against the data's) for one or more runs side by side, as a table
in docs/results/progressive.md and JSON.

    genzoo run recipes/dt_progressive.toml --out runs/prog_base
    genzoo run recipes/dt_progressive.toml --out runs/prog_eq --set model.equalized_lr=true
    python benchmarks/progressive_stages.py runs/prog_base runs/prog_eq
    python benchmarks/progressive_stages.py --add runs/prog_more   # one more row set

Sharpness is the mean high-frequency energy of the samples (64 since runs record "samples";
the grid's 16 before) over that of 64 data crops at the same resolution (1: as detailed as the
data; genzoo.metrics.high_frequency_energy), at the stage's last step. Samples swing from
step to step, so training also measures it at 8 evenly spaced steps of each stage's stable
phase (after its fade-in; GrowthSchedule.stable_points): "over the stable phase" is their
mean ± s.d. (count). ``--remeasure`` measures what an older run did not record from the
checkpoints it kept (64 samples at a stage's end; the stable-phase points where it kept a
checkpoint of that step, e.g. with log.checkpoint_every=25).
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

import torch
from tables import ROOT, write_section

MARK = "<!-- progressive_stages -->"


def stages(run: Path, grid_samples: int, remeasure: bool = False) -> list[dict]:
    """The run's stage lines; each with ``sharpness_mean``/``_sd``/``_points`` over the
    sharpness points the run logged in that stage's stable phase (where it logged them)."""
    rows, points = [], {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        if "stage/sharpness_point" in m:
            points[m["step"]] = m["stage/sharpness_point"]  # a resumed run's last wins
        if "stage/resolution" in m:
            rows.append(
                {
                    "step": m["step"],
                    "samples": grid_samples,
                    **{k.split("/", 1)[1]: v for k, v in m.items() if k.startswith("stage/")},
                }
            )
    again = Remeasured(run) if remeasure else None
    for before, row in zip([0] + [r["step"] for r in rows], rows):
        if again and row["samples"] < 64:
            row.update(again.stage(row["step"]) or {})
        seen = [v for st, v in points.items() if before < st <= row["step"]]
        if not seen and again:
            seen = again.points(row["step"])
        row.update(spread(seen))
    return rows


def spread(values: list[float]) -> dict:
    if not values:
        return {"sharpness_mean": None, "sharpness_sd": None, "sharpness_points": 0}
    t = torch.tensor(values, dtype=torch.float64)
    return {
        "sharpness_mean": float(t.mean()),
        "sharpness_sd": float(t.std()) if len(t) > 1 else 0.0,
        "sharpness_points": len(values),
    }


class Remeasured:
    """A run measured again from the checkpoints it kept, with what training measures now:
    64 samples at a stage's end, and the sharpness at each of ``GrowthSchedule.stable_points``
    (where a checkpoint of that step is kept)."""

    def __init__(self, run: Path):
        self.run, self._data = run, None

    def _load(self, step: int):
        from genzoo import assemble
        from genzoo.errors import GenzooError
        from genzoo.latents import fixed_noise
        from genzoo.store.loading import load_trained

        try:
            recipe, models, _ = load_trained(self.run, checkpoint=step)
        except GenzooError:
            return None
        if self._data is None:
            self._data = assemble.build_data(recipe)
        models.set_step(step - 1)
        return recipe, models, fixed_noise(recipe, models, 64)

    def stage(self, step: int) -> dict | None:
        from genzoo.training.stages import stage_measurements

        loaded = self._load(step)
        if loaded is None:
            return None
        recipe, models, noise = loaded
        m = stage_measurements(models, recipe, self._data, noise)
        return {k.split("/", 1)[1]: v for k, v in m.items()}

    def points(self, end: int) -> list[float]:
        from genzoo.training.stages import stage_sharpness

        loaded = self._load(end)
        if loaded is None:
            return []
        recipe, models, _ = loaded
        res = dict(models.growth.stage_ends(recipe.train.steps)).get(end)
        out = []
        for step, r in models.growth.stable_points(recipe.train.steps).items():
            at = self._load(step) if r == res else None
            if at is not None:
                step_recipe, step_models, noise = at
                out.append(stage_sharpness(step_models, step_recipe, self._data, noise))
        return out


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
    over = ""
    if last.get("sharpness_points", 0) > 1 and before.get("sharpness_points", 0) > 1:
        met = "met" if last["sharpness_mean"] >= before["sharpness_mean"] else "NOT met"
        over = (
            f"; over the stable phases {last['sharpness_mean']:.3g} vs "
            f"{before['sharpness_mean']:.3g}: {met}"
        )
    return [
        f"- {name}: sharpness {last['resolution']}x{last['resolution']} "
        f"{last['sharpness']:.3g} vs {before['resolution']}x{before['resolution']} "
        f"{before['sharpness']:.3g}: {sharp}{over}; largest energy scale {ratio:.3g}x the "
        f"first stage's: {scale}."
    ]


def _maybe(v) -> str:
    return "—" if v is None else f"{v:.3g}"


def _over_stage(s: dict) -> str:
    if not s.get("sharpness_points"):
        return "—"
    return f"{s['sharpness_mean']:.3g} ± {s['sharpness_sd']:.2g} ({s['sharpness_points']})"


def render(runs: dict[str, dict]) -> str:
    lines = [
        "| run | options | resolution | step | test MSE | f data | f samples | f noise | "
        "x first | sharpness (samples) | sharpness over the stable phase | norm gap | "
        "train s (wall) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name, r in runs.items():
        first = energy_scale(r["stages"][0]) if r["stages"] else 1.0
        for s in r["stages"]:
            lines.append(
                f"| {name} | {r['options']} | {s['resolution']}x{s['resolution']} | "
                f"{s['step']} | {s['recon_mse']:.4f} | {s['f_data']:.3g} | "
                f"{s['f_samples']:.3g} | {s['f_noise']:.3g} | "
                f"{energy_scale(s) / first:.3g} | {s['sharpness']:.3g} ({s['samples']}) | "
                f"{_over_stage(s)} | {_maybe(s.get('norm_gap'))} | "
                f"{r['seconds'] if r['seconds'] is not None else '—'} |"
            )
        notes += verdicts(name, r["stages"])
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument(
        "--json", default=str(ROOT / "benchmarks" / "results" / "progressive_stages.json")
    )
    ap.add_argument("--markdown", default=str(ROOT / "docs" / "results" / "progressive.md"))
    ap.add_argument(
        "--remeasure",
        action="store_true",
        help="measure again from the checkpoints a run kept what it did not "
        "record: 64 samples at stage ends, sharpness over stable phases",
    )
    ap.add_argument(
        "--add",
        action="store_true",
        help="add the runs to those already in --json (same name: replaced) "
        "instead of starting a new table",
    )
    args = ap.parse_args(argv)
    from genzoo import recipe as recipe_mod
    from genzoo.store.rundir import RECIPE

    runs = json.loads(Path(args.json).read_text()) if args.add and Path(args.json).is_file() else {}
    for run in args.runs:
        r = recipe_mod.load(run / RECIPE)
        opts = {
            k: v
            for k, v in r.model.options.items()
            if k in ("equalized_lr", "generator_norm", "stage_steps", "fade_steps")
        }
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
        opts["steps"] = r.train.steps
        if r.train.channels_last:
            opts["channels_last"] = True
        if r.train.generator_ema:
            opts["generator_ema"] = r.train.generator_ema
        opts["lr (alpha/phi/theta)"] = "/".join(
            f"{getattr(r.train, p).lr:g}" for p in ("alpha", "phi", "theta")
        )
        lines = (run / "metrics.jsonl").read_text().splitlines()
        elapsed = [json.loads(x).get("time/elapsed_s") for x in lines]
        elapsed = [e for e in elapsed if e is not None]
        runs[run.name] = {
            "options": ", ".join(f"{k}={v}" for k, v in opts.items()),
            "stages": stages(run, r.log.n_samples, args.remeasure),
            "seconds": round(elapsed[-1]) if elapsed else None,
        }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(runs, indent=1))
    table = render(runs)
    print(table)
    write_section(Path(args.markdown), MARK, "Progressive growing, stage by stage", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

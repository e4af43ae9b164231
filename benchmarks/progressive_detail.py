"""Progressive growing: is the last stage more *detailed*, not just sharper? The Fréchet
distance of each stage's samples to the data's crops in the features of a classifier trained
on those crops (FD-photos), every stage's samples brought to the data's size, so that a
32x32 stage is judged by the same 64x64 crops as the 64x64 stage. Measured from the
checkpoints a run kept (at its stable-phase points: log.checkpoint_every=25 keeps them all).

    genzoo features train photos --option labelled=true --option n_crops=4500 \\
        --option size=64 --option resize=128 --epochs 2 --out runs/features/photos64.safetensors
    genzoo run recipes/dt_progressive.toml --out runs/prog --set log.checkpoint_every=25 \\
        --set log.keep_checkpoints=1000
    python benchmarks/progressive_detail.py runs/prog --features runs/features/photos64.safetensors

Why a second statistic: the high-frequency ratio of progressive_stages.py counts any edge as
detail, also a lattice of bright points that is not in the data. An FD in features of the
data's own crops rises both for missing detail (blur) and for structure the data lacks; the
"calibration" rows show how far known degradations of the real crops move it: blur to 32x32
and back, a lattice of bright points every 8 pixels, and both. Lower is better; values are
comparable only under the same classifier weights (their hash is printed). Samples come from
the run's generator average where it keeps one (train.generator_ema), or ``--live``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from tables import ROOT, write_section

from genzoo.data import spread_samples

MARK = "<!-- progressive_detail -->"
N_SAMPLES = 512  # samples per measurement: FD in 128-d features needs well over 128
N_REAL = 1024  # data crops, spread evenly over the training set (every photograph)


def to_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images brought to ``size`` x ``size`` (bilinear; unchanged at that size)."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def lattice(x: torch.Tensor, every: int = 8) -> torch.Tensor:
    """Bright points every ``every`` pixels on top of ``x``."""
    out = x.clone()
    out[..., ::every, ::every] = 1.0
    return out


class Detail:
    """FD-photos of runs' samples against one set of data crops."""

    def __init__(self, features: Path, data):
        from torchmetrics.image.fid import FrechetInceptionDistance

        from genzoo.analysis.features import classifier_extractor

        self.extractor = classifier_extractor(features)
        self.protocol = self.extractor.protocol
        self.real = spread_samples(data.train, N_REAL)
        self.size = self.real.shape[-1]
        # the crops' features once; each fd() replaces the samples' side only
        self._fid = FrechetInceptionDistance(
            feature=self.extractor, normalize=False, reset_real_features=False
        )
        for i in range(0, len(self.real), 256):
            self._fid.update(self.real[i : i + 256], real=True)

    def fd(self, images: torch.Tensor) -> float:
        self._fid.reset()
        x = to_size(images, self.size)
        for i in range(0, len(x), 256):
            self._fid.update(x[i : i + 256], real=False)
        return float(self._fid.compute())

    def calibration(self, data) -> dict[str, float]:
        """FD of degraded real crops (other crops than the reference's)."""
        other = spread_samples(data.train, N_SAMPLES, offset=5)
        blur = to_size(F.adaptive_avg_pool2d(other, self.size // 2), self.size)
        return {
            "data crops": self.fd(other),
            f"data at {self.size // 2}x{self.size // 2}, enlarged": self.fd(blur),
            "data + lattice of bright points": self.fd(lattice(other)),
            f"data at {self.size // 2}x{self.size // 2}, enlarged, + lattice": self.fd(
                lattice(blur)
            ),
        }


def samples_at(run: Path, step: int, average: bool = True, n: int = N_SAMPLES) -> torch.Tensor:
    """``n`` samples of the run's checkpoint at ``step`` (from the generator average where the
    run keeps one and ``average``), drawn from the run's fixed noise."""
    from genzoo.latents import fixed_noise
    from genzoo.sampling import generate
    from genzoo.store.loading import load_trained

    recipe, models, _ = load_trained(run, checkpoint=step, average=average)
    models.set_step(step - 1)
    noise = fixed_noise(recipe, models, n)
    return generate(
        models.generator, noise, recipe.model.sample_norm, batch=recipe.train.batch_size
    )


def run_points(run: Path, detail_of, average: bool = True, stages: int = 2) -> list[dict]:
    """For the last ``stages`` stages' stable-phase points with a kept checkpoint: the
    samples' FD."""
    from genzoo.store import rundir
    from genzoo.store.checkpoint import list_checkpoints, step_of
    from genzoo.store.loading import load_trained

    kept = {step_of(p) for p in list_checkpoints(run / rundir.CHECKPOINTS)}
    recipe, models, _ = load_trained(run, average=average)
    growth = models.growth
    ends = dict(growth.stage_ends(recipe.train.steps))
    last = sorted(r for step, r in ends.items() if step <= recipe.train.steps)[-stages:]
    out = []
    for step, res in growth.stable_points(recipe.train.steps).items():
        if step not in kept or res not in last:
            continue
        out.append(
            {
                "step": step,
                "resolution": res,
                "end": ends.get(step) == res,
                "fd": detail_of(samples_at(run, step, average)),
            }
        )
    return out


def summary(points: list[dict]) -> dict[int, dict]:
    """Per resolution: mean ± s.d. of the FD over the stable phase, and at its end."""
    out = {}
    for res in sorted({p["resolution"] for p in points}):
        v = torch.tensor([p["fd"] for p in points if p["resolution"] == res], dtype=torch.float64)
        end = [p["fd"] for p in points if p["resolution"] == res and p["end"]]
        out[res] = {
            "mean": float(v.mean()),
            "sd": float(v.std()) if len(v) > 1 else 0.0,
            "points": len(v),
            "end": end[0] if end else None,
        }
    return out


def render(runs: dict[str, dict], calibration: dict[str, float], protocol: dict) -> str:
    res = sorted({int(r) for run in runs.values() for r in run["summary"]})[-3:]
    head = " | ".join(f"{r}x{r}: stable phase | {r}x{r}: end" for r in res)
    lines = [
        f"| run | samples from | {head} | last stage more detailed |",
        "|---|---|" + "---|---|" * len(res) + "---|",
    ]
    for name, run in runs.items():
        cells, s = [], {int(k): v for k, v in run["summary"].items()}
        for r in res:
            if r in s:
                cells += [
                    f"{s[r]['mean']:.3g} ± {s[r]['sd']:.2g} ({s[r]['points']})",
                    "—" if s[r]["end"] is None else f"{s[r]['end']:.3g}",
                ]
            else:
                cells += ["—", "—"]
        verdict = "—"
        if len(res) > 1 and res[-1] in s and res[-2] in s:
            verdict = "yes" if s[res[-1]]["mean"] <= s[res[-2]]["mean"] else "no"
        lines.append(f"| {name} | {run['samples_from']} | {' | '.join(cells)} | {verdict} |")
    cal = ["| real crops (calibration) | FD-photos |", "|---|---|"] + [
        f"| {k} | {v:.3g} |" for k, v in calibration.items()
    ]
    return (
        "\n".join(lines)
        + "\n\n"
        + "\n".join(cal)
        + "\n\n"
        + f"Feature network: {protocol['feature_network']} (test accuracy "
        f"{protocol['feature_network_accuracy']:.3f}, weights sha256 "
        f"{protocol['weights_sha256']}); {N_SAMPLES} samples against {N_REAL} crops.\n"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument(
        "--features",
        type=Path,
        required=True,
        help="the classifier of 'genzoo features train photos --option "
        "labelled=true' at the runs' data size",
    )
    ap.add_argument(
        "--stages", type=int, default=2, help="how many of the last stages to measure (default: 2)"
    )
    ap.add_argument(
        "--live",
        action="store_true",
        help="samples from the generator itself even where a run keeps an average",
    )
    ap.add_argument(
        "--json", default=str(ROOT / "benchmarks" / "results" / "progressive_detail.json")
    )
    ap.add_argument("--markdown", default=str(ROOT / "docs" / "results" / "progressive.md"))
    args = ap.parse_args(argv)
    from genzoo import assemble
    from genzoo.errors import GenzooError
    from genzoo.recipe import load
    from genzoo.store import rundir

    try:
        first = load(args.runs[0] / rundir.RECIPE)
        data = assemble.build_data(first)
        detail = Detail(args.features, data)
        runs = {}
        for run in args.runs:
            r = load(run / rundir.RECIPE)
            averaged = bool(r.train.generator_ema) and not args.live
            points = run_points(run, detail.fd, average=not args.live, stages=args.stages)
            runs[run.name] = {
                "samples_from": f"average {r.train.generator_ema:g}" if averaged else "generator",
                "points": points,
                "summary": {str(k): v for k, v in summary(points).items()},
            }
        calibration = detail.calibration(data)
    except GenzooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {"runs": runs, "calibration": calibration, "protocol": detail.protocol}, indent=1
        )
    )
    table = render(runs, calibration, detail.protocol)
    print(table)
    write_section(Path(args.markdown), MARK, "Progressive growing: detail by FD-photos", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

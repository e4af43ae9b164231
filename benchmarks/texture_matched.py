"""The texture_upsampling study at matched compute, from its committed JSON: each seed's
nearest-neighbour generator after the iterations whose FLOPs equal the transposed generator's
full run (2000 of 18.3 GFLOP against 3000 of 12.2), tested paired by seed with Holm's correction,
as the study tests its own claims. Writes benchmarks/results/texture_matched.json and a section
of docs/results/texture.md.

    python benchmarks/texture_matched.py
"""

from __future__ import annotations

import dataclasses
import json
import sys

from tables import ROOT, write_section

from genzoo.study import stats

STUDY = ROOT / "benchmarks" / "results" / "studies" / "texture_upsampling.json"
OUT = ROOT / "benchmarks" / "results" / "texture_matched.json"
PAGE = ROOT / "docs" / "results" / "texture.md"
METRICS = ["high_frequency_ratio", "nyquist_ratio", "orientation_distance", "gram_distance"]


def per_seed(study: dict, variant: str, step: int, metric: str) -> dict[int, float]:
    return {
        c["seed"]: c["evaluations"][str(step)][metric]
        for c in study["cells"]
        if c["variant"] == variant and str(step) in c["evaluations"]
    }


def main() -> int:
    study = json.loads(STUDY.read_text())
    flops = study["plan"]["flops_per_iteration"]
    full = study["plan"]["iterations"]["transposed"]
    matched = round(full * flops["transposed"] / flops["nearest"] / 1000) * 1000  # an eval point
    tests = [
        stats.compare(
            f"nearest at {matched} < transposed at {full} on {m}",
            per_seed(study, "nearest", matched, m),
            per_seed(study, "transposed", full, m),
        )
        for m in METRICS
    ]
    stats.decide(tests, [True] * len(tests), 0.05)
    rows = []
    for m, t in zip(METRICS, tests):
        a = stats.summary(list(per_seed(study, "nearest", matched, m).values()))
        b = stats.summary(list(per_seed(study, "transposed", full, m).values()))
        rows.append({"metric": m, "nearest": a, "transposed": b, **dataclasses.asdict(t)})
    result = {
        "study": STUDY.relative_to(ROOT).as_posix(),
        "iterations": {"nearest": matched, "transposed": full},
        "flops": {"nearest": matched * flops["nearest"], "transposed": full * flops["transposed"]},
        "tests": rows,
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        f"From `{OUT.relative_to(ROOT).as_posix()}` (`python benchmarks/texture_matched.py`): "
        f"nearest at {matched} iterations ({result['flops']['nearest'] / 1e12:.1f} TFLOP) "
        f"against transposed at {full} ({result['flops']['transposed'] / 1e12:.1f} TFLOP), "
        f"the same runs as above, paired t over seeds, Holm over the {len(rows)} claims:",
        "",
        "| metric | nearest | transposed | difference [95% CI] | t (df) | p | p (Holm) | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["ci"]
        lines.append(
            f"| {r['metric']} | {r['nearest']['mean']:.4g} ± {r['nearest']['std']:.2g} | "
            f"{r['transposed']['mean']:.4g} ± {r['transposed']['std']:.2g} | "
            f"{r['diff']:.4g} [{lo:.4g}, {hi:.4g}] | {r['t']:.3g} ({r['df']:.3g}) | "
            f"{r['p']:.3g} | {r['p_holm']:.3g} | **{r['verdict']}** |"
        )
    write_section(PAGE, "<!-- texture_matched -->", "At matched compute", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

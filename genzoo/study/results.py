"""A study's results from its storage: each cell's measurements, each variant's summary
(mean, std, 95% CI over seeds), the claims tested and corrected, written to ``study.json`` and
a Markdown ``table.md`` in the study folder."""

from __future__ import annotations

import dataclasses

from genzoo.store.files import atomic_write
from genzoo.study import stats
from genzoo.study.folder import StudyFolder
from genzoo.study.spec import METRICS, StudyFile, claims_of


def final(evaluations: dict[int, dict]) -> dict:
    return evaluations[max(evaluations)] if evaluations else {}


def cells_json(cells: dict) -> list[dict]:
    """(variant, seed) -> {step: metrics} as the study's JSON lists its cells."""
    return [
        {"variant": v, "seed": s, "evaluations": {str(k): m for k, m in ev.items()}}
        for (v, s), ev in sorted(cells.items())
    ]


def collect(spec: StudyFile, cells: dict, plan: dict | None, tuned: dict | None) -> dict:
    """The study's results: cells, per-variant summaries, curves and the claims' tests."""
    summary, curves = {}, {}
    for v in spec.variants:
        mine = {s: ev for (var, s), ev in cells.items() if var == v}
        summary[v] = {
            m: stats.summary([x for ev in mine.values() if (x := final(ev).get(m)) is not None])
            for m in spec.evaluate.metrics
        }
        flops = (plan or {}).get("flops_per_iteration", {}).get(v)
        steps = sorted({k for ev in mine.values() for k in ev})
        curves[v] = [
            {
                "step": k,
                "flops": k * flops if flops else None,
                **{
                    m: stats.summary(
                        [x for ev in mine.values() if (x := ev.get(k, {}).get(m)) is not None]
                    )
                    for m in spec.evaluate.metrics
                },
            }
            for k in steps
        ]
    claims = claims_of(spec)
    tests = [
        stats.compare(
            c.text,
            _per_seed(cells, c.a, c.metric),
            _per_seed(cells, c.b, c.metric),
        )
        for c in claims
    ]
    stats.decide(tests, [c.less for c in claims], spec.alpha)
    missing = [
        {"variant": v, "seed": s} for v in spec.variants for s in spec.seeds if (v, s) not in cells
    ]
    return {
        "cells": cells_json(cells),
        "summary": summary,
        "curves": curves,
        "claims": [{**dataclasses.asdict(t), "metric": c.metric} for t, c in zip(tests, claims)],
        "plan": plan,
        "tuned": tuned,
        "missing": missing,
    }


def _per_seed(cells: dict, variant: str, metric: str) -> dict[int, float]:
    return {
        s: x
        for (v, s), ev in cells.items()
        if v == variant and (x := final(ev).get(metric)) is not None
    }


def _num(x, spec: str = ".4g") -> str:
    return "—" if x is None else f"{x:{spec}}"


def _cell(s: dict) -> str:
    if not s["n"]:
        return "—"
    if s["n"] == 1:
        return f"{s['mean']:.4g} (1 seed)"
    lo, hi = s["ci"]
    return f"{s['mean']:.4g} ± {s['std']:.2g} [{lo:.4g}, {hi:.4g}]"


def markdown(spec: StudyFile, res: dict) -> str:
    b, ev = spec.budget, spec.evaluate
    budget = (
        f"{b.iterations} iterations each"
        if b.compute == "iterations"
        else f"matched {b.compute}: "
        + (
            f"{b.iterations} iterations of `{b.reference}`"
            if b.reference
            else f"{b.flops or b.seconds:.4g} {b.compute}"
        )
        + (f" at {b.threads} thread(s)" if b.compute == "seconds" else "")
    )
    arrows = {m: {True: " ↓", False: " ↑", None: ""}[METRICS[m]] for m in ev.metrics}
    lines = [
        f"Study `{spec.title}`: seeds {', '.join(map(str, spec.seeds))}; {budget}; metrics on "
        f"{ev.n} images of the {ev.split} split; mean ± std [95% CI of the mean] over seeds.",
        "",
        "| variant | iterations | GFLOP / iteration | "
        + " | ".join(f"{m}{arrows[m]}" for m in ev.metrics)
        + " |",
        "|---|---|---|" + "---|" * len(ev.metrics),
    ]
    plan = res.get("plan") or {}
    for v in spec.variants:
        its = plan.get("iterations", {}).get(v)
        fl = plan.get("flops_per_iteration", {}).get(v)
        lines.append(
            f"| {v} | {_num(its, 'd')} | {_num(fl / 1e9 if fl else None, '.3g')} | "
            + " | ".join(_cell(res["summary"][v][m]) for m in ev.metrics)
            + " |"
        )
    if res["claims"]:
        lines += [
            "",
            f"Claims, tested two-sided (paired by seed where both cells share their seeds, "
            f"else Welch), Holm-corrected over the {len(res['claims'])} claims, α = {spec.alpha}:",
            "",
        ]
        lines += stats.claims_table(res["claims"])
    for m in ev.metrics:
        steps = sorted({pt["step"] for pts in res["curves"].values() for pt in pts})
        if len(steps) < 2:
            break
        lines += [
            "",
            f"`{m}` over training (mean over seeds; the variant's GFLOPs at each point in "
            f"parentheses):",
            "",
            "| variant | " + " | ".join(str(k) for k in steps) + " |",
            "|---|" + "---|" * len(steps),
        ]
        for v, pts in res["curves"].items():
            at = {pt["step"]: pt for pt in pts}
            cells = []
            for k in steps:
                pt = at.get(k)
                if pt is None or not pt[m]["n"]:
                    cells.append("—")
                    continue
                fl = f" ({pt['flops'] / 1e9:.3g})" if pt.get("flops") else ""
                cells.append(f"{pt[m]['mean']:.4g}{fl}")
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
    if res.get("tuned"):
        lines += [
            "",
            f"Tuning: TPE, {spec.tune.trials} trials per variant on the validation split, "
            f"pruner `{spec.tune.pruner}`, metric `{spec.tune.metric}`:",
            "",
            "| variant | trials | pruned | best validation value | best parameters |",
            "|---|---|---|---|---|",
        ]
        for v, t in res["tuned"].items():
            if "tuned_in" in t:
                lines.append(f"| {v} | not searched here: tuned in {t['tuned_in']} | — | — | — |")
                continue
            params = ", ".join(
                f"`{k} = {x:.4g}`" if isinstance(x, float) else f"`{k} = {x}`"
                for k, x in (t["params"] or {}).items()
            )
            lines.append(
                f"| {v} | {t['trials']} | {t['pruned']} | {_num(t['best_value'])} | {params} |"
            )
    for a in res.get("added") or []:
        lines += [
            "",
            f"Added on {a['at'][:10]}, before they ran: variants {', '.join(a['variants'])}; "
            f"claims {'; '.join(a['claims']) or 'none'}.",
        ]
    if res["missing"]:
        lines += [
            "",
            "Not finished: "
            + ", ".join(f"{m['variant']} seed {m['seed']}" for m in res["missing"]),
        ]
    return "\n".join(lines) + "\n"


def write(spec: StudyFile, folder: StudyFolder, res: dict) -> None:
    with folder.locked("results"):
        meta = folder.read()
        meta.update(res)
        folder.write(meta)
        atomic_write(folder.table, markdown(spec, res).encode())

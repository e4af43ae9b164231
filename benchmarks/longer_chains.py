"""A study's MCMC-sampled variant measured again with longer chains: every finished cell of
VARIANT measured at its last point with its objective's chain-length OPTION (e.g.
``objectives.pcd.sample_steps``) set to each of STEPS, as the study measures (its split,
images, draws and feature network): FD, KID and the GFLOPs of one sample. Each of the study's
claims "A < VARIANT on fd" is tested again at every length, as the study tests (paired by
seed), Holm over the lengths. Training is untouched: only how samples are drawn from the
trained energy changes (the replay-buffer EBM's authors score persistent chains of about 2000
steps per image, not the chains of its training length from noise).
Writes benchmarks/results/studies/NAME_longer_chains_VARIANT.json (after every cell measured,
so a rerun of an interrupted run measures only what is missing) and its section of PAGE;
``--so-far STORAGE`` measures the cells finished so far, while the study runs, as
``second_features.py`` does.

    python benchmarks/longer_chains.py benchmarks/studies/ebm_fashion.toml \\
        benchmarks/results/studies/ebm_fashion.json docs/results/ebm.md \\
        --variant pcd --option objectives.pcd.sample_steps --steps 60,300,1000
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from second_features import (
    again_parser,
    first_network,
    json_path,
    kept,
    kept_so_far,
    measurable,
    provenance,
    read_study,
    records,
    same_cells,
    shown,
    write_json,
)
from tables import write_section

from genzoo import assemble
from genzoo import recipe as recipe_mod
from genzoo.store.rundir import RECIPE
from genzoo.study import runs, shared, stats
from genzoo.study import spec as spec_mod
from genzoo.study.folder import StudyFolder

METRICS = ("fd", "kid", "sample_gflops")


def with_option(recipe_file: Path, option: str, value: int):
    """``sampler_of`` for ``evaluate_run``: the run's objective (from its ``recipe_file``)
    rebuilt with ``option`` set to ``value``, its sampler on the loaded model's networks."""

    def sampler_of(model):
        r = recipe_mod.load(recipe_file, [f"{option}={value}"])
        sampler = assemble.build_objective(r).sampler(model.models)
        if sampler is None:
            raise SystemExit(f"objective {r.objective!r} has no sampler of its own to lengthen")
        return sampler

    return sampler_of


def own_length(run: Path, option: str):
    """The value of ``option`` the run trained and was measured with (its recipe's)."""
    value = recipe_mod.load(run / RECIPE).to_dict()
    for key in option.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def measure_cells(
    s,
    res: dict,
    folder: StudyFolder,
    variant: str,
    option: str,
    steps,
    done=None,
    save=None,
    so_far=False,
):
    """length -> seed -> {fd, kid, sample_gflops} of each finished cell of ``variant``; what
    ``done`` holds already (the same keys) is not measured again, and ``save(out)`` keeps each
    new measurement as it comes, so an interrupted run goes on where it stopped. ``so_far``: a
    cell whose checkpoint is not in ``folder`` is left out (it is measured where it trained).
    At the cell's own length the study's measurement is taken: it is the same measurement."""
    out: dict[int, dict[int, dict]] = {}
    for k in steps:
        out[k] = {}
        for cell in (c for c in res["cells"] if c["variant"] == variant):
            if (earlier := (done or {}).get(k, {}).get(cell["seed"])) is not None:
                out[k][cell["seed"]] = earlier
                continue
            last = max(int(x) for x in cell["evaluations"])
            if (run := measurable(folder, variant, cell["seed"], last, so_far)) is None:
                continue
            recorded = cell["evaluations"][str(last)]
            if own_length(run, option) == k and all(x in recorded for x in METRICS):
                out[k][cell["seed"]] = {x: recorded[x] for x in METRICS}
                continue
            m = runs.measure(
                run,
                s,
                s.evaluate.split,
                shared.features_for(s, folder),  # the study's own feature network
                checkpoint=last,
                sampler_of=with_option(run / RECIPE, option, k),
            )
            out[k][cell["seed"]] = {x: m.get(x) for x in METRICS}
            print(variant, k, cell["seed"], out[k][cell["seed"]], flush=True)
            if save is not None:
                save(out)
    return out


def as_json(measured: dict) -> dict:
    return {str(k): {str(seed): m for seed, m in v.items()} for k, v in measured.items()}


def done_before(path: Path, variant: str, option: str, res: dict) -> dict:
    """The measurements an interrupted run of the same option left, of the cells that are
    still the study's (:func:`same_cells`)."""
    old = kept(path, {"variant": variant, "option": option})
    still = {seed for v, seed in same_cells(old, res) if v == variant}
    return {
        int(k): {int(seed): m for seed, m in v.items() if int(seed) in still}
        for k, v in old.get("measured", {}).items()
    }


def tested(s, res: dict, variant: str, measured: dict) -> list[dict]:
    """Every claim of the study on FD that names ``variant``, again at each chain length."""
    first = first_network(res)
    claims = [c for c in spec_mod.claims_of(s) if c.metric == "fd" and variant in (c.a, c.b)]
    tests, less = [], []
    for k, by_seed in measured.items():
        again = {seed: m["fd"] for seed, m in by_seed.items()}
        for c in claims:
            a, b = (
                again if v == variant else {n: m["fd"] for (w, n), m in first.items() if w == v}
                for v in (c.a, c.b)
            )
            text = c.text.replace(variant, f"{variant}@{k}", 1)
            tests.append(stats.compare(text, a, b))
            less.append(c.less)
    stats.decide(tests, less, s.alpha)
    return [dataclasses.asdict(t) for t in tests]


def write_page(page: Path, name: str, out: Path, result: dict) -> None:
    lines = [
        "| chain length | FD mean | KID mean | GFLOPs per sample | seeds |",
        "|---|---|---|---|---|",
    ]
    for k, by_seed in result["measured"].items():
        vals = list(by_seed.values())
        mean = {key: sum(v[key] or 0.0 for v in vals) / len(vals) for key in METRICS}
        kid = "—" if any(v["kid"] is None for v in vals) else f"{mean['kid']:.4f}"
        lines.append(
            f"| {k} | {mean['fd']:.2f} | {kid} | {mean['sample_gflops']:.3g} | {len(vals)} |"
        )
    lines += ["", "| claim | p (Holm) | verdict |", "|---|---|---|"]
    for t in result["tests"]:
        p = "—" if t["p_holm"] is None else f"{t['p_holm']:.2g}"
        lines.append(f"| {t['claim']} | {p} | {t['verdict']} |")
    body = (
        f"From `{shown(out)}` (`python benchmarks/longer_chains.py`): the finished cells of "
        f"`{result['variant']}` measured again at their last point with `{result['option']}` "
        f"at each length, as the study measures; training untouched. The claims are the "
        f"study's, tested again at each length (Holm over the lengths).\n\n"
        + "\n".join(lines)
        + "\n"
    )
    write_section(
        page,
        f"<!-- longer_chains:{name}:{result['variant']} -->",
        f"`{result['variant']}` of `{name}` sampled with longer chains",
        body,
    )


def main(argv=None) -> int:
    ap = again_parser(__doc__)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--option", required=True, help="the recipe key of the chain length")
    ap.add_argument("--steps", required=True, help="chain lengths, comma-separated")
    args = ap.parse_args(argv)
    s, res, folder = read_study(args)
    steps = [int(k) for k in args.steps.split(",")]
    what = f"longer_chains_{args.variant}"
    result = provenance(args, s, variant=args.variant, option=args.option)
    cells = {n: r for n, r in records(res).items() if n.rsplit("/", 1)[0] == args.variant}

    def save(measured):
        seeds = {seed for by_seed in measured.values() for seed in by_seed}
        mine = {f"{args.variant}/{seed}": cells[f"{args.variant}/{seed}"] for seed in seeds}
        write_json(args, s, {**result, "cells": mine, "measured": as_json(measured)}, what)

    done = done_before(json_path(args, s, what), args.variant, args.option, res)
    measured = measure_cells(
        s, res, folder, args.variant, args.option, steps, done, save, bool(args.so_far)
    )
    seeds = {seed for by_seed in measured.values() for seed in by_seed}
    if seeds or not args.so_far:
        save(measured)
    if args.so_far:
        return kept_so_far(args, s, what, len(seeds), len(cells))
    result |= {"finished": True, "cells": cells, "measured": as_json(measured)}
    result["tests"] = tested(s, res, args.variant, measured)
    out = write_json(args, s, result, what)
    write_page(args.page, s.name, out, result)
    for t in result["tests"]:
        print(f"{t['claim']}: p (Holm) {t['p_holm']}, {t['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How far a study has got, read from its storage without writing to it: per variant, the
search's points finished (pruned, repeated, failed and queued beside them), the best
validation value so far, the hours its finished trials took, and the cells finished of its
seeds. ``genzoo status`` prints it; benchmarks/study_progress.py writes it into the docs."""

from __future__ import annotations

import collections
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from genzoo.study import shared, work
from genzoo.study.cells import cell_studies
from genzoo.study.spec import StudyFile
from genzoo.study.tune import best_trial, each_point_once


@dataclass
class Row:
    variant: str
    tuned_in: str = ""
    points: int = 0  # distinct points finished (the search's effort)
    trials: int = 0  # the search's budget
    pruned: int = 0
    repeated: int = 0  # finished trials that repeat an earlier point (not effort)
    failed: int = 0  # stopped or lost, queued again
    queued: int = 0  # waiting or running
    running: int = 0  # of them running
    best: float | None = None  # the best complete trial's validation value so far
    hours: float = 0.0  # the finished trials' training time
    point_hours: float | None = None  # a finished trial's mean hours, repeats included
    complete_hours: float | None = None  # a complete (unpruned) trial's mean hours
    cell_hours: float | None = None  # a finished cell's mean hours
    cells: int = 0
    cells_running: int = 0
    seeds: int = 0


def study_of(storage, name: str) -> optuna.Study | None:
    try:
        return optuna.load_study(storage=storage, study_name=name)
    except KeyError:  # not started
        return None


def rows(spec: StudyFile, storage) -> list[Row]:
    cells = [t for study in cell_studies(spec, storage) for t in study.get_trials(deepcopy=False)]
    done = collections.Counter(
        t.params.get("variant") for t in cells if t.state == TrialState.COMPLETE
    )
    running = collections.Counter(
        t.params.get("variant") for t in cells if t.state == TrialState.RUNNING
    )
    out = []
    for v, variant in spec.variants.items():
        row = Row(v, variant.tuned_in, cells=done[v], cells_running=running[v])
        row.seeds = len(spec.seeds)
        row.cell_hours = mean_hours(
            [t for t in cells if t.state == TrialState.COMPLETE and t.params.get("variant") == v]
        )
        out.append(row)
        if variant.tuned_in or spec.tune is None:
            continue
        row.trials = spec.tune.trials
        study = study_of(storage, shared.name_of(spec, f"tune:{v}"))
        if study is None:
            continue
        trials = study.get_trials(deepcopy=False)
        by = collections.Counter(t.state for t in trials)
        finished = [t for t in trials if t.state in work.FINISHED]
        points = each_point_once(finished)
        best, _ = best_trial(spec, study)  # as genzoo tune picks it: among the first points
        row.points = len(points)
        row.pruned = sum(t.state == TrialState.PRUNED for t in points)
        row.repeated = len(finished) - len(points)
        row.failed = by[TrialState.FAIL]
        row.queued = by[TrialState.WAITING] + by[TrialState.RUNNING]
        row.running = by[TrialState.RUNNING]
        row.best = best.value if best else None
        row.point_hours = mean_hours(finished)
        row.hours = (row.point_hours or 0.0) * len(finished)
        row.complete_hours = mean_hours([t for t in finished if t.state == TrialState.COMPLETE])
    return out


def codes(spec: StudyFile, storage) -> dict[str, int]:
    """The code that measured the study's finished trials and cells (``work.code_version``):
    how many each, in the order first seen; trials from before it was recorded are "not
    recorded"."""
    studies = [*cell_studies(spec, storage)]
    if spec.tune is not None:
        for v, variant in spec.variants.items():
            if not variant.tuned_in:
                studies.append(study_of(storage, shared.name_of(spec, f"tune:{v}")))
    out: dict[str, int] = {}
    for study in filter(None, studies):
        for t in study.get_trials(deepcopy=False):
            if t.state in work.FINISHED:
                code = t.user_attrs.get("code", "not recorded")
                out[code] = out.get(code, 0) + 1
    return out


def codes_text(counts: dict[str, int]) -> str:
    return "measured by: " + "; ".join(f"{c} ({n})" for c, n in counts.items())


def mean_hours(trials) -> float | None:
    took = [
        (t.datetime_complete - t.datetime_start).total_seconds() / 3600
        for t in trials
        if t.datetime_start and t.datetime_complete
    ]
    return sum(took) / len(took) if took else None


def hours_left(spec: StudyFile, rs: list[Row]) -> float | None:
    """The worker-hours the study still needs, estimated from what has finished: each
    variant's remaining search points at its finished trials' mean, its remaining cells at its
    finished cells' mean, else at its complete trials' mean scaled by a cell's budget over a
    trial's; a variant with nothing finished at the other variants' mean (matched compute
    gives every variant's runs about the same cost). None before anything has finished."""
    b, t = spec.budget, spec.tune
    ratio = None
    if t and b.compute == t.budget.compute and b.reference == t.budget.reference:
        if b.iterations and t.budget.iterations and not (b.flops or b.seconds):
            ratio = b.iterations / t.budget.iterations
    per_point = {r.variant: r.point_hours for r in rs if r.point_hours}
    per_cell = {
        r.variant: r.cell_hours
        or (r.complete_hours * ratio if r.complete_hours and ratio else None)
        for r in rs
    }
    per_cell = {v: h for v, h in per_cell.items() if h}
    if not per_cell and not per_point:
        return None
    point_else = sum(per_point.values()) / len(per_point) if per_point else None
    cell_else = sum(per_cell.values()) / len(per_cell) if per_cell else None
    total = 0.0
    for r in rs:
        if r.trials > r.points:
            if point_else is None:
                return None
            total += (r.trials - r.points) * per_point.get(r.variant, point_else)
        if r.seeds > r.cells:
            if cell_else is None:
                return None
            total += (r.seeds - r.cells) * per_cell.get(r.variant, cell_else)
    return total


def left_text(left: float | None, running: int) -> str:
    """The estimate of :func:`hours_left` in words, with the wall time it means at the pace
    of the ``running`` trials and cells (one per worker)."""
    if left is None:
        return "left: too little finished to estimate"
    text = f"left: about {left:.1f} worker-hours, from the finished trials' and cells' times"
    if running:
        text += f"; about {left / running:.1f} h with the {running} running now"
    return text


HEADER = [
    "variant",
    "tuning points finished",
    "of them pruned",
    "repeated points (not counted)",
    "failed (retried)",
    "queued or running",
    "best validation value",
    "tuning hours (finished trials)",
    "cells finished",
]


def cells_of(
    r: Row, of: str = " of ", elsewhere: str = "", running: str = " ({} running)"
) -> list[str]:
    """``r`` as table cells: ``of`` between a count and its budget, ``running`` (formatted
    with their number) after the cells running; a variant tuned elsewhere says ``elsewhere``
    (default: where it was tuned)."""
    cells = f"{r.cells}{of}{r.seeds}" + (running.format(r.cells_running) if r.cells_running else "")
    if r.tuned_in:
        return [r.variant, elsewhere or f"not searched: tuned in {r.tuned_in}", *[""] * 6, cells]
    best = "—" if r.best is None else f"{r.best:.4g}"
    return [
        r.variant,
        f"{r.points}{of}{r.trials}",
        str(r.pruned),
        str(r.repeated),
        str(r.failed),
        str(r.queued),
        best,
        f"{r.hours:.2f}",
        cells,
    ]


def markdown(rs: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells_of(r)) + " |" for r in rs]
    return "\n".join(lines)


SHORT = ["variant", "points", "pruned", "repeats", "failed", "queued", "best", "hours", "cells"]


def show(
    spec: StudyFile, rs: list[Row], console, measured_by: dict[str, int] | None = None
) -> None:
    """The rows as a terminal table (short headers, explained under it, narrow enough for 80
    columns), and the code that measured the finished trials (``codes``)."""
    from rich.table import Table

    table = Table(title=f"study {spec.title}", title_justify="left", box=None, pad_edge=False)
    for h in SHORT:
        table.add_column(
            h, justify="left" if h == "variant" else "right", no_wrap=True, min_width=len(h)
        )
    for r in rs:
        table.add_row(*cells_of(r, of="/", elsewhere="elsewhere", running=" +{}"))
    console.print(table)
    metric = spec.tune.metric if spec.tune else "—"
    console.print(
        f"points: distinct search points finished of the budget; best: the best validation "
        f"{metric} so far; hours: the finished trials' time; cells: finished of the seeds "
        f"(+ running)"
    )
    for r in rs:
        if r.tuned_in:
            console.print(f"{r.variant}: tuned in {r.tuned_in}", markup=False)
    console.print(left_text(hours_left(spec, rs), sum(r.running + r.cells_running for r in rs)))
    if measured_by:
        console.print(codes_text(measured_by), markup=False)


def status_of(file, out, where, console=None) -> list[Row]:
    """``genzoo status``: the study's rows from the storage its folder names (or ``where``)."""
    from rich.console import Console

    from genzoo.errors import GenzooError
    from genzoo.study import grown
    from genzoo.study import spec as spec_mod
    from genzoo.study.drive import default_out
    from genzoo.study.folder import StudyFolder
    from genzoo.study.storage import describe, open_storage

    console = console or Console()
    spec = spec_mod.load(file)
    folder = StudyFolder(out or default_out(spec))
    meta = folder.read()
    if not meta and not where:
        raise GenzooError(
            f"study '{spec.title}' has not started in '{folder.root}'; pass the --out it runs in "
            f"(or its --storage)"
        )
    added = []
    if meta and meta.get("fingerprint") != spec.fingerprint():
        added, _ = grown.added_variants(meta, spec, folder.root)
    url = describe(where, folder.root, 1) if where else meta["storage"]
    storage = open_storage(url)
    rs = rows(spec, storage)
    show(spec, rs, console, codes(spec, storage))
    if added:
        console.print(
            f"added by this study file, from its next run: {', '.join(added)}", markup=False
        )
    return rs

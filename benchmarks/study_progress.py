"""How far a long study has got, from its committed storage: per variant, the tuning trials
by state and the cells finished of their seeds, and the training time the finished ones took.
Writes its section of docs/results/studies.md.

    python benchmarks/study_progress.py benchmarks/studies/tables_fashion.toml \\
        benchmarks/results/studies/tables_fashion.journal
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState
from tables import ROOT, write_section

from genzoo.study import shared, spec
from genzoo.study.cells import cell_studies
from genzoo.study.storage import open_storage
from genzoo.study.tune import each_point_once

PAGE = ROOT / "docs" / "results" / "studies.md"


def trials_of(storage, name: str) -> list:
    try:
        return optuna.load_study(storage=storage, study_name=name).get_trials(deepcopy=False)
    except KeyError:  # not started
        return []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("journal", type=Path)
    args = ap.parse_args(argv)
    args.study, args.journal = args.study.resolve(), args.journal.resolve()
    s = spec.load(args.study)
    storage = open_storage(f"journal:{args.journal}")  # read only: nothing is written
    cells = collections.Counter(
        t.params.get("variant")
        for study in cell_studies(s, storage)
        for t in study.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
    )
    lines = [
        "| variant | tuning points finished | of them pruned | repeated points (not counted) | "
        "failed (retried) | queued or running | tuning hours (finished trials) | cells finished |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in s.variants:
        if s.variants[v].tuned_in:
            lines.append(
                f"| {v} | not searched: tuned in {s.variants[v].tuned_in} | | | | | | "
                f"{cells[v]} of {len(s.seeds)} |"
            )
            continue
        trials = trials_of(storage, shared.name_of(s, f"tune:{v}")) if s.tune else []
        by = collections.Counter(t.state for t in trials)
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        points = each_point_once(finished)
        hours = (
            sum(
                (t.datetime_complete - t.datetime_start).total_seconds()
                for t in trials
                if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.datetime_start
            )
            / 3600
        )
        lines.append(
            f"| {v} | {len(points)} of {s.tune.trials if s.tune else 0} | "
            f"{sum(t.state == TrialState.PRUNED for t in points)} | "
            f"{len(finished) - len(points)} | {by[TrialState.FAIL]} | "
            f"{by[TrialState.WAITING] + by[TrialState.RUNNING]} | {hours:.2f} | "
            f"{cells[v]} of {len(s.seeds)} |"
        )
    body = (
        f"From the committed storage `{args.journal.relative_to(ROOT).as_posix()}` "
        f"(`python benchmarks/study_progress.py {args.study.relative_to(ROOT).as_posix()} "
        f"{args.journal.relative_to(ROOT).as_posix()}`); a failed trial was stopped (a signal "
        f"stopped the study, or a worker was killed) and queued again; a finished trial counts as complete "
        f"or pruned; a trial that repeats an earlier one's parameters (two workers that drew the "
        f"same point, before `genzoo tune` seeded each trial's draw) is no search effort and "
        f"is not counted.\n\n" + "\n".join(lines) + "\n"
    )
    write_section(PAGE, f"<!-- progress:{s.name} -->", f"Progress of `{s.name}`", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

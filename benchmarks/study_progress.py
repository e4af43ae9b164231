"""How far a long study has got, from its committed storage (``genzoo status``'s table): per
variant, the tuning trials by state, the best validation value so far, the training time the
finished ones took and the cells finished of their seeds. Writes its section of
docs/results/studies.md.

    python benchmarks/study_progress.py benchmarks/studies/tables_fashion.toml \\
        benchmarks/results/studies/tables_fashion.journal
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tables import ROOT, write_section

from genzoo.study import progress, spec
from genzoo.study.storage import open_storage

PAGE = ROOT / "docs" / "results" / "studies.md"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("journal", type=Path)
    args = ap.parse_args(argv)
    args.study, args.journal = args.study.resolve(), args.journal.resolve()
    s = spec.load(args.study)
    storage = open_storage(f"journal:{args.journal}")  # read only: nothing is written
    rows = progress.rows(s, storage)
    left = progress.hours_left(s, rows)
    table = progress.markdown(rows) + (
        ""
        if left is None
        else f"\n\nLeft: about {left:.0f} worker-hours, estimated from the finished trials' "
        f"and cells' times (`genzoo status`)."
    )
    measured_by = progress.codes(s, storage)
    if measured_by:  # the genzoo version and commit of each finished trial and cell
        text = progress.codes_text(measured_by)
        table += f"\n\n{text[0].upper()}{text[1:]}."
    body = (
        f"From the committed storage `{args.journal.relative_to(ROOT).as_posix()}` "
        f"(`python benchmarks/study_progress.py {args.study.relative_to(ROOT).as_posix()} "
        f"{args.journal.relative_to(ROOT).as_posix()}`); a failed trial was stopped (a signal "
        f"stopped the study, or a worker was killed) and queued again; a finished trial counts as complete "
        f"or pruned; a trial that repeats an earlier one's parameters (two workers that drew the "
        f"same point, before `genzoo tune` seeded each trial's draw) is no search effort and "
        f"is not counted.\n\n" + table + "\n"
    )
    write_section(PAGE, f"<!-- progress:{s.name} -->", f"Progress of `{s.name}`", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A study's tables as a section of a page of docs/results/, from the study's committed JSON
(the ``study.json`` of its folder, copied under benchmarks/results/studies/): the cells, the
claims with their tests and verdicts, every metric over training, the tuning.

    python benchmarks/study_section.py benchmarks/studies/texture_upsampling.toml \\
        benchmarks/results/studies/texture_upsampling.json docs/results/texture.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tables import write_section

from genzoo.study import results, spec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="the study file")
    ap.add_argument("json", type=Path, help="the study's committed study.json")
    ap.add_argument("page", type=Path, help="the page of docs/results/ to write the section in")
    args = ap.parse_args(argv)
    s = spec.load(args.study)
    res = json.loads(args.json.read_text())
    body = (
        f"From `{args.json.as_posix()}`, written by `genzoo study {args.study.as_posix()}`.\n\n"
        + results.markdown(s, res)
    )
    write_section(args.page, f"<!-- study:{s.name} -->", f"Study `{s.name}`", body)
    print(f"wrote the section of study '{s.name}' in {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

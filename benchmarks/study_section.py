"""A study's tables as a section of a page of docs/results/, from the study's committed JSON
(the ``study.json`` of its folder, copied under benchmarks/results/studies/): the cells, the
claims with their tests and verdicts, every metric over training (as a table, and as curves
against iterations and against FLOPs in docs/images/study_NAME_METRIC.png), the tuning.

    python benchmarks/study_section.py benchmarks/studies/texture_upsampling.toml \\
        benchmarks/results/studies/texture_upsampling.json docs/results/texture.md
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

from tables import ROOT, write_section

from genzoo.store.files import atomic_write
from genzoo.study import report, results, spec


def curve_images(s, res: dict, images: Path, page: Path) -> list[str]:
    """Each metric's curves (:func:`genzoo.study.report.curves_figure`) as a PNG in
    ``images``, and the Markdown that shows it on ``page``; none with fewer than two points."""
    import matplotlib.pyplot as plt

    if len({pt["step"] for pts in res["curves"].values() for pt in pts}) < 2:
        return []
    shown = []
    images.mkdir(parents=True, exist_ok=True)
    for m in s.evaluate.metrics:
        fig = report.curves_figure(res, m)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        png = images / f"study_{s.name}_{m}.png"
        atomic_write(png, buf.getvalue())
        link = Path(os.path.relpath(png, page.parent)).as_posix()
        shown.append(f"![{m} against iterations and against FLOPs, mean ± std over seeds]({link})")
    return shown


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="the study file")
    ap.add_argument("json", type=Path, help="the study's committed study.json")
    ap.add_argument("page", type=Path, help="the page of docs/results/ to write the section in")
    ap.add_argument("--images", type=Path, default=ROOT / "docs" / "images", help="curves' PNGs")
    args = ap.parse_args(argv)
    s = spec.load(args.study)
    res = json.loads(args.json.read_text())
    figures = curve_images(s, res, args.images, args.page)
    body = (
        f"From `{args.json.as_posix()}`, written by `genzoo study {args.study.as_posix()}`.\n\n"
        + results.markdown(s, res)
        + "".join(f"\n{f}\n" for f in figures)
    )
    write_section(args.page, f"<!-- study:{s.name} -->", f"Study `{s.name}`", body)
    print(f"wrote the section of study '{s.name}' in {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The claims table that opens docs/results/index.md: every claim of the studies named by the
claims files (benchmarks/claims/*.toml), with what the paper reports beside it, genzoo's
values with their 95% CIs, the test, its p after Holm (over the claims of the study, as the
study tests them) and the verdict, from each study's committed JSON. A study that has not
finished, or a claim without its cells, reads "not measured yet".

    python benchmarks/claims_table.py benchmarks/claims/tables_fashion.toml \
        benchmarks/claims/table3_fashion.toml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tables import ROOT, write_section

from genzoo import toml_text
from genzoo.study import spec as spec_mod

PAGE = ROOT / "docs" / "results" / "index.md"
MARK = "<!-- claims_table -->"


def value(s: dict | None) -> str:
    """``mean [low, high]`` of a summary, or a dash."""
    if not s or not s.get("n"):
        return "—"
    ci = s.get("ci")
    return f"{s['mean']:.4g}" + (f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else f" (n = {s['n']})")


def paper(cfg: dict, metric: str, variant: str) -> str:
    x = cfg.get("paper", {}).get(metric, {}).get("values", {}).get(variant)
    return "—" if x is None else f"{x:g}"


def rows_of(path: Path) -> tuple[list[str], list[str], dict]:
    """One claims file's rows, its notes, and its study's described variants."""
    cfg = toml_text.read_toml(path)
    study = spec_mod.load(path.parent / cfg["study"])
    results = path.parent / cfg["results"]
    res = json.loads(results.read_text()) if results.exists() else {}
    tests = {t["claim"]: t for t in res.get("claims", [])}
    summary = res.get("summary", {})
    finished = bool(res) and not res.get("missing")
    added = {c: a["at"][:10] for a in res.get("added", []) for c in a["claims"]}
    rows = []
    for c in spec_mod.claims_of(study):
        t = tests.get(c.text)
        claim = c.text + (
            f" (added {added[c.text]}, before its variant ran)" if c.text in added else ""
        )
        sources = f"{paper(cfg, c.metric, c.a)} vs {paper(cfg, c.metric, c.b)}"
        mine = f"{value(summary.get(c.a, {}).get(c.metric))} vs {value(summary.get(c.b, {}).get(c.metric))}"
        if not finished or t is None or t.get("p") is None:
            rows.append(f"| {claim} | {sources} | {mine} | — | — | not measured yet |")
            continue
        lo, hi = t["ci"]
        rows.append(
            f"| {claim} | {sources} | {mine}; difference {t['diff']:.4g} [{lo:.4g}, {hi:.4g}] | "
            f"{t['test']} | {t['p_holm']:.2g} | **{t['verdict']}** |"
        )
    where = (
        results.resolve().relative_to(ROOT).as_posix()
        if results.resolve().is_relative_to(ROOT)
        else results
    )
    papers = "; ".join(f"{m}: {p['source']}" for m, p in cfg.get("paper", {}).items())
    papers = f"the paper's values: {papers}" if papers else "the paper reports no values for them"
    effort = (
        f"every variant tuned with {study.tune.trials} trials of the same budget"
        if study.tune
        else "every variant at its shipped settings, none tuned"
    )
    b = study.budget
    budget = (
        f"{b.iterations} iterations each"
        if b.compute == "iterations"
        else f"matched {b.compute} ({b.iterations} iterations of {b.reference})"
    )
    notes = [
        f"`{study.title}`: from `{where}`"
        + ("" if finished else " (not finished: no verdicts yet)")
        + f"; {effort}; {budget}; {len(study.seeds)} seeds; {papers}.",
        *cfg.get("notes", []),
    ]
    return rows, notes, {v: (study.title, d) for v, d in cfg.get("variants", {}).items()}


def descriptions(described: dict[str, list[tuple[str, str]]]) -> list[str]:
    """A line per variant; one that two studies describe differently, a line per study."""
    lines = []
    for v, said in described.items():
        if len({d for _, d in said}) == 1:
            lines.append(f"- `{v}`: {said[0][1]}")
        else:
            lines += [f"- `{v}` ({name}): {d}" for name, d in said]
    return lines


def table(paths: list[Path]) -> str:
    rows, notes, described = [], [], {}
    for path in paths:
        r, n, d = rows_of(path)
        rows += r
        notes += n
        for v, said in d.items():
            described.setdefault(v, []).append(said)
    head = [
        "| claim | the paper's values (a vs b) | genzoo: mean [95% CI] (a vs b) | test | p (Holm) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    lines = [*head, *rows, "", *(f"- {n}" for n in notes)]
    lines += descriptions(described)
    lines += [
        "- A verdict is Holm-corrected over its study's claims at 0.05: holds, fails (the "
        "opposite order is significant), or undecided."
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("claims", type=Path, nargs="+", help="claims files (benchmarks/claims/)")
    ap.add_argument("--page", type=Path, default=PAGE)
    args = ap.parse_args(argv)
    body = table(args.claims)
    write_section(args.page, MARK, "The paper's claims, tested", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

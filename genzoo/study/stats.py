"""The statistics of a study's table: each cell's mean, standard deviation and 95% confidence
interval over seeds, and each claim tested with Welch's t-test (or the paired t-test where both
cells share their seeds), the p-values corrected by Holm over the study's claims, and a verdict:
"holds", "fails" or "undecided". The tests are scipy.stats'."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95


def scipy_stats():
    """``scipy.stats``, imported on first use: its import costs most of a second of every
    study command's start."""
    from scipy import stats

    return stats


def summary(values: list[float]) -> dict:
    """``mean``, ``std`` (n - 1), ``n`` and the t-interval ``ci`` of the mean (None for one
    value)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    ci = None
    if n > 1:
        low, high = scipy_stats().ttest_1samp(x, 0.0).confidence_interval(LEVEL)
        ci = [float(low), float(high)]
    return {"mean": mean, "std": std, "n": n, "ci": ci}


@dataclass
class Test:
    """One claim's test: ``diff`` = mean(a) − mean(b) (mean of the paired differences when
    paired) with its 95% ``ci``, Student's ``t`` on ``df`` degrees of freedom, the two-sided
    ``p`` and, after :func:`holm`, ``p_holm`` and the ``verdict``."""

    claim: str
    test: str
    n_a: int
    n_b: int
    diff: float
    ci: list[float] | None
    t: float | None
    df: float | None
    p: float | None
    p_holm: float | None = None
    verdict: str = "undecided"


def compare(claim: str, a: dict[int, float], b: dict[int, float]) -> Test:
    """Test ``a`` against ``b`` (each: seed -> value): paired by seed when both hold the same
    seeds, else Welch's unequal-variance t-test. Fewer than two values a side: no test."""
    xa, xb = [a[s] for s in sorted(a)], [b[s] for s in sorted(b)]
    diff = float(np.mean(xa) - np.mean(xb)) if xa and xb else math.nan
    if sorted(a) == sorted(b) and len(a) > 1:
        r = scipy_stats().ttest_rel(xa, xb)
        kind = "paired t"
    elif len(xa) > 1 and len(xb) > 1:
        r = scipy_stats().ttest_ind(xa, xb, equal_var=False)
        kind = "Welch t"
    else:
        return Test(claim, "none (one seed)", len(xa), len(xb), diff, None, None, None, None)
    low, high = r.confidence_interval(LEVEL)
    t, p = float(r.statistic), float(r.pvalue)
    if not math.isfinite(p):  # no spread at all: equal values (or identical differences)
        p = 1.0 if diff == 0 else 0.0
    return Test(claim, kind, len(xa), len(xb), diff, [float(low), float(high)], t, float(r.df), p)


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None: not tested, left out):
    the i-th smallest of m becomes max over j <= i of min(1, (m - j + 1) p_(j))."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m, out, running = len(tested), [None] * len(p_values), 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def decide(tests: list[Test], less: list[bool], alpha: float) -> list[Test]:
    """Holm over the family, then each verdict: "holds" when the corrected p is under
    ``alpha`` and the difference has the claimed sign (``less``: a below b), "fails" when it
    is under ``alpha`` with the other sign, "undecided" otherwise."""
    for t, claimed_less, p in zip(tests, less, holm([t.p for t in tests])):
        t.p_holm = p
        if p is None or p >= alpha:
            t.verdict = "undecided"
        else:
            t.verdict = "holds" if (t.diff < 0) == claimed_less else "fails"
    return tests


def claims_table(claims: list[dict]) -> list[str]:
    """The Markdown rows of a table of tested claims (:class:`Test` as dicts, after
    :func:`decide`): difference with its 95% CI, t on its degrees of freedom, p and Holm's p."""

    def num(x, spec=".3g"):
        return "—" if x is None else format(x, spec)

    lines = [
        "| claim | test | mean difference (a − b) [95% CI] | t (df) | p | p (Holm) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        ci = f" [{c['ci'][0]:.4g}, {c['ci'][1]:.4g}]" if c["ci"] else ""
        t = f"{c['t']:.3g} ({c['df']:.3g})" if c["t"] is not None else "—"
        lines.append(
            f"| {c['claim']} | {c['test']} | {num(c['diff'], '.4g')}{ci} | {t} | {num(c['p'])} "
            f"| {num(c['p_holm'])} | **{c['verdict']}** |"
        )
    return lines

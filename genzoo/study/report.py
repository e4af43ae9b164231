"""``genzoo report STUDY_FOLDER``: one self-contained HTML page of a study: the cells' table,
the claims with their tests, the curves of every metric against iterations and against FLOPs
(one line per variant, the band one standard deviation over seeds), and each variant's final
samples side by side."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from genzoo.analysis.report import SELFCHECK
from genzoo.errors import GenzooError
from genzoo.store.files import atomic_write

STYLE = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px}
figure{display:inline-block;margin:6px;vertical-align:top}figcaption{font-size:12px;color:#555}
img{image-rendering:pixelated}.holds{color:#060}.fails{color:#a00}.undecided{color:#666}"""


def is_study(path: Path) -> bool:
    meta = Path(path) / "study.json"
    if not meta.is_file():
        return False
    try:
        return "fingerprint" in json.loads(meta.read_text())
    except ValueError:
        return False


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def curves_figure(meta: dict, metric: str):
    """``metric`` against iterations and against FLOPs, a line and a band (one standard
    deviation over seeds) per variant: a matplotlib figure (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), dpi=90)
    for variant, points in meta["curves"].items():
        pts = [p for p in points if p.get(metric, {}).get("n")]
        if not pts:
            continue
        mean = [p[metric]["mean"] for p in pts]
        std = [p[metric]["std"] for p in pts]
        for ax, key in zip(axes, ("step", "flops")):
            xs = [p[key] for p in pts]
            if None in xs:
                continue
            (line,) = ax.plot(xs, mean, label=variant, lw=1.2)
            low = [m - s for m, s in zip(mean, std)]
            high = [m + s for m, s in zip(mean, std)]
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2)
    for ax, label in zip(axes, ("iterations", "FLOPs")):
        ax.set_xlabel(label)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{metric}: mean ± std over seeds", fontsize=10)
    fig.tight_layout()
    return fig


def curves(meta: dict, metric: str) -> str:
    """:func:`curves_figure` as an HTML figure."""
    import matplotlib.pyplot as plt

    fig = curves_figure(meta, metric)
    uri = _png(fig)
    plt.close(fig)
    return f'<figure><img src="{uri}" alt="{html.escape(metric)} curves"></figure>'


def _table(rows: list[list[str]], head: list[str]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    return "\n".join(out) + "</table>"


def _fmt(x, spec=".4g") -> str:
    return "—" if x is None else format(x, spec)


def build_study_report(folder: Path, out: Path) -> Path:
    folder = Path(folder)
    meta = json.loads((folder / "study.json").read_text())
    if "summary" not in meta:
        raise GenzooError(f"study '{folder}' has no results yet; run 'genzoo study' on it first")
    metrics = list(next(iter(meta["summary"].values())))
    title = f"genzoo study report: {meta['name']}"
    cell_rows = []
    for v, per in meta["summary"].items():
        row = [html.escape(v)]
        for m in metrics:
            s = per[m]
            ci = f" [{_fmt(s['ci'][0])}, {_fmt(s['ci'][1])}]" if s["ci"] else ""
            row.append(
                f"{_fmt(s['mean'])} ± {_fmt(s['std'], '.2g')}{ci} (n={s['n']})" if s["n"] else "—"
            )
        cell_rows.append(row)
    claim_rows = [
        [
            html.escape(c["claim"]),
            c["test"],
            _fmt(c["diff"]) + (f" [{_fmt(c['ci'][0])}, {_fmt(c['ci'][1])}]" if c["ci"] else ""),
            _fmt(c["p"], ".3g"),
            _fmt(c["p_holm"], ".3g"),
            f'<b class="{c["verdict"]}">{c["verdict"]}</b>',
        ]
        for c in meta["claims"]
    ]
    grids = []
    for v in meta["summary"]:
        seeds = sorted(c["seed"] for c in meta["cells"] if c["variant"] == v)
        png = folder / "cells" / v / f"seed{seeds[0]}" / "samples" / "final.png" if seeds else None
        if png is not None and png.is_file() and not png.is_symlink():
            uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            grids.append(
                f'<figure><img src="{uri}" alt="{html.escape(v)} samples" style="max-width:260px">'
                f"<figcaption>{html.escape(v)}, seed {seeds[0]}</figcaption></figure>"
            )
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>Cells (mean ± std [95% CI] over seeds, final evaluation)</h2>",
        _table(cell_rows, ["variant", *metrics]),
        "<h2>Claims (two-sided t-tests, Holm-corrected)</h2>",
        _table(claim_rows, ["claim", "test", "a − b [95% CI]", "p", "p (Holm)", "verdict"])
        if claim_rows
        else "<p>The study registers no claims.</p>",
        "<h2>Curves</h2>",
        *[curves(meta, m) for m in metrics],
        "<h2>Final samples</h2>",
        "".join(grids) or "<p>No sample grids.</p>",
        SELFCHECK,
        "</body></html>",
    ]
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise GenzooError(f"--out '{out}' must be an .html file")
    atomic_write(out, "\n".join(parts).encode())
    return out

"""``genzoo report RUN [RUN ...] --out FILE.html``: one self-contained HTML page per set of runs.

What a person looks at after training: the recipe (for several runs only the keys that differ),
a plot per player of every loss term over steps, the energy on data against the energy on
samples, the sample grids over training beside the data grid, final samples, reconstructions,
interpolations, video GIFs, the disconnectivity graph and recovery grids where a run has them,
and every ``genzoo eval`` result as one table. Pictures are inlined as data URIs and the plots
are matplotlib PNGs: no network, no CDN, it opens from a file:// URL. A small script at the end
records in ``#selfcheck`` whether every image decoded and any error the page raised (what the
browser test reads).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from genzoo import toml_text
from genzoo.errors import GenzooError
from genzoo.store import rundir

PLAYERS = (("alpha", "energy model α"), ("phi", "inference model φ"), ("theta", "generator θ"))
PICTURES = (
    ("reconstructions.png", "reconstructions (held-out images above their reconstructions)"),
    ("interpolations.png", "interpolations"),
    ("recovery.png", "recovery of occluded pixels (original / occluded / recovered)"),
    ("landscape/disconnectivity.png", "energy landscape: disconnectivity graph"),
)


def fmt(v) -> str:
    """How a number is shown (the browser test formats the JSON values the same way)."""
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, (int, float)):
        return f"{v:.6g}"
    return html.escape(str(v))


def _uri(path: Path) -> str:
    mime = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg"}[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _img(path: Path, caption: str, width: str = "") -> str:
    style = f' style="max-width:{width}"' if width else ""
    return (
        f'<figure><img src="{_uri(path)}" alt="{html.escape(caption)}"{style}>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _plot(series: dict[str, tuple[list, list]], title: str, ylabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=90)
    for label, (x, y) in series.items():
        ax.plot(x, y, label=label, lw=1.2)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return f'<figure><img src="{uri}" alt="{html.escape(title)}"></figure>'  # titled inside


def own(run_dir: Path, path: Path) -> bool:
    """Whether ``path`` is a regular file of the run folder itself: a symbolic link, or a file
    reached through one from outside the folder, is never read into a report."""
    return (
        path.is_file()
        and not path.is_symlink()
        and path.resolve().is_relative_to(Path(run_dir).resolve())
    )


def load_run(path: Path) -> dict:
    path = Path(path)
    recipe = rundir.load_recipe(path)  # one line if it is no run
    log = path / rundir.METRICS
    lines = rundir.MetricsLog(log).read() if own(path, log) else []
    report = None
    if own(path, path / "eval.json"):
        try:
            report = json.loads((path / "eval.json").read_bytes())
        except ValueError:  # cut short by a kill, or damaged
            raise GenzooError(
                f"'{path / 'eval.json'}' is damaged (not JSON); run 'genzoo eval {path}' again"
            ) from None
    return {"path": path, "recipe": recipe, "metrics": lines, "eval": report}


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(_flat(v, key))
        else:
            out[key] = v
    return out


def _recipe_table(runs: list[dict]) -> str:
    flats = [_flat(r["recipe"].to_dict()) for r in runs]
    keys = sorted(set().union(*flats))
    if len(runs) > 1:
        keys = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flats}) > 1]
        if not keys:
            return "<p>The runs' recipes are identical.</p>"
        head = "".join(f"<th>{html.escape(r['path'].name)}</th>" for r in runs)
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td>"
            + "".join(f"<td>{fmt(f.get(k))}</td>" for f in flats)
            + "</tr>"
            for k in keys
        )
        return (
            f'<table class="recipe"><tr><th>key (only those that differ)</th>{head}</tr>'
            f"{rows}</table>"
        )
    text = toml_text.dumps(runs[0]["recipe"].to_dict())
    return f"<pre>{html.escape(text)}</pre>"


def _loss_plots(run: dict) -> str:
    lines = run["metrics"]
    if not lines:
        return "<p>No metrics logged yet.</p>"
    out = []
    for player, label in PLAYERS:
        keys = sorted({k for ln in lines for k in ln if k.startswith(f"{player}/")})
        if keys:
            series = {
                k.split("/", 1)[1]: (
                    [ln["step"] for ln in lines if k in ln],
                    [ln[k] for ln in lines if k in ln],
                )
                for k in keys
            }
            out.append(_plot(series, f"{run['path'].name}: {label}, every loss term", "loss"))
    energy = {
        name: ([ln["step"] for ln in lines if k in ln], [ln[k] for ln in lines if k in ln])
        for k, name in (
            ("energy/f_data", "mean f on data"),
            ("energy/f_dream", "mean f on samples"),
        )
        if any(k in ln for ln in lines)
    }
    if energy:
        out.append(_plot(energy, f"{run['path'].name}: energy on data and on samples", "f"))
    return "".join(out)


def _metrics_table(runs: list[dict]) -> str:
    """The last logged line of each run, one column per run."""
    lasts = [r["metrics"][-1] if r["metrics"] else {} for r in runs]
    keys = [k for k in sorted(set().union(*lasts)) if k != "time/elapsed_s"]
    head = "".join(f"<th>{html.escape(r['path'].name)}</th>" for r in runs)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td>"
        + "".join(
            f'<td data-run="{i}" data-key="{html.escape(k)}">{fmt(last.get(k))}</td>'
            for i, last in enumerate(lasts)
        )
        + "</tr>"
        for k in keys
    )
    return f'<table id="last-metrics"><tr><th>last logged step</th>{head}</tr>{rows}</table>'


def eval_rows(report: dict) -> dict[str, object]:
    """The numbers of one ``eval.json`` the table shows, by row name."""
    rows: dict[str, object] = {
        "step": report.get("step"),
        "images": report.get("n"),
        "test MSE ([0, 1] scale)": report.get("recon_mse"),
    }
    for key, what in (("feature_metrics", "classifier"), ("inception", "Inception-v3")):
        block = report.get(key)
        if block:
            rows[block["name"]] = block["fd"]
            for m in ("kid", "is", "precision", "recall", "density", "coverage"):
                if m in block:
                    rows[f"{m.upper() if m in ('kid', 'is') else m} ({what})"] = block[m]
    for k, v in (report.get("energy") or {}).items():
        rows[f"mean {k}"] = v
    if report.get("recovery"):
        rows["recovery error"] = report["recovery"]["error"]
    return rows


def _eval_table(runs: list[dict]) -> str:
    have = [(i, r) for i, r in enumerate(runs) if r["eval"]]
    if not have:
        return "<p>No run has been evaluated yet (<code>genzoo eval RUN</code>).</p>"
    tables = [eval_rows(r["eval"]) for _, r in have]
    keys = list(dict.fromkeys(k for t in tables for k in t))
    head = "".join(f"<th>{html.escape(r['path'].name)}</th>" for _, r in have)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td>"
        + "".join(
            f'<td data-run="{i}" data-key="{html.escape(k)}">{fmt(t.get(k))}</td>'
            for (i, _), t in zip(have, tables)
        )
        + "</tr>"
        for k in keys
    )
    return f'<table id="eval"><tr><th>genzoo eval</th>{head}</tr>{rows}</table>'


def _pictures(run: dict) -> str:
    root = run["path"]
    samples = root / rundir.SAMPLES
    out = []
    if samples.is_dir():
        data = [p for p in (samples / "data.png", samples / "data_frames.png") if own(root, p)]
        steps = sorted(p for p in samples.glob("step_*.png") if own(root, p))
        if len(steps) > 6:  # at most six over training, spread out
            steps = [steps[round(i * (len(steps) - 1) / 5)] for i in range(6)]
        row = [_img(p, "training data", "220px") for p in data[:1]]
        row += [
            _img(p, f"samples at step {int(p.stem.split('_')[1])}", "220px")
            for p in steps
            if not p.stem.endswith("_frames")
        ]
        if row:
            out.append('<div class="row">' + "".join(row) + "</div>")
        finals = [
            (samples / n, c)
            for n, c in (
                ("final.png", "final samples"),
                ("final.gif", "final samples (animated)"),
                ("final_frames.png", "final clips, frame by frame"),
                ("interpolation.png", "interpolations"),
            )
        ]
        stages = sorted(
            (p for p in samples.glob("stage_*.png") if own(root, p)),
            key=lambda p: int(p.stem.split("_")[1].split("x")[0]),
        )
        finals += [(p, f"end of the {p.stem.split('_')[1]} stage") for p in stages]
        row = [_img(p, c, "320px") for p, c in finals if own(root, p)]
        if row:
            out.append('<div class="row">' + "".join(row) + "</div>")
    row = [_img(root / n, c, "420px") for n, c in PICTURES if own(root, root / n)]
    if row:
        out.append('<div class="row">' + "".join(row) + "</div>")
    return "".join(out) or "<p>No pictures yet.</p>"


SELFCHECK = """<pre id="selfcheck" hidden></pre>
<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    errors.push(String(e.message || (e.target && e.target.tagName) || "error"));
  }, true);
  function check() {
    var images = Array.prototype.map.call(document.images, function (im) {
      return {alt: im.alt, complete: im.complete, width: im.naturalWidth};
    });
    document.getElementById("selfcheck").textContent =
      JSON.stringify({images: images, errors: errors});
  }
  if (document.readyState === "complete") { check(); } else {
    window.addEventListener("load", check);
  }
})();
</script>"""

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;
padding:8px;max-height:380px;overflow:auto}figure{display:inline-block;margin:6px;
vertical-align:top}figcaption{font-size:12px;color:#555;max-width:330px}
.row{display:flex;flex-wrap:wrap;align-items:flex-start}img{image-rendering:pixelated}"""


def build_report(run_dirs: list[Path], out: Path) -> Path:
    """Write the report of ``run_dirs`` to ``out`` (one self-contained HTML file)."""
    if not run_dirs:
        raise GenzooError("genzoo report needs at least one run directory")
    runs = [load_run(Path(p)) for p in run_dirs]
    title = "genzoo report: " + ", ".join(r["path"].name for r in runs)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Recipe</h2>",
        _recipe_table(runs),
        "<h2>Evaluation</h2>",
        _eval_table(runs),
        "<h2>Last logged metrics</h2>",
        _metrics_table(runs),
    ]
    for run in runs:
        name = html.escape(run["path"].name)
        parts += [
            f"<h2>{name}: losses and energies</h2>",
            _loss_plots(run),
            f"<h2>{name}: samples and pictures</h2>",
            _pictures(run),
        ]
    parts += [SELFCHECK, "</body></html>"]
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise GenzooError(
            f"--out '{out}' must be an .html file; a report never replaces "
            f"another kind of file (a run's metrics.jsonl, say)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    from genzoo.store.files import atomic_write

    atomic_write(out, "\n".join(parts).encode())
    return out

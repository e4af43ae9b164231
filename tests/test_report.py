"""genzoo report: one self-contained HTML page, checked in a real browser (headless Chromium):
every image decodes, the page raises no error, and its tables hold the numbers of metrics.jsonl
and eval.json. The screenshot is kept in test-artefacts/report.png."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from conftest import ROOT, cli, make_fashion_like, tiny_texture_toml, write_clip

from genzoo.analysis.report import eval_rows, fmt

BROWSER = next(
    (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
    None,
)
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]


class Cells(HTMLParser):
    """The ``<td data-run data-key>`` cells of a page and the text of ``#selfcheck``."""

    def __init__(self):
        super().__init__()
        self.cells, self.selfcheck, self._at, self._in_check = {}, "", None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-key" in a:
            self._at = (int(a["data-run"]), a["data-key"])
            self.cells[self._at] = ""
        if a.get("id") == "selfcheck":
            self._in_check = True

    def handle_endtag(self, tag):
        if tag == "td":
            self._at = None
        if tag == "pre":
            self._in_check = False

    def handle_data(self, data):
        if self._at is not None:
            self.cells[self._at] += data
        if self._in_check:
            self.selfcheck += data


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny Fashion-MNIST runs (triangle, VAE), both evaluated, one with reconstructions."""
    t = tmp_path_factory.mktemp("report")
    root = make_fashion_like(t / "fm", n_train=64, n_test=32)
    out = []
    for name in ("dt_fashion", "vae_fashion"):
        code = _run(
            [
                "run",
                ROOT / "recipes" / f"{name}.toml",
                "--out",
                t / name,
                "--quiet",
                "--set",
                "train.steps=6",
                "--set",
                "train.batch_size=8",
                "--set",
                "model.width=0.0625",
                "--set",
                "log.every=2",
                "--set",
                "log.sample_every=2",
                "--set",
                f'data.root="{root}"',
                "--device",
                "cpu",
            ]
        )
        assert code == 0
        assert _run(["eval", t / name, "--n", "32"]) == 0
        out.append(t / name)
    assert _run(["reconstruct", out[0], "--n", "8"]) == 0
    return out


def _run(args):
    from genzoo.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


def test_report_of_two_runs_holds_their_numbers_and_only_differing_keys(runs, tmp_path, capsys):
    code, out, err = cli(capsys, "report", *runs, "--out", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    assert "http://" not in page and "https://" not in page  # self-contained: no network
    parser = Cells()
    parser.feed(page)
    for i, run in enumerate(runs):
        last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        for key, value in last.items():
            if key != "time/elapsed_s":
                assert parser.cells[(i, key)] == fmt(value), key
        for key, value in eval_rows(json.loads((run / "eval.json").read_text())).items():
            assert parser.cells[(i, key)] == fmt(value), key
    recipe_rows = re.findall(
        r"<tr><td>([^<]+)</td>", page.split('<table class="recipe">')[1].split("</table>")[0]
    )
    assert recipe_rows == ["name", "objective"]  # the two recipes differ only there


@pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium on this machine: .ci/run installs "
    "Debian's chromium; apt-get install chromium",
)
def test_the_report_in_a_real_browser(runs, tmp_path, capsys):
    report = tmp_path / "r.html"
    assert cli(capsys, "report", *runs, "--out", report)[0] == 0
    url = report.resolve().as_uri()
    p = subprocess.run(
        [
            BROWSER,
            *HEADLESS,
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    parser = Cells()
    parser.feed(p.stdout)
    check = json.loads(parser.selfcheck)
    assert len(check["images"]) >= 12
    broken = [im["alt"] for im in check["images"] if not (im["complete"] and im["width"] > 0)]
    assert broken == [] and check["errors"] == []
    assert not re.search(r"CONSOLE.*(Uncaught|Error)", p.stderr)
    for i, run in enumerate(runs):  # the numbers as the browser rendered them
        last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        assert parser.cells[(i, "phi/loss")] == fmt(last["phi/loss"])
    shot = ROOT / "test-artefacts" / "report.png"
    shot.parent.mkdir(exist_ok=True)
    p = subprocess.run(
        [BROWSER, *HEADLESS, "--window-size=1400,2400", f"--screenshot={shot}", url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0 and shot.stat().st_size > 10_000


def test_reports_of_texture_video_growing_and_occluded_runs(tmp_path, capsys):
    """Each kind of run's own pictures make it into its report."""
    (tmp_path / "tex.toml").write_text(tiny_texture_toml("tex", 0, "brick", 16, 2))
    write_clip(tmp_path / "clip.mp4", n=40)
    root = make_fashion_like(tmp_path / "fm", n_train=32, n_test=8)
    kinds = {
        "texture": (["run", tmp_path / "tex.toml"], ["final.png"]),
        "video": (
            [
                "run",
                ROOT / "recipes" / "dt_dyntex.toml",
                "--set",
                f'data.path="{tmp_path / "clip.mp4"}"',
                "--set",
                "data.size=16",
                "--set",
                "model.width=0.0625",
                "--set",
                "train.steps=2",
                "--set",
                "train.batch_size=2",
                "--set",
                "log.n_samples=2",
            ],
            ["final.gif", "final_frames.png"],
        ),
        "growing": (
            [
                "run",
                ROOT / "recipes" / "dt_progressive.toml",
                "--set",
                "train.steps=3",
                "--set",
                "model.stage_steps=1",
                "--set",
                "model.fade_steps=1",
                "--set",
                "model.width=0.02",
                "--set",
                "train.batch_size=2",
                "--set",
                "data.n_crops=16",
            ],
            ["stage_4x4.png"],
        ),
        "occluded": (
            [
                "run",
                ROOT / "recipes" / "dt_occluded_fashion.toml",
                "--set",
                f'data.root="{root}"',
                "--set",
                "train.steps=2",
                "--set",
                "train.batch_size=4",
                "--set",
                "model.width=0.0625",
            ],
            ["recovery.png"],
        ),
    }
    for kind, (args, pictures) in kinds.items():
        run = tmp_path / kind
        code, _, err = cli(capsys, *args, "--out", run, "--quiet", "--device", "cpu")
        assert code == 0, (kind, err)
        if kind == "occluded":
            assert cli(capsys, "eval", run, "--n", "8")[0] == 0
        code, out, err = cli(capsys, "report", run)
        assert code == 0, (kind, err)
        page = (run / "report.html").read_text()
        for picture in pictures:
            caption = {
                "final.png": "final samples",
                "final.gif": "final samples (animated)",
                "final_frames.png": "final clips, frame by frame",
                "stage_4x4.png": "end of the 4x4 stage",
                "recovery.png": "recovery of occluded pixels",
            }[picture]
            assert caption in page, (kind, picture)
        assert page.count("<img") >= 3

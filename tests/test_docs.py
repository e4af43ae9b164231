"""The documentation: the site builds strictly (broken links, missing references and stale API
names fail it), every built page opens in headless Chromium with no error, every image decodes
and the search index loads; and the code the pages show runs as written."""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from conftest import QuietHandler, tiny_texture_toml

from genzoo import plugins

ROOT = Path(__file__).resolve().parents[1]
BROWSER = next(
    (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
    None,
)


def code_block(page: str, starts: str) -> str:
    text = (ROOT / "docs" / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return next(b for b in blocks if b.startswith(starts))


# --- the plugin page's complete objective -------------------------------------------------------
@pytest.fixture
def free_bits():
    module = types.ModuleType("genzoo_freebits")
    exec(
        compile(code_block("plugins.md", '"""genzoo_freebits'), "docs/plugins.md", "exec"),
        module.__dict__,
    )
    plugins.register_plugin(module, "genzoo-freebits")
    yield module
    plugins.unregister_plugin(module)


def test_the_plugin_pages_objective_is_the_closed_form(free_bits):
    from genzoo.interfaces import Posterior

    mean, log_std = torch.randn(64, 5, 1, 1), 0.3 * torch.randn(64, 5, 1, 1)
    q = Posterior(mean, log_std)
    exact = (
        torch.distributions.kl_divergence(
            torch.distributions.Normal(mean, log_std.exp()), torch.distributions.Normal(0.0, 1.0)
        )
        .flatten(1)
        .mean(0)
    )

    class D:  # the two draws the phi terms read
        posterior = q

        @staticmethod
        def reconstruction_error():
            return torch.zeros(64)

    for floor in (0.0, float(exact.median())):
        terms = free_bits.FreeBitsVAE(free_bits=floor).phi(D)
        assert torch.allclose(terms["prior"], exact.clamp(min=floor).sum(), rtol=1e-5)
    with pytest.raises(ValueError, match="free_bits >= 0"):
        free_bits.FreeBitsVAE(free_bits=-1)


def test_the_plugin_pages_objective_trains_from_a_recipe(free_bits, tmp_path):
    import tomllib

    from genzoo.recipe import from_dict
    from genzoo.training import Trainer

    raw = tomllib.loads(tiny_texture_toml("fb", seed=0, image="brick", n_crops=16, steps=3))
    raw["objective"] = ["free_bits_vae", "acd"]
    raw["objectives"] = {"free_bits_vae": {"free_bits": 0.25}}
    last = Trainer(from_dict(raw)).fit(tmp_path / "run", progress=False)
    assert last["step"] == 3 and "phi/free_bits_vae.prior" in last


# --- the site -------------------------------------------------------------------------------------
mkdocs = pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    p = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    return out


def test_the_site_builds_strictly_with_every_section(site):
    for page in (
        "index.html",
        "getting-started/index.html",
        "reference/api/index.html",
        "reference/cli/index.html",
        "reference/hooks/index.html",
        "gallery/index.html",
        "results/index.html",
        "results/archive/index.html",
        "plugins/index.html",
    ):
        assert (site / page).is_file(), page
    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ("genzoo.training.run.train", "genzoo.api.load", "genzoo.api.Model"):
        assert name in api, name  # generated from the docstrings
    cli_page = (site / "reference" / "cli" / "index.html").read_text()
    for command in ("run", "sample", "export", "eval", "landscape", "report"):
        assert f"genzoo {command}" in cli_page, command  # the plugins' commands too
    hooks = (site / "reference" / "hooks" / "index.html").read_text()
    assert "register_commands" in hooks and "on_fit_start" in hooks


def test_a_broken_link_fails_the_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("images"))
    (tmp_path / "docs" / "images").mkdir()
    config = (
        (ROOT / "mkdocs.yml")
        .read_text()
        .replace("  - docs/hooks.py\n", f"  - {ROOT / 'docs' / 'hooks.py'}\n")
    )
    (tmp_path / "mkdocs.yml").write_text(config)
    page = tmp_path / "docs" / "getting-started.md"
    page.write_text(page.read_text() + "\nSee [nothing](no-such-page.md).\n")
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks")
    p = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode != 0 and "no-such-page.md" in p.stderr


SELFCHECK = """<pre id="selfcheck" hidden></pre><script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    errors.push(String(e.message || (e.target && (e.target.src || e.target.href || e.target.tagName)) || "error"));
  }, true);
  window.addEventListener("load", function () {
    fetch("/search/search_index.json").then(function (r) { return r.json(); })
      .then(function (index) { done(index.docs.length); }, function (e) { done(-1); });
  });
  function done(searchDocs) {
    var images = Array.prototype.map.call(document.images, function (im) {
      return {src: im.getAttribute("src"), ok: im.complete && im.naturalWidth > 0};
    });
    document.getElementById("selfcheck").textContent =
      JSON.stringify({images: images, errors: errors, search: searchDocs});
  }
})();
</script>"""


class Selfcheck(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self._in = "", False

    def handle_starttag(self, tag, attrs):
        self._in = dict(attrs).get("id") == "selfcheck"

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.text += data


TOUR = """<pre id="selfcheck" hidden></pre><iframe id="page" width="1280" height="2000"></iframe>
<script>
var urls = URLS, results = {}, i = 0, frame = document.getElementById("page");
function next() {
  if (i >= urls.length) {
    document.getElementById("selfcheck").textContent = JSON.stringify(results);
    return;
  }
  frame.onload = function () { wait(urls[i], 0); };
  frame.src = urls[i];
}
function wait(url, tries) {
  var pre = frame.contentDocument && frame.contentDocument.getElementById("selfcheck");
  if ((pre && pre.textContent) || tries > 400) {
    results[url] = pre && pre.textContent ? JSON.parse(pre.textContent) : {timeout: true};
    i += 1;
    next();
  } else {
    setTimeout(function () { wait(url, tries + 1); }, 25);
  }
}
next();
</script>"""


def tour_in_browser(page_url: str) -> subprocess.CompletedProcess:
    """Headless Chromium's DOM of the tour page after its scripts ran, and its console (every
    frame's) on stderr."""
    return subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=600000",
            "--dump-dom",
            page_url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(BROWSER is None, reason="Debian's chromium; apt-get install chromium")
def test_every_page_opens_in_a_browser_without_error(site, tmp_path):
    served = tmp_path / "served"
    shutil.copytree(site, served)
    pages = sorted(served.rglob("*.html"))
    pages = [p for p in pages if p.name != "404.html"]
    for page in pages:
        page.write_text(page.read_text().replace("</body>", SELFCHECK + "</body>"))
    # one browser visits every page in turn in a frame of a tour page (a browser per page
    # spends most of its time starting)
    urls = ["/" + page.relative_to(served).as_posix() for page in pages]
    (served / "tour-of-every-page.html").write_text(TOUR.replace("URLS", json.dumps(urls)))
    handler = functools.partial(QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        p = tour_in_browser(f"http://127.0.0.1:{httpd.server_address[1]}/tour-of-every-page.html")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert p.returncode == 0, p.stderr[-1500:]
    consoled = [x for x in p.stderr.splitlines() if "CONSOLE" in x and "ERROR" in x]
    assert consoled == []
    parser = Selfcheck()
    parser.feed(p.stdout)
    checks = json.loads(parser.text)
    assert sorted(checks) == sorted(urls)
    images = 0
    for url, check in checks.items():
        assert "timeout" not in check, url
        assert check["errors"] == [], (url, check["errors"])
        assert all(im["ok"] for im in check["images"]), (url, check["images"])
        assert check["search"] > len(pages), url  # the index loads, every page in it
        images += len(check["images"])
    assert len(pages) >= 25 and images >= 40

"""The built book in a real browser: headless Chromium over the DevTools protocol.

The book is served from a local HTTP server on 127.0.0.1 (as a reader's browser would see it,
not as file:// URLs), every page of the table of contents is opened, and the test checks that
it loads with HTTP 200, that each of its images decoded (naturalWidth > 0), and that every
navigation link (sidebar table of contents, previous/next) answers HTTP 200.

Chromium is Debian's ``chromium`` package; the test skips, saying so, where it is absent
(.ci/run installs it, so CI runs it). The DevTools client is ``websocket-client``.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from base64 import b64decode
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--window-size=1280,900",
    "--remote-allow-origins=*",
)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


# --- a local HTTP server ----------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output for failures
        pass


class BookServer:
    """Serve ``folder`` on 127.0.0.1 at a free port from a daemon thread."""

    def __init__(self, folder: Path):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


# --- a minimal DevTools protocol client -------------------------------------------------------


class Chromium:
    """Headless Chromium driven over the DevTools protocol (one page target)."""

    def __init__(self, exe: str, user_data_dir: Path, timeout: float = 30.0):
        self.exe, self.profile, self.timeout = exe, Path(user_data_dir), timeout
        self.proc = None
        self.ws: Any = None  # the DevTools websocket, once open
        self._id = 0
        self.events: list[dict] = []

    def __enter__(self):
        import websocket

        port_file = self.profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                self.exe,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + self.timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.exe} exited with {self.proc.returncode}: "
                    f"{self.proc.stderr.read().decode(errors='replace')[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.exe} did not open its DevTools port in {self.timeout:.0f} s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=self.timeout, suppress_origin=True)
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable")
        return self

    def __exit__(self, *exc):
        if self.ws is not None:
            self.ws.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()

    def send(self, method: str, **params) -> dict:
        """Call ``method`` and return its result; events that arrive meanwhile are kept."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method} failed: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {self.timeout:.0f} s")
            self.events.append(json.loads(self.ws.recv()))

    def open(self, url: str) -> int:
        """Navigate to ``url``, wait for its load event, return the document's HTTP status."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        statuses = [
            ev["params"]["response"]["status"]
            for ev in self.events
            if ev.get("method") == "Network.responseReceived" and ev["params"].get("type") == "Document"
        ]
        return statuses[-1] if statuses else 0

    def evaluate(self, expression: str):
        """Run ``expression`` in the page; retried while the page is between two documents
        (index.html's meta refresh navigates on its own, and a script sent meanwhile fails)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
                break
            except RuntimeError as err:
                if "navigated or closed" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """Save a PNG of the page (the whole page, not just the window, by default)."""
        if not full_page:
            return self.capture(path)
        with self.full_page():
            return self.capture(path)

    def capture(self, path: Path) -> Path:
        """Save a PNG of what the window shows now, one pixel per CSS pixel."""
        path.write_bytes(b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        return path

    @contextmanager
    def full_page(self):
        """Within the block the window is as tall as the page (at most 12000 px), one device
        pixel per CSS pixel: what a full-page screenshot shows, so that what a script measures
        in the block is where it is in the screenshot. The page is laid out again (no
        scrollbar: 15 px wider than in the window)."""
        # A window as tall as the page, then back: a clip beyond the viewport
        # (captureBeyondViewport) came out shifted sideways on some pages.
        metrics = self.send("Page.getLayoutMetrics")
        width = metrics["cssVisualViewport"]["clientWidth"]
        height = min(int(metrics["cssContentSize"]["height"]) + 1, 12000)
        self.send(
            "Emulation.setDeviceMetricsOverride", width=int(width), height=height, deviceScaleFactor=1, mobile=False
        )
        try:
            yield
        finally:
            self.send("Emulation.clearDeviceMetricsOverride")


# What the test reads from each page once it has loaded (images awaited until decoded).
PAGE_PROBE = """
(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const hrefs = sel => Array.from(document.querySelectorAll(sel)).map(a => a.href);
  return {
    title: document.title,
    text: document.body ? document.body.innerText : "",
    images: imgs.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth})),
    toc: hrefs("nav.bd-docs-nav a.reference.internal, .bd-sidenav a.reference.internal"),
    prevnext: hrefs(".prev-next-area a"),
    articleImages: document.querySelectorAll("article img, .bd-article img").length,
  };
})()
"""


# Layout problems a reader sees, per page: table cells narrower than their longest word (the
# word broken over lines, or sticking out of the cell; a line may break after a hyphen, and
# identifiers set as code are not words), the
# page's own tables wider than the text column, and images that overlap the text column's
# neighbours (sidebars) or run past it. Each problem is one sentence naming what is wrong.
LAYOUT_PROBE = """
(() => {
  const problems = [];
  const short = t => t.replace(/\\s+/g, " ").trim().slice(0, 60);
  const range = document.createRange();
  for (const cell of document.querySelectorAll("article td, article th")) {
    const style = getComputedStyle(cell);
    const box = cell.getBoundingClientRect();
    if (box.width === 0) continue;  // hidden (a collapsed output)
    const left = box.left + parseFloat(style.paddingLeft) - 1;
    const right = box.right - parseFloat(style.paddingRight) + 1;
    // identifiers set as code (hashes, paths) are not words: they may break where they must
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT,
      {acceptNode: n => n.parentElement.closest("code") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
    let bad = null;
    for (let node = walker.nextNode(); node && !bad; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[^\\s-]+-?/g)) {  // a line may break after a hyphen
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
        const lines = new Set(rects.map(r => Math.round(r.top)));
        if (lines.size > 1) { bad = `breaks the word "${short(m[0])}" over ${lines.size} lines`; break; }
        const r = range.getBoundingClientRect();
        if (r.left < left || r.right > right) { bad = `is narrower than its word "${short(m[0])}"`; break; }
      }
    }
    if (bad) problems.push(`table cell "${short(cell.innerText)}" ${bad}`);
  }
  const article = document.querySelector("article.bd-article, article");
  const column = article ? article.getBoundingClientRect() : null;
  // The page's own tables (not a DataFrame, which scrolls sideways in its output) fit the column.
  for (const table of document.querySelectorAll("article table:not(.dataframe)")) {
    const r = table.getBoundingClientRect();
    const box = table.parentElement;  // pydata-sphinx-theme's scrollable container, when there is one
    if (r.width > 0 && ((column && r.right > column.right + 1) || box.scrollWidth > box.clientWidth + 1))
      problems.push(`table "${short(table.innerText)}" is wider than the text column (${Math.round(r.width)} px)`);
  }
  const sidebars = Array.from(document.querySelectorAll(".bd-sidebar-primary, .bd-sidebar-secondary"))
    .map(el => el.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
  for (const img of document.querySelectorAll("article img")) {
    const r = img.getBoundingClientRect();
    if (r.width === 0) continue;
    const name = (img.currentSrc || img.src).split("/").pop();
    if (column && (r.left < column.left - 1 || r.right > column.right + 1))
      problems.push(`image ${name} (${Math.round(r.left)}-${Math.round(r.right)} px) runs past the text column ` +
                    `(${Math.round(column.left)}-${Math.round(column.right)} px)`);
    for (const s of sidebars)
      if (r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom)
        problems.push(`image ${name} overlaps a sidebar`);
  }
  const buttons = Array.from(document.querySelectorAll(
      ".btn-download-source-button, .btn-download-pdf-button, .fullscreen-button, .dropdown-download-buttons"))
    .map(el => el.className.split(" ")[0]);
  return {problems, buttons};
})()
"""


def toc_pages(book_dir: Path) -> list[str]:
    """The HTML pages of the book's table of contents, root first (``intro.html`` etc.)."""
    import yaml

    toc = yaml.safe_load((book_dir / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [f"{Path(f).with_suffix('').as_posix()}.html" for f in files]


def check_book(
    book_dir: Path, html_dir: Path, exe: str, workdir: Path, screenshots: Path | None = None
) -> dict[str, dict]:
    """Open every toc page of the built book in Chromium; return what each page showed.

    Raises AssertionError naming the page and what is wrong with it.
    """
    pages = toc_pages(book_dir)
    seen: dict[str, dict] = {}
    with BookServer(html_dir) as server, Chromium(exe, workdir / "profile") as browser:
        assert browser.open(server.url) == 200, "index.html did not load"
        # jupyter-book's index.html redirects to the root page with a meta refresh.
        deadline = time.monotonic() + 10
        while (landing := urlparse(browser.evaluate("location.href")).path.lstrip("/")) in ("", "index.html"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert landing == pages[0], f"index.html should lead to {pages[0]}, it showed {landing}"
        for page in pages:
            url = urljoin(server.url, page)
            status = browser.open(url)
            assert status == 200, f"{page}: HTTP {status}"
            info = browser.evaluate(PAGE_PROBE)
            seen[page] = info
            broken = [img["src"] for img in info["images"] if img["width"] <= 0]
            assert not broken, f"{page}: images that did not load: {broken}"
            assert info["toc"], f"{page}: no table-of-contents links in the sidebar"
            for href in {urldefrag(h)[0] for h in info["toc"] + info["prevnext"]}:
                if href.startswith(server.url):
                    assert http_status(href) == 200, f"{page}: navigation link {href} does not resolve"
            toc_targets = {urlparse(urldefrag(h)[0]).path.lstrip("/") for h in info["toc"]}
            missing = [p for p in pages[1:] if p not in toc_targets]
            assert not missing, f"{page}: the sidebar does not link {missing}"
            # Layout first, at the window's size: a full-page screenshot lays the page out again
            # in a viewport as tall as the page (no scrollbar, so 15 px wider).
            layout = browser.evaluate(LAYOUT_PROBE)
            info.update(layout)
            if screenshots is not None:
                browser.screenshot(screenshots / (page.replace("/", "__").replace(".html", ".png")))
            assert not layout["problems"], f"{page}: " + "; ".join(layout["problems"][:10])
    return seen


@pytest.mark.slow
def test_every_toc_page_loads_with_its_images_and_links(demo_book, tmp_path):
    exe = find_chromium()
    if exe is None:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium); .ci/run installs it so that CI runs this test"
        )
    book_dir, html_dir = demo_book["book"], demo_book["html"]
    # For review: a full-page screenshot of every page, next to the built HTML.
    shots = book_dir / "_build" / "screenshots"
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    seen = check_book(book_dir, html_dir, exe, tmp_path, screenshots=shots)

    assert len(seen) == len(toc_pages(book_dir))
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(
        p.replace("/", "__").replace(".html", ".png") for p in toc_pages(book_dir)
    )
    # _config.yml turns the download and fullscreen buttons off: they are not on any page.
    for page, info in seen.items():
        assert not info["buttons"], f"{page} shows {info['buttons']}"
    # Pages with figures show them: 01 (index checks) and 03 (probe) draw at least one each.
    for page in ("executed/01_index_checks.html", "executed/03_probe.html"):
        assert any(img["src"].endswith(".png") for img in seen[page]["images"]), f"{page} shows no figure"
    # The intro says what the run was, and that demo numbers mean nothing about real models.
    intro = seen["intro.html"]["text"]
    assert "random tiny encoder on synthetic videos" in intro
    for page, info in seen.items():
        assert "Traceback" not in info["text"], f"{page} shows a traceback"
        assert os.fspath(demo_book["project_root"]) not in info["text"], f"{page} shows an absolute path"


# --- the comparison page at twelve runs ---------------------------------------------------------

# Where the comparison page puts its tables, figures and headings, in page coordinates (the
# document's top is 0), and what the ranked tables hold, read once the images have decoded.
COMPARE_PROBE = """
(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const article = document.querySelector("article.bd-article, article");
  const box = el => { const r = el.getBoundingClientRect();
    return {left: r.left + scrollX, right: r.right + scrollX, top: r.top + scrollY, bottom: r.bottom + scrollY}; };
  const style = getComputedStyle(article);
  const column = box(article);
  column.inner_left = column.left + parseFloat(style.paddingLeft);
  column.inner_right = column.right - parseFloat(style.paddingRight);
  const tables = Array.from(article.querySelectorAll("table.ucf-ranking")).map(t => ({
    ...box(t), box: box(t.parentElement), scroll_width: t.parentElement.scrollWidth,
    client_width: t.parentElement.clientWidth,
    header: Array.from(t.tHead.rows[0].cells).map(c => c.innerText.replace(/\\s+/g, " ").trim()),
    rows: Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.innerText.replace(/\\s+/g, "")))}));
  const images = Array.from(article.querySelectorAll("img")).map(i => ({
    ...box(i), src: new URL(i.currentSrc || i.src).pathname, natural_width: i.naturalWidth,
    natural_height: i.naturalHeight}));
  const headings = Array.from(article.querySelectorAll("h1, h2")).map(h => ({...box(h), text: h.innerText.trim()}));
  return {column, tables, images, headings};
})()
"""


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"] - 1
        and b["left"] < a["right"] - 1
        and a["top"] < b["bottom"] - 1
        and b["top"] < a["bottom"] - 1
    )


@pytest.mark.slow
def test_comparison_page_holds_twelve_runs_in_the_column(twelve_runs_book, tmp_path):
    """04_compare with twelve runs of six families and two heads: the ranked tables fit the text
    column without scrolling, in the order compare_runs ranks, and the screenshot shows each
    figure pixel for pixel as drawn (never shrunk, clipped or covered) with nothing painted
    past the column."""
    exe = find_chromium()
    if exe is None:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium); .ci/run installs it so that CI runs this test"
        )
    import numpy as np
    from PIL import Image

    from ucf_nb import compare_runs

    table = compare_runs(root=twelve_runs_book["runs"])
    assert table["run"].nunique() == 12 and set(table["head"]) == {"linear", "mil"} and table["family"].nunique() == 6
    html = twelve_runs_book["html"]
    shot = twelve_runs_book["book"] / "_build" / "screenshots" / "executed__04_compare.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    with BookServer(html) as server, Chromium(exe, tmp_path / "profile") as browser:
        assert browser.open(urljoin(server.url, "executed/04_compare.html")) == 200
        layout = browser.evaluate(LAYOUT_PROBE)  # in the window, as a reader sees it
        assert not layout["problems"], "; ".join(layout["problems"][:10])
        in_window = browser.evaluate(COMPARE_PROBE)
        with browser.full_page():  # measured where the screenshot shows it
            seen = browser.evaluate(COMPARE_PROBE)
            browser.capture(shot)

    for where in (in_window, seen):
        column = where["column"]
        # the ranked tables: one row per run and head, in compare_runs' order, inside the column
        assert len(where["tables"]) == 2, "the page should show the ranking and every test metric"
        for t in where["tables"]:
            assert t["scroll_width"] <= t["client_width"], (
                f"a ranked table scrolls sideways ({t['scroll_width']} px in {t['client_width']} px)"
            )
            assert column["inner_left"] - 1 <= t["left"] and t["right"] <= column["inner_right"] + 1, (
                f"a ranked table ({t['left']:.0f}-{t['right']:.0f} px) runs past the text column "
                f"({column['inner_left']:.0f}-{column['inner_right']:.0f} px)"
            )
            assert [(r[1], r[2 if t["header"][2] == "head" else 5]) for r in t["rows"]] == list(
                zip(table["run"], table["head"])
            )
        ranking = where["tables"][0]
        assert ranking["header"][:6] == ["#", "run", "family", "T", "views", "head"]
        assert [r[0] for r in ranking["rows"]] == [str(k) for k in range(1, 25)]
        # the figures: forest plot, ROC panels and heatmap, each inside the column at its own size
        assert len(where["images"]) == 3, [i["src"] for i in where["images"]]
        for img in where["images"]:
            width = img["right"] - img["left"]
            assert column["inner_left"] - 1 <= img["left"] and img["right"] <= column["inner_right"] + 1, img["src"]
            assert abs(width - img["natural_width"]) <= 1, (
                f"{img['src']} is drawn {img['natural_width']} px wide but shown at {width:.0f} px: its text shrinks"
            )
        # nothing overlaps: headings, tables and figures each have their own place
        blocks = (
            [("heading " + h["text"], h) for h in where["headings"]]
            + [("ranked table", t) for t in where["tables"]]
            + [(i["src"], i) for i in where["images"]]
        )
        for i, (name_a, a) in enumerate(blocks):
            for name_b, b in blocks[i + 1 :]:
                assert not _overlap(a, b), f"{name_a} overlaps {name_b}"
        forest = where["images"][0]
        heading = next(h for h in where["headings"] if h["text"].startswith("Within noise"))
        assert heading["bottom"] < forest["top"] < where["tables"][1]["top"], "the forest plot is not under its heading"

    # The screenshot, read: every figure is there pixel for pixel as the notebook drew it
    # (shown unscaled, nothing covering or clipping it) ...
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    for img in seen["images"]:
        drawn = np.asarray(Image.open(html / img["src"].lstrip("/")).convert("RGB"), dtype=np.int16)
        top, left = round(img["top"]), round(img["left"])
        shown = pixels[top : top + drawn.shape[0], left : left + drawn.shape[1]]
        assert shown.shape == drawn.shape, f"{img['src']} is cut off in the screenshot"
        differ = np.abs(shown - drawn).max(axis=2) > 24
        assert differ.mean() < 0.01, f"{img['src']}: {differ.mean():.1%} of its pixels differ on the page"
    # ... and nothing is painted in the column's right margin, from the first table to the last figure.
    column = seen["column"]
    top = round(min(t["top"] for t in seen["tables"]))
    bottom = round(max(i["bottom"] for i in seen["images"]))
    margin = pixels[top:bottom, round(column["inner_right"]) + 2 : round(column["right"]) - 1]
    assert margin.size, "the column has no right margin to read"
    background = pixels[top, round(column["right"]) - 2]
    painted = np.abs(margin - background).max(axis=2) > 16
    assert not painted.any(), f"{int(painted.sum())} px painted right of the text column between y={top} and y={bottom}"

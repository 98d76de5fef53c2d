"""End to end in a real headless Chromium: start the app, upload a file, see the segments.

Runs Debian's chromium through Playwright (``apt-get install chromium``; never
``playwright install``). Skipped only when no chromium binary is found. With
``CUSTSEG_SCREENSHOT=1`` the screenshot is written to docs/screenshot.png.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import custseg
from custseg import pipeline, synth
from custseg.app import command
from tests.test_app import reference_rfm

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
STARTUP_SECONDS = 90
VIEWPORT = (1440, 1100)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"the app did not answer at {url} within {seconds} s")


def _stop(proc: subprocess.Popen) -> None:
    """Stop a server started in its own session, with the Streamlit child it started."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("user_headless", [None, "true"])
def test_custseg_app_starts_without_a_prompt(tmp_path: Path, user_headless: str | None) -> None:
    """``custseg app`` on a fresh machine: no Streamlit credentials file, no terminal (stdin
    closed), a display (where Streamlit's default is to open a browser and, without
    credentials, to ask for an e-mail address). The server must answer and never ask; the
    browser opens unless the user's own setting (STREAMLIT_SERVER_HEADLESS) says not to."""
    home = tmp_path / "home"
    home.mkdir()
    opened = tmp_path / "opened.txt"
    bin_dir = tmp_path / "bin"  # a stand-in for xdg-open, which Streamlit uses on Linux
    bin_dir.mkdir()
    xdg_open = bin_dir / "xdg-open"
    xdg_open.write_text(f'#!/bin/sh\necho "$@" >> "{opened}"\n')
    xdg_open.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env |= {"HOME": str(home), "DISPLAY": ":0", "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}",
            "CUSTSEG_DEMO_CUSTOMERS": "300"}
    if user_headless is not None:
        env["STREAMLIT_SERVER_HEADLESS"] = user_headless
    port = _free_port()
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from custseg.cli import main; main()", "app",
             "--port", str(port)], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", proc, STARTUP_SECONDS)
            time.sleep(1)  # Streamlit opens the browser just after it starts answering
        finally:
            _stop(proc)
    printed = log.read_text(errors="replace")
    assert "Email" not in printed, printed
    assert not (home / ".streamlit" / "credentials.toml").exists()
    if user_headless is None:  # Streamlit's own default with a display: open a browser
        assert f":{port}" in opened.read_text(), printed
    else:
        assert not opened.exists(), printed


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard served by ``streamlit run`` on a free localhost port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "streamlit.log"
    env = dict(os.environ, CUSTSEG_DEMO_CUSTOMERS="300")
    cmd = [*command(port, headless=True), "--server.address", "127.0.0.1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, STARTUP_SECONDS)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module's tests (each opens its own context)."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        chromium.custseg_devices = pw.devices  # the phone descriptor, for the phone context
        try:
            yield chromium
        finally:
            chromium.close()


def _settle(page: Any) -> None:
    """Wait until the script has run, no spinner shows and every chart has drawn."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid=stApp]');
            if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
            if (document.querySelector('[data-testid=stStatusWidget]')) return false;
            if (document.querySelector('[data-testid=stSpinner]')) return false;
            if (!document.querySelector('[data-testid=stMain] h1')) return false;
            return [...document.querySelectorAll('[data-testid=stPlotlyChart]')]
                .every(c => c.querySelector('.main-svg'));
        }""", timeout=120_000)
    page.wait_for_timeout(400)  # let plotly finish laying out text after the first draw


#: Runs in the page: everything a person could see that is wrong, as a list of sentences.
CHECKS_JS = r"""() => {
    const problems = [];
    const visible = el => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0;
    };
    if (document.querySelector('[data-testid=stException]')) problems.push('a traceback');
    for (const e of document.querySelectorAll('[data-testid=stAlertContentError]'))
        problems.push('an error: ' + e.innerText.slice(0, 200));
    // The words a person reads. Icons are written as ligature names ("cleaning_services")
    // that an icon font draws: left out. Tables draw on a canvas; their accessible copy
    // (headers and cells) holds the same text. Charts are SVG text.
    const texts = [];
    const walker = document.createTreeWalker(document.querySelector('[data-testid=stApp]'),
                                             NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const skip = '[data-testid=stIconMaterial], style, script';
        if (node.textContent.trim() && !node.parentElement.closest(skip))
            texts.push(node.textContent);
    }
    const words = [
        [/\bNone\b/, '"None"'], [/\b(nan|NaN)\b/, '"nan"'],
        [/\b[A-Za-z]+(?:_[A-Za-z0-9]+)+\b/, 'a machine name'], [/\b1 days\b/, '"1 days"'],
        [/\d(?:1st|2nd|3rd|th) percentile/, 'a decimal ordinal'],
        [/[£$€]-\d/, 'a minus after the currency']];
    for (const text of texts) {
        for (const [pattern, what] of words) {
            const m = text.match(pattern);
            if (m) problems.push(
                `${what}: …${text.slice(Math.max(0, m.index - 40), m.index + 40)}…`);
        }
    }
    // Nothing off the right edge, and no label cut short.
    const main = document.querySelector('[data-testid=stMain]');
    if (main.scrollWidth > main.clientWidth + 1)
        problems.push(`the page scrolls sideways (${main.scrollWidth} > ${main.clientWidth})`);
    const labelled = '.custseg-action, .custseg-opportunity, button p, '
                   + '[data-testid=stMetricLabel] p, [data-testid=stMetricValue] div';
    for (const el of document.querySelectorAll(labelled)) {
        if (!visible(el)) continue;
        const text = el.innerText.slice(0, 80);
        if (el.scrollWidth > el.clientWidth + 1 || el.innerText.trim().endsWith('…'))
            problems.push('cut short: ' + text);
        if (el.getBoundingClientRect().right > window.innerWidth + 1)
            problems.push('off the right edge: ' + text);
    }
    // Chart titles, axis titles, annotations, legends and tick labels must not overlap.
    const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
                           && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
    const boxes = (root, sel) => [...root.querySelectorAll(sel)]
        .filter(t => t.textContent.trim() && visible(t))
        .map(t => [t.textContent.trim(), t.getBoundingClientRect()]);
    document.querySelectorAll('.js-plotly-plot').forEach((plot, n) => {
        if (!visible(plot)) return;  // a chart in a closed tab
        const labels = boxes(plot, '.gtitle, [class*=title] text, .xtitle, .ytitle, '
                                   + '.annotation-text, .legendtext');
        const ticks = [...plot.querySelectorAll('.xaxislayer-above, .yaxislayer-above')]
            .map(layer => boxes(layer, 'text'));
        const seen = new Set();
        const report = (a, b) => {
            const key = a[0] + '|' + b[0];
            if (seen.has(key)) return;
            seen.add(key);
            problems.push(`chart ${n + 1}: "${a[0]}" overlaps "${b[0]}"`);
        };
        for (let i = 0; i < labels.length; i++) {
            for (let j = i + 1; j < labels.length; j++)
                if (labels[i][0] !== labels[j][0] && overlap(labels[i][1], labels[j][1]))
                    report(labels[i], labels[j]);
            for (const axis of ticks)
                for (const t of axis) if (overlap(labels[i][1], t[1])) report(labels[i], t);
        }
        for (const axis of ticks)
            for (let i = 0; i < axis.length; i++)
                for (let j = i + 1; j < axis.length; j++)
                    if (overlap(axis[i][1], axis[j][1])) report(axis[i], axis[j]);
    });
    return problems;
}"""

#: Every page's address (the Overview is the app's root).
PAGES = ["", "data", "cleaning", "rfm", "choosing_k", "segments", "explanation", "anomalies",
         "changes", "future_value", "lookup", "downloads"]
DESKTOP = {"viewport": {"width": 1400, "height": 1000}}


def _outside(url: str, app_url: str) -> bool:
    """A request to another host than the app's (data: and blob: URLs stay in the page)."""
    return not url.startswith((app_url, "data:", "blob:", "about:"))


def _screenshot(page: Any, path: Path) -> None:
    """The whole page: the viewport stretched to the content's height for the picture."""
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(int(height), 12_000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def test_every_page_reads_well_at_both_widths(app_url: str, browser: Any) -> None:
    """Every page, with the demo data, on a desktop (1400 px) and a phone (390 px): no
    traceback or error, no "None"/"nan" or machine name, no text cut short or off the right
    edge, no chart text overlapping, no request to another host. The look-up is shown with a
    customer, and on the phone the sidebar closes after a page is chosen in it."""
    # Outside pytest's temporary folders, which keep only the last few runs: people look at
    # these after the run (CUSTSEG_PAGE_SHOTS names a folder of your own).
    shots = Path(os.environ.get("CUSTSEG_PAGE_SHOTS") or tempfile.mkdtemp(prefix="custseg-pages-"))
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of every page: {shots}")
    # A phone's width, touch and user agent (Streamlit closes the sidebar after a page is
    # chosen on a phone); drawn at one pixel per point to keep the screenshots small.
    phone = {k: v for k, v in browser.custseg_devices["iPhone 13"].items()
             if k != "default_browser_type"} | {"device_scale_factor": 1}
    assert phone["viewport"]["width"] == 390
    problems: list[str] = []
    for device, options in (("desktop", DESKTOP), ("phone", phone)):
        context = browser.new_context(**options)
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request, log=requests: log.append(request.url))
        for name in PAGES:
            page.goto(f"{app_url}/{name}", wait_until="domcontentloaded")
            _settle(page)
            if name == "lookup":  # a customer of this data: the placeholder's example
                box = page.get_by_label("Customer id", exact=True)
                box.fill(box.get_attribute("placeholder").removeprefix("e.g. "))
                box.press("Enter")
                page.get_by_text("Transaction history").wait_for(timeout=60_000)
                _settle(page)
            where = f"{device} {name or 'overview'}"
            problems += [f"{where}: {p}" for p in page.evaluate(CHECKS_JS)]
            _screenshot(page, shots / f"{device}_{name or 'overview'}.png")
        if device == "phone":  # choose a page in the sidebar: it must close again
            page.goto(app_url, wait_until="domcontentloaded")
            _settle(page)
            page.get_by_test_id("stExpandSidebarButton").click()
            page.get_by_test_id("stSidebarNav").get_by_text("5 · Segments").click()
            page.get_by_role("heading", name="5 · Segments").wait_for(timeout=60_000)
            _settle(page)
            page.wait_for_timeout(500)  # the sidebar slides away
            right = page.get_by_test_id("stSidebar").evaluate(
                "el => el.getBoundingClientRect().right")
            if right > 1:
                problems.append(f"phone: the sidebar stays open after choosing a page "
                                f"({right:.0f} of 390 px)")
        problems += [f"{device}: a request to another host: {url}" for url in requests
                     if _outside(url, app_url)]
        context.close()
    assert not problems, "\n".join(dict.fromkeys(problems))


def test_upload_shows_named_segments(app_url: str, browser: Any, tmp_path: Path) -> None:
    frame = synth.generate_frame(350, 11)[0]
    upload = tmp_path / "shop_export.csv"
    frame.to_csv(upload, index=False)
    # The customers' RFM computed with pandas, and the core model of it.
    rfm = reference_rfm(frame)
    expected = pipeline.model(rfm, custseg.Config())
    names = sorted(expected.segments["segment"].astype(str))

    shot = (REPO / "docs" / "screenshot.png" if os.environ.get("CUSTSEG_SCREENSHOT") == "1"
            else tmp_path / "screenshot.png")
    context = browser.new_context(viewport=dict(zip(("width", "height"), VIEWPORT,
                                                    strict=True)))
    try:
        page = context.new_page()
        page.goto(app_url, wait_until="domcontentloaded")
        # The demo data renders first: the page is never empty.
        page.locator(".custseg-card").first.wait_for(timeout=90_000)
        page.locator("input[type=file]").set_input_files(str(upload))
        # The overview's caption names the analysed file once the upload has been run.
        page.locator("[data-testid=stCaptionContainer]",
                     has_text="Data: shop_export.csv").wait_for(timeout=90_000)
        _settle(page)
        chips = page.locator(".custseg-card .custseg-chip")
        assert sorted(chips.all_inner_texts()) == names
        metrics = dict(text.strip().split("\n", 1) for text in
                       page.locator("[data-testid=stMetric]").all_inner_texts())
        assert metrics["Customers"].strip() == f"{len(rfm):,}"
        assert metrics["Segments (k)"].strip() == str(expected.clustering.k)
        assert page.locator("[data-testid=stException]").count() == 0
        assert page.locator("[data-testid=stAlertContentError]").count() == 0
        page.wait_for_timeout(1500)  # let the tables paint before the screenshot
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
    finally:
        context.close()
    with Image.open(shot) as image:  # the page as the viewport shows it, not a blank one
        assert image.format == "PNG" and image.size == VIEWPORT
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 24)) > 100

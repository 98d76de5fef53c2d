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
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import custseg
from custseg import pipeline, synth
from custseg.app import command
from tests import reference

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


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH")
def test_upload_shows_named_segments(app_url: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    frame = synth.generate_frame(350, 11)[0]
    upload = tmp_path / "shop_export.csv"
    frame.to_csv(upload, index=False)
    # The customers' RFM computed with pandas, and the core model of it.
    rfm = reference.rfm(frame)
    expected = pipeline.model(rfm, custseg.Config())
    names = sorted(expected.segments["segment"].astype(str))

    shot = (REPO / "docs" / "screenshot.png" if os.environ.get("CUSTSEG_SCREENSHOT") == "1"
            else tmp_path / "screenshot.png")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=dict(zip(("width", "height"), VIEWPORT,
                                                      strict=True)))
            page.goto(app_url, wait_until="domcontentloaded")
            # The demo data renders first: the page is never empty.
            page.locator(".custseg-segments").wait_for(timeout=90_000)
            page.locator("input[type=file]").set_input_files(str(upload))
            # The overview's caption names the analysed file once the upload has been run.
            page.locator("[data-testid=stCaptionContainer]",
                         has_text="Data: shop_export.csv").wait_for(timeout=90_000)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=stStatusWidget]')",
                timeout=90_000)
            chips = page.locator(".custseg-segments span")
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
            browser.close()
    with Image.open(shot) as image:  # the page as the viewport shows it, not a blank one
        assert image.format == "PNG" and image.size == VIEWPORT
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 24)) > 100

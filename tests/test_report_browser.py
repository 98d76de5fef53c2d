"""report.html in a real headless Chromium at a laptop's width (1400 px) and a phone's (390 px):
every chart drawn with its titles clear of each other, the page no wider than the screen, plain
words instead of machine names, text from the data shown as text, nothing fetched.

Runs Debian's chromium through Playwright, as tests/test_browser.py does; skipped when no
chromium binary is found. Screenshots of each page are saved to a temporary folder (the path is
printed) for people to look at.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import custseg
from custseg import report, synth
from tests.conftest import REAL_CSV

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                                 reason="no chromium binary on PATH")]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]
#: Markup that plotly.js would draw (bold, italics) if it were not escaped.
MARKUP = "<b>BOLD</b> & <i>CO</i>"
WIDTHS = (390, 1400)

#: Per chart: its title and axis titles as drawn, the boxes of its subplots, and the box of
#: every piece of text a reader needs apart (title, axis titles, legend, annotations, tick
#: labels per axis; rotated tick labels are grouped apart: their boxes overlap by design).
_DRAWN = """() => [...document.querySelectorAll('.plotly-graph-div')].map(div => {
    const rect = el => { const r = el.getBoundingClientRect();
                         return [r.left, r.top, r.right, r.bottom]; };
    const texts = [];
    const add = (kind, els) => els.forEach(el => {
        const box = rect(el);
        if (box[2] > box[0] && el.textContent.trim())
            texts.push({kind, text: el.textContent, box});
    });
    add('title', [...div.querySelectorAll('.g-gtitle text')]);
    add('axis title',
        [...div.querySelectorAll('.infolayer [class^="g-"][class$="title"]:not(.g-gtitle) text')]);
    add('legend', [...div.querySelectorAll('.legend .bg')]);
    add('annotation', [...div.querySelectorAll('.annotation-text-g text')]);
    div.querySelectorAll('.xtick text, .ytick text').forEach(t => {
        const layer = t.closest('[class*="axislayer"]');
        const axis = [...layer.classList].join('.') + '@' + rect(layer.parentNode).join(',');
        const rotated = /rotate\\(-?[1-9]/.test(t.getAttribute('transform') || '');
        add('tick ' + axis + (rotated ? ' rotated' : ''), [t]);
    });
    return {
        id: div.id,
        svg: rect(div.querySelector('.main-svg')),
        width: div.getBoundingClientRect().width,
        title: div.querySelector('.gtitle')?.textContent ?? '',
        axisTitles: [...div.querySelectorAll(
            '.infolayer [class^="g-"][class$="title"]:not(.g-gtitle) text')]
            .map(t => t.textContent),
        panels: [...div.querySelectorAll('.cartesianlayer > .subplot')].map(g => {
            const box = g.querySelector('.gridlayer').getBBox();
            return [box.x, box.y, box.x + box.width, box.y + box.height];
        }),
        ticks: [...div.querySelectorAll('.ytick text')].map(t => t.textContent),
        boldTicks: div.querySelectorAll('.ytick text tspan[style*="bold"]').length,
        texts,
    };
})"""

#: The page's visible text (charts included) with the <code> spans (the input's own column
#: names) taken out.
_VISIBLE_TEXT = """() => {
    let text = document.querySelector('main').innerText;
    document.querySelectorAll('main code').forEach(c => { text = text.replace(c.innerText, ''); });
    return text;
}"""


def _demo() -> custseg.Result:
    frame = synth.generate_frame(300, 5)[0]
    # Every description starts with markup: it reaches the product charts' labels.
    frame["Description"] = MARKUP + " " + frame["Description"].astype(str)
    return custseg.run(frame, custseg.Config(currency="EUR"))


@pytest.fixture(scope="module", params=["demo", "real"])
def written(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[str, custseg.Result, Path]:
    if request.param == "real":
        if not REAL_CSV.exists():
            pytest.skip("real data (../shared/data) is absent")
        result = custseg.run(REAL_CSV)
    else:
        result = _demo()
    path = report.write_html(result, tmp_path_factory.mktemp("report") / "report.html")
    return request.param, result, path


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
            args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _render(browser: Any, path: Path, width: int, shots: Path, name: str) -> dict[str, Any]:
    """Open ``path`` at ``width``; everything the tests look at, and a full-page screenshot."""
    errors: list[str] = []
    fetched: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
                else None)
        page.on("request", lambda request: fetched.append(request.url))
        page.goto(path.as_uri())
        page.wait_for_function(
            "() => [...document.querySelectorAll('.plotly-graph-div')]"
            ".every(div => div.querySelector('.main-svg .cartesianlayer'))",
            timeout=120_000)
        # Measured before the screenshot: a full-page screenshot resizes the window, which
        # makes plotly.js redraw every chart at its div's width and would hide a wrong one.
        seen = {"errors": errors, "fetched": fetched,
                "charts": {c["id"]: c for c in page.evaluate(_DRAWN)},
                "scroll_width": page.evaluate("() => document.documentElement.scrollWidth"),
                "text": page.evaluate(_VISIBLE_TEXT),
                "actions": page.eval_on_selector_all(
                    "#segments td[data-label='Action']", "cells => cells.map(c => c.innerText)"),
                "clipped": page.eval_on_selector_all(
                    "td", "cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1)"
                          ".map(c => c.innerText)")}
        page.screenshot(path=str(shots / f"report-{name}-{width}px.png"), full_page=True)
        return seen
    finally:
        page.close()


@pytest.fixture(scope="module")
def drawn(written, browser, tmp_path_factory) -> dict[int, dict[str, Any]]:
    name, _, path = written
    shots = tmp_path_factory.mktemp("screenshots")
    print(f"report screenshots in {shots}")
    return {width: _render(browser, path, width, shots, name) for width in WIDTHS}


def _overlap(a: list[float], b: list[float], tolerance: float = 0.5) -> bool:
    return (a[0] + tolerance < b[2] and b[0] + tolerance < a[2]
            and a[1] + tolerance < b[3] and b[1] + tolerance < a[3])


def _clashes(chart: dict[str, Any]) -> list[tuple[str, str]]:
    """Pairs of texts of one chart whose boxes overlap, and texts outside the chart."""
    texts, svg = chart["texts"], chart["svg"]
    found = []
    for i, a in enumerate(texts):
        box = a["box"]
        if box[0] < svg[0] - 1 or box[2] > svg[2] + 1 or box[1] < svg[1] - 1 or \
                box[3] > svg[3] + 1:
            found.append((a["text"], "outside the chart"))
        for b in texts[i + 1:]:
            ticks = a["kind"].startswith("tick") and b["kind"].startswith("tick")
            # Labels of different axes never meet; rotated ones overlap as boxes only.
            if ticks and (a["kind"] != b["kind"] or a["kind"].endswith("rotated")):
                continue
            if _overlap(box, b["box"]):
                found.append((a["text"], b["text"]))
    return found


@pytest.mark.parametrize("width", WIDTHS)
def test_report_draws_every_chart_offline_with_its_texts_apart(written, drawn, width):
    _, result, path = written
    page = drawn[width]
    assert page["errors"] == []
    assert page["fetched"] == [path.as_uri()]  # the page itself, nothing from the network
    charts = page["charts"]
    segments = result.segments["segment"].astype(str).tolist()
    # 3 distributions, 6 k metrics, 4 profiles, 3 outlier views, cleaning, PCA, importances,
    # flagged kinds; one product chart per segment, the stock priorities and the cohorts;
    # lifetime value per segment, expected purchases and the calibration plot.
    lifetime = 3 if result.clv is not None else 0
    assert len(charts) == 20 + len(segments) + 2 + lifetime, sorted(charts)
    for div_id, chart in charts.items():
        assert chart["title"], div_id
        assert len(chart["axisTitles"]) >= 2 and all(chart["axisTitles"]), div_id
        boxes = chart["panels"]
        assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), \
            div_id
        assert _clashes(chart) == [], (width, div_id)
        # Drawn at its place's width (a chart sized before its grid was laid out is not).
        svg = chart["svg"]
        assert abs((svg[2] - svg[0]) - chart["width"]) <= 1, (width, div_id)
    # No sideways scrolling: tables wrap (and become cards on a phone), charts fit.
    assert page["scroll_width"] <= width
    assert page["clipped"] == []


def test_report_shows_plain_words_and_every_action_in_full(written, drawn):
    _, result, _ = written
    for width, page in drawn.items():
        text = page["text"]
        # Machine names (r_score, quantity_outlier), and missing values shown as words.
        assert not re.findall(r"\b[a-z]+_[a-z_]+\b", text), width
        assert not re.findall(r"\b(None|nan|NaN|NaT)\b", text), width
        # Every segment's action, whole, once per segment, at either width.
        assert page["actions"] == result.segments["action"].tolist(), width
    scope = result.summary.get("scope")
    if scope:  # the first lines say which countries were kept
        lines = drawn[1400]["text"].splitlines()
        assert scope in lines[:6]
    assert "k=" in result.clustering.reason and result.clustering.reason in drawn[390]["text"]


def test_report_draws_the_data_text_literally(written, drawn):
    name, result, _ = written
    if name != "demo":
        pytest.skip("the markup is planted in the demo data")
    charts = drawn[1400]["charts"]
    cleaning = result.cleaning
    assert charts["fig-cleaning"]["title"].startswith("Cleaning: the row account")
    assert (f"{cleaning.rows_in:,} rows in, {cleaning.rows_kept:,} kept "
            f"({cleaning.rows_kept / cleaning.rows_in:.1%})") in charts["fig-cleaning"]["title"]
    assert "Monetary (total spend, EUR), log scale" in \
        charts["fig-anomaly-frequency-monetary"]["axisTitles"]
    # The markup in a description is drawn as the characters it is made of (the label wraps
    # after "&", within its first 20 characters; the lines' texts follow each other).
    products = [c for i, c in charts.items() if i.startswith("fig-mix-") or i == "fig-stock"]
    assert products and all(c["ticks"] and all(t.startswith("<b>BOLD</b> &<i>CO</i>")
                                               for t in c["ticks"]) for c in products)
    assert all(c["boldTicks"] == 0 for c in products)

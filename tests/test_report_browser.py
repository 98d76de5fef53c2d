"""report.html in a real headless Chromium: every chart drawn, offline, text from the data shown
as text.

Runs Debian's chromium through Playwright, as tests/test_browser.py does; skipped when no
chromium binary is found.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import custseg
from custseg import report, synth

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                                 reason="no chromium binary on PATH")]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]
#: Markup that plotly.js would draw (bold, italics) if it were not escaped.
MARKUP = "<b>BOLD</b> & <i>CO</i>"

#: Per chart: its title and axis titles as drawn, and the boxes of its subplots.
_DRAWN = """() => [...document.querySelectorAll('.plotly-graph-div')].map(div => ({
    id: div.id,
    title: div.querySelector('.gtitle')?.textContent ?? '',
    axisTitles: [...div.querySelectorAll('.infolayer [class^="g-"][class$="title"] text')]
        .map(t => t.textContent),
    panels: [...div.querySelectorAll('.cartesianlayer > .subplot')].map(g => {
        const box = g.querySelector('.gridlayer').getBBox();
        return [box.x, box.y, box.x + box.width, box.y + box.height];
    }),
    ticks: [...div.querySelectorAll('.ytick text')].map(t => t.textContent),
    boldTicks: div.querySelectorAll('.ytick text tspan[style*="bold"]').length,
}))"""


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[custseg.Result, Path]:
    frame = synth.generate_frame(300, 5)[0]
    # Every description starts with markup: it reaches the product charts' labels.
    frame["Description"] = MARKUP + " " + frame["Description"].astype(str)
    result = custseg.run(frame, custseg.Config(currency="EUR"))
    path = report.write_html(result, tmp_path_factory.mktemp("report") / "report.html")
    return result, path


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_report_draws_every_chart_offline_with_its_titles(written):
    sync_api = pytest.importorskip("playwright.sync_api")
    result, path = written
    errors: list[str] = []
    fetched: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
            args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
                    else None)
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(path.as_uri())
            page.wait_for_function(
                "() => [...document.querySelectorAll('.plotly-graph-div')]"
                ".every(div => div.querySelector('.main-svg .cartesianlayer'))",
                timeout=60_000)
            drawn = {chart["id"]: chart for chart in page.evaluate(_DRAWN)}
        finally:
            browser.close()
    assert errors == []
    assert fetched == [path.as_uri()]  # the page itself, nothing from the network
    segments = result.segments["segment"].astype(str).tolist()
    assert len(drawn) == 10 + len(segments) + 1  # + one product chart per segment, + stock
    for div_id, chart in drawn.items():
        assert chart["title"], div_id
        assert len(chart["axisTitles"]) >= 2 and all(chart["axisTitles"]), div_id
        boxes = chart["panels"]
        assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), \
            div_id
    cleaning = result.cleaning
    assert drawn["fig-cleaning"]["title"] == (
        f"Cleaning: {cleaning.rows_in:,} rows in → {cleaning.rows_kept:,} kept "
        f"({cleaning.rows_kept / cleaning.rows_in:.1%})")
    assert len(drawn["fig-k-metrics"]["panels"]) == 6
    assert len(drawn["fig-profiles"]["panels"]) == 4
    assert len(drawn["fig-rfm-distributions"]["panels"]) == 3
    assert "Monetary (total spend, EUR), log scale" in \
        drawn["fig-anomaly-frequency-monetary"]["axisTitles"]
    # The markup in a description is drawn as the characters it is made of.
    products = [c for i, c in drawn.items() if i.startswith("fig-mix-") or i == "fig-stock"]
    assert all(c["ticks"] and all(t.startswith(MARKUP + " ") for t in c["ticks"])
               for c in products)
    assert all(c["boldTicks"] == 0 for c in products)

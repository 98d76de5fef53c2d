"""compare.html in headless Chromium at a laptop's width and a phone's: every chart drawn with
its texts apart, nothing wider than the screen, nothing fetched (as tests/test_report_browser.py
checks report.html)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from custseg import compare, synth
from tests.test_report_browser import WIDTHS, _clashes, _render, browser  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = synth.generate_frame(600, 9, movers=synth.Movers.at(0.2, date(2011, 6, 1)))[0]
    result = compare.compare_dates(frame, [date(2011, 6, 1), date(2011, 12, 10)],
                                   every="quarter")
    out = tmp_path_factory.mktemp("compare")
    compare.write_comparison(result, out)
    return out / "compare.html"


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_page_reads_well(page_path: Path, browser: object, width: int,  # noqa: F811
                                 tmp_path: Path) -> None:
    page = _render(browser, page_path, width, tmp_path, "compare")
    assert page["errors"] == []
    assert page["fetched"] == [page_path.as_uri()]
    charts = page["charts"]
    # The Sankey, two stacked areas and the cohort heatmap.
    assert set(charts) == {"fig-sankey", "fig-over-time-0", "fig-over-time-1", "fig-cohorts"}
    for div_id, chart in charts.items():
        assert chart["title"], div_id
        assert _clashes(chart) == [], (width, div_id)
    assert page["scroll_width"] <= width
    assert page["clipped"] == []

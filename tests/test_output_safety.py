"""Outputs are safe: no CSV cell runs as a spreadsheet formula, report.html runs no data.

The input is generated transactions with hostile text planted in customer ids, stock codes,
descriptions and countries; the checks read the written files back (CSV with the csv module)
and compare them with expectations computed here from the planted values.
"""

from __future__ import annotations

import csv
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import custseg
from custseg import safe_cells, synth

#: Text a spreadsheet would run, or a browser would render, planted in the input.
HOSTILE = ('=HYPERLINK("http://x","y")', "@17841", "+1", "-cmd", "\tTAB", "\rCR",
           "</script><script>alert(1)</script>", "<b>bold</b>")
#: First characters of a formula (OWASP), spelled out independently of safe_cells.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _escaped(text: str) -> str:
    """How a hostile text must appear in a CSV."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _hostile_frame() -> tuple[pd.DataFrame, dict[str, str]]:
    """Generated transactions with HOSTILE planted; returns the frame and the planted ids."""
    frame = synth.generate_frame(customers=200, seed=3)[0]
    ids = frame["CustomerID"].astype("Int64").astype(str).where(frame["CustomerID"].notna())
    frame["CustomerID"] = ids.astype(object).where(ids.notna(), None)
    # The busiest customers and the best-selling products survive cleaning and reach every
    # output (customers, product mix, stock priorities).
    busiest = frame["CustomerID"].value_counts().index[:len(HOSTILE)]
    planted_ids = dict(zip(busiest, HOSTILE, strict=True))
    frame["CustomerID"] = frame["CustomerID"].replace(planted_ids)
    revenue = (frame["Quantity"] * frame["UnitPrice"]).groupby(frame["StockCode"]).sum()
    products = revenue[revenue.index.str.fullmatch(r"\d+")]  # not postage, fees, …
    top = products.sort_values(ascending=False).index
    # The best seller's description is a plain negative number: it must stay as it is.
    descriptions = {top[0]: "-5", **dict(zip(top[1:len(HOSTILE) + 1], HOSTILE, strict=True))}
    known = frame["StockCode"].isin(descriptions)
    frame.loc[known, "Description"] = frame.loc[known, "StockCode"].map(descriptions)
    codes = dict(zip(top[len(HOSTILE) + 1:2 * len(HOSTILE) + 1], HOSTILE, strict=True))
    frame["StockCode"] = frame["StockCode"].replace(codes)
    frame["Country"] = frame["Country"].where(frame.index % 7 != 0, "-cmd")
    # An absurd price and a large cancellation, by hostile customers: flagged lines that
    # carry hostile text into flagged_transactions.csv (in the input's own columns) and into
    # the report's tables of flagged lines. A carriage return inside a cell must not end the
    # row (text after it would start a row with a formula).
    day = frame["InvoiceDate"].max() - pd.Timedelta(days=2)
    usual = frame.loc[frame["StockCode"] == top[0], "UnitPrice"].median()
    planted = pd.DataFrame({
        "InvoiceNo": ["999990", "C999991"], "StockCode": [top[0], top[0]],
        "Description": ["</script><script>alert(1)</script>", "=1+1"], "Quantity": [1, -100],
        "InvoiceDate": [day, day], "UnitPrice": [usual * 200, usual * 50],
        "CustomerID": ["@17841", "-cmd"], "Country": ["\tTAB", "ok\r=1+1"]})
    return pd.concat([frame, planted], ignore_index=True), planted_ids


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[custseg.Result, Path, dict[str, str]]:
    frame, planted_ids = _hostile_frame()
    result = custseg.run(frame, custseg.Config(currency="EUR"))
    out = tmp_path_factory.mktemp("hostile")
    custseg.write_outputs(result, out)
    return result, out, planted_ids


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _column(path: Path, name: str) -> list[str]:
    rows = _rows(path)
    at = rows[0].index(name)
    return [r[at] for r in rows[1:]]


CSV_FILES = ("customers.csv", "flagged_transactions.csv", "segment_products.csv",
             "stock_priorities.csv", "segments.csv", "k_selection.csv", "importances.csv",
             "cohorts.csv", "clv.csv", "clv_holdout.csv", "clv_calibration.csv")


def test_every_csv_is_written(written):
    _, out, _ = written
    assert {p.name for p in out.glob("*.csv")} == set(CSV_FILES)


@pytest.mark.parametrize("name", CSV_FILES)
def test_no_csv_cell_starts_a_formula(written, name):
    _, out, _ = written
    for row in _rows(out / name):
        for cell in row:
            if cell.startswith(FORMULA_START):
                assert PLAIN_NUMBER.fullmatch(cell), (name, cell)


def test_hostile_ids_descriptions_and_codes_are_kept_behind_a_quote(written):
    result, out, planted_ids = written
    ids = set(_column(out / "customers.csv", "customer_id"))
    assert {_escaped(h) for h in HOSTILE} <= ids
    assert "'@17841" in ids and "@17841" not in ids
    # Each segment's top products: some, not all, of the planted ones.
    mix = out / "segment_products.csv"
    for col in ("description", "stock_code"):
        cells = set(_column(mix, col))
        assert len({_escaped(h) for h in HOSTILE} & cells) >= 3, col
        assert not {h for h in HOSTILE if h != _escaped(h)} & cells, col
    assert "-5" in set(_column(mix, "description"))  # a plain number stays a number
    flagged = out / "flagged_transactions.csv"
    header = _rows(flagged)[0]
    lines = {r[header.index("InvoiceNo")]: dict(zip(header, r, strict=True))
             for r in _rows(flagged)[1:]}
    assert lines["999990"]["Description"] == "</script><script>alert(1)</script>"
    assert lines["999990"]["CustomerID"] == "'@17841"
    assert lines["999990"]["Country"] == "'\tTAB"
    assert lines["C999991"]["Description"] == "'=1+1"
    assert lines["C999991"]["CustomerID"] == "'-cmd"
    assert lines["C999991"]["Country"] == "ok\r=1+1"  # one cell, not two rows
    assert lines["C999991"]["Quantity"] == "-100"  # a negative number is untouched
    # In memory, the results keep the raw values; only the files are escaped.
    assert set(planted_ids.values()) <= set(result.rfm["customer_id"])


def test_numbers_are_unchanged(written):
    result, out, _ = written
    written_rfm = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    for col in ("recency", "frequency", "monetary", "anomaly_score"):
        assert written_rfm[col].tolist() == pytest.approx(result.rfm[col].tolist())
    quantities = _column(out / "flagged_transactions.csv", "Quantity")
    assert all(PLAIN_NUMBER.fullmatch(q) for q in quantities)  # negative ones included
    assert sum(q.startswith("-") for q in quantities) >= 2


def test_parquet_keeps_the_raw_values(written):
    _, out, planted_ids = written
    ids = set(pd.read_parquet(out / "customers.parquet")["customer_id"])
    assert set(planted_ids.values()) <= ids
    assert not any(i.startswith("'") for i in ids)


def test_a_frame_is_made_safe_cell_by_cell_and_not_changed():
    frame = pd.DataFrame({"=name": ["=1+1", "-5", "-1.25", "+1", "ok", None],
                          "n": [-1, 2, 3, 4, 5, 6],
                          "mixed": [-2.5, "@x", 3, None, "\rCR", "-"]})
    safe = safe_cells.safe_for_spreadsheets(frame)
    assert list(safe.columns) == ["'=name", "n", "mixed"]
    assert safe["'=name"].tolist()[:5] == ["'=1+1", "-5", "-1.25", "'+1", "ok"]
    assert pd.isna(safe["'=name"].iloc[5])
    assert safe["n"].tolist() == [-1, 2, 3, 4, 5, 6] and safe["n"].dtype == frame["n"].dtype
    assert safe["mixed"].tolist()[:3] == [-2.5, "'@x", 3]
    assert safe["mixed"].tolist()[4:] == ["'\rCR", "'-"]
    assert frame["=name"].iloc[0] == "=1+1" and "=name" in frame.columns


class _Scripts(HTMLParser):
    """The text of every <script> element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "script":
            self._inside = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.scripts[-1] += data


def test_report_runs_and_renders_no_data(written):
    _, out, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    for raw in ("<script>alert", "</script><script>alert", "<b>bold</b>"):
        assert raw not in page
    # The planted text is there, escaped, in the tables (flagged lines, stock priorities).
    body = page[page.index("<body>"):]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;b&gt;bold&lt;/b&gt;" in body
    # No script was added or cut short: plotly's config, its bundle and one call per chart.
    parser = _Scripts()
    parser.feed(page)
    charts = page.count('class="plotly-graph-div"')
    assert len(parser.scripts) == charts + 2
    calls = [s for s in parser.scripts
             if s.startswith('document.addEventListener("DOMContentLoaded", () => '
                             'Plotly.newPlot("fig-')]
    assert len(calls) == charts
    assert all(s.endswith("));") for s in calls)

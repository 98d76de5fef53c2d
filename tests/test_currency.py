"""Money is written in the configured currency everywhere, and in no currency by default.

Expected texts are spelled out here by hand (prefix + Python's own number format) rather than
through :mod:`custseg.money`, and the amounts come from the written files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import custseg
from custseg import charts, cli, money, synth

#: What each tested currency puts before an amount.
PREFIX = {"EUR": "EUR ", "": "", "£": "£"}


# --------------------------------------------------------------------------- money.py


@pytest.mark.parametrize("currency,expected", [
    ("£", "£1,234"), ("$", "$1,234"), ("€", "€1,234"), ("¥", "¥1,234"), ("US$", "US$1,234"),
    ("EUR", "EUR 1,234"), ("chf", "chf 1,234"), (" EUR ", "EUR 1,234"), ("", "1,234"),
    (None, "1,234"),
])
def test_symbols_touch_the_number_and_codes_take_a_space(currency, expected):
    assert money.money(1234.4, currency) == expected
    assert money.money(-1234.4, currency) == "-" + expected


def test_digits_rounding_and_no_negative_zero():
    assert money.money(1234.5, "£", 2) == "£1,234.50"
    assert money.money(0.004, "£", 3) == "£0.004"
    assert money.money(-0.2, "£") == "£0"
    assert money.money(-0.2, "£", 1) == "-£0.2"
    assert money.money(1_000_000, "EUR") == "EUR 1,000,000"


def test_negative_amounts_put_the_sign_before_the_currency():
    # The cancelled 74,215 storage jars at £1.04 of the real workbook.
    amount = -74215 * 1.04
    assert money.money(amount, "£", 2) == "-£77,183.60"
    assert money.money(amount, "EUR", 2) == "-EUR 77,183.60"
    assert money.money_texts(pd.Series([amount, 5.0]), "£", 2).tolist() == [
        "-£77,183.60", "£5.00"]
    write = money.formatter("£")
    assert [write(v) for v in (amount, 0.004, -0.004, None, float("nan"))] == [
        "-£77,183.60", "£0.00", "£0.00", "", ""]
    assert money.formatter("", 0)(-1234.5) == "-1,234"


def test_series_version_matches_one_by_one():
    values = pd.Series([0.0, -0.2, 1234.5, -98765.432, 7.0], index=[5, 3, 9, 1, 0])
    for currency in ("£", "EUR", ""):
        for digits in (0, 2):
            texts = money.money_texts(values, currency, digits)
            assert texts.index.tolist() == values.index.tolist()
            assert texts.tolist() == [money.money(v, currency, digits) for v in values]


def test_labels_hovers_axes_and_table_formats():
    assert money.label("revenue", "£") == "revenue (£)"
    assert money.label("revenue", "EUR") == "revenue (EUR)"
    assert money.label("revenue", "") == "revenue"
    assert money.hover("%{x:,.0f}", "EUR") == "EUR %{x:,.0f}"
    assert money.hover("%{x:,.0f}", "") == "%{x:,.0f}"
    assert money.axis("£") == {"tickprefix": "£", "tickformat": ",.0f"}
    assert money.axis("") == {"tickprefix": "", "tickformat": ",.0f"}
    assert money.number_format("£") == "£%,.2f"
    assert money.number_format("") == "%,.2f"
    assert money.number_format("%", 0) == "%%%,.0f"  # a literal % is escaped for printf


def test_currency_of_prefers_the_summary_then_the_setting():
    config = SimpleNamespace(currency="EUR")
    assert money.currency_of(SimpleNamespace(summary={"currency": "£"}, config=config)) == "£"
    assert money.currency_of(SimpleNamespace(summary={}, config=config)) == "EUR"
    assert money.currency_of(SimpleNamespace(summary={}, config=SimpleNamespace(currency=None))
                             ) == ""
    assert money.currency_of(object()) == ""


# --------------------------------------------------------------------------- a whole run


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Generated transactions in the UCI Online Retail layout (its preset's currency is £)."""
    return synth.generate_frame(customers=300, seed=7)[0]


@pytest.fixture(scope="module", params=list(PREFIX))
def written(request, frame, tmp_path_factory) -> tuple[str, custseg.Result, Path]:
    """A run with ``currency`` set explicitly, and the folder its outputs were written to."""
    currency = request.param
    result = custseg.run(frame, custseg.Config(currency=currency))
    out = tmp_path_factory.mktemp(f"out-{currency.encode().hex() or 'none'}")
    custseg.write_outputs(result, out)
    return currency, result, out


def _texts(out: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir())
            if p.suffix in (".csv", ".md", ".json", ".html")}


def test_every_text_output_uses_only_the_configured_currency(written):
    currency, result, out = written
    texts = _texts(out)
    assert {"summary.md", "report.html", "rules.md", "customers.csv",
            "flagged_transactions.csv"} <= set(texts)
    if currency != "£":
        for name, text in texts.items():
            assert "£" not in text, name
    else:
        assert "£" in texts["summary.md"] and "£" in texts["report.html"]
    assert json.loads(texts["summary.json"])["currency"] == currency
    assert result.summary["currency"] == currency


def test_summary_and_report_quote_revenue_in_the_currency(written):
    currency, _, out = written
    prefix = PREFIX[currency]
    revenue = pd.read_csv(out / "customers.csv")["monetary"].sum()
    kept = json.loads((out / "cleaning_report.json").read_text())["revenue_kept"]
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert f" {prefix}{revenue:,.0f} of revenue" in summary
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"<b>{prefix}{revenue:,.0f}</b>" in page  # the key figure
    assert f'<td class="num">{prefix}{kept:,.2f}</td>' in page  # revenue kept
    assert f'"tickprefix":{json.dumps(prefix)}' in page  # as the chart JSON spells it


def test_anomaly_reasons_and_rules_use_the_currency(written):
    currency, _, out = written
    prefix = re.escape(PREFIX[currency])
    customers = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    spend = customers[customers["anomaly_reason"].fillna("").str.contains("spent more than")]
    assert len(spend)  # the generated data has planted big spenders
    for row in spend.itertuples():
        assert f"({PREFIX[currency]}{row.monetary:,.0f})" in row.anomaly_reason
    flagged = pd.read_csv(out / "flagged_transactions.csv", dtype=str)
    money_kinds = flagged[flagged["kind"] != "quantity_outlier"]
    assert len(money_kinds)
    pattern = rf"^(?:unit price|invoice total|cancelled) {prefix}\d"
    assert money_kinds["reason"].str.contains(pattern).all()
    rules = (out / "rules.md").read_text(encoding="utf-8")
    assert "monetary" in rules
    assert re.search(rf"monetary [≥<] {prefix}\d", rules)
    if not currency:
        assert not re.search(r"monetary [≥<] \D", rules)


def test_charts_carry_the_currency(written):
    currency, result, _ = written
    prefix = PREFIX[currency]
    figures = [
        charts.anomaly_scatter(result.rfm, "frequency", "monetary", currency=currency),
        *charts.rfm_distribution_panels(result.rfm, currency=currency)[2:],  # monetary
        charts.segment_profile_panels(result.segments, currency=currency)[2],  # median spend
        charts.flagged_kinds(result.flagged_transactions, currency=currency),
        charts.stock_priorities_bar(result.stock_priorities, currency=currency),
        charts.product_mix_bar(result.segment_products,
                               str(result.segments["segment"].iloc[0]), currency=currency),
    ]
    for fig in figures:
        text = json.dumps(fig, default=str, ensure_ascii=False)
        assert ("£" in text) == (currency == "£")
        if currency:
            assert prefix in text
    layout = figures[0]["layout"]
    # The log axis of spend: the currency on every tick label.
    assert all(t.startswith(prefix) and t[len(prefix)].isdigit()
               for t in layout["yaxis"]["ticktext"])
    assert layout["yaxis"]["title"]["text"].startswith(
        "Monetary (total spend" + (f", {currency})" if currency else ")"))
    assert figures[-1]["layout"]["xaxis"]["title"]["text"] == (
        f"revenue from the segment ({currency})" if currency else "revenue from the segment")


def test_cli_summary_prints_revenue_kept_in_the_currency(written):
    currency, result, out = written
    with cli.out.capture() as captured:
        cli._print_summary(result, [out / "summary.json"])
    kept = result.cleaning.revenue_kept
    assert f"{PREFIX[currency]}{kept:,.2f}" in captured.get()
    assert ("£" in captured.get()) == (currency == "£")


def test_no_currency_by_default_on_an_unknown_export(frame):
    renamed = frame.rename(columns={"InvoiceNo": "order", "CustomerID": "customer",
                                    "InvoiceDate": "date", "UnitPrice": "price"})
    result = custseg.run(renamed)
    assert result.summary["currency"] == ""
    revenue = result.rfm["monetary"].sum()
    assert f" {revenue:,.0f} of revenue" in result.summary_markdown
    texts = [result.summary_markdown, result.explanation.rules_markdown,
             *result.rfm["anomaly_reason"], *result.flagged_transactions["reason"],
             custseg.report.render_html(result)]
    assert not any("£" in t for t in texts)


# --------------------------------------------------------------------------- the dashboard


def test_dashboard_shows_money_in_the_currency_typed_in_the_sidebar():
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from custseg.app import MAIN, state

    st.cache_data.clear()
    st.cache_resource.clear()
    demo = synth.generate_frame(300, state.DEMO_SEED)[0]
    at = AppTest.from_file(str(MAIN), default_timeout=180)
    at.session_state[state.DEMO_CUSTOMERS_KEY] = 300
    at.run()
    at.sidebar.text_input(key="currency").input("EUR").run()
    assert not at.exception and not at.error
    revenue = custseg.compute_rfm(custseg.load(demo))["monetary"].sum()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Revenue"] == f"EUR {revenue:,.0f}"
    assert any(n.label == "Maximum line total (EUR)" for n in at.sidebar.number_input)
    summary = next(m.value for m in at.markdown if "transaction lines were kept" in m.value)
    assert f"EUR {revenue:,.0f} of revenue" in summary
    # Every amount is in euros; only the note on the recognised export names its pounds.
    blocks = [b for b in summary.split("\n\n") if "preset applies" not in b]
    assert not any("£" in b for b in blocks)

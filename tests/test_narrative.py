"""The executive summary: every number in the text is a value of summary.json, formatted."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from custseg import narrative
from custseg.narrative import executive_summary, fmt_count, fmt_date, fmt_money, fmt_share
from tests.conftest import REAL_CSV


def make_summary() -> dict[str, Any]:
    """A realistic summary.json, shaped like pipeline.build_summary's output."""
    return {
        "source": {"path": "data/online_retail.csv.gz", "format": "csv"},
        "rows_in": 541909, "rows_kept": 354345, "rows_dropped": 187564,
        "customers": 3882, "invoices": 16646, "revenue": 5699668.41, "currency": "£",
        "period": {"first": "2010-12-01 08:26:00", "last": "2011-12-09 12:49:00"},
        "snapshot": "2011-12-10 12:49:00",
        "k": 3, "k_reason": "k=3: best silhouette 0.41 with every cluster above 5%",
        "transform": "log1p",
        "segments": [
            {"segment": "Champions", "cluster": 2, "customers": 1218, "customer_share": 0.3138,
             "revenue": 4101234.5, "revenue_share": 0.7196, "recency_median": 11.0,
             "frequency_median": 8.0, "monetary_median": 2310.27, "opportunity": 410123.45,
             "action": "Reward them: early access to new ranges and a loyalty tier."},
            {"segment": "Loyal", "cluster": 0, "customers": 1402, "customer_share": 0.3612,
             "revenue": 1150000.0, "revenue_share": 0.2018, "recency_median": 52.5,
             "frequency_median": 2.5, "monetary_median": 640.1, "opportunity": 230000.0,
             "action": "Cross-sell bundles to lift order frequency."},
            {"segment": "Lost", "cluster": 1, "customers": 1262, "customer_share": 0.3251,
             "revenue": 448433.91, "revenue_share": 0.0787, "recency_median": 201.0,
             "frequency_median": 1.0, "monetary_median": 243.6, "opportunity": 44843.39,
             "action": "One win-back offer; then stop spending on them."},
        ],
        "accuracy": 0.9734, "macro_f1": 0.9701, "rules_fidelity": 0.9112,
        "importances": [
            {"feature": "frequency", "impurity": 0.31, "permutation": 0.22},
            {"feature": "monetary", "impurity": 0.42, "permutation": 0.35},
            {"feature": "recency", "impurity": 0.27, "permutation": 0.18},
        ],
        "drivers": ["frequency", "monetary", "recency"],
        "customer_anomalies": {
            "flagged": 78, "detector": "isolation_forest", "second_detector": "lof",
            "agreement": 0.6154,
            "top_reasons": ["monetary £77,183 is 30× the median", "frequency 209 orders",
                            "monetary £77,183 is 30× the median", "recency 373 days",
                            "frequency 124 orders"],
        },
        "transaction_anomalies": {"flagged": 1432,
                                  "by_kind": {"price": 803, "quantity": 412, "invoice_total": 150,
                                              "cancellation": 67}},
        "stock_priorities": [
            {"stock_code": "22423", "description": "REGENCY CAKESTAND 3 TIER",
             "revenue": 64127.4, "share": 0.0153, "trend": -0.2337, "trend_label": "falling"},
            {"stock_code": "85123A", "description": "WHITE HANGING HEART T-LIGHT HOLDER",
             "revenue": 43108.56, "share": 0.0103, "trend": 0.1227, "trend_label": "rising"},
            {"stock_code": "23203", "description": "JUMBO BAG VINTAGE DOILY",
             "revenue": 23152.12, "share": 0.0055, "trend": None, "trend_label": "new"},
        ],
        "timings": {"Reading and cleaning": 1.93, "RFM": 0.05},
        "notes": [],
    }


# --------------------------------------------------------------------------- the checker

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_NUMBER = r"\d{1,3}(?:,\d{3})*(?:\.\d+)?"


def _patterns(currency: str) -> tuple[tuple[str, str], ...]:
    """Token patterns by kind, tried in this order (each match is removed before the next
    kind). Without a currency, money cannot be told from counts, so it has no pattern."""
    money = (("money", rf"-?{re.escape(currency)} ?{_NUMBER}"),) if currency else ()
    return (
        ("date", rf"\b\d{{1,2}} (?:{_MONTHS}) \d{{4}}\b"),
        ("change", rf"[+-]{_NUMBER}%"),
        ("share", rf"{_NUMBER}%"),
        *money,
        ("days", rf"\b{_NUMBER} days?\b"),
        ("count", rf"\b{_NUMBER}\b"),
    )


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _is_date(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def allowed(summary: dict[str, Any]) -> dict[str, set[str]]:
    """Every numeric leaf of ``summary`` through each formatter; dates from ISO strings."""
    leaves = list(_leaves(summary))
    numbers = [v for v in leaves if isinstance(v, int | float) and not isinstance(v, bool)]
    out = {kind: {fmt(v) for v in numbers} for kind, fmt in narrative.FORMATTERS.items()
           if kind != "date"}
    out["money"] = {fmt_money(v, summary.get("currency")) for v in numbers}
    if not summary.get("currency"):  # bare amounts read as counts (see _patterns)
        out["count"] |= out["money"]
    out["date"] = {fmt_date(v) for v in leaves if _is_date(v)}
    return out


def numbers_in(text: str, summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, token) for every number in ``text``; verbatim text values are taken out first."""
    quoted = sorted({v for v in _leaves(summary) if isinstance(v, str)
                     and re.search(r"[A-Za-z]", v) and not _is_date(v)
                     and v != summary.get("currency")}, key=len, reverse=True)
    for value in quoted:
        text = text.replace(value, " ")
    found = []
    for kind, pattern in _patterns(summary.get("currency") or ""):
        found += [(kind, m) for m in re.findall(pattern, text)]
        text = re.sub(pattern, " ", text)
    assert not re.search(r"\d", text), f"unparsed digits left in: {text!r}"
    return found


def assert_numbers_from(text: str, summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Fail unless every number in ``text`` is a summary value in its kind's format."""
    ok = allowed(summary)
    found = numbers_in(text, summary)
    wrong = [(kind, token) for kind, token in found if token not in ok[kind]]
    assert not wrong, f"numbers not in summary.json: {wrong}"
    return found


# --------------------------------------------------------------------------- tests


def test_formatters_follow_the_house_style():
    assert fmt_count(3882) == "3,882"
    assert fmt_count(2.5) == "2.5"
    assert fmt_money(5699668.41, "£") == "£5,699,668"
    assert fmt_money(5699668.41, "EUR") == "EUR 5,699,668"
    assert fmt_money(5699668.41) == "5,699,668"
    assert fmt_money(-12.4, "$") == "-$12"
    assert fmt_share(0.3138) == "31.4%"
    assert narrative.fmt_change(-0.2337) == "-23.4%"
    assert narrative.fmt_change(0.1227) == "+12.3%"
    assert narrative.fmt_days(1) == "1 day"
    # Days read as whole days; a median halfway between two days rounds up.
    assert narrative.fmt_days(52.5) == "53 days"
    assert narrative.fmt_days(1.4) == "1 day"
    assert fmt_date("2011-12-09 12:49:00") == "9 December 2011"


def test_every_number_in_the_text_is_a_summary_value():
    summary = make_summary()
    text = executive_summary(summary)
    found = assert_numbers_from(text, summary)
    assert len(found) > 30  # the text really quotes the run, not just prose


def test_key_values_appear():
    summary = make_summary()
    text = executive_summary(summary)
    for token in ("354,345", "541,909", "3,882", "16,646", "£5,699,668", "1 December 2010",
                  "9 December 2011"):
        assert token in text
    for seg in summary["segments"]:
        line = next(x for x in text.splitlines() if x.startswith(f"- **{seg['segment']}**:"))
        assert fmt_count(seg["customers"]) in line
        assert fmt_share(seg["revenue_share"]) in line
        assert fmt_share(seg["customer_share"]) in line
    assert "78 customers" in text and "1,432 transactions" in text
    assert "803 prices" in text and "97.3%" in text


@pytest.mark.parametrize("currency", ["EUR", "US$", ""])
def test_money_is_written_in_the_summary_currency(currency: str):
    before = {"EUR": "EUR ", "US$": "US$", "": ""}[currency]
    summary = make_summary() | {"currency": currency}
    anomalies = summary["customer_anomalies"]
    # Reasons come from the anomaly stage in the run's currency; they are quoted verbatim.
    anomalies["top_reasons"] = [r.replace("£", before) for r in anomalies["top_reasons"]]
    text = executive_summary(summary)
    assert "£" not in text
    assert f"{before}5,699,668 of revenue" in text
    assert f"- REGENCY CAKESTAND 3 TIER: {before}64,127 (" in text
    assert f"{before}2,310 spent" in text and f"({before}410,123 at stake)" in text
    found = assert_numbers_from(text, summary)
    assert len([t for kind, t in found if kind == "money"]) == (10 if currency else 0)


def test_counts_take_singular_words():
    summary = make_summary()
    summary["customer_anomalies"]["flagged"] = 1
    summary["transaction_anomalies"] = {"flagged": 1, "by_kind": {"large_cancellation": 1}}
    text = executive_summary(summary)
    assert "1 customer stands out" in text
    assert "1 transaction is flagged for review: 1 large cancellation." in text


def test_drivers_are_ranked_by_importance_not_list_order():
    text = executive_summary(make_summary())
    sentence = next(x for x in text.split("\n\n") if x.startswith("**What separates"))
    positions = [sentence.index(f"({f})") for f in ("monetary", "frequency", "recency")]
    assert positions == sorted(positions)


def test_three_most_valuable_actions_by_opportunity():
    summary = make_summary()
    summary["segments"][2]["opportunity"] = 9e9  # Lost now has the most at stake
    text = executive_summary(summary)
    actions = text.split("**The three most valuable actions.**")[1].strip().splitlines()
    assert [a.split("**")[1] for a in actions] == ["Lost", "Champions", "Loyal"]
    assert_numbers_from(text, summary)


def test_stock_priorities_quoted_and_optional():
    summary = make_summary()
    text = executive_summary(summary)
    assert "- REGENCY CAKESTAND 3 TIER: £64,127 (1.5% of their product revenue), -23.4% (falling)" \
        in text
    assert "- JUMBO BAG VINTAGE DOILY: £23,152 (0.5% of their product revenue), new" in text
    assert "What the most valuable segments spend" in text
    summary["stock_priority_segments"] = ["Champions", "Loyal"]
    assert "What Champions and Loyal spend" in executive_summary(summary)
    del summary["stock_priorities"]
    text = executive_summary(summary)
    assert "Stock priorities" not in text
    assert_numbers_from(text, summary)


def test_rfm_only_run_gives_data_and_notes():
    summary = {k: v for k, v in make_summary().items()
               if k in ("rows_in", "rows_kept", "customers", "invoices", "revenue", "currency",
                        "period")}
    summary["notes"] = ["Only 12 customers after cleaning: segmenting needs at least 20."]
    text = executive_summary(summary)
    assert "Segments" not in text and "actions" not in text
    assert summary["notes"][0] in text
    assert_numbers_from(text, summary)


def test_checker_catches_a_number_not_in_the_summary():
    summary = make_summary()
    text = executive_summary(summary)
    with pytest.raises(AssertionError, match="not in summary"):
        assert_numbers_from(text.replace("3,882", "3,883"), summary)
    changed = copy.deepcopy(summary)
    changed["customers"] = 3900
    with pytest.raises(AssertionError, match="not in summary"):
        assert_numbers_from(text, changed)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CSV.exists(), reason="real data (../shared/data) is absent")
def test_real_run_summary_numbers_match_summary_json():
    for stage in ("cluster", "segments", "explain", "anomalies"):
        pytest.importorskip(f"custseg.{stage}")
    import custseg

    result = custseg.run(REAL_CSV)
    summary = json.loads(json.dumps(result.summary, default=str))  # as written to summary.json
    texts = [executive_summary(summary)]
    if result.summary_markdown:
        texts.append(result.summary_markdown)
    for text in texts:
        assert_numbers_from(text, summary)
        assert fmt_count(summary["customers"]) in text
        assert fmt_money(summary["revenue"], summary["currency"]) in text
        for seg in summary["segments"]:
            assert fmt_share(seg["revenue_share"]) in text

"""The executive summary: every number in the text is a value of summary.json, formatted."""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

import custseg
from custseg import narrative, synth
from custseg.anomalies import KIND_LABELS
from custseg.narrative import (
    executive_summary,
    fmt_change,
    fmt_count,
    fmt_date,
    fmt_money,
    fmt_share,
)
from tests.conftest import REAL_CSV
from tests.logs import edge_log

#: A small generated log: every section of the executive summary has something to say.
_SYNTH_CUSTOMERS, _SYNTH_SEED = 300, 7


@functools.cache
def _run(rank_by: str = "impurity") -> tuple[str, list[str]]:
    """summary.json of a run of the generated log (as JSON text, so each caller gets a fresh
    copy) and the features of the run's importance table, in its order."""
    frame = synth.generate_frame(_SYNTH_CUSTOMERS, _SYNTH_SEED)[0]
    config = custseg.Config(seed=_SYNTH_SEED, explain=custseg.ExplainConfig(rank_by=rank_by))
    result = custseg.run(frame, config)
    return (json.dumps(result.summary, default=str),
            result.explanation.importances["feature"].tolist())


def make_summary(rank_by: str = "impurity") -> dict[str, Any]:
    """A real summary.json: the one a run of a small generated log writes."""
    return json.loads(_run(rank_by)[0])


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


def _plural(count: int, word: str) -> str:
    return f"{fmt_count(count)} {word}" + ("" if count == 1 else "s")


def test_key_values_appear():
    summary = make_summary()
    text = executive_summary(summary)
    currency = summary["currency"]
    assert currency == "£"  # the generated log has Online Retail's columns: its preset
    for token in (fmt_count(summary["rows_kept"]), fmt_count(summary["rows_in"]),
                  f"{fmt_count(summary['customers'])} customers",
                  f"{fmt_count(summary['invoices'])} invoices",
                  f"{fmt_money(summary['revenue'], currency)} of revenue",
                  fmt_date(summary["period"]["first"]), fmt_date(summary["period"]["last"]),
                  f"{fmt_share(summary['accuracy'])} accuracy"):
        assert token in text
    for seg in summary["segments"]:
        line = next(x for x in text.splitlines() if x.startswith(f"- **{seg['segment']}**:"))
        assert f"{fmt_count(seg['customers'])} customers" in line
        assert fmt_share(seg["revenue_share"]) in line
        assert fmt_share(seg["customer_share"]) in line
        assert f"{fmt_money(seg['monetary_median'], currency)} spent" in line
    flagged = summary["customer_anomalies"]["flagged"]
    assert f"{_plural(flagged, 'customer')} stand" in text
    lines = summary["transaction_anomalies"]
    assert f"{_plural(lines['flagged'], 'transaction')} " in text
    kind, count = max(lines["by_kind"].items(), key=lambda kv: (kv[1], kv[0]))
    assert lines["labels"][kind] == KIND_LABELS[kind]
    # The kind's plain words, in the plural: "17 unusually large quantities".
    plural = {"price_outlier": "unusual unit prices", "quantity_outlier":
              "unusually large quantities", "invoice_total_outlier": "unusually large invoices",
              "large_cancellation": "large cancellations"}[kind]
    assert f"{fmt_count(count)} {plural}" in text
    assert "_" not in text.split("**Unusual activity.**")[1].split("\n\n")[0]


@pytest.mark.parametrize("currency", ["EUR", "US$", ""])
def test_money_is_written_in_the_summary_currency(currency: str):
    before = {"EUR": "EUR ", "US$": "US$", "": ""}[currency]
    summary = make_summary()
    summary["currency"] = currency
    anomalies = summary["customer_anomalies"]
    # Reasons come from the anomaly stage in the run's currency; they are quoted verbatim.
    anomalies["top_reasons"] = [r.replace("£", before) for r in anomalies["top_reasons"]]
    text = executive_summary(summary)
    assert "£" not in text
    assert f"{fmt_money(summary['revenue'], currency)} of revenue" in text
    assert fmt_money(summary["revenue"], currency).startswith(before)
    item = summary["stock_priorities"][0]
    assert f"- {item['description']}: {before}{fmt_money(item['revenue'])} (" in text
    found = assert_numbers_from(text, summary)
    # Revenue, each segment's typical spend, the three stock priorities and the future value.
    expected = 1 + len(summary["segments"]) + min(3, len(summary["stock_priorities"]))
    expected += 1 if "clv" in summary else 0
    assert len([t for kind, t in found if kind == "money"]) == (expected if currency else 0)


def test_counts_take_singular_words():
    summary = make_summary()
    summary["customer_anomalies"]["flagged"] = 1
    summary["transaction_anomalies"] = {"flagged": 1, "by_kind": {"large_cancellation": 1},
                                        "labels": {"large_cancellation": "Large cancellation"}}
    text = executive_summary(summary)
    assert "1 customer stands out" in text
    assert "1 transaction is flagged for review: 1 large cancellation." in text
    # Without labels (an older summary.json), the kind's name in words.
    summary["transaction_anomalies"] = {"flagged": 3, "by_kind": {"quantity_outlier": 3}}
    assert "3 transactions are flagged for review: 3 quantity outliers." in (
        executive_summary(summary))
    summary["transaction_anomalies"]["labels"] = {"quantity_outlier": "Unusually large quantity"}
    assert ": 3 unusually large quantities." in executive_summary(summary)


def _drivers_sentence(text: str) -> list[str]:
    sentence = next(x for x in text.split("\n\n") if x.startswith("**What separates"))
    named = {f: sentence.index(f"({f})") for f in ("recency", "frequency", "monetary")}
    return sorted(named, key=named.get)


@pytest.mark.parametrize("rank_by", ["impurity", "permutation"])
def test_drivers_are_named_in_the_order_of_the_importance_table(rank_by: str):
    """The text and the importance table (report, dashboard, importances.csv) agree, whichever
    importance ranks them."""
    summary, table_order = make_summary(rank_by), _run(rank_by)[1]
    by_column = [r["feature"] for r in sorted(summary["importances"], key=lambda r: -r[rank_by])]
    assert table_order == by_column
    assert _drivers_sentence(executive_summary(summary)) == table_order


def test_drivers_follow_the_summary_not_another_importance():
    summary = make_summary()
    # Whatever the permutation importances say, the drivers keep the table's order.
    summary["drivers"] = [r["feature"] for r in sorted(summary["importances"],
                                                       key=lambda r: r["permutation"])]
    assert _drivers_sentence(executive_summary(summary)) == summary["drivers"]


def test_every_segment_action_in_full_in_table_order():
    summary = make_summary()
    segments = summary["segments"]
    assert len(segments) >= 3
    text = executive_summary(summary)
    block = text.split("**Actions.**")[1].strip().split("\n\n")[0].splitlines()
    assert len(block) == len(segments)
    for line, seg in zip(block, segments, strict=True):
        assert line == (f"- **{seg['segment']}** ({fmt_share(seg['revenue_share'])} of "
                        f"revenue): {seg['action']}")
    assert_numbers_from(text, summary)


def _lapsed_sentence(summary: dict[str, Any]) -> str:
    text = executive_summary(summary)
    return next(p for p in text.split("\n\n") if "lapsed" in p)


def test_the_lapsed_members_of_high_value_segments_in_one_sentence():
    summary = make_summary()
    summary["lapsed"] = {"customers": 7, "segments": ["Champions", "Loyal"]}
    sentence = _lapsed_sentence(summary)
    assert sentence.startswith("7 customers in Champions and Loyal have lapsed — ")
    assert sentence.count(". ") == 0 and sentence.endswith(".")
    summary["lapsed"] = {"customers": 1, "segments": ["Champions"]}
    assert _lapsed_sentence(summary).startswith("1 customer in Champions has lapsed — ")
    assert " gets the win-back action" in _lapsed_sentence(summary)
    summary["lapsed"] = {"customers": 0, "segments": ["Champions"]}
    assert _lapsed_sentence(summary).startswith("No customer in Champions has lapsed")
    summary["lapsed"] = {"customers": 0, "segments": []}  # no high-value segment in the run
    assert "lapsed" not in executive_summary(summary)
    assert_numbers_from(executive_summary(summary), summary)


def test_the_lapsed_count_is_the_high_value_segments_lapsed_members():
    summary = make_summary()
    high = [s for s in summary["segments"]
            if s["segment"] in ("Champions", "Loyal", "Big Spenders")]
    assert summary["lapsed"]["segments"] == [s["segment"] for s in high]
    assert summary["lapsed"]["customers"] == sum(s["lapsed"] for s in high)


def test_the_scope_is_the_first_line():
    summary = make_summary()
    summary["scope"] = "Only France is kept: 1,234 lines and £5,678.90 of revenue are left out."
    text = executive_summary(summary)
    assert text.split("\n\n")[1] == summary["scope"]
    assert executive_summary(summary, heading=False).startswith(summary["scope"] + "\n\n")
    assert_numbers_from(text, summary)


def test_stock_priorities_quoted_and_optional():
    summary = make_summary()
    first, second = summary["stock_priorities"][:2]
    second["trend"], second["trend_label"] = None, "new"
    text = executive_summary(summary)
    assert (f"- {first['description']}: {fmt_money(first['revenue'], '£')} "
            f"({fmt_share(first['share'])} of their product revenue), "
            f"{fmt_change(first['trend'])} ({first['trend_label']})") in text
    assert (f"- {second['description']}: {fmt_money(second['revenue'], '£')} "
            f"({fmt_share(second['share'])} of their product revenue), new\n") in text
    chosen = summary["stock_priority_segments"]
    assert f"What {chosen[0]} " in text
    summary["stock_priority_segments"] = ["Champions", "Loyal"]
    assert "What Champions and Loyal spend" in executive_summary(summary)
    del summary["stock_priority_segments"]
    assert "What the most valuable segments spend" in executive_summary(summary)
    del summary["stock_priorities"]
    text = executive_summary(summary)
    assert "Stock priorities" not in text
    assert_numbers_from(text, summary)


def test_rfm_only_run_gives_data_and_notes():
    result = custseg.run(edge_log())  # too few customers to segment
    summary = json.loads(json.dumps(result.summary, default=str))
    text = executive_summary(summary)
    assert "Segments" not in text and "actions" not in text
    assert summary["notes"] and summary["notes"][-1] in text
    assert fmt_count(summary["customers"]) in text
    assert_numbers_from(text, summary)


def test_checker_catches_a_number_not_in_the_summary():
    summary = make_summary()
    text = executive_summary(summary)
    customers = fmt_count(summary["customers"])
    with pytest.raises(AssertionError, match="not in summary"):
        assert_numbers_from(text.replace(f"{customers} customers",
                                         f"{fmt_count(summary['customers'] + 1)} customers"),
                            summary)
    changed = copy.deepcopy(summary)
    changed["customers"] += 1
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

"""The executive summary: plain-language Markdown written from ``summary.json``.

Every number in the text is a value of the summary dict passed through exactly one formatter
per kind (:data:`FORMATTERS`), so a test can parse the numbers back and find each in the dict.
Nothing is derived (no sums, differences or ratios are computed here); text values of the dict
(segment names, actions, anomaly reasons, product descriptions) are quoted verbatim. Money is
written in ``summary["currency"]`` (none when absent).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from numbers import Real
from typing import Any

from custseg.labels import and_list
from custseg.money import money

# --------------------------------------------------------------------------- formatters


def fmt_count(value: float) -> str:
    """A count: ``3,882`` (one decimal when not whole, e.g. a median of ``2.5`` orders)."""
    value = float(value)
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"


def fmt_money(value: float, currency: str | None = "") -> str:
    """Money in whole units of the currency: ``£5,699,668``, ``EUR 5,699,668``, ``5,699,668``."""
    return money(value, currency)


def fmt_share(value: float) -> str:
    """A share given as a fraction (0.314) shown as a percentage: ``31.4%``."""
    return f"{float(value) * 100:.1f}%"


def fmt_change(value: float) -> str:
    """A relative change given as a fraction, signed: ``+12.3%`` / ``-4.0%``."""
    return f"{float(value) * 100:+.1f}%"


def fmt_days(value: float) -> str:
    """A number of days, whole (a median can fall between two days): ``42 days``."""
    days = math.floor(float(value) + 0.5)
    return f"{days:,} day" + ("" if days == 1 else "s")


def fmt_date(value: str) -> str:
    """An ISO timestamp as a date: ``2010-12-01 08:26:00`` → ``1 December 2010``."""
    day = datetime.fromisoformat(str(value))
    return f"{day.day} {day:%B %Y}"


#: One formatter per kind of number.
FORMATTERS: dict[str, Callable[[Any], str]] = {
    "count": fmt_count, "money": fmt_money, "share": fmt_share, "change": fmt_change,
    "days": fmt_days, "date": fmt_date,
}

#: Plain words for the RFM features the surrogate model ranks.
FEATURE_WORDS = {
    "recency": "how recently they bought (recency)",
    "frequency": "how often they buy (frequency)",
    "monetary": "how much they spend (monetary)",
}


# --------------------------------------------------------------------------- sections


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _currency(summary: Mapping[str, Any]) -> str:
    return str(summary.get("currency") or "")


def _data(summary: Mapping[str, Any]) -> str:
    text = (f"**Data.** {fmt_count(summary['rows_kept'])} of {fmt_count(summary['rows_in'])} "
            f"transaction lines were kept: {fmt_count(summary['customers'])} customers, "
            f"{fmt_count(summary.get('invoices', 0))} invoices and "
            f"{fmt_money(summary['revenue'], _currency(summary))} of revenue")
    period = summary.get("period") or {}
    if period.get("first") and period.get("last"):
        text += f", from {fmt_date(period['first'])} to {fmt_date(period['last'])}"
    return text + "."


def _segment_line(seg: Mapping[str, Any], currency: str) -> str:
    line = (f"- **{seg['segment']}**: {fmt_count(seg['customers'])} customers "
            f"({fmt_share(seg['customer_share'])} of customers) bring "
            f"{fmt_share(seg['revenue_share'])} of revenue")
    typical = []
    if _is_number(seg.get("recency_median")):
        typical.append(f"last bought {fmt_days(seg['recency_median'])} ago")
    if _is_number(seg.get("frequency_median")):
        orders = seg["frequency_median"]
        typical.append(f"{fmt_count(orders)} order" + ("" if orders == 1 else "s"))
    if _is_number(seg.get("monetary_median")):
        typical.append(f"{fmt_money(seg['monetary_median'], currency)} spent")
    return line + (f"; the typical customer {', '.join(typical)}." if typical else ".")


def _segments(summary: Mapping[str, Any]) -> str:
    segments = summary.get("segments") or []
    if not segments:
        return ""
    head = f"**Segments.** The customers fall into {fmt_count(summary.get('k', len(segments)))} "
    head += "segments, most valuable first:"
    return head + "\n\n" + "\n".join(_segment_line(s, _currency(summary)) for s in segments)


def _drivers(summary: Mapping[str, Any]) -> str:
    # In the order of the importance table (ExplainConfig.rank_by), which the report shows.
    features = [str(f) for f in summary.get("drivers") or []]
    if not features:
        return ""
    words = [FEATURE_WORDS.get(f, f.replace("_", " ")) for f in features]
    text = f"**What separates them.** Above all {words[0]}"
    if len(words) > 1:
        text += ", then " + ", then ".join(words[1:])
    text += "."
    if _is_number(summary.get("accuracy")):
        text += (f" A simple model predicts a customer's segment from these with "
                 f"{fmt_share(summary['accuracy'])} accuracy, so the segments are easy to "
                 f"explain.")
    return text


def _distinct(values: Sequence[Any], n: int) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v))[:n]


def _plural(count: float, word: str) -> str:
    return f"{fmt_count(count)} {word}" + ("" if count == 1 else "s")


def _kind_count(count: float, label: str) -> str:
    """'17 unusually large quantities', '1 large cancellation' (label: a kind's plain words,
    or its name)."""
    word = label.replace("_", " ")
    word = word[:1].lower() + word[1:]
    if count != 1:
        word = word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else \
            word + "s"
    return f"{fmt_count(count)} {word}"


def _anomalies(summary: Mapping[str, Any]) -> str:
    parts = []
    customers = summary.get("customer_anomalies")
    if customers:
        n = customers["flagged"]
        text = f"{_plural(n, 'customer')} {'stands' if n == 1 else 'stand'} out as unusual"
        reasons = _distinct(customers.get("top_reasons") or [], 2)
        if reasons:
            text += " (the strongest: " + "; ".join(reasons) + ")"
        parts.append(text + ".")
    lines = summary.get("transaction_anomalies")
    if lines:
        n = lines["flagged"]
        text = f"{_plural(n, 'transaction')} {'is' if n == 1 else 'are'} flagged for review"
        kinds = sorted((lines.get("by_kind") or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        words = lines.get("labels") or {}
        if kinds:
            text += ": " + ", ".join(_kind_count(n, str(words.get(k) or k)) for k, n in kinds)
        parts.append(text + ".")
    return ("**Unusual activity.** " + " ".join(parts)) if parts else ""


def _priority(item: Mapping[str, Any], currency: str) -> str:
    text = (f"- {item.get('description') or item.get('stock_code')}: "
            f"{fmt_money(item['revenue'], currency)}")
    if _is_number(item.get("share")):
        text += f" ({fmt_share(item['share'])} of their product revenue)"
    trend = item.get("trend")
    text += f", {fmt_change(trend)}" if _is_number(trend) else ", new"
    label = item.get("trend_label")
    return text + (f" ({label})" if label and _is_number(trend) else "")


def _stock(summary: Mapping[str, Any]) -> str:
    items = (summary.get("stock_priorities") or [])[:3]
    if not items:
        return ""
    chosen = list(summary.get("stock_priority_segments") or [])
    who = and_list(chosen) if chosen else "the most valuable segments"
    return (f"**Stock priorities.** What {who} spend most on, with each product's revenue change "
            f"from the first half of the period to the second:\n\n"
            + "\n".join(_priority(i, _currency(summary)) for i in items))


def _lapsed(summary: Mapping[str, Any]) -> str:
    """One sentence: how many members of the high-value segments have lapsed."""
    lapsed = summary.get("lapsed") or {}
    names = [str(n) for n in lapsed.get("segments") or []]
    if not names:
        return ""
    n = lapsed.get("customers", 0)
    if not n:
        return (f"No customer in {and_list(names)} has lapsed: each is still buying within their "
                f"own usual gap between orders.")
    return (f"{_plural(n, 'customer')} in {and_list(names)} {'has' if n == 1 else 'have'} "
            f"lapsed — their last order is well past their own usual gap between orders — "
            f"and {'gets' if n == 1 else 'get'} the win-back action instead of their "
            f"segment's (the customer table gives each customer's own action and why).")


def _actions(summary: Mapping[str, Any]) -> str:
    """Every segment's action, in full, most valuable segment first; then the lapsed."""
    acting = [s for s in summary.get("segments") or [] if s.get("action")]
    if not acting:
        return ""
    text = "**Actions.**\n\n" + "\n".join(
        f"- **{s['segment']}** ({fmt_share(s['revenue_share'])} of revenue): {s['action']}"
        for s in acting)
    lapsed = _lapsed(summary)
    return text + ("\n\n" + lapsed if lapsed else "")


def _future_value(summary: Mapping[str, Any]) -> str:
    """Where the future value is (lifetime value, custseg.forecast); P(alive) only when the
    model tells customers apart."""
    value = summary.get("clv") or {}
    if not _is_number(value.get("total")):
        return ""
    text = (f"**Future value.** Over the next {_plural(value['months'], 'month')} the customers "
            f"are expected to spend {fmt_money(value['total'], _currency(summary))}")
    top = value.get("top_segment") or {}
    if top:
        text += (f", {fmt_share(top['share'])} of it from {top['segment']}; within each "
                 f"segment, call the customers of highest lifetime value first")
    text += "."
    holdout = value.get("holdout") or {}
    if value.get("beats_baseline") is False and _is_number(holdout.get("days")):
        text += (f" Checked on the last {fmt_days(holdout['days'])}, held out, the forecast was "
                 f"no better than each customer's own past rate: use it to rank customers, "
                 f"not as a budget.")
    return text


def _scope(summary: Mapping[str, Any]) -> str:
    """Which countries the numbers cover (quoted verbatim from the summary)."""
    return str(summary.get("scope") or "")


def executive_summary(summary: Mapping[str, Any], *, heading: bool = True) -> str:
    """A one-minute, plain-language summary of a run, in Markdown.

    Parameters
    ----------
    summary:
        The dict of :func:`custseg.summary.build_summary` (as written to ``summary.json``).
    heading:
        Start with a ``# Executive summary`` heading.

    Returns
    -------
    Markdown using headings, paragraphs, bullets and bold only.
    """
    blocks = ["# Executive summary"] if heading else []
    # The scope first: which countries every number below covers.
    blocks += [_scope(summary), _data(summary), _segments(summary), _drivers(summary),
               _anomalies(summary), _stock(summary), _actions(summary),
               _future_value(summary)]
    blocks += [str(n) for n in summary.get("notes") or []]
    return "\n\n".join(b for b in blocks if b) + "\n"

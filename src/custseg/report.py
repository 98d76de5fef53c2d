"""A self-contained HTML report of a run: one file, plotly.js inlined once, opens offline.

The page reads from a phone (390 px) to a laptop: small charts sit in a grid that stacks on a
phone, tables wrap and turn each row into a card on a narrow screen, and no table or chart is
wider than the screen (docs/report.md). Headers are plain words from :mod:`custseg.labels`; the
first lines say which countries were kept (``summary["scope"]``).

Every piece of user data (ids, descriptions, reasons, segment names, paths) goes through
:func:`html.escape`; the summary's Markdown is rendered by markdown-it-py with raw HTML shown as
text. Charts come from :mod:`custseg.charts` as figure dicts, written by
:func:`plotly.io.to_json` without a second validation (the figures are checked by the tests).
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
from markdown_it import MarkdownIt
from plotly.offline import get_plotlyjs

from custseg import charts, money
from custseg.labels import detector_label, format_label, humanise, kind_label, label, rule_label
from custseg.segments import segment_color

#: Rows of the flagged-customer table.
TOP_CUSTOMERS = 100
#: Rows per kind of the flagged-transaction tables.
TOP_LINES_PER_KIND = 200

SECTIONS = (
    ("summary", "Summary"),
    ("data", "Data & cleaning"),
    ("choosing-k", "Choosing k"),
    ("segments", "Segments"),
    ("explanation", "Explanation"),
    ("future-value", "Future value"),
    ("customer-anomalies", "Customer anomalies"),
    ("transaction-anomalies", "Transaction anomalies"),
    ("cohorts", "Cohorts"),
)

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d0d7de; --band: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 64px; overflow-wrap: anywhere; }
h1 { font-size: 1.8rem; margin: 0 0 4px; }
h2 { font-size: 1.35rem; margin: 40px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 24px 0 8px; }
p.muted, .muted { color: var(--muted); }
p.scope { font-weight: 600; }
nav.toc { background: var(--band); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 16px; margin: 16px 0 8px; }
nav.toc ol { margin: 4px 0; padding-left: 20px; columns: 2 180px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9rem; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
  vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.chosen td { background: #fff8c5; font-weight: 600; }
.metrics { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.metric { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 140px;
  flex: 1 1 140px; }
.metric b { display: block; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px;
  margin-right: 6px; vertical-align: baseline; }
.chart { margin: 8px 0 16px; min-width: 0; }
.panels { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
  gap: 8px 20px; }
.panels .chart { margin: 0; }
.scroll { max-height: 560px; overflow-y: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll table { margin: 0; }
.scroll th { position: sticky; top: 0; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: var(--band); padding: 10px; border-radius: 6px; white-space: pre-wrap; }
code { background: var(--band); padding: 0 3px; border-radius: 3px; }
footer { margin-top: 48px; color: var(--muted); font-size: 0.85rem; }
/* On a phone a table row becomes a card: each cell on its own line after its column's name,
   so no table is wider than the screen. */
@media (max-width: 700px) {
  main { padding: 16px 12px 48px; }
  table, tbody, tr, td { display: block; width: 100%; }
  thead { display: none; }
  tr { border-bottom: 2px solid var(--line); padding: 4px 0; }
  td, td.num { border: 0; padding: 2px 4px; text-align: left; white-space: normal; }
  td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); }
  .scroll th { position: static; }
}
"""

Formatter = Callable[[Any], str]


# --------------------------------------------------------------------------- formatting


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _num(fmt: str, prefix: str = "") -> Formatter:
    def format_value(value: Any) -> str:
        return "" if _missing(value) else prefix + format(value, fmt)
    return format_value


def _money(currency: str) -> Formatter:
    """Amounts with two decimals in ``currency`` (see :mod:`custseg.money`)."""
    def format_value(value: Any) -> str:
        return "" if _missing(value) else money.money(value, currency, 2)
    return format_value


INT = _num(",.0f")
SHARE = _num(".1%")
FLOAT = _num(",.3f")
#: Columns of amounts, formatted in the run's currency.
_MONEY_COLUMNS = ("monetary", "revenue", "amount", "unit_price")
#: Columns formatted as numbers (right-aligned) when a table does not say otherwise.
_DEFAULT_FORMATS: dict[str, Formatter] = {
    "k": INT, "customers": INT, "rows": INT, "frequency": INT, "recency": INT, "quantity": INT,
    "customer_share": SHARE, "revenue_share": SHARE, "min_share": SHARE, "precision": SHARE,
    "inertia": INT, "calinski_harabasz": INT, "silhouette": FLOAT, "davies_bouldin": FLOAT,
    "stability": FLOAT, "anomaly_score": FLOAT, "score": _num(",.2f"), "lines": INT,
}


def _swatch(name: Any) -> str:
    return (f'<span class="swatch" style="background:{_esc(segment_color(str(name)))}">'
            f"</span>{_esc(name)}")


def table(frame: pd.DataFrame, *, formats: dict[str, Formatter] | None = None,
          labels: dict[str, str] | None = None, highlight: pd.Series | None = None,
          segment_col: str | None = "segment", currency: str = "") -> str:
    """An HTML table of ``frame`` with escaped text and formatted numbers.

    Parameters
    ----------
    frame:
        Rows to show (all of them; slice before calling).
    formats:
        Column → formatter, merged over the defaults (counts with separators, money, %).
    labels:
        Column → header text, over :func:`custseg.labels.label` (plain words for every
        column).
    highlight:
        Boolean Series aligned with ``frame``; True rows get the ``chosen`` class.
    segment_col:
        Column whose values get the segment's colour swatch.
    currency:
        Written before amounts (see :mod:`custseg.money`).

    Returns
    -------
    The ``<table>`` markup.
    """
    fmts = {**_DEFAULT_FORMATS, **dict.fromkeys(_MONEY_COLUMNS, _money(currency)),
            **(formats or {})}
    cols = list(frame.columns)
    heads = [(labels or {}).get(c) or label(str(c)) for c in cols]
    head = "".join(f'<th class="{"num" if c in fmts else ""}">{_esc(h)}</th>'
                   for c, h in zip(cols, heads, strict=True))
    marks = (highlight.fillna(False).astype(bool).tolist() if highlight is not None
             else [False] * len(frame))
    body = []
    # Report tables are capped at a few hundred rows, so a row loop is cheap here.
    for mark, row in zip(marks, frame.itertuples(index=False, name=None), strict=True):
        cells = []
        for col, value, name in zip(cols, row, heads, strict=True):
            # The column's name, shown before the value when a row becomes a card (phones).
            attr = f' data-label="{_esc(name)}"'
            if isinstance(value, bool | np.bool_):
                cells.append(f"<td{attr}>{'yes' if value else 'no'}</td>")
            elif col in fmts and not isinstance(value, str):
                cells.append(f'<td class="num"{attr}>{_esc(fmts[col](value))}</td>')
            elif col == segment_col and not _missing(value):
                cells.append(f"<td{attr}>{_swatch(value)}</td>")
            else:
                cells.append(f"<td{attr}>{'' if _missing(value) else _esc(value)}</td>")
        opening = '<tr class="chosen">' if mark else "<tr>"
        body.append(f"{opening}{''.join(cells)}</tr>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _pairs(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column label/value table; values are already formatted strings."""
    body = "".join(f'<tr><th>{_esc(k)}</th><td class="num">{_esc(v)}</td></tr>' for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


def _metrics(items: Sequence[tuple[str, str]]) -> str:
    cards = "".join(f'<div class="metric"><span class="muted">{_esc(k)}</span>'
                    f"<b>{_esc(v)}</b></div>" for k, v in items)
    return f'<div class="metrics">{cards}</div>'


@functools.cache
def _markdown_parser() -> MarkdownIt:
    # Links and images stay text: the Markdown carries data (segment names, descriptions), and
    # the report fetches nothing.
    return MarkdownIt("commonmark", {"html": False}).disable(
        ["link", "image", "autolink", "reference"])


def markdown(text: str) -> str:
    """CommonMark ``text`` as HTML, headings from ``<h3>`` on (the report owns h1 and h2).

    Raw HTML in ``text`` is escaped (shown, not run); links and images are left as text.
    """
    parser = _markdown_parser()
    tokens = parser.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + 2, 6)}"
    return parser.renderer.render(tokens, parser.options, {})


# --------------------------------------------------------------------------- figures


#: plotly.js settings of every chart: no plotly logo, resized with the page.
_CONFIG = {"displaylogo": False, "responsive": True}


@functools.cache
def _plotly_js() -> str:
    """The plotly.js bundle, read once per process, with "</" escaped so it cannot close its
    own <script> element early."""
    return get_plotlyjs().replace("</", "<\\/")


def _chart(fig: charts.Figure, name: str) -> str:
    """A div with id ``fig-<name>`` and the script that draws ``fig`` into it with plotly.js
    (``Plotly.newPlot(div, {data, layout, config})``), which is inlined once in <head>.

    The figure is drawn once the whole page is parsed (``DOMContentLoaded``): plotly.js sizes
    a chart from its div's width when drawing, and a chart in a grid of panels drawn while
    its later siblings are still unparsed would take the whole row and stay that wide.

    :func:`plotly.io.to_json` escapes ``<``, ``>`` and ``/``, so the JSON cannot close its
    <script>. The "json" engine writes the same text whether or not orjson is installed.
    """
    figure = pio.to_json({**fig, "config": _CONFIG}, validate=False, engine="json")
    div_id = f"fig-{name}"
    return (f'<div class="chart"><div id="{div_id}" class="plotly-graph-div" '
            f'style="height:{fig["layout"]["height"]}px; width:100%;"></div>'
            f'<script>document.addEventListener("DOMContentLoaded", () => '
            f'Plotly.newPlot("{div_id}", {figure}));</script></div>')


def _panels(figures: Sequence[charts.Figure], name: str,
            suffixes: Sequence[str] | None = None) -> str:
    """Small charts in a grid that puts as many side by side as the width holds (three on a
    laptop, one under another on a phone); chart ``i`` gets the id
    ``fig-<name>-<suffixes[i]>`` (``i`` by default)."""
    ends = suffixes or [str(i) for i in range(len(figures))]
    return ('<div class="panels">'
            + "".join(_chart(fig, f"{name}-{end}") for fig, end in zip(figures, ends, strict=True))
            + "</div>")


def _absent(what: str) -> str:
    return f'<p class="muted">{_esc(what)} was not computed in this run.</p>'


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return getattr(obj, name, default) if obj is not None else default


def _seed(result: Any) -> int:
    return int(_get(_get(result, "config"), "seed", 0) or 0)


# --------------------------------------------------------------------------- sections


def _scope(result: Any) -> str:
    """Which countries (and so which rows and revenue) the run kept, in the core's words."""
    summary = _get(result, "summary") or {}
    return str(summary.get("scope") or "") if isinstance(summary, dict) else ""


def _summary(result: Any) -> str:
    text = _get(result, "summary_markdown", "") or ""
    scope = _scope(result)
    if scope:
        # The page's first lines already say it (under the title).
        text = "\n".join(line for line in text.splitlines() if line.strip() != scope)
    cards = _key_figures(result)
    body = markdown(text) if text.strip() else ""
    return cards + body


def _key_figures(result: Any) -> str:
    rfm = _get(result, "rfm")
    items: list[tuple[str, str]] = []
    if rfm is not None:
        items += [("customers", f"{len(rfm):,}"),
                  ("revenue", money.money(rfm["monetary"].sum(), money.currency_of(result)))]
    k = _get(_get(result, "clustering"), "k")
    if k is not None:
        items.append(("segments (k)", f"{k}"))
    n = _get(_get(result, "customer_anomalies"), "n_flagged")
    if n is not None:
        items.append(("outlier customers", f"{int(n):,}"))
    flagged = _get(result, "flagged_transactions")
    if flagged is not None:
        items.append(("flagged lines", f"{len(flagged):,}"))
    return _metrics(items) if items else ""


_GRID_COLUMNS = ["rfm_segment", "customers", "revenue", "customer_share", "revenue_share"]


#: What each input format is called in the report (``SourceInfo.format``).
def _source(source: Any) -> str:
    mapping = _get(source, "mapping") or {}
    fmt = str(_get(source, "format") or "")
    kind = format_label(fmt)
    path = _get(source, "path")
    where = f"<code>{_esc(path)}</code> ({_esc(kind.lower())})" if path else _esc(kind)
    columns = (". Columns used: " + ", ".join(f"{_esc(label(k).lower())} ← <code>{_esc(v)}</code>"
                                              for k, v in mapping.items())) if mapping else ""
    return f"<p>Source: {where}{columns}.</p>"


def _not_applied(skipped: dict[str, str]) -> str:
    """The rules not applied, each with why (the cleaning report's sentences)."""
    items = "".join(
        f"<li>{_esc(humanise(rule))}: {_esc(str(why).removeprefix('Not applied: '))}</li>"
        for rule, why in skipped.items())
    return f'<p class="muted">Rules not applied:</p><ul class="muted">{items}</ul>'


def _data(result: Any) -> str:
    parts = []
    source = _get(result, "source")
    if source is not None:
        parts.append(_source(source))
    report = _get(result, "cleaning")
    if report is None:
        return "".join(parts) + _absent("Cleaning")
    rules = _get(report, "rules") or {}
    account = pd.DataFrame(
        [("rows in", report.rows_in, "")]
        + [(f"− {rule_label(rule)}", -int(n), rules.get(rule, ""))
           for rule, n in report.dropped.items()]
        + [("rows kept", report.rows_kept, "")],
        columns=["step", "rows", "why"])
    parts.append("<h3>Row account</h3>" + table(account))
    currency = money.currency_of(result)
    parts.append(_pairs([("customers kept", f"{report.customers_kept:,}"),
                         ("revenue kept", money.money(report.revenue_kept, currency, 2))]))
    skipped = _get(report, "skipped") or {}
    if skipped:
        parts.append(_not_applied(skipped))
    parts.append(_chart(charts.cleaning_waterfall(report), "cleaning"))
    rfm = _get(result, "rfm")
    if rfm is not None and len(rfm):
        parts.append(_panels(charts.rfm_distribution_panels(rfm, currency=currency),
                             "rfm-distributions"))
    if rfm is not None and "rfm_segment" in rfm:
        parts.append("<h3>RFM grid</h3><p class=\"muted\">Customers named from their R, F and "
                     "M scores (quintiles, 5 = best).</p>"
                     + table(charts.rfm_grid_table(rfm)[_GRID_COLUMNS], currency=currency))
    return "".join(parts)


def _choosing_k(result: Any) -> str:
    clustering = _get(result, "clustering")
    if clustering is None:
        return _absent("Clustering")
    k_table = clustering.k_table
    reason = _get(clustering, "reason")
    parts = [f"<p>{_esc(reason)}</p>" if reason else "",
             _panels(charts.k_metric_panels(k_table), "k-metrics")]
    parts.append(table(k_table, highlight=k_table.get("chosen")))
    return "".join(parts)


_ACTION_COLUMNS = ("segment", "customers", "lapsed", "revenue_share", "opportunity", "action")


def _segments(result: Any) -> str:
    parts = []
    clustering, rfm = _get(result, "clustering"), _get(result, "rfm")
    currency = money.currency_of(result)
    if clustering is not None and _get(clustering, "pca") is not None:
        parts.append(_chart(charts.pca_scatter(clustering.pca, rfm, clustering.pca_explained,
                                               _get(clustering, "pca_loadings"),
                                               seed=_seed(result), currency=currency), "pca"))
    segments = _get(result, "segments")
    if segments is None:
        return "".join(parts) + _absent("Segment naming")
    parts.append(_panels(charts.segment_profile_panels(segments, currency=currency),
                         "profiles"))
    cols = [c for c in _ACTION_COLUMNS if c in segments]
    lapsed = ("; <em>lapsed</em>: members whose last order is well past their own usual gap "
              "between orders, who get the win-back action instead (the customer table says "
              "why)" if "lapsed" in segments else "")
    parts.append(f"<h3>Actions</h3><p class=\"muted\">The action for each segment's typical "
                 f"customer{lapsed}.</p>"
                 + table(segments[cols], labels={"lapsed": "Lapsed customers"}))
    parts.append(_product_mix(result, segments))
    return "".join(parts)


def _product_mix(result: Any, segments: pd.DataFrame) -> str:
    """What each segment buys, and the stock priorities (seed report §6.2)."""
    parts = []
    currency = money.currency_of(result)
    mix = _get(result, "segment_products")
    if mix is not None and len(mix):
        parts.append("<h3>What each segment buys</h3><p class=\"muted\">Top products by "
                     "revenue and by buyers; lift above 1 means the segment over-buys it.</p>")
        for i, name in enumerate(segments["segment"].astype(str)):
            parts.append(_chart(charts.product_mix_bar(mix, name, currency=currency),
                                f"mix-{i}"))
    priorities = _get(result, "stock_priorities")
    if priorities is not None and len(priorities):
        cols = ["rank", "description", "revenue", "share", "customers", "trend", "trend_label"]
        # trend and trend_label would both read "Trend".
        parts.append("<h3>Stock priorities</h3>"
                     + _chart(charts.stock_priorities_bar(priorities, currency=currency), "stock")
                     + table(priorities[[c for c in cols if c in priorities]],
                             labels={"trend": "Second half against first",
                                     "trend_label": "Trend"},
                             formats={"trend": _num("+.1%"), "share": SHARE},
                             currency=currency))
    return "".join(parts)


def _explanation(result: Any) -> str:
    exp = _get(result, "explanation")
    if exp is None:
        return _absent("The explanation")
    parts = [
        "<p>A Random Forest learns to predict each customer's segment from recency, frequency "
        "and monetary; a shallow tree turns the segments into readable rules.</p>",
        _metrics([("surrogate accuracy", SHARE(exp.accuracy)),
                  ("macro-F1", SHARE(exp.macro_f1)),
                  ("rule fidelity", SHARE(_get(exp, "fidelity")))]),
    ]
    if _get(exp, "importances") is not None:
        parts.append(_chart(charts.importances_bar(exp.importances), "importances"))
    rules = _get(exp, "rules")
    parts.append("<h3>Rules</h3><p class=\"muted\">Fidelity: the share of customers whose "
                 "segment the rules reproduce.</p>")
    if rules is not None and len(rules):
        parts.append(table(rules))
    elif _get(exp, "rules_markdown"):
        parts.append(f"<pre>{_esc(exp.rules_markdown)}</pre>")
    return "".join(parts)


_CUSTOMER_COLUMNS = ("customer_id", "segment", "recency", "frequency", "monetary",
                     "anomaly_score", "anomaly_reason", "action", "action_reason")
def _detector(name: Any) -> str:
    return detector_label(str(name))


def _agreement(info: Any) -> str:
    """The two detectors' agreement in words: how many each flags and how many both do."""
    main, second = _detector(_get(info, "detector")), _detector(_get(info, "second_detector"))
    scores = _get(info, "scores")
    if isinstance(scores, pd.DataFrame) and {"is_anomaly", "second_is_anomaly"} <= set(scores):
        first = scores["is_anomaly"].fillna(False).astype(bool)
        other = scores["second_is_anomaly"].fillna(False).astype(bool)
        both, either = int((first & other).sum()), int((first | other).sum())
        return (f"The customers are scored by {_esc(main)}; a second, different method "
                f"({_esc(second)}) flags {int(other.sum()):,} customers, {both:,} of them the "
                f"same as the {int(first.sum()):,} flagged here: the two agree on "
                f"{SHARE(both / either if either else 1.0)} of the {either:,} customers either "
                f"flags. A customer both flag is the surest case.")
    return (f"The customers are scored by {_esc(main)}; a second, different method "
            f"({_esc(second)}) agrees on {SHARE(info.agreement)} of the customers either flags.")


def _customer_anomalies(result: Any) -> str:
    rfm, info = _get(result, "rfm"), _get(result, "customer_anomalies")
    if rfm is None or "is_anomaly" not in rfm:
        return _absent("Customer anomaly scoring")
    parts = []
    currency = money.currency_of(result)
    n_flagged = int(rfm["is_anomaly"].fillna(False).sum())
    if info is not None:
        parts.append(_metrics([("detector", _detector(_get(info, "detector", ""))),
                               ("flagged customers", f"{n_flagged:,}")]))
        if _get(info, "second_detector") and _get(info, "agreement") is not None:
            parts.append(f"<p>{_agreement(info)}</p>")
    parts.append(_panels([charts.anomaly_scatter(rfm, x, y, seed=_seed(result),
                                                 currency=currency)
                          for x, y in charts.ANOMALY_VIEWS], "anomaly",
                         [f"{x}-{y}" for x, y in charts.ANOMALY_VIEWS]))
    flagged = rfm[rfm["is_anomaly"].fillna(False).astype(bool)]
    if "anomaly_score" in flagged:
        flagged = flagged.sort_values("anomaly_score", ascending=False, kind="stable")
    cols = [c for c in _CUSTOMER_COLUMNS if c in flagged]
    parts.append(f"<h3>Flagged customers (top {min(TOP_CUSTOMERS, len(flagged)):,} of "
                 f"{len(flagged):,}, most unusual first)</h3>"
                 f'<div class="scroll">'
                 f'{table(flagged[cols].head(TOP_CUSTOMERS), currency=currency)}</div>')
    return "".join(parts)


_LINE_COLUMNS = ("invoice", "invoice_date", "stock_code", "description", "quantity",
                 "unit_price", "amount", "customer_id", "country", "reason", "score")


def _transaction_anomalies(result: Any) -> str:
    flagged = _get(result, "flagged_transactions")
    if flagged is None:
        return _absent("Transaction anomaly detection")
    currency = money.currency_of(result)
    parts = [_chart(charts.flagged_kinds(flagged, currency=currency), "flagged-kinds")]
    if flagged.empty:
        return "".join(parts)
    sums = {"amount": ("amount", "sum")} if "amount" in flagged else {}
    counts = (flagged.groupby("kind", sort=True).agg(lines=("kind", "size"), **sums)
              .reset_index().sort_values("lines", ascending=False, kind="stable"))
    counts["kind"] = counts["kind"].map(kind_label)
    parts.append("<h3>Counts per kind</h3>"
                 + table(counts, labels={"amount": "Total amount"}, currency=currency))
    cols = [c for c in _LINE_COLUMNS if c in flagged]
    for kind, group in flagged.groupby("kind", sort=True):
        top = group.sort_values("score", ascending=False, kind="stable") if "score" in group \
            else group
        shown = min(TOP_LINES_PER_KIND, len(top))
        parts.append(f"<details><summary>{_esc(kind_label(str(kind)))}: {len(top):,} lines "
                     f"(top {shown:,} by score)</summary><div class=\"scroll\">"
                     f"{table(top[cols].head(TOP_LINES_PER_KIND), currency=currency)}"
                     "</div></details>")
    return "".join(parts)


def _future_value(result: Any) -> str:
    from custseg import clv_report  # it builds on this module's helpers

    return clv_report.section(result)


def _cohorts(result: Any) -> str:
    from custseg.timeline_report import cohort_section

    return cohort_section(result)


_BUILDERS: dict[str, Callable[[Any], str]] = {
    "summary": _summary,
    "data": _data,
    "choosing-k": _choosing_k,
    "segments": _segments,
    "explanation": _explanation,
    "future-value": _future_value,
    "customer-anomalies": _customer_anomalies,
    "transaction-anomalies": _transaction_anomalies,
    "cohorts": _cohorts,
}


# --------------------------------------------------------------------------- page


def _footer(result: Any) -> str:
    timings = _get(result, "timings") or {}
    if not timings:
        return ""
    spent = ", ".join(f"{_esc(k)} {v:,.2f} s" for k, v in timings.items())
    return f"<footer>Seed {_seed(result)}. Stage timings: {spent}.</footer>"


def render_html(result: Any) -> str:
    """The report of ``result`` as one self-contained HTML page.

    Parameters
    ----------
    result:
        A :class:`~custseg.pipeline.Result` (any object with the same attributes); parts that
        are None are reported as not computed.

    Returns
    -------
    The HTML document. plotly.js is inlined once in ``<head>``; there are no external links.
    """
    return page("Customer segmentation report",
                "RFM segments, what separates them, and unusual customers and transactions.",
                [(sid, title, _BUILDERS[sid](result)) for sid, title in SECTIONS],
                scope=_scope(result), footer=_footer(result))


def page(title: str, intro: str, sections: Sequence[tuple[str, str, str]], *,
         scope: str = "", footer: str = "") -> str:
    """A self-contained report page: ``sections`` are ``(id, heading, html)``, listed in the
    contents; ``intro`` and ``scope`` are text (escaped), ``footer`` markup."""
    toc = "".join(f'<li><a href="#{sid}">{_esc(head)}</a></li>' for sid, head, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_esc(head)}</h2>{html_}</section>'
                   for sid, head, html_ in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_esc(title)}</title>"
        # An empty icon: a served page would otherwise ask its host for /favicon.ico.
        "<link rel=\"icon\" href=\"data:,\">"
        f"<style>{_CSS}</style>"
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f"<script>{_plotly_js()}</script></head><body><main>"
        f"<h1>{_esc(title)}</h1>"
        f'<p class="muted">{_esc(intro)}</p>'
        + (f'<p class="scope">{_esc(scope)}</p>' if scope else "")
        + f"<nav class=\"toc\"><strong>Contents</strong><ol>{toc}</ol></nav>"
        f"{body}{footer}</main></body></html>\n"
    )


def write_html(result: Any, path: str | Path) -> Path:
    """Write :func:`render_html` of ``result`` to ``path`` (parent folders created).

    Returns
    -------
    The path written.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(result), encoding="utf-8")
    return out

"""A self-contained HTML report of a run: one file, plotly.js inlined once, opens offline.

Every piece of user data (ids, descriptions, reasons, segment names, paths) goes through
:func:`html.escape`; charts come from :mod:`custseg.charts` as figure dicts, encoded here once
each (numeric arrays as plotly.js typed arrays, as plotly.py encodes them) without plotly's
validation.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custseg import charts, money
from custseg.rfm import GRID_SEGMENTS
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
    ("customer-anomalies", "Customer anomalies"),
    ("transaction-anomalies", "Transaction anomalies"),
)

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d0d7de; --band: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 1.8rem; margin: 0 0 4px; }
h2 { font-size: 1.35rem; margin: 40px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 24px 0 8px; }
p.muted, .muted { color: var(--muted); }
nav.toc { background: var(--band); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 16px; margin: 16px 0 8px; }
nav.toc ol { margin: 4px 0; padding-left: 20px; columns: 2; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9rem; width: auto; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
  vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.chosen td { background: #fff8c5; font-weight: 600; }
.metrics { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.metric { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 140px; }
.metric b { display: block; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px;
  margin-right: 6px; vertical-align: baseline; }
.chart { margin: 8px 0 16px; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll table { margin: 0; width: 100%; }
.scroll th { position: sticky; top: 0; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: var(--band); padding: 10px; border-radius: 6px; overflow: auto; }
code { background: var(--band); padding: 0 3px; border-radius: 3px; }
footer { margin-top: 48px; color: var(--muted); font-size: 0.85rem; }
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
        Column → header text.
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
    labels = labels or {}
    cols = list(frame.columns)
    head = "".join(f'<th class="{"num" if c in fmts else ""}">'
                   f"{_esc(labels.get(c, c.replace('_', ' ')))}</th>" for c in cols)
    marks = (highlight.fillna(False).astype(bool).tolist() if highlight is not None
             else [False] * len(frame))
    body = []
    # Report tables are capped at a few hundred rows, so a row loop is cheap here.
    for mark, row in zip(marks, frame.itertuples(index=False, name=None), strict=True):
        cells = []
        for col, value in zip(cols, row, strict=True):
            if isinstance(value, bool | np.bool_):
                cells.append(f"<td>{'yes' if value else 'no'}</td>")
            elif col in fmts and not isinstance(value, str):
                cells.append(f'<td class="num">{_esc(fmts[col](value))}</td>')
            elif col == segment_col and not _missing(value):
                cells.append(f"<td>{_swatch(value)}</td>")
            else:
                cells.append(f"<td>{'' if _missing(value) else _esc(value)}</td>")
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


def _inline_md(text: str) -> str:
    text = _esc(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    return re.sub(r"(?<!\*)\*(?!\s)(.+?)(?<!\s)\*", r"<em>\1</em>", text)


def markdown(text: str) -> str:
    """A small, safe Markdown subset: headings, bullet lists, paragraphs, bold, italics, code.

    Everything is escaped first, so raw HTML in ``text`` is shown, not run.
    """
    out: list[str] = []
    in_list = False
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{_inline_md(' '.join(paragraph))}</p>")
            paragraph.clear()

    for line in text.splitlines():
        stripped = line.strip()
        bullet = re.match(r"^[-*]\s+(.*)", stripped)
        if bullet:
            flush()
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline_md(bullet.group(1))}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        heading = re.match(r"^(#{1,4})\s+(.*)", stripped)
        if heading:
            flush()
            level = min(len(heading.group(1)) + 2, 6)  # the report owns h1/h2
            out.append(f"<h{level}>{_inline_md(heading.group(2))}</h{level}>")
        elif stripped:
            paragraph.append(stripped)
        else:
            flush()
    flush()
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


# --------------------------------------------------------------------------- figures


#: plotly.js short names of the dtypes it reads as typed arrays.
_TYPED = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4",
          "uint32": "u4", "float32": "f4", "float64": "f8"}
#: Integer types 64-bit integers shrink to, smallest first (plotly.js has no 64-bit arrays).
_SHRINK = {"int64": (np.int8, np.int16, np.int32), "uint64": (np.uint8, np.uint16, np.uint32)}
#: Escapes that keep embedded JSON from closing its <script> or breaking a line of JavaScript.
_UNSAFE = (("<", "\\u003c"), (">", "\\u003e"), ("/", "\\u002f"), ("\u2028", "\\u2028"),
           ("\u2029", "\\u2029"))
_CONFIG = json.dumps({"displaylogo": False, "responsive": True})


def _typed_array(values: np.ndarray) -> Any:
    """A numeric array as a base64 plotly.js typed array, as plotly.py encodes it; else a list.

    64-bit integers shrink to the smallest type that holds them; other dtypes (objects, bools)
    and empty arrays become JSON lists.
    """
    if values.size and values.dtype.name in _SHRINK:
        lo, hi = values.min(), values.max()
        fit = next((t for t in _SHRINK[values.dtype.name]
                    if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max), None)
        values = values.astype(fit) if fit is not None else values
    short = _TYPED.get(values.dtype.name)
    if short is None or not values.size:
        return values.tolist()
    spec = {"dtype": short, "bdata": base64.b64encode(np.ascontiguousarray(values)).decode()}
    if values.ndim > 1:
        spec["shape"] = ", ".join(map(str, values.shape))
    return spec


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _typed_array(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Series | pd.Index):
        return _typed_array(value.to_numpy())
    raise TypeError(f"cannot encode {type(value).__name__} in a figure")


def _without_nan(value: Any) -> Any:
    """``value`` with NaN and infinite floats replaced by None (JSON null), as plotly sends them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype == object:
        return _without_nan(value.tolist())
    return value


def _figure_json(part: Any) -> str:
    """``part`` of a figure (its data or layout) as JSON that is safe inside a ``<script>``."""
    try:
        text = json.dumps(part, default=_json_default, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN outside typed arrays: rare, so only then walk the figure
        text = json.dumps(_without_nan(part), default=_json_default, separators=(",", ":"),
                          allow_nan=False)
    for char, escaped in _UNSAFE:
        if char in text:
            text = text.replace(char, escaped)
    return text


@functools.cache
def _plotly_js() -> str:
    """The plotly.js bundle, read once per process, with "</" escaped so it cannot close its
    own <script> element early."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</", "<\\/")


class _Figures:
    """Turns figures into divs with stable ids; plotly.js itself is inlined once in <head>."""

    def __call__(self, fig: charts.Figure, name: str) -> str:
        data, layout = _figure_json(fig.get("data", [])), _figure_json(fig.get("layout", {}))
        height = fig.get("layout", {}).get("height")
        size = f"height:{height}px" if height else "height:100%"
        div_id = f"fig-{name}"
        # The markup plotly's to_html writes, without its whitespace.
        return (f'<div class="chart"><div style="{size}; width:100%;">'
                f'<div id="{div_id}" class="plotly-graph-div" style="height:100%; width:100%;">'
                f'</div><script>if (document.getElementById("{div_id}")) {{'
                f'Plotly.newPlot("{div_id}", {data}, {layout}, {_CONFIG})}};</script></div></div>')


def _absent(what: str) -> str:
    return f'<p class="muted">{_esc(what)} was not computed in this run.</p>'


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return getattr(obj, name, default) if obj is not None else default


def _seed(result: Any) -> int:
    return int(_get(_get(result, "config"), "seed", 0) or 0)


# --------------------------------------------------------------------------- sections


def _summary(result: Any, fig: _Figures) -> str:
    text = _get(result, "summary_markdown", "") or ""
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


def _data(result: Any, fig: _Figures) -> str:
    parts = []
    source = _get(result, "source")
    if source is not None:
        mapping = _get(source, "mapping") or {}
        where = _get(source, "path") or "an in-memory frame"
        parts.append(f"<p>Source: <code>{_esc(where)}</code> ({_esc(_get(source, 'format'))})"
                     + (". Columns: " + ", ".join(f"{_esc(k)} ← <code>{_esc(v)}</code>"
                                                  for k, v in mapping.items())
                        if mapping else "") + ".</p>")
    report = _get(result, "cleaning")
    if report is None:
        return "".join(parts) + _absent("Cleaning")
    rules = _get(report, "rules") or {}
    account = pd.DataFrame(
        [("rows in", report.rows_in, "")]
        + [(f"− {rule.replace('_', ' ')}", -int(n), rules.get(rule, ""))
           for rule, n in report.dropped.items()]
        + [("rows kept", report.rows_kept, "")],
        columns=["step", "rows", "why"])
    parts.append("<h3>Row account</h3>" + table(account))
    currency = money.currency_of(result)
    parts.append(_pairs([("customers kept", f"{report.customers_kept:,}"),
                         ("revenue kept", money.money(report.revenue_kept, currency, 2))]))
    skipped = _get(report, "skipped") or {}
    if skipped:
        parts.append("<p class=\"muted\">Rules not applied: " + "; ".join(
            f"{_esc(k)} ({_esc(v)})" for k, v in skipped.items()) + ".</p>")
    parts.append(fig(charts.cleaning_waterfall(report), "cleaning"))
    rfm = _get(result, "rfm")
    if rfm is not None and len(rfm):
        parts.append(fig(charts.rfm_distributions(rfm, currency=currency),
                         "rfm-distributions"))
    if rfm is not None and "rfm_segment" in rfm:
        parts.append("<h3>RFM grid</h3><p class=\"muted\">Customers named from their R, F and "
                     "M scores (quintiles, 5 = best).</p>" + table(_grid(rfm), currency=currency))
    return "".join(parts)


def _grid(rfm: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue per RFM-grid segment, most valuable segment first."""
    per = (rfm.groupby("rfm_segment").agg(customers=("customer_id", "size"),
                                           revenue=("monetary", "sum"))
           .reindex([s for s in GRID_SEGMENTS if s in set(rfm["rfm_segment"])]))
    total = per["revenue"].sum()
    per["customer_share"] = per["customers"] / len(rfm)
    per["revenue_share"] = per["revenue"] / total if total else 0.0
    return per.rename_axis("RFM-grid segment").reset_index()


def _choosing_k(result: Any, fig: _Figures) -> str:
    clustering = _get(result, "clustering")
    if clustering is None:
        return _absent("Clustering")
    k_table = clustering.k_table
    parts = [f"<p>{_esc(_get(clustering, 'reason', ''))}</p>" if _get(clustering, "reason")
             else "", fig(charts.k_metrics(k_table), "k-metrics")]
    highlight = k_table.get("chosen")
    parts.append(table(k_table, highlight=highlight,
                       labels={"calinski_harabasz": "Calinski–Harabasz",
                               "davies_bouldin": "Davies–Bouldin", "min_share": "smallest"}))
    return "".join(parts)


_ACTION_COLUMNS = ("segment", "customers", "revenue_share", "opportunity", "action")


def _segments(result: Any, fig: _Figures) -> str:
    parts = []
    clustering, rfm = _get(result, "clustering"), _get(result, "rfm")
    currency = money.currency_of(result)
    if clustering is not None and _get(clustering, "pca") is not None:
        parts.append(fig(charts.pca_scatter(clustering.pca, rfm, clustering.pca_explained,
                                            _get(clustering, "pca_loadings"),
                                            seed=_seed(result), currency=currency), "pca"))
    segments = _get(result, "segments")
    if segments is None:
        return "".join(parts) + _absent("Segment naming")
    parts.append(fig(charts.segment_profiles(segments, currency=currency), "profiles"))
    cols = [c for c in _ACTION_COLUMNS if c in segments]
    parts.append("<h3>Actions</h3>" + table(segments[cols]))
    parts.append(_product_mix(result, segments, fig))
    return "".join(parts)


def _product_mix(result: Any, segments: pd.DataFrame, fig: _Figures) -> str:
    """What each segment buys, and the stock priorities (seed report §6.2)."""
    parts = []
    currency = money.currency_of(result)
    mix = _get(result, "segment_products")
    if mix is not None and len(mix):
        parts.append("<h3>What each segment buys</h3><p class=\"muted\">Top products by "
                     "revenue and by buyers; lift above 1 means the segment over-buys it.</p>")
        for i, name in enumerate(segments["segment"].astype(str)):
            parts.append(fig(charts.product_mix_bar(mix, name, currency=currency), f"mix-{i}"))
    priorities = _get(result, "stock_priorities")
    if priorities is not None and len(priorities):
        cols = ["rank", "description", "revenue", "share", "customers", "trend", "trend_label"]
        parts.append("<h3>Stock priorities</h3>"
                     + fig(charts.stock_priorities_bar(priorities, currency=currency), "stock")
                     + table(priorities[[c for c in cols if c in priorities]],
                             currency=currency))
    return "".join(parts)


def _explanation(result: Any, fig: _Figures) -> str:
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
        parts.append(fig(charts.importances_bar(exp.importances), "importances"))
    rules = _get(exp, "rules")
    parts.append("<h3>Rules</h3><p class=\"muted\">Fidelity: the share of customers whose "
                 "segment the rules reproduce.</p>")
    if rules is not None and len(rules):
        parts.append(table(rules))
    elif _get(exp, "rules_markdown"):
        parts.append(f"<pre>{_esc(exp.rules_markdown)}</pre>")
    return "".join(parts)


_CUSTOMER_COLUMNS = ("customer_id", "segment", "recency", "frequency", "monetary",
                     "anomaly_score", "anomaly_reason")


def _customer_anomalies(result: Any, fig: _Figures) -> str:
    rfm, info = _get(result, "rfm"), _get(result, "customer_anomalies")
    if rfm is None or "is_anomaly" not in rfm:
        return _absent("Customer anomaly scoring")
    parts = []
    currency = money.currency_of(result)
    if info is not None:
        facts = [("detector", str(_get(info, "detector", "")))]
        if _get(info, "second_detector"):
            facts.append(("cross-check", str(info.second_detector)))
        if _get(info, "agreement") is not None:
            facts.append(("agreement of the two", SHARE(info.agreement)))
        facts.append(("flagged", f"{int(rfm['is_anomaly'].fillna(False).sum()):,}"))
        parts.append(_metrics(facts))
    parts += [fig(charts.anomaly_scatter(rfm, x, y, seed=_seed(result), currency=currency),
                  f"anomaly-{x}-{y}") for x, y in charts.ANOMALY_VIEWS]
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


def _transaction_anomalies(result: Any, fig: _Figures) -> str:
    flagged = _get(result, "flagged_transactions")
    if flagged is None:
        return _absent("Transaction anomaly detection")
    currency = money.currency_of(result)
    parts = [fig(charts.flagged_kinds(flagged, currency=currency), "flagged-kinds")]
    if flagged.empty:
        return "".join(parts)
    sums = {"amount": ("amount", "sum")} if "amount" in flagged else {}
    counts = (flagged.groupby("kind", sort=True).agg(lines=("kind", "size"), **sums)
              .reset_index().sort_values("lines", ascending=False, kind="stable"))
    parts.append("<h3>Counts per kind</h3>"
                 + table(counts, labels={"amount": "total amount"}, currency=currency))
    cols = [c for c in _LINE_COLUMNS if c in flagged]
    for kind, group in flagged.groupby("kind", sort=True):
        top = group.sort_values("score", ascending=False, kind="stable") if "score" in group \
            else group
        shown = min(TOP_LINES_PER_KIND, len(top))
        parts.append(f"<details><summary>{_esc(kind)}: {len(top):,} lines (top {shown:,} "
                     f"by score)</summary><div class=\"scroll\">"
                     f"{table(top[cols].head(TOP_LINES_PER_KIND), currency=currency)}"
                     "</div></details>")
    return "".join(parts)


_BUILDERS: dict[str, Callable[[Any, _Figures], str]] = {
    "summary": _summary,
    "data": _data,
    "choosing-k": _choosing_k,
    "segments": _segments,
    "explanation": _explanation,
    "customer-anomalies": _customer_anomalies,
    "transaction-anomalies": _transaction_anomalies,
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
    fig = _Figures()
    toc = "".join(f'<li><a href="#{sid}">{_esc(title)}</a></li>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}"><h2>{_esc(title)}</h2>'
                       f"{_BUILDERS[sid](result, fig)}</section>" for sid, title in SECTIONS)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Customer segmentation report</title>"
        f"<style>{_CSS}</style>"
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f"<script>{_plotly_js()}</script></head><body><main>"
        "<h1>Customer segmentation report</h1>"
        "<p class=\"muted\">RFM segments, what separates them, and unusual customers and "
        "transactions.</p>"
        f"<nav class=\"toc\"><strong>Contents</strong><ol>{toc}</ol></nav>"
        f"{sections}{_footer(result)}</main></body></html>\n"
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

"""Shared page helpers: error guard, mapping form, number formats and table column formats."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from custseg import io, labels, money
from custseg.app import state
from custseg.app.state import MAPPINGS_KEY, READING_KEY, Context, Source
from custseg.errors import (
    CustsegError,
    MappingError,
    NoSegmentsError,
    ReadingChoiceError,
    describe_error,
)
from custseg.narrative import fmt_count, fmt_days, fmt_share
from custseg.segments import segment_color, segment_text_color

__all__ = ["fmt_count", "fmt_days", "fmt_money", "fmt_share"]

log = logging.getLogger("custseg.app")
CONTEXT_KEY = "custseg_context"

#: What each stage is called in messages.
STAGES = {"dataset": "Reading and cleaning the data", "rfm": "Computing RFM",
          "model": "Segmenting customers", "flagged": "Flagging transactions",
          "result": "Assembling the results", "clv": "Estimating lifetime value"}


_BUILT_KEY = "custseg_sidebar_built"


def setup() -> Context:
    """Render the sidebar (data source and settings) and store the context for this run.

    The entry point calls this before running the page, so the sidebar's widgets belong to it
    and keep their values on every page.
    """
    from custseg.app import sidebar

    source = sidebar.data_source()
    with guard("Reading the settings", source):
        config = sidebar.settings(source)
    ctx = Context(source, config)
    st.session_state[CONTEXT_KEY] = ctx
    st.session_state[_BUILT_KEY] = True
    return ctx


def page() -> Context:
    """Every page's first call: the context the entry point built in this run, or, when the
    page script runs on its own (Streamlit's AppTest runs only the page after
    ``switch_page``), a sidebar built here."""
    if st.session_state.pop(_BUILT_KEY, False):
        return context()
    ctx = setup()
    st.session_state.pop(_BUILT_KEY, None)
    return ctx


def context() -> Context:
    """The current source and settings, set by the main script before the page runs."""
    return st.session_state[CONTEXT_KEY]


@contextmanager
def guard(stage: str, source: Source | None = None) -> Iterator[None]:
    """Show any failure inside the block as a message in the page and stop the page.

    A :class:`MappingError` or :class:`ReadingChoiceError` shows its form instead; a
    :class:`NoSegmentsError` the note a run writes in place of the segments; other custseg
    errors their title and text as the CLI shows them (:func:`describe_error`); anything else
    is logged on the server and shown as a one-line message — never a traceback.
    """
    try:
        yield
    except MappingError as exc:
        mapping_form(exc, source)
        st.stop()
    except ReadingChoiceError as exc:
        reading_form(exc, source)
        st.stop()
    except NoSegmentsError as exc:
        st.info(str(exc), icon=":material/info:")
        st.stop()
    except CustsegError as exc:
        title, text = describe_error(exc)
        st.error(f"**{title}**\n\n{source.display(text) if source else text}",
                 icon=":material/error:")
        st.stop()
    except Exception as exc:
        log.exception("%s failed", stage)
        text = source.display(str(exc)) if source else str(exc)
        st.error(f"**{stage}** failed unexpectedly: {type(exc).__name__}: {text}. "
                 "Try another file or setting; the app keeps running.",
                 icon=":material/error:")
        st.stop()


def stage(name: str) -> Any:
    """The value of stage ``name`` (dataset, rfm, model, flagged, result) for the current
    context, or an error message in the page."""
    ctx = context()
    with guard(STAGES[name], ctx.source):
        value = getattr(ctx, name)()
    return getattr(value, "value", value)


def query(sql: str, params: list | None = None) -> pd.DataFrame:
    """Run ``sql`` on the current dataset's DuckDB connection (tables ``lines``, ``clean``)."""
    ctx = context()
    dataset = stage("dataset")
    with guard("Querying the data", ctx.source):
        return state.query(dataset, sql, params)


def currency() -> str:
    """The currency every amount on the pages is shown in (see :meth:`Context.currency`)."""
    ctx = context()
    with guard(STAGES["dataset"], ctx.source):
        return ctx.currency()


def fmt_money(value: float) -> str:
    """An amount in whole units of the current currency: ``£5,699,668``."""
    return money.money(value, currency())


def seconds(name: str) -> float:
    """How long stage ``name`` took when it was last computed."""
    return float(getattr(context(), name)().seconds)


# --------------------------------------------------------------------------- mapping form

_NONE = "— not in the file —"
_AUTO = "— detect automatically —"

KEY_LABELS = {
    "invoice": "Invoice / order number", "stock_code": "Product code",
    "description": "Product description", "quantity": "Quantity",
    "invoice_date": "Invoice date", "unit_price": "Unit price",
    "amount": "Line amount (instead of quantity × unit price)",
    "customer_id": "Customer id", "country": "Country",
}


def mapping_form(exc: MappingError, source: Source | None) -> None:
    """Let the user pick the columns that could not be recognised, then re-run."""
    text = source.display(str(exc)) if source else str(exc)
    st.warning("**The columns could not all be recognised.** " + text.split(" Name them")[0]
               + " Pick them below.", icon=":material/table_edit:")
    current = dict(source.mapping) if source else {}
    columns = [str(c) for c in exc.columns]
    required = [k for k in io.CANONICAL if k in exc.missing]
    optional = [k for k in io.CANONICAL if k not in exc.missing]
    with st.form("mapping_form"):
        st.markdown("**Required**")
        picks = {k: _column_select(k, columns, current, _NONE) for k in required}
        with st.expander("Optional columns (detected automatically unless you pick one)"):
            picks |= {k: _column_select(k, columns, current, _AUTO) for k in optional}
        submitted = st.form_submit_button("Use these columns", type="primary")
    if submitted and source is not None:
        chosen = {k: v for k, v in picks.items() if v not in (_NONE, _AUTO)}
        try:  # the columns picked by hand, and the others found as the reader finds them
            io.detect_mapping(columns, chosen)
        except MappingError as still:
            st.error("Still missing: " + ", ".join(KEY_LABELS[k] for k in still.missing)
                     + ". A customer id, a date, and either an amount or quantity and unit "
                       "price are needed.")
            return
        st.session_state.setdefault(MAPPINGS_KEY, {})[source.digest] = chosen
        st.rerun()


READING_LABELS = {"date_format": "Date format", "decimal": "Decimal separator"}


def reading_form(exc: ReadingChoiceError, source: Source | None) -> None:
    """The data reads correctly two ways (date order, decimal separator): let the user say
    which, as ``--date-format`` / ``--decimal`` do on the command line, then re-run."""
    text = source.display(str(exc)) if source else str(exc)
    st.warning(f"**{exc.title}.** {text}", icon=":material/help:")
    with st.form("reading_form"):
        choice = st.radio(READING_LABELS.get(exc.setting, exc.setting), exc.choices,
                          format_func=lambda value: _reading_choice(exc.setting, value))
        submitted = st.form_submit_button("Read the file this way", type="primary")
    if submitted and source is not None:
        choices = st.session_state.setdefault(READING_KEY, {}).setdefault(source.digest, {})
        choices[exc.setting] = choice
        st.rerun()


def _reading_choice(setting: str, value: str) -> str:
    if setting == "decimal":
        return {".": "Decimal point: 2.55 and 1,500 (fifteen hundred)",
                ",": "Decimal comma: 2,55 and 1.500 (fifteen hundred)"}.get(value, value)
    if "%d" in value and "%m" in value:
        order = "day before month" if value.index("%d") < value.index("%m") else \
            "month before day"
        return f"{value} ({order})"
    return value


def _column_select(key: str, columns: list[str], current: dict[str, str], empty: str) -> str:
    options = [empty, *columns]
    index = options.index(current[key]) if current.get(key) in options else 0
    return st.selectbox(KEY_LABELS[key], options, index=index, key=f"map_{key}")


# --------------------------------------------------------------------------- tables & charts


def money_col(label: str, help: str | None = None) -> Any:
    """A table column of amounts in the current currency, with thousands separators."""
    return st.column_config.NumberColumn(label, help=help,
                                         format=money.number_format(currency()))


def count_col(label: str, help: str | None = None) -> Any:
    """A whole-number table column with thousands separators (days, orders, rows…: the
    header says which, as "1 days" cannot be avoided in a format)."""
    return st.column_config.NumberColumn(label, help=help, format="%,d")


def share_col(label: str, help: str | None = None) -> Any:
    """A fraction shown as a percentage."""
    return st.column_config.NumberColumn(label, help=help, format="percent")


def _number(fmt: str) -> Any:
    return lambda label, help=None: st.column_config.NumberColumn(label, help=help, format=fmt)


def _date(fmt: str) -> Any:
    return lambda label, help=None: st.column_config.DatetimeColumn(label, help=help,
                                                                    format=fmt)


def _text(width: str) -> Any:
    return lambda label, help=None: st.column_config.TextColumn(label, help=help, width=width)


#: How the tables show a column, by column name: a maker taking the header (always
#: :func:`custseg.labels.label` of the column, the words the report uses too) and a help text.
#: Amounts (:data:`MONEY_COLUMNS`) are formatted in the current currency.
FORMATS: dict[str, tuple[Any, str | None]] = {
    "customer_id": (_text("small"), None),
    "recency": (count_col, "Days from the last purchase to the snapshot"),
    "frequency": (count_col, "Distinct invoices"),
    "tenure": (count_col, "Days from the first purchase to the snapshot"),
    "usual_gap": (count_col, "The customer's usual number of days between orders"),
    "customers": (count_col, None), "rows": (count_col, None), "lines": (count_col, None),
    "lapsed": (count_col, None), "lapsed_customers": (count_col, None),
    "revenue_share": (share_col, None), "customer_share": (share_col, None),
    "segment_share": (share_col, None), "overall_share": (share_col, None),
    "share": (share_col, None), "min_share": (share_col, None),
    "recency_median": (count_col, None), "recency_mean": (_number("%,.0f"), None),
    "frequency_mean": (_number("%,.1f"), None), "frequency_median": (_number("%,.1f"), None),
    "quantity": (_number("%,g"), None),
    "anomaly_score": (_number("%.3f"), "Higher is more unusual"),
    "score": (_number("%.2f"), "Higher is more unusual"),
    "lift": (_number("%.2f×"), "Share in the segment ÷ share among all customers"),
    "trend": (share_col, "Second half ÷ first half − 1"),
    "inertia": (_number("%,.0f"), None), "silhouette": (_number("%.3f"), None),
    "calinski_harabasz": (_number("%,.0f"), None), "davies_bouldin": (_number("%.3f"), None),
    "stability": (_number("%.3f"), None), "k": (_number("%d"), None),
    "invoice_date": (_date("YYYY-MM-DD HH:mm"), None),
    "first_purchase": (_date("YYYY-MM-DD"), None), "last_purchase": (_date("YYYY-MM-DD"), None),
    "reason": (_text("large"), None), "anomaly_reason": (_text("large"), None),
    "action": (_text("large"), None), "action_reason": (_text("large"), None),
    "note": (_text("large"), None), "why": (_text("large"), None),
    "opportunity": (_text("large"), None), "description": (_text("medium"), None),
}
#: Columns of amounts, by column name: their help text.
MONEY_COLUMNS: dict[str, str | None] = {
    "monetary": "Total spend", "avg_order_value": None, "revenue": None,
    "monetary_mean": None, "monetary_median": None, "amount": None, "unit_price": None,
    "first_half": None, "second_half": None,
}


def column_formats(columns: Any) -> dict[str, Any]:
    """Every one of ``columns`` headed in plain words (:func:`custseg.labels.label`), with
    its shared format where it has one."""
    config: dict[str, Any] = {}
    for column in map(str, columns):
        header = labels.label(column)
        if column in MONEY_COLUMNS:
            config[column] = money_col(header, MONEY_COLUMNS[column])
        elif column in FORMATS:
            make, help = FORMATS[column]
            config[column] = make(header, help)
        else:
            config[column] = st.column_config.Column(header)
    return config


def table(frame: pd.DataFrame, **kwargs: Any) -> Any:
    """``st.dataframe`` with the shared column formats and no index; returns what
    ``st.dataframe`` returns (the selection, when ``on_select`` is given)."""
    config = column_formats(frame.columns)
    config |= kwargs.pop("column_config", {})
    kwargs.setdefault("height", _fit_height(len(frame)))
    kwargs.setdefault("placeholder", "")  # a missing value is an empty cell, not "None"
    return st.dataframe(frame, hide_index=True, column_config=config, **kwargs)


def selected_row(event: Any, frame: pd.DataFrame) -> pd.Series | None:
    """The row of ``frame`` selected in a table shown with ``on_select`` (None when none is):
    long texts are cut inside table cells, so the page shows the selected row's in full."""
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    return frame.iloc[rows[0]] if rows and rows[0] < len(frame) else None


def _fit_height(rows: int, most: int = 20) -> int | str:
    """Show short tables whole (no inner scroll bar); long ones scroll."""
    return 35 * (rows + 1) + 3 if rows <= most else "auto"


def chart(fig: go.Figure, key: str | None = None) -> None:
    """A Plotly figure at full width, without Plotly's tool bar: on a touch screen it stays
    on top of the chart's title. Dragging still zooms, a double tap or click resets, and
    Streamlit's own toolbar shows the chart full screen."""
    st.plotly_chart(fig, width="stretch", key=key,
                    config={"displaylogo": False, "displayModeBar": False})


def metrics() -> Any:
    """A row for key figures (``with ui.metrics(): st.metric(…)``) that wraps: side by side
    on a desktop, two or three to a line on a phone instead of one under the other."""
    return st.container(horizontal=True, gap="large")


def panels(figures: list[go.Figure], key: str, per_row: int = 3) -> None:
    """Charts side by side, ``per_row`` to a row; Streamlit stacks the columns at phone
    width, so each panel keeps its full width there."""
    for start in range(0, len(figures), per_row):
        columns = st.columns(per_row) if len(figures) > 1 else [st.container()]
        for i, (column, fig) in enumerate(zip(columns, figures[start:start + per_row],
                                              strict=False)):
            with column:
                chart(fig, key=f"{key}_{start + i}")


def timing_note(*names: str) -> None:
    """A caption with how long the given stages took when last computed; reading and
    cleaning includes reading the file (or generating the demo data), done once per file."""
    parts = []
    for name in names:
        took = seconds(name)
        if name == "dataset":
            took += float(context().read().seconds)
        words = STAGES[name]
        parts.append(f"{words[:1].lower()}{words[1:]} {took:.2f} s")  # RFM keeps its capitals
    st.caption("Computed once and cached: " + ", ".join(parts) + ".")


def segment_numbers(segments: pd.DataFrame, columns: list[str]) -> None:
    """The segment table's numbers, each segment's name on its chart colour."""
    frame = segments[[c for c in columns if c in segments.columns]]
    styled = frame.style.map(
        lambda name: f"background-color: {segment_color(name)}; "
                     f"color: {segment_text_color(name)}; font-weight: 600",
        subset=["segment"])
    st.dataframe(styled, hide_index=True, column_config=column_formats(frame.columns),
                 height=_fit_height(len(frame)), placeholder="")


def _chip(name: str) -> str:
    return (f'<span class="custseg-chip" style="background:{segment_color(name)};'
            f'color:{segment_text_color(name)};'
            f'border-radius:12px;padding:2px 10px;margin:0 6px 6px 0;display:inline-block;'
            f'font-weight:600">'
            f"{html.escape(str(name))}</span>")


def segment_cards(segments: pd.DataFrame, per_row: int = 2) -> None:
    """Every segment as a card: its size, share of revenue, lapsed members, opportunity and
    action in full. Text wraps, so nothing is cut off or off the right edge at any width
    (columns stack on a phone)."""
    rows = segments.to_dict("records")
    for start in range(0, len(rows), per_row):
        columns = st.columns(per_row)
        for column, row in zip(columns, rows[start:start + per_row], strict=False):
            with column.container(border=True, height="stretch"):  # a row of even cards
                st.markdown(_card(row), unsafe_allow_html=True)


def _card(row: dict[str, Any]) -> str:
    figures = [f"{fmt_count(row['customers'])} customers ({fmt_share(row['customer_share'])})"]
    if "revenue_share" in row:
        figures.append(f"{fmt_share(row['revenue_share'])} of revenue")
    if "lapsed" in row:
        lapsed = int(row["lapsed"])
        figures.append("none lapsed" if lapsed == 0 else
                       f"{fmt_count(lapsed)} lapsed (they get the win-back action)")
    parts = [_chip(str(row["segment"])),
             f'<div class="custseg-figures">{html.escape(" · ".join(figures))}</div>']
    for key, title in (("opportunity", "Opportunity"), ("action", "Action")):
        if row.get(key):
            parts.append(f'<p class="custseg-{key}" style="margin:0.4em 0 0;'
                         f'overflow-wrap:anywhere"><strong>{title}.</strong> '
                         f"{html.escape(str(row[key]))}</p>")
    return f'<div class="custseg-card" style="padding-bottom:0.6em">{"".join(parts)}</div>'


def segment_chips(names: Any) -> None:
    """The segment names as coloured labels (the colour legend of every chart)."""
    chips = "".join(_chip(str(n)) for n in names)
    st.markdown(f'<div class="custseg-segments">{chips}</div>', unsafe_allow_html=True)


def summary_markdown(markdown: str, shown: str | None = None) -> str:
    """The executive summary without its top-level heading (the page gives it a
    subheading, below the page title) and without the paragraph ``shown`` (one the page
    already shows above it)."""
    paragraphs = markdown.strip().split("\n\n")
    if paragraphs and paragraphs[0].startswith("# "):
        paragraphs = paragraphs[1:]
    return "\n\n".join(p for p in paragraphs if not shown or p.strip() != shown.strip())

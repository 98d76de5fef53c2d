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

from custseg import io, money
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
from custseg.segments import segment_color

__all__ = ["fmt_count", "fmt_days", "fmt_money", "fmt_share"]

log = logging.getLogger("custseg.app")
CONTEXT_KEY = "custseg_context"

#: What each stage is called in messages.
STAGES = {"dataset": "Reading and cleaning the data", "rfm": "Computing RFM",
          "model": "Segmenting customers", "flagged": "Flagging transactions",
          "result": "Assembling the results"}


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
    """A whole-number table column with thousands separators."""
    return st.column_config.NumberColumn(label, help=help, format="%,d")


def days_col(label: str, help: str | None = None) -> Any:
    """A number of days."""
    return st.column_config.NumberColumn(label, help=help, format="%,d days")


def share_col(label: str, help: str | None = None) -> Any:
    """A fraction shown as a percentage."""
    return st.column_config.NumberColumn(label, help=help, format="percent")


#: Columns of amounts, by column name: (label, help). Their format depends on the currency,
#: so :func:`column_formats` makes them for each table.
MONEY_COLUMNS: dict[str, tuple[str, str | None]] = {
    "monetary": ("monetary", "Total spend"), "avg_order_value": ("avg. order", None),
    "revenue": ("revenue", None), "monetary_mean": ("mean monetary", None),
    "monetary_median": ("median monetary", None), "amount": ("amount", None),
    "unit_price": ("unit price", None), "first_half": ("first half", None),
    "second_half": ("second half", None),
}
#: Column formats of the tables the pages show, by column name (amounts: :data:`MONEY_COLUMNS`).
COLUMNS: dict[str, Any] = {
    "customer_id": st.column_config.TextColumn("customer"),
    "recency": days_col("recency", "Days since the last purchase"),
    "frequency": count_col("frequency", "Distinct invoices"),
    "tenure": days_col("tenure", "Days since the first purchase"),
    "customers": count_col("customers"),
    "revenue_share": share_col("share of revenue"),
    "customer_share": share_col("share of customers"),
    "recency_median": days_col("median recency"),
    "recency_mean": st.column_config.NumberColumn("mean recency", format="%,.0f days"),
    "frequency_mean": st.column_config.NumberColumn("mean frequency", format="%,.1f"),
    "frequency_median": st.column_config.NumberColumn("median frequency", format="%,.1f"),
    "quantity": st.column_config.NumberColumn("quantity", format="%,g"),
    "anomaly_score": st.column_config.NumberColumn("anomaly score", format="%.3f"),
    "score": st.column_config.NumberColumn("score", format="%.2f"),
    "rows": count_col("rows"),
    "segment_share": share_col("share of segment revenue"),
    "overall_share": share_col("share of all revenue"),
    "share": share_col("share"),
    "lift": st.column_config.NumberColumn("lift", format="%.2f×",
                                          help="Share in the segment ÷ share among all"),
    "trend": st.column_config.NumberColumn("trend", format="percent",
                                           help="Second half ÷ first half − 1"),
    "invoice_date": st.column_config.DatetimeColumn("date", format="YYYY-MM-DD HH:mm"),
    "first_purchase": st.column_config.DatetimeColumn("first purchase", format="YYYY-MM-DD"),
    "last_purchase": st.column_config.DatetimeColumn("last purchase", format="YYYY-MM-DD"),
}


def column_formats(columns: Any) -> dict[str, Any]:
    """The shared formats of those of ``columns`` that have one."""
    formats = {c: COLUMNS[c] for c in columns if c in COLUMNS}
    return formats | {c: money_col(*MONEY_COLUMNS[c]) for c in columns if c in MONEY_COLUMNS}


def table(frame: pd.DataFrame, **kwargs: Any) -> None:
    """``st.dataframe`` with the shared column formats and no index."""
    config = column_formats(frame.columns)
    config |= kwargs.pop("column_config", {})
    kwargs.setdefault("height", _fit_height(len(frame)))
    st.dataframe(frame, hide_index=True, column_config=config, **kwargs)


def _fit_height(rows: int, most: int = 20) -> int | str:
    """Show short tables whole (no inner scroll bar); long ones scroll."""
    return 35 * (rows + 1) + 3 if rows <= most else "auto"


def chart(fig: go.Figure, key: str | None = None) -> None:
    """A Plotly figure at full width."""
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


def timing_note(*names: str) -> None:
    """A caption with how long the given stages took when last computed."""
    parts = [f"{STAGES[n].lower()} {seconds(n):.2f} s" for n in names]
    st.caption("Computed once and cached: " + ", ".join(parts) + ".")


def segment_table(segments: pd.DataFrame, columns: list[str]) -> None:
    """The segment table with each segment's name on its chart colour."""
    frame = segments[[c for c in columns if c in segments.columns]]
    styled = frame.style.map(
        lambda name: f"background-color: {segment_color(name)}; color: white; "
                     "font-weight: 600", subset=["segment"])
    config = column_formats(frame.columns)
    config |= {"action": st.column_config.TextColumn("action", width="large"),
               "opportunity": st.column_config.TextColumn("opportunity", width="medium")}
    st.dataframe(styled, hide_index=True, column_config=config, height=_fit_height(len(frame)))


def segment_chips(names: Any) -> None:
    """The segment names as coloured labels (the colour legend of every chart)."""
    chips = "".join(
        f'<span style="background:{segment_color(n)};color:white;border-radius:12px;'
        f'padding:2px 10px;margin:0 6px 6px 0;display:inline-block;font-weight:600">'
        f"{html.escape(str(n))}</span>" for n in names)
    st.markdown(f'<div class="custseg-segments">{chips}</div>', unsafe_allow_html=True)

"""The sidebar: the data source and every setting, turned into a :class:`Source` and a
:class:`custseg.Config`."""

from __future__ import annotations

import dataclasses
import os
from datetime import date

import streamlit as st

from custseg import clean, labels, money
from custseg.app import state
from custseg.app.state import Source
from custseg.config import (
    AnomalyConfig,
    CleaningConfig,
    ClusterConfig,
    Config,
    RFMConfig,
)

#: Upload limit in MB, stated next to the uploader and passed to the server at launch.
MAX_UPLOAD_MB = int(os.environ.get("CUSTSEG_MAX_UPLOAD_MB", "200"))
UPLOAD_TYPES = ["xlsx", "xlsm", "xls", "csv", "gz", "tsv", "txt", "parquet"]

#: Session-state keys of the k control (the k page's override buttons write them too).
K_MODE_KEY = "k_mode"
K_VALUE_KEY = "k_value"
K_AUTO, K_MANUAL = "automatic", "manual"

#: (config field, rule name in :data:`custseg.clean.RULES`, label) of the rule switches.
RULE_SWITCHES = (
    ("missing_customer", "missing_customer", "Drop lines without a customer id"),
    ("missing_values", "missing_values", "Drop lines with empty fields"),
    ("duplicates", "duplicate", "Drop exact duplicate lines"),
    ("cancellations", "cancellation", "Drop cancellations (invoice 'C…')"),
    ("adjustments", "adjustment", "Drop adjustments (invoice 'A…')"),
    ("non_positive", "non_positive", "Drop zero/negative quantity or price"),
    ("non_product", "non_product", "Drop postage, fees and vouchers"),
)
_WHY = {rule.name: rule.why for rule in clean.RULES}


def _keep(key: str, default: object) -> str:
    """Give widget ``key`` its default, and keep its value when the page changes.

    Each page builds the sidebar, and Streamlit forgets a widget's value when the widget is
    not drawn by the same page; assigning the value through session state keeps it. Widgets
    therefore take their defaults from here, never from ``value=``.
    """
    st.session_state[key] = st.session_state.get(key, default)
    return key


def data_source() -> Source:
    """The uploader (or the demo data), with the sheet choice and any chosen mapping."""
    st.sidebar.header("Data")
    upload = st.sidebar.file_uploader(
        f"Upload a transaction log (up to {MAX_UPLOAD_MB} MB)", type=UPLOAD_TYPES,
        max_upload_size=MAX_UPLOAD_MB, key="upload", on_change=_forget_upload,
        help="Excel (.xlsx, .xls), CSV (.csv, .csv.gz, .tsv, .txt) or Parquet. One row per "
             "invoice line, with a customer id, a date, and quantity × unit price or an amount."
             " Without a file the app shows built-in demo data.")
    if upload is not None:
        source = st.session_state[_LAST_UPLOAD] = _uploaded(upload)
    else:  # a page whose uploader was never used still analyses the last upload
        source = st.session_state.get(_LAST_UPLOAD) or _given_path()
    if source is not None and upload is None and source.kind == "file":
        st.sidebar.caption(f"Analysing **{source.name}**.")
    if source is None:
        customers = int(st.session_state.get(state.DEMO_CUSTOMERS_KEY, state.DEMO_CUSTOMERS))
        source = state.demo_source(customers)
        st.sidebar.caption(f"Showing **demo data** ({customers:,} generated customers). "
                           "Upload a file to analyse your own.")
    source = _sheet(source)
    mapping = st.session_state.get(state.MAPPINGS_KEY, {}).get(source.digest)
    reading = st.session_state.get(state.READING_KEY, {}).get(source.digest)
    return state.with_mapping(source, mapping, reading)


_LAST_UPLOAD = "custseg_last_upload"


def _forget_upload() -> None:
    """The user removed or replaced the file: stop analysing the previous one."""
    st.session_state.pop(_LAST_UPLOAD, None)


def _uploaded(upload: st.runtime.uploaded_file_manager.UploadedFile) -> Source:
    """Save an upload once (by content hash) and remember its path for this session."""
    seen = st.session_state.setdefault("custseg_uploads", {})
    if upload.file_id not in seen:
        path, digest = state.save_upload(upload.name, upload.getvalue())
        seen[upload.file_id] = (str(path), digest)
    path, digest = seen[upload.file_id]
    return state.file_source(path, name=upload.name, digest=digest)


def _given_path() -> Source | None:
    """A file named by ``custseg app FILE`` (env) or by a test (session state)."""
    path = st.session_state.get(state.SOURCE_PATH_KEY) or os.environ.get("CUSTSEG_APP_FILE")
    if not path:
        return None
    seen = st.session_state.setdefault("custseg_paths", {})
    if path not in seen:
        try:
            seen[path] = state.file_digest(path)
        except OSError as exc:
            st.sidebar.error(f"Cannot open {path}: {exc.strerror}. Showing the demo data.")
            return None
    return state.file_source(path, digest=seen[path])


def _sheet(source: Source) -> Source:
    """For a workbook with several sheets, the sheet to read (or all of them)."""
    if source.kind != "file" or not source.name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        return source
    names = state.sheet_names(source.path)
    if len(names) <= 1:
        return source
    options = [*names, "all"]
    choice = st.sidebar.selectbox("Sheet", options, key=_keep(f"sheet-{source.digest}", names[0]),
                                  help="'all' stacks every sheet (they need the same header).")
    return dataclasses.replace(source, sheet=choice)


def settings(source: Source) -> Config:
    """Every setting of the sidebar as a :class:`Config`."""
    currency = _currency()
    cleaning = _cleaning(source, currency or "")
    as_of = _as_of()
    cluster, anomalies, seed = _modelling()
    from custseg.app.clv_settings import clv_settings  # it builds on this module's _keep

    return Config(cleaning=cleaning, rfm=RFMConfig(as_of=as_of), cluster=cluster,
                  anomalies=anomalies, seed=seed, currency=currency, clv=clv_settings())


def _currency() -> str | None:
    """The currency typed in the sidebar; None (an empty box) takes the data preset's."""
    text = st.sidebar.text_input(
        "Currency", key=_keep("currency", ""), max_chars=8, placeholder="automatic",
        help="Written before every amount: a symbol (£, $, €) or a code (EUR). Empty: none, "
             "unless the file is a known export whose currency is known.")
    return text.strip() or None


def _cleaning(source: Source, currency: str) -> CleaningConfig:
    st.sidebar.header("Cleaning")
    found = _countries(source)
    default = [c for c in CleaningConfig().countries if c in found]
    chosen = st.sidebar.multiselect(
        "Countries to keep", found, key=_keep(f"countries-{source.digest}", default),
        placeholder="All countries",
        help="Leave empty to keep every country. Most lines first.")
    switches = {}
    with st.sidebar.expander("Cleaning rules"):
        for field, rule, label in RULE_SWITCHES:
            switches[field] = st.checkbox(label, key=_keep(f"rule_{field}", True),
                                          help=_WHY.get(rule))
        max_total = _limit(money.label("Maximum line total", currency), "max_line_total",
                           500.0, 10.0)
        max_qty = _limit("Maximum quantity per line", "max_quantity", 100.0, 1.0)
    return CleaningConfig(countries=tuple(chosen), max_line_total=max_total,
                          max_quantity=max_qty, **switches)


def _countries(source: Source) -> list[str]:
    """The source's countries; none when the file cannot be read. The settings stay whole
    either way: the page says what is wrong with the file, under its own title."""
    try:
        return state.countries(source)
    except Exception:  # shown by the page, which reads the same file through its guard
        return []


def _limit(label: str, key: str, default: float, step: float) -> float | None:
    """A threshold with a switch; None when switched off."""
    # Only the first letter is lowered: a currency code in the label keeps its capitals.
    on = st.checkbox(f"Limit: {label[:1].lower()}{label[1:]}", key=_keep(f"{key}_on", True),
                     help=_WHY.get(key))
    value = st.number_input(label, min_value=step, step=step, key=_keep(key, default),
                            disabled=not on, format="%.0f")
    return float(value) if on else None


def _as_of() -> date | None:
    st.sidebar.header("RFM")
    return st.sidebar.date_input(
        "As-of date", key=_keep("as_of", None), format="YYYY-MM-DD",
        help="Recency is measured to this date, and later lines are dropped. Empty: the day "
             "after the last kept invoice.")


def _modelling() -> tuple[ClusterConfig, AnomalyConfig, int]:
    st.sidebar.header("Segments and anomalies")
    transform = st.sidebar.selectbox(
        "Transform before clustering", ["log1p", "none"], key=_keep("transform", "log1p"),
        format_func=lambda t: {"log1p": "Logarithm, log(1 + x)",
                               "none": "No transform"}.get(t, t),
        help="The logarithm tames the heavy right tail of frequency and spend; with no "
             "transform the raw values are clustered (standardised).")
    mode = st.sidebar.radio("Number of segments (k)", [K_AUTO, K_MANUAL],
                            key=_keep(K_MODE_KEY, K_AUTO), horizontal=True)
    k = None
    if mode == K_MANUAL:
        k = int(st.sidebar.number_input("k", min_value=2, max_value=12, step=1,
                                        key=_keep(K_VALUE_KEY, 4)))
    contamination = st.sidebar.slider(
        "Share of customers flagged as outliers", 0.005, 0.10, step=0.005,
        key=_keep("contamination", AnomalyConfig().contamination),
        format="%.3f", help="The contamination of the outlier detector.")
    detector = st.sidebar.selectbox(
        "Outlier detector", ["isolation_forest", "lof"],
        key=_keep("detector", AnomalyConfig().detector),
        format_func=labels.detector_label)
    seed = int(st.sidebar.number_input("Random seed", min_value=0, step=1,
                                       key=_keep("seed", Config().seed)))
    return (ClusterConfig(k=k, transform=transform),
            AnomalyConfig(contamination=float(contamination), detector=detector), seed)


def use_k(k: int | None) -> None:
    """Callback of the k page's buttons: set the sidebar's k control (None = automatic)."""
    if k is None:
        st.session_state[K_MODE_KEY] = K_AUTO
    else:
        st.session_state[K_MODE_KEY] = K_MANUAL
        st.session_state[K_VALUE_KEY] = int(k)

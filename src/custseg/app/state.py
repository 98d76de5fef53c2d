"""Where the dashboard's data comes from, and the cached stages that turn it into results.

Every stage is a module-level cached function keyed only on hashable values (the frozen
:class:`Source` and the frozen config dataclasses), so a change re-runs exactly the stages that
depend on it: the file is read once per content hash, cleaning re-runs when a rule changes,
RFM when cleaning or the as-of date changes, and changing k re-runs only the modelling.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import duckdb
import pandas as pd
import streamlit as st

from custseg import io, pipeline
from custseg.config import (
    AnomalyConfig,
    CleaningConfig,
    ClusterConfig,
    CLVConfig,
    Config,
    ExplainConfig,
    ReadConfig,
    RFMConfig,
)
from custseg.engine import connect
from custseg.errors import MappingError

if TYPE_CHECKING:
    from custseg.anomalies import CustomerAnomalies
    from custseg.cluster import KSearch
    from custseg.forecast import CLVResult

T = TypeVar("T")

#: Customers in the built-in demo data (small enough to start in about a second).
DEMO_CUSTOMERS = int(os.environ.get("CUSTSEG_DEMO_CUSTOMERS", "2000"))
DEMO_SEED = 42
#: Session-state key that, when set to a file path, is used as the data source. The file
#: uploader and ``custseg app FILE`` (env ``CUSTSEG_APP_FILE``) go through the same path.
SOURCE_PATH_KEY = "custseg_source_path"
#: Session-state key overriding :data:`DEMO_CUSTOMERS` (tests use a small demo).
DEMO_CUSTOMERS_KEY = "custseg_demo_customers"
#: Per-file column mappings chosen in the mapping form: {content digest: {key: column}}.
MAPPINGS_KEY = "custseg_mappings"
#: Per-file reading choices from the same form: {content digest: {"date_format": …}}.
READING_KEY = "custseg_reading"
UPLOAD_DIR = Path(tempfile.gettempdir()) / "custseg-uploads"
#: What the core's messages call an in-memory input. The dashboard loads a file's rows as a
#: table (:func:`read_raw`), so messages from cleaning it say this where the CLI names the file.
FRAME_WHERE = "the input frame"


@dataclass(frozen=True)
class Source:
    """The data the dashboard analyses: the demo, or a file identified by its content hash."""

    kind: str  # "demo" or "file"
    name: str  # what the user knows it as (upload name or "demo data")
    digest: str  # content hash of a file; "demo-<customers>-<seed>" for the demo
    path: str | None = None
    sheet: str | None = None
    #: Explicit ``key -> column`` choices from the mapping form, as sorted pairs (hashable).
    mapping: tuple[tuple[str, str], ...] = ()
    customers: int = 0  # demo only
    #: Reading choices from the form, where the data cannot settle them (date order, decimal).
    read: ReadConfig = dataclasses.field(default_factory=ReadConfig)

    @property
    def overrides(self) -> dict[str, str] | None:
        """The mapping as the core takes it."""
        return dict(self.mapping) or None

    def display(self, text: str) -> str:
        """``text`` naming the data as the user knows it: the temporary upload path, and the
        in-memory copy that cleaning reads (:data:`FRAME_WHERE`), become the source's name."""
        for alias in (self.path, FRAME_WHERE):
            if alias:
                text = text.replace(alias, self.name)
        return text


def demo_source(customers: int = DEMO_CUSTOMERS) -> Source:
    """The built-in demo data set."""
    return Source(kind="demo", name="demo data", digest=f"demo-{customers}-{DEMO_SEED}",
                  customers=customers)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content, read in chunks."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def file_source(path: str | Path, name: str | None = None, digest: str | None = None,
                sheet: str | None = None) -> Source:
    """A file on disk as a :class:`Source` (hashing it unless ``digest`` is given)."""
    path = Path(path)
    return Source(kind="file", name=name or path.name, digest=digest or file_digest(path),
                  path=str(path), sheet=sheet)


def save_upload(name: str, data: bytes) -> tuple[Path, str]:
    """Write uploaded bytes to a temporary file named by their hash; return path and digest.

    The core's readers take paths; the original file name is kept (inside a folder named by
    the hash) so the format is detected from its suffix and messages name the user's file.
    """
    digest = hashlib.sha256(data).hexdigest()
    safe = re.sub(r"[^\w.\-]+", "_", Path(name).name) or "upload"
    path = UPLOAD_DIR / digest[:32] / safe
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path, digest


def with_mapping(source: Source, mapping: dict[str, str] | None,
                 reading: dict[str, str] | None = None) -> Source:
    """``source`` with the mapping form's choices for its file, if any: columns, and the
    reading settings (``date_format``, ``decimal``) the data could not settle."""
    pairs = tuple(sorted((mapping or {}).items()))
    read = dataclasses.replace(ReadConfig(), **(reading or {}))
    return dataclasses.replace(source, mapping=pairs, read=read)


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timed(Generic[T]):
    """A stage's value and the seconds it took when it was computed (the pages show them)."""

    value: T
    seconds: float


def timed(fn: Callable[[], T]) -> Timed[T]:
    """``fn()`` with its wall time."""
    start = time.perf_counter()
    value = fn()
    return Timed(value, round(time.perf_counter() - start, 4))


# --------------------------------------------------------------------------- cached stages


@st.cache_resource(max_entries=3, show_spinner="Reading the file…")
def read_raw(source: Source) -> Timed[tuple[Any, io.SourceInfo | None]]:
    """The source's rows as an Arrow table (or the demo frame), read once per content.

    Cleaning re-runs from this table, so switching a rule never re-reads the file.
    """
    if source.kind == "demo":
        from custseg import synth

        return timed(lambda: (synth.generate_frame(source.customers, DEMO_SEED)[0], None))

    def read() -> tuple[Any, io.SourceInfo]:
        con = connect()
        info = io.register_source(con, source.path, sheet=source.sheet,
                                  overrides=source.overrides, read=source.read)
        table = con.sql("SELECT * EXCLUDE (__row_id) FROM source").to_arrow_table()
        con.close()
        return table, info

    return timed(read)


@st.cache_resource(max_entries=4, show_spinner="Cleaning…")
def load_dataset(source: Source, cleaning: CleaningConfig,
                 as_of: date | None) -> Timed[pipeline.Dataset]:
    """Map and clean the source (:func:`custseg.load`); holds the DuckDB connection."""
    frame, info = read_raw(source).value
    config = Config(cleaning=cleaning, rfm=RFMConfig(as_of=as_of), read=source.read)

    def load() -> pipeline.Dataset:
        dataset = pipeline.load(frame, config, mapping=source.overrides)
        if info is not None:  # describe the file, not the in-memory table it was read into
            dataset.source = dataclasses.replace(
                dataset.source, path=source.name, format=info.format, sheets=info.sheets,
                encoding=info.encoding, delimiter=info.delimiter,
                notes=info.notes + dataset.source.notes)
        return dataset

    return timed(load)


#: DuckDB connections are not thread-safe and Streamlit serves each session in a thread; the
#: cached datasets are shared, so every query on them holds this lock (queries take ms). Cursors
#: would not do: they cannot see the Arrow table registered as the ``source`` view.
DB_LOCK = threading.RLock()


@contextmanager
def using(dataset: pipeline.Dataset) -> Iterator[duckdb.DuckDBPyConnection]:
    """Hold :data:`DB_LOCK` and hand out the dataset's connection, ready for any call.

    DuckDB 2 refuses ``register()``/``sql()`` while a result of ``execute()`` is pending
    (e.g. after a ``fetchone()``), so a trivial statement first replaces any pending result.
    """
    with DB_LOCK:
        dataset.con.execute("SELECT NULL").fetchall()
        yield dataset.con


def query(dataset: pipeline.Dataset, sql: str, params: list | None = None) -> pd.DataFrame:
    """Run ``sql`` on the dataset's connection and return a frame."""
    with using(dataset) as con:
        return con.execute(sql, params or []).df()


@st.cache_data(max_entries=8, show_spinner="Computing RFM…")
def compute_rfm(source: Source, cleaning: CleaningConfig,
                as_of: date | None) -> Timed[pd.DataFrame]:
    """The RFM table (:func:`custseg.compute_rfm`)."""
    dataset = load_dataset(source, cleaning, as_of).value
    with using(dataset):
        return timed(lambda: pipeline.compute_rfm(dataset))


@st.cache_data(max_entries=8, show_spinner="Trying every k…")
def search_k(source: Source, cleaning: CleaningConfig, as_of: date | None,
             cluster: ClusterConfig, seed: int) -> Timed[KSearch]:
    """K-Means for every k in the range (:func:`custseg.pipeline.search_k`). Callers pass
    ``cluster`` with ``k=None`` so that changing k reuses the cached search."""
    table = compute_rfm(source, cleaning, as_of).value
    return timed(lambda: pipeline.search_k(table, Config(cluster=cluster, seed=seed)))


@st.cache_data(max_entries=8, show_spinner="Scoring unusual customers…")
def score_customers(source: Source, cleaning: CleaningConfig, as_of: date | None,
                    transform: str, anomalies: AnomalyConfig, seed: int,
                    currency: str = "") -> Timed[CustomerAnomalies]:
    """Customer anomaly scores (:func:`custseg.pipeline.customer_anomalies`); independent of k.
    ``currency`` is the one the reasons are written in."""
    table = compute_rfm(source, cleaning, as_of).value
    config = Config(cluster=ClusterConfig(transform=transform), anomalies=anomalies, seed=seed,
                    currency=currency)
    return timed(lambda: pipeline.customer_anomalies(table, config))


@st.cache_data(max_entries=16, show_spinner="Segmenting customers…")
def fit_model(source: Source, cleaning: CleaningConfig, as_of: date | None,
              cluster: ClusterConfig, explain: ExplainConfig, anomalies: AnomalyConfig,
              seed: int, currency: str = "") -> Timed[pipeline.Model]:
    """Clusters, names, explanation and customer anomalies (:func:`custseg.pipeline.model`),
    reusing the cached k search and customer scores: a new k only re-fits the explanation."""
    table = compute_rfm(source, cleaning, as_of).value
    search = search_k(source, cleaning, as_of, dataclasses.replace(cluster, k=None), seed).value
    scored = score_customers(source, cleaning, as_of, cluster.transform, anomalies, seed,
                             currency).value
    config = Config(cluster=cluster, explain=explain, anomalies=anomalies, seed=seed,
                    currency=currency)
    return timed(lambda: pipeline.model(table, config, search=search, scored=scored))


@st.cache_data(max_entries=8, show_spinner="Looking for unusual transactions…")
def flag_transactions(source: Source, cleaning: CleaningConfig, as_of: date | None,
                      anomalies: AnomalyConfig, currency: str = "") -> Timed[pd.DataFrame]:
    """Flagged lines and invoices (:func:`custseg.pipeline.transaction_anomalies`)."""
    dataset = load_dataset(source, cleaning, as_of).value
    with using(dataset):
        return timed(lambda: pipeline.transaction_anomalies(
            dataset, Config(anomalies=anomalies, currency=currency)))


@st.cache_data(max_entries=8, show_spinner="Working out what each segment buys…")
def product_mix(source: Source, cleaning: CleaningConfig, as_of: date | None,
                cluster: ClusterConfig, explain: ExplainConfig, anomalies: AnomalyConfig,
                seed: int, currency: str = "") -> Timed[tuple[pd.DataFrame, pd.DataFrame]]:
    """Product mix per segment and stock priorities (:func:`custseg.pipeline.product_mix`)."""
    dataset = load_dataset(source, cleaning, as_of).value
    fitted = fit_model(source, cleaning, as_of, cluster, explain, anomalies, seed,
                       currency).value
    with using(dataset):
        # The dataset's own config: the data preset's non-product codes apply here too.
        return timed(lambda: pipeline.product_mix(dataset, fitted.customers, fitted.segments,
                                                     dataset.config))


@st.cache_data(max_entries=8, show_spinner="Estimating lifetime value…")
def estimate_clv(source: Source, cleaning: CleaningConfig, as_of: date | None,
                 cluster: ClusterConfig, explain: ExplainConfig, anomalies: AnomalyConfig,
                 seed: int, currency: str, clv: CLVConfig
                 ) -> Timed[tuple[CLVResult | None, str | None]]:
    """Lifetime value (:func:`custseg.pipeline.lifetime_value`) on the segmented customers
    (the RFM table when they cannot be segmented): the result, or None and why."""
    dataset = load_dataset(source, cleaning, as_of).value
    table = compute_rfm(source, cleaning, as_of).value
    if pipeline.why_no_segments(table, Config(cluster=cluster)) is None:
        table = fit_model(source, cleaning, as_of, cluster, explain, anomalies, seed,
                          currency).value.customers
    with using(dataset):
        return timed(lambda: pipeline.lifetime_value(dataset, table, Config(clv=clv)))


def preview(source: Source, rows: int = 200) -> pd.DataFrame:
    """The first rows of the source as read, in its own columns."""
    frame, _ = read_raw(source).value
    if isinstance(frame, pd.DataFrame):
        return frame.head(rows)
    return frame.slice(0, rows).to_pandas()


@st.cache_data(max_entries=8, show_spinner=False)
def countries(source: Source) -> list[str]:
    """Countries in the source, most lines first (empty when there is no country column)."""
    frame, _ = read_raw(source).value
    is_frame = isinstance(frame, pd.DataFrame)
    columns = list(frame.columns) if is_frame else list(frame.column_names)
    try:
        column = io.detect_mapping(columns, source.overrides).get("country")
    except MappingError:
        return []
    if column is None:
        return []
    values = frame[column] if is_frame else frame.column(column).to_pandas()
    counts = values.dropna().astype(str).str.strip().value_counts()
    return [c for c in counts.index if c]


@st.cache_data(max_entries=4, show_spinner=False)
def sheet_names(path: str) -> list[str]:
    """Sheet names of an Excel workbook (empty when it cannot be opened)."""
    import fastexcel

    try:
        return list(fastexcel.read_excel(path).sheet_names)
    except Exception:  # a broken workbook is reported by the reader, with its message
        return []


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class Context:
    """The current source and settings, with accessors for every stage's (cached) result."""

    source: Source
    config: Config

    def _data_key(self) -> tuple[Source, CleaningConfig, date | None]:
        return self.source, self.config.cleaning, self.config.rfm.as_of

    def read(self) -> Timed[tuple[Any, io.SourceInfo | None]]:
        """The file as read (or the demo data as generated), before cleaning."""
        return read_raw(self.source)

    def dataset(self) -> Timed[pipeline.Dataset]:
        """The loaded and cleaned data (query it through :func:`query`)."""
        return load_dataset(*self._data_key())

    def rfm(self) -> Timed[pd.DataFrame]:
        """The RFM table."""
        return compute_rfm(*self._data_key())

    def currency(self) -> str:
        """The currency every amount is shown in: the sidebar's, else the data preset's (which
        :func:`custseg.load` resolves from the file), else none."""
        if self.config.currency is not None:
            return self.config.currency
        return self.dataset().value.config.currency or ""

    def model(self) -> Timed[pipeline.Model]:
        """The fitted model."""
        c = self.config
        return fit_model(*self._data_key(), c.cluster, c.explain, c.anomalies, c.seed,
                         self.currency())

    def flagged(self) -> Timed[pd.DataFrame]:
        """Flagged transactions."""
        return flag_transactions(*self._data_key(), self.config.anomalies, self.currency())

    def mix(self) -> Timed[tuple[pd.DataFrame, pd.DataFrame]]:
        """What each segment buys, and the stock priorities."""
        c = self.config
        return product_mix(*self._data_key(), c.cluster, c.explain, c.anomalies, c.seed,
                           self.currency())

    def clv(self) -> Timed[tuple[CLVResult | None, str | None]]:
        """Lifetime value, or None and the reason it could not be estimated."""
        c = self.config
        return estimate_clv(*self._data_key(), c.cluster, c.explain, c.anomalies, c.seed,
                            self.currency(), c.clv)

    def result(self) -> pipeline.Result:
        """Everything assembled as a :class:`custseg.Result` (for the summary, report and
        downloads), exactly as :func:`custseg.run` assembles it."""
        dataset, rfm = self.dataset(), self.rfm()
        note = pipeline.why_no_segments(rfm.value, self.config)
        timings = {"Reading and cleaning": self.read().seconds + dataset.seconds,
                   "RFM": rfm.seconds}
        stages: dict[str, Any] = {}
        if note is None:  # as run(): without segments, only the RFM outputs and the note
            fitted, flagged, mix = self.model(), self.flagged(), self.mix()
            timings |= {"Modelling": fitted.seconds, "Transaction anomalies": flagged.seconds,
                        "Products": mix.seconds}
            stages = {"fitted": fitted.value, "flagged": flagged.value, "mix": mix.value}
        notes = [note] if note else []
        if self.config.clv.enabled:
            estimated = self.clv()
            timings["Lifetime value"] = estimated.seconds
            stages["clv"], why = estimated.value
            notes = ([why] if why else []) + notes  # as run(): the segments' note last
        with using(dataset.value):
            config = self.config.replace(currency=self.currency())
            return pipeline.assemble(config, dataset.value, rfm.value, timings=timings,
                                     notes=notes, **stages)

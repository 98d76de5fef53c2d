"""The stages of a run as functions that take inputs and return results, and :func:`run`,
which calls them in order with progress callbacks and returns a :class:`Result`.

The dashboard caches the stages one by one: :func:`load` (read + clean) → :func:`compute_rfm`
→ :func:`search_k` and :func:`customer_anomalies` (independent of k) → :func:`model` →
:func:`transaction_anomalies` and :func:`product_mix` → :func:`assemble`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from custseg import capacity, clean, cohorts, io, rfm
from custseg.config import DATA_PRESETS, Config
from custseg.engine import connect, resource_errors
from custseg.errors import EmptyResultError, NoSegmentsError
from custseg.summary import build_summary

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl
    import pyarrow as pa

    from custseg.anomalies import CustomerAnomalies
    from custseg.cluster import Clustering, KSearch
    from custseg.explain import Explanation
    from custseg.forecast import CLVResult
    from custseg.segmenter import Segmenter
    from custseg.stored import StoredDataset

    #: What :func:`load` reads: a file path or a frame.
    Transactions = str | Path | pd.DataFrame | pl.DataFrame | pa.Table

#: ``progress(stage, step, total)`` is called as each stage starts.
Progress = Callable[[str, int, int], None]

#: The stages of :func:`run`, in the order they start.
STAGES = ["Reading and cleaning", "RFM", "Clustering", "Naming segments", "Explaining segments",
          "Customer anomalies", "Transaction anomalies", "Products", "Lifetime value",
          "Summary"]

#: Fewer customers than this cannot be segmented meaningfully; modelling is skipped.
MIN_CUSTOMERS_TO_MODEL = 20


@dataclass
class Dataset:
    """Transactions loaded and cleaned: the DuckDB connection holding ``lines``/``clean``."""

    con: duckdb.DuckDBPyConnection
    source: io.SourceInfo
    cleaning: clean.CleaningReport
    snapshot: datetime
    #: The configuration with the data preset applied (currency, non-product codes): the
    #: stages after loading use this one.
    config: Config = field(default_factory=Config)


@dataclass
class Model:
    """Customer-scale results: clusters, names, explanation and customer anomalies.

    ``segments`` is the segment table (:func:`custseg.segments.name_segments`) with
    ``lapsed``, the number of its members who have lapsed, after ``customers``.
    """

    clustering: Clustering
    segments: pd.DataFrame
    explanation: Explanation
    customer_anomalies: CustomerAnomalies
    #: The RFM table plus cluster, segment, each customer's own action (usual_gap, lapsed,
    #: action, action_reason: custseg.actions) and anomaly_score, is_anomaly, anomaly_reason.
    customers: pd.DataFrame
    #: Seconds each sub-stage took.
    timings: dict[str, float] = field(default_factory=dict)
    #: The fitted segments as an estimator: what ``--save-model`` writes.
    segmenter: Segmenter | None = None


@dataclass
class Result:
    """Everything a run produces. Modelling fields are None when a stage did not run."""

    config: Config
    source: io.SourceInfo
    cleaning: clean.CleaningReport
    snapshot: datetime
    rfm: pd.DataFrame
    clustering: Clustering | None = None
    segments: pd.DataFrame | None = None
    explanation: Explanation | None = None
    customer_anomalies: CustomerAnomalies | None = None
    flagged_transactions: pd.DataFrame | None = None
    segment_products: pd.DataFrame | None = None
    stock_priorities: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    summary_markdown: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    #: The flagged transactions in the input's own columns (what flagged_transactions.csv
    #: holds), taken while the input could still be read.
    flagged_lines: pd.DataFrame | None = None
    #: The loaded data. After :func:`run`, a :class:`custseg.stored.StoredDataset` holding the
    #: database file of the lines and no connection (one is opened when the lines are read);
    #: the dashboard's results hold its live :class:`Dataset`.
    dataset: Dataset | StoredDataset | None = None
    #: The fitted segments as an estimator (:class:`custseg.Segmenter`).
    segmenter: Segmenter | None = None
    #: Lifetime value (custseg.forecast); None when off (--no-clv) or when the data cannot
    #: support it (the summary's notes say why).
    clv: CLVResult | None = None
    #: custseg.cohorts.cohort_table: customers by first-purchase month, buying months later.
    cohorts: pd.DataFrame | None = None

    def lines(self, kept_only: bool = False) -> pd.DataFrame:
        """The input's lines as cleaned, read on demand.

        Parameters
        ----------
        kept_only : bool, default False
            Only the lines the cleaning kept.

        Returns
        -------
        pandas.DataFrame
            One row per line in input order, with the canonical columns (docs/architecture.md)
            and ``drop_rule`` (None when kept). The same before and after :meth:`detach` or a
            pickle round trip.
        """
        from custseg import stored

        if self.dataset is None:
            raise EmptyResultError("This result holds no lines (it was built without data).")
        return stored.lines(self.dataset, kept_only)

    def detach(self) -> Result:
        """Close any database connection the result holds.

        A live :class:`Dataset` (the dashboard's, or one set by hand) becomes a
        :class:`custseg.stored.StoredDataset`; a stored dataset closes the connection it
        opened to read the lines. :meth:`lines`, the outputs and the dashboard keep working
        (a connection is opened again when one is needed).

        Returns
        -------
        Result
            This result, for chaining.
        """
        from custseg.stored import StoredDataset

        if isinstance(self.dataset, Dataset):
            self.dataset = StoredDataset.release(self.dataset)
        elif self.dataset is not None:
            self.dataset.close()
        return self

    def __getstate__(self) -> dict[str, Any]:
        # A connection cannot be pickled: the pickle holds the lines as Parquet bytes.
        from custseg.stored import StoredDataset

        state = dict(self.__dict__)
        if state.get("dataset") is not None:
            state["dataset"] = StoredDataset.from_dataset(state["dataset"])
        return state


# --------------------------------------------------------------------------- the stages


def load(source: Transactions, config: Config | None = None, *, sheet: str | None = None,
         mapping: Mapping[str, str] | None = None,
         con: duckdb.DuckDBPyConnection | None = None, spark: Any = None) -> Dataset:
    """Read ``source`` (path or frame), map its columns and clean it.

    Parameters
    ----------
    source:
        A file path (.xlsx/.xls/.csv[.gz]/.tsv/.txt/.parquet) or a pandas/polars/Arrow frame.
    config:
        Cleaning rules and as-of date come from here.
    sheet:
        Excel sheet name or ``"all"``.
    mapping:
        Explicit ``key -> column`` overrides.
    spark:
        With ``config.engine == "spark"``: a SparkSession to run on (else one is built from
        ``config.spark_master``).
    """
    config = config or Config()
    if config.preset != "auto":
        config.with_preset(config.preset)  # an unknown name fails before the file is read
    if config.engine != "duckdb":
        from custseg.spark.load import load_dataset

        return load_dataset(source, config, sheet=sheet, mapping=mapping, session=spark)
    with resource_errors(config, "reading and cleaning"):
        con = con or connect(config)
        info = io.register_source(con, source, sheet=sheet, overrides=mapping,
                                  read=config.read)
        # Before the cleaning, the heavy part: an input too large for the disk stops now.
        capacity.check(con, info.rows, config)
        info = io.map_columns(info, mapping, config.preset)
        config = config.with_preset(info.preset)
        if info.preset:
            info = dataclasses.replace(info, notes=(_preset_note(config, info.preset),
                                                    *info.notes))
        select_sql, info = io.canonical_select(con, info, config.read)
        report = clean.build_lines(con, select_sql, info.mapping, config.cleaning,
                                   config.rfm.as_of)
        snapshot = rfm.snapshot_for(con, config.rfm.as_of)
    return Dataset(con=con, source=info, cleaning=report, snapshot=snapshot, config=config)


def _preset_note(config: Config, name: str) -> str:
    preset = DATA_PRESETS[name]
    codes = len(config.cleaning.non_product_codes or ()) + len(
        config.cleaning.non_product_prefixes or ())
    # The currency is named, not shown: the dashboard may show money in another one.
    return (f"the columns are those of {preset.title}: its data preset applies (the "
            f"export's currency unless --currency says otherwise, and {codes} non-product "
            f"stock codes and prefixes); --preset none turns it off")


def compute_rfm(dataset: Dataset) -> pd.DataFrame:
    """The RFM table of a loaded dataset."""
    with resource_errors(dataset.config, "building the RFM table"):
        return rfm.build_rfm(dataset.con, dataset.snapshot)


def why_no_segments(table: pd.DataFrame, config: Config | None = None) -> str | None:
    """Why the customers of an RFM table cannot be segmented, or None when they can.

    The one test :func:`run`, :func:`model`, :func:`search_k` and the dashboard apply: fewer
    than :data:`MIN_CUSTOMERS_TO_MODEL` customers, or customers too alike to cluster
    (:func:`custseg.cluster.why_unclusterable`). The text is the note written in place of
    the segments.
    """
    from custseg import cluster

    if len(table) < MIN_CUSTOMERS_TO_MODEL:
        return (f"Only {len(table)} customers after cleaning: segmenting needs at least "
                f"{MIN_CUSTOMERS_TO_MODEL}, so only the RFM table and grid were produced. "
                f"Relax the cleaning rules or add data.")
    return cluster.why_unclusterable(table, (config or Config()).cluster)


def _check_customers(table: pd.DataFrame, config: Config) -> None:
    note = why_no_segments(table, config)
    if note is not None:
        raise NoSegmentsError(note)


def search_k(table: pd.DataFrame, config: Config | None = None) -> KSearch:
    """Fit every candidate k once (:func:`custseg.cluster.search_k`): independent of the k
    finally used, so callers can cache it and change k cheaply."""
    from custseg import cluster

    config = config or Config()
    _check_customers(table, config)
    with _expected_warnings():
        return cluster.search_k(table, config.cluster, config.seed)


def customer_anomalies(table: pd.DataFrame, config: Config | None = None) -> CustomerAnomalies:
    """Score every customer (:func:`custseg.anomalies.score_customers`); independent of k."""
    from custseg import anomalies, cluster

    config = config or Config()
    # The space the segments are found in: without the scaling, LOF's distances weighed the
    # spend's log range (about 0-12) twice the orders' (0-6).
    features = cluster.scaled_features(table, config.cluster.transform)
    with _expected_warnings():
        return anomalies.score_customers(table, config.anomalies, features, config.seed,
                                         config.currency or "")


def model(table: pd.DataFrame, config: Config | None = None,
          progress: Callable[[str], None] | None = None, *, search: KSearch | None = None,
          scored: CustomerAnomalies | None = None) -> Model:
    """Cluster, name, explain and score the customers of an RFM table.

    Parameters
    ----------
    table:
        The RFM table from :func:`compute_rfm`.
    progress:
        Called with the name of each sub-stage as it starts.
    search, scored:
        Results of :func:`search_k` and :func:`customer_anomalies` for the same table and
        settings, to reuse instead of recomputing (the dashboard caches them).

    Raises
    ------
    NoSegmentsError
        When :func:`why_no_segments` gives a reason (too few customers, or too alike).
    """
    from custseg import actions, explain
    from custseg.segmenter import Segmenter

    config = config or Config()
    _check_customers(table, config)
    clock = _Clock(progress)
    with _expected_warnings():
        clock.start("Clustering")
        # The estimator the library offers and `score` loads: one code path for the segments.
        segmenter = Segmenter.from_config(config.cluster, config.seed).fit(table, search=search)
        clustering = segmenter.clustering_
        assert clustering is not None
        clock.start("Naming segments")
        profile = segmenter.segments_.copy()
        names = segmenter.segment_of(clustering.labels)
        clock.start("Explaining segments")
        explanation = explain.explain_segments(table, names, config.explain, config.seed,
                                               config.currency or "")
        if scored is None:
            clock.start("Customer anomalies")
            scored = customer_anomalies(table, config)
        clock.stop()
    customers = table.assign(cluster=clustering.labels, segment=names)
    # Each customer's own action: a segment's action describes its centre, not a member
    # whose own recency says they have lapsed.
    customers = customers.join(actions.customer_actions(customers, config.cluster.lapse_after))
    customers = customers.merge(
        scored.scores[["customer_id", "anomaly_score", "is_anomaly", "anomaly_reason"]],
        on="customer_id", how="left", validate="one_to_one")
    lapsed = actions.lapsed_per_segment(profile, customers)
    profile.insert(profile.columns.get_loc("customers") + 1, "lapsed", lapsed.to_numpy())
    return Model(clustering, profile, explanation, scored, customers, clock.timings,
                 segmenter=segmenter)


@contextmanager
def _expected_warnings() -> Iterator[None]:
    """Silence the library warnings custseg expects and accounts for, nothing else.

    LOF warns when many customers are identical (its cross-check scores are then coarse; the
    agreement figure shows it), and K-Means when a sample holds fewer distinct points than
    clusters (the k table's smallest share and stability show it).
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Duplicate values are leading",
                                category=UserWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        yield


def transaction_anomalies(dataset: Dataset, config: Config | None = None) -> pd.DataFrame:
    """Flag unusual lines and invoices of a loaded dataset (computed in SQL).

    Runs on a cursor of its own, so it may run in a thread beside other work on the dataset.
    """
    from custseg import anomalies

    config = config or Config()
    cursor = dataset.con.cursor()
    try:
        with resource_errors(dataset.config, "flagging unusual transactions"):
            return anomalies.flag_transactions(cursor, config.anomalies,
                                               config.currency or "")
    finally:
        cursor.close()


def product_mix(dataset: Dataset, customers: pd.DataFrame, profile: pd.DataFrame,
                config: Config | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What each segment buys, and the stock priorities of the most valuable segments.

    ``customers`` needs ``customer_id`` and ``segment``; ``profile`` is the segment profile
    (:attr:`Model.segments`).
    """
    from custseg import products

    with resource_errors(dataset.config, "computing the product mix"):
        return products.product_mix(dataset.con, customers, profile,
                                    cleaning=(config or Config()).cleaning)


def lifetime_value(dataset: Dataset, customers: pd.DataFrame,
                   config: Config | None = None) -> tuple[CLVResult | None, str | None]:
    """The lifetime-value stage (:func:`custseg.forecast.estimate`) on ``customers`` (the
    RFM table, with segments when modelled): the result, or None and the note saying why
    the data cannot support it."""
    from custseg import forecast
    from custseg.errors import CLVError

    config = config or dataset.config
    try:
        with resource_errors(dataset.config, "estimating lifetime value"):
            return forecast.estimate(dataset.con, dataset.snapshot, customers,
                                     config.clv), None
    except CLVError as err:
        return None, f"Lifetime value was not estimated: {err}"


def assemble(config: Config, dataset: Dataset, table: pd.DataFrame, *,
             fitted: Model | None = None, flagged: pd.DataFrame | None = None,
             mix: tuple[pd.DataFrame, pd.DataFrame] | None = None,
             timings: dict[str, float] | None = None, notes: list[str] | None = None,
             clv: CLVResult | None = None) -> Result:
    """Put the stages' outputs together into a :class:`Result` with its summary and executive
    summary. :func:`run` and the dashboard both build their results here."""
    from custseg import narrative, outputs

    result = Result(config=config, source=dataset.source, cleaning=dataset.cleaning,
                    snapshot=dataset.snapshot, rfm=table, dataset=dataset,
                    flagged_transactions=flagged, timings=dict(timings or {}))
    if flagged is not None:
        result.flagged_lines = outputs.original_columns(flagged, dataset.source, dataset.con)
    if fitted is not None:
        result.rfm = fitted.customers
        result.clustering = fitted.clustering
        result.segments = fitted.segments
        result.explanation = fitted.explanation
        result.customer_anomalies = fitted.customer_anomalies
        result.segmenter = fitted.segmenter
    if mix is not None:
        result.segment_products, result.stock_priorities = mix
    if clv is not None:
        from custseg import forecast

        result.clv = clv
        result.rfm = forecast.customer_columns(result.rfm, clv)
        if result.segments is not None:
            result.segments = forecast.segment_columns(result.segments, result.rfm)
    result.cohorts = cohorts.cohort_table(dataset)
    result.summary = build_summary(result, notes or [])
    result.summary_markdown = narrative.executive_summary(result.summary)
    return result


# --------------------------------------------------------------------------- the run


def run(source: Transactions, config: Config | None = None, *, sheet: str | None = None,
        mapping: Mapping[str, str] | None = None, progress: Progress | None = None,
        spark: Any = None) -> Result:
    """Run every stage on ``source`` and return the :class:`Result`.

    When the customers cannot be segmented (too few, or too alike: :func:`why_no_segments`)
    the modelling stages are skipped (``result.summary["notes"]`` says why) and only the RFM
    outputs are produced.

    Raises
    ------
    custseg.errors.CustsegError
        With a message for the user when the input or a setting is wrong (``spark``: see
        :func:`load`);
        :class:`~custseg.errors.ResourceError` when DuckDB runs out of memory or of
        temporary disk (the message names the folder and the settings to change).
    """

    def announce(stage: str) -> None:
        if progress is not None:
            progress(stage, STAGES.index(stage), len(STAGES))

    clock = _Clock(announce)
    clock.start("Reading and cleaning")
    dataset = load(source, config, sheet=sheet, mapping=mapping, spark=spark)
    config = dataset.config
    clock.start("RFM")
    table = compute_rfm(dataset)
    clock.stop()  # the RFM stage's time without the check's import of scikit-learn
    note = why_no_segments(table, config)
    fitted = flagged = mix = None
    if note is None:
        # One stage after another: the DuckDB stages in threads beside the modelling, and the
        # explanation beside the k search, measured no faster on the real workbook (whole run
        # 1.72× the bare read with them, 1.70× without; docs/architecture.md, Concurrency).
        fitted = model(table, config, progress=clock.start)
        clock.start("Transaction anomalies")
        flagged = transaction_anomalies(dataset, config)
        clock.start("Products")
        mix = product_mix(dataset, fitted.customers, fitted.segments, config)
    estimated = None
    notes = [note] if note else []
    if config.clv.enabled:
        clock.start("Lifetime value")
        estimated, why = lifetime_value(dataset, fitted.customers if fitted else table, config)
        # Before the segments' note, which stays the last: the run's main caveat.
        notes = ([why] if why else []) + notes
    clock.start("Summary")
    result = assemble(config, dataset, table, fitted=fitted, flagged=flagged, mix=mix,
                      timings=clock.timings, notes=notes, clv=estimated)
    if config.engine == "duckdb":
        # The result keeps the lines' file, not the connection. (Spark's lines stay in the
        # session, which belongs to the caller: copying them out could fill the driver.)
        from custseg.stored import StoredDataset

        result.dataset = StoredDataset.release(dataset)
    return result


class _Clock:
    """Announces consecutive stages and times each: starting one ends the one before."""

    def __init__(self, announce: Callable[[str], None] | None) -> None:
        self.announce = announce
        #: Seconds per finished stage.
        self.timings: dict[str, float] = {}
        self._current: tuple[str, float] | None = None

    def start(self, stage: str) -> None:
        self.stop()
        if self.announce is not None:
            self.announce(stage)
        self._current = (stage, time.perf_counter())

    def stop(self) -> None:
        if self._current is not None:
            stage, start = self._current
            self.timings[stage] = round(time.perf_counter() - start, 4)
            self._current = None

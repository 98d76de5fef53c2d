"""``run()``: the stages in order, with progress callbacks, returning a :class:`Result`.

Each stage is also a public function so the dashboard can cache them one by one:
:func:`load` (read + clean) → :func:`compute_rfm` → :func:`model` → :func:`transaction_anomalies`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import duckdb
import numpy as np
import pandas as pd

from custseg import clean, io, rfm
from custseg.config import Config
from custseg.engine import connect
from custseg.errors import NoSegmentsError

T = TypeVar("T")

#: ``progress(stage, step, total)`` is called as each stage starts.
Progress = Callable[[str, int, int], None]


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
class Result:
    """Everything a run produces. Modelling fields are None when a stage did not run."""

    config: Config
    source: io.SourceInfo
    cleaning: clean.CleaningReport
    snapshot: datetime
    rfm: pd.DataFrame
    clustering: Any = None
    segments: pd.DataFrame | None = None
    explanation: Any = None
    customer_anomalies: Any = None
    flagged_transactions: pd.DataFrame | None = None
    segment_products: pd.DataFrame | None = None
    stock_priorities: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    summary_markdown: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    dataset: Dataset | None = None


class _Stages:
    """Times stages and reports them to a progress callback."""

    def __init__(self, names: list[str], progress: Progress | None) -> None:
        self.names = names
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name, self.names.index(name), len(self.names))
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 4)


def load(source: Any, config: Config | None = None, *, sheet: str | None = None,
         mapping: Mapping[str, str] | None = None,
         con: duckdb.DuckDBPyConnection | None = None) -> Dataset:
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
    """
    config = config or Config()
    if config.preset != "auto":
        config.with_preset(config.preset)  # an unknown name fails before the file is read
    con = con or connect(config)
    info = io.register_source(con, source, sheet=sheet, overrides=mapping, read=config.read)
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
    from custseg.config import DATA_PRESETS

    preset = DATA_PRESETS[name]
    codes = len(config.cleaning.non_product_codes or ()) + len(
        config.cleaning.non_product_prefixes or ())
    # The currency is named, not shown: the dashboard may show money in another one.
    return (f"the columns are those of {preset.title}: its data preset applies (the "
            f"export's currency unless --currency says otherwise, and {codes} non-product "
            f"stock codes and prefixes); --preset none turns it off")


def compute_rfm(dataset: Dataset) -> pd.DataFrame:
    """The RFM table of a loaded dataset."""
    return rfm.build_rfm(dataset.con, dataset.snapshot)


#: Fewer customers than this cannot be segmented meaningfully; modelling is skipped.
MIN_CUSTOMERS_TO_MODEL = 20


@dataclass
class Model:
    """Customer-scale results: clusters, names, explanation and customer anomalies."""

    clustering: Any
    segments: pd.DataFrame
    explanation: Any
    customer_anomalies: Any
    #: The RFM table plus cluster, segment, anomaly_score, is_anomaly, anomaly_reason.
    customers: pd.DataFrame
    #: Own durations (seconds) of the sub-stages that ran beside others.
    timings: dict[str, float] = field(default_factory=dict)


def search_k(table: pd.DataFrame, config: Config | None = None) -> Any:
    """Fit every candidate k once (:func:`custseg.cluster.search_k`): independent of the k
    finally used, so callers can cache it and change k cheaply."""
    from custseg import cluster

    config = config or Config()
    _check_customers(table, config)
    with _checked_inputs():
        return cluster.search_k(table, config.cluster, config.seed)


def customer_anomalies(table: pd.DataFrame, config: Config | None = None) -> Any:
    """Score every customer (:func:`custseg.anomalies.score_customers`); independent of k."""
    from custseg import anomalies, cluster

    config = config or Config()
    features = cluster.transform_features(table, config.cluster.transform)
    with _checked_inputs():
        return anomalies.score_customers(table, config.anomalies, features, config.seed,
                                         config.currency or "")


@contextmanager
def _checked_inputs() -> Iterator[None]:
    """scikit-learn without its per-call input checks (sklearn's config is per thread), and
    without the warnings that real data legitimately triggers.

    The features are checked once (finite, see :func:`custseg.cluster.transform_features`)
    and the options by custseg's config; repeating the checks in each of ~90 K-Means fits and
    ~300 trees costs about 5% of the modelling time.
    """
    import sklearn

    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True), \
            _expected_warnings():
        yield


@contextmanager
def _expected_warnings() -> Iterator[None]:
    """Silence the library warnings custseg expects and accounts for, nothing else.

    LOF warns when many customers are identical (its cross-check scores are then coarse; the
    agreement figure shows it), and K-Means when a sample holds fewer distinct points than
    clusters (the k table's smallest share and stability show it). Warning filters are
    process-wide: entered in the calling thread around the worker threads, they cover them,
    and nested entries in workers restore a list that still holds these filters.
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Duplicate values are leading",
                                category=UserWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        yield


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


def model(table: pd.DataFrame, config: Config | None = None,
          progress: Callable[[str], None] | None = None, *, search: Any = None,
          scored: Any = None,
          on_segments: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None) -> Model:
    """Cluster, name, explain and score the customers of an RFM table.

    Parameters
    ----------
    table:
        The RFM table from :func:`compute_rfm`.
    progress:
        Called with the name of each sub-stage as it starts. With a fixed k the naming and
        the explanation start during "Clustering", beside the rest of the k search; their own
        durations, and the customer scores', are in :attr:`Model.timings`.
    search, scored:
        Results of :func:`search_k` and :func:`customer_anomalies` for the same table and
        settings, to reuse instead of recomputing (the dashboard caches them).
    on_segments:
        Called with the customers (RFM table plus ``cluster`` and ``segment``) and the segment
        profile as soon as the segments are named (with a fixed k, before the rest of the k
        search), so a caller can start work that needs only the segments (``run`` starts the
        product mix there).

    Raises
    ------
    NoSegmentsError
        When :func:`why_no_segments` gives a reason (too few customers, or too alike).
    """
    from custseg import cluster

    config = config or Config()
    _check_customers(table, config)
    step = progress or (lambda _: None)
    # Customer scores do not depend on the clusters: they are computed on a second core while
    # the clusters are fitted. That pays on large tables, where both spend their time in
    # compiled code; at 4k customers both are bound by Python overhead under the GIL and the
    # overlap neither gains nor loses (measured).
    with ThreadPoolExecutor(max_workers=2) as pool, _checked_inputs():
        pending = pool.submit(timed, customer_anomalies, table, config) \
            if scored is None else None
        named: dict[str, Any] = {}

        def segment(labels: np.ndarray) -> None:
            # With a fixed k the labels come before the rest of the k search, and the forest
            # trains beside it: its trees are built without the GIL (k search + explanation
            # on the real data 1.70 → 1.41 s, docs/benchmarks.md).
            naming = timed(_name, table, labels)
            profile, names = naming.value
            named.update(naming=naming.seconds, profile=profile,
                         customers=table.assign(cluster=labels, segment=names),
                         explanation=pool.submit(timed, _explain, table, names, config))
            if on_segments is not None:
                on_segments(named["customers"], named["profile"])

        step("Clustering")
        clustering = cluster.fit_clusters(table, config.cluster, config.seed, search=search,
                                          on_labels=segment)
        step("Naming segments")
        profile, customers = named["profile"], named["customers"]
        step("Explaining segments")
        explained = named["explanation"].result()
        timings = {"Naming segments": named["naming"], "Explaining segments": explained.seconds}
        step("Customer anomalies")
        if pending is not None:
            done = pending.result()
            scored, timings["Customer anomalies"] = done.value, done.seconds
    customers = customers.merge(
        scored.scores[["customer_id", "anomaly_score", "is_anomaly", "anomaly_reason"]],
        on="customer_id", how="left", validate="one_to_one")
    return Model(clustering, profile, explained.value, scored, customers, timings)


def _name(table: pd.DataFrame, labels: np.ndarray) -> tuple[pd.DataFrame, Any]:
    """The segment profile and each customer's segment name."""
    from custseg import segments

    profile = segments.name_segments(table, labels)
    return profile, segments.segment_per_customer(profile, labels)


def _explain(table: pd.DataFrame, names: np.ndarray, config: Config) -> Any:
    from custseg import explain

    with _checked_inputs():  # scikit-learn's config is per thread
        return explain.explain_segments(table, names, config.explain, config.seed,
                                        config.currency or "")


def transaction_anomalies(dataset: Dataset, config: Config | None = None) -> pd.DataFrame:
    """Flag unusual lines and invoices of a loaded dataset (computed in SQL).

    Runs on a cursor of its own, so it may run in a thread beside other work on the dataset.
    """
    from custseg import anomalies

    cursor = dataset.con.cursor()
    try:
        config = config or Config()
        return anomalies.flag_transactions(cursor, config.anomalies, config.currency or "")
    finally:
        cursor.close()


def product_mix(dataset: Dataset, customers: pd.DataFrame, profile: pd.DataFrame,
                config: Config | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What each segment buys, and the stock priorities of the most valuable segments.

    ``customers`` needs ``customer_id`` and ``segment``; ``profile`` is the segment profile
    (:attr:`Model.segments`). Runs on cursors of its own, so it may run in a thread.
    """
    from custseg import products

    return products.product_mix(dataset.con, customers, profile,
                                cleaning=(config or Config()).cleaning)


def reading_notes(dataset: Dataset) -> list[str]:
    """What the reader decided and the user should know (a preset, an encoding, a decimal
    comma, a wrong extension, lines dated in the future), as sentences."""
    notes = [f"Reading: {note}." for note in dataset.source.notes
             if not note.startswith("no ")]
    future = dataset.cleaning.dropped.get("future_date", 0)
    if future:
        latest = dataset.con.execute("SELECT max(invoice_date) FROM lines "
                                     "WHERE drop_rule = 'future_date'").fetchall()[0][0]
        notes.append(f"{future:,} line(s) dated after today (the latest {latest:%Y-%m-%d}) "
                     f"were dropped under the rule future_date: a wrong year or clock would "
                     f"otherwise move the snapshot and every recency.")
    return notes


def assemble(config: Config, dataset: Dataset, table: pd.DataFrame, *,
             fitted: Model | None = None, flagged: pd.DataFrame | None = None,
             mix: tuple[pd.DataFrame, pd.DataFrame] | None = None,
             timings: dict[str, float] | None = None, notes: list[str] | None = None) -> Result:
    """Put the stages' outputs together into a :class:`Result` with its summary and executive
    summary. :func:`run` and the dashboard both build their results here."""
    from custseg import narrative

    result = Result(config=config, source=dataset.source, cleaning=dataset.cleaning,
                    snapshot=dataset.snapshot, rfm=table, dataset=dataset,
                    flagged_transactions=flagged, timings=dict(timings or {}))
    if fitted is not None:
        result.rfm = fitted.customers
        result.clustering = fitted.clustering
        result.segments = fitted.segments
        result.explanation = fitted.explanation
        result.customer_anomalies = fitted.customer_anomalies
    if mix is not None:
        result.segment_products, result.stock_priorities = mix
    result.summary = build_summary(result)
    result.summary["notes"] = reading_notes(dataset) + list(notes or [])
    result.summary_markdown = narrative.executive_summary(result.summary)
    return result


STAGES = ["Reading and cleaning", "RFM", "Clustering", "Naming segments", "Explaining segments",
          "Customer anomalies", "Transaction anomalies", "Products", "Summary"]


def run(source: Any, config: Config | None = None, *, sheet: str | None = None,
        mapping: Mapping[str, str] | None = None, progress: Progress | None = None) -> Result:
    """Run every stage on ``source`` and return the :class:`Result`.

    When the customers cannot be segmented (too few, or too alike: :func:`why_no_segments`)
    the modelling stages are skipped (``result.summary["notes"]`` says why) and only the RFM
    outputs are produced.

    Raises
    ------
    custseg.errors.CustsegError
        With a message for the user when the input or a setting is wrong.
    """
    config = config or Config()
    stages = _Stages(list(STAGES), progress)
    with stages.stage("Reading and cleaning"):
        dataset = load(source, config, sheet=sheet, mapping=mapping)
    config = dataset.config
    with stages.stage("RFM"):
        table = compute_rfm(dataset)
    fitted = flagged = mix = None
    note = why_no_segments(table, config)
    if note is None:
        # Transaction anomalies need only the cleaned lines and the product mix only the
        # segments: both run in DuckDB (on cursors of their own, without the GIL) in threads
        # beside the modelling. Their timings are their own durations, overlapping others.
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = {"Transaction anomalies": pool.submit(
                timed, transaction_anomalies, dataset, config)}

            def start_mix(customers: pd.DataFrame, profile: pd.DataFrame) -> None:
                pending["Products"] = pool.submit(timed, product_mix, dataset, customers,
                                                  profile, config)

            sub = _SubStages(stages)
            fitted = model(table, config, progress=sub.start, on_segments=start_mix)
            sub.finish()
            stages.timings.update(fitted.timings)
            done = {}
            for name, future in pending.items():
                with stages.stage(name):
                    done[name] = future.result()
                stages.timings[name] = done[name].seconds
            flagged, mix = done["Transaction anomalies"].value, done["Products"].value
    with stages.stage("Summary"):
        result = assemble(config, dataset, table, fitted=fitted, flagged=flagged, mix=mix,
                          timings=stages.timings, notes=[note] if note else [])
    return result


@dataclass(frozen=True)
class Timed(Generic[T]):
    """A stage's value and the seconds it took when it was computed."""

    value: T
    seconds: float


def timed(fn: Callable[..., T], *args: Any) -> Timed[T]:
    """``fn(*args)`` with its wall time (stages run beside others, the dashboard's caches)."""
    start = time.perf_counter()
    value = fn(*args)
    return Timed(value, round(time.perf_counter() - start, 4))


class _SubStages:
    """Times the sub-stages that :func:`model` announces, as stages of the run."""

    def __init__(self, stages: _Stages) -> None:
        self.stages = stages
        self.current: Any = None

    def start(self, name: str) -> None:
        self.finish()
        self.current = self.stages.stage(name)
        self.current.__enter__()

    def finish(self) -> None:
        if self.current is not None:
            self.current.__exit__(None, None, None)
            self.current = None


def build_summary(result: Result) -> dict[str, Any]:
    """The machine-readable summary written to ``summary.json``.

    Every number the executive summary (summary.md) quotes comes from this dict.
    """
    table = result.rfm
    first, last, invoices = result.dataset.con.execute(
        "SELECT min(invoice_date), max(invoice_date), count(DISTINCT invoice) FROM clean"
    ).fetchall()[0] if result.dataset else (None, None, None)
    summary: dict[str, Any] = {
        "source": result.source.to_dict(),
        "rows_in": result.cleaning.rows_in,
        "rows_kept": result.cleaning.rows_kept,
        "rows_dropped": result.cleaning.rows_in - result.cleaning.rows_kept,
        "customers": len(table),
        "invoices": int(invoices or 0),
        "revenue": round(float(table["monetary"].sum()), 2),
        "currency": result.config.currency or "",
        "period": {"first": _iso(first), "last": _iso(last)},
        "snapshot": _iso(result.snapshot),
        "rfm_segments": {str(k): int(v) for k, v in
                         table["rfm_segment"].value_counts().sort_index().items()},
    }
    if result.clustering is not None:
        summary |= _model_summary(result)
    if result.stock_priorities is not None:
        from custseg import products

        summary["stock_priorities"] = products.summary_records(result.stock_priorities, n=5)
        summary["stock_priority_segments"] = list(
            result.stock_priorities.attrs.get("segments", []))
    if result.flagged_transactions is not None:
        flagged = result.flagged_transactions
        summary["transaction_anomalies"] = {
            "flagged": len(flagged),
            "by_kind": {str(k): int(v) for k, v in flagged["kind"].value_counts().items()},
        }
    summary["timings"] = result.timings
    return summary


def _model_summary(result: Result) -> dict[str, Any]:
    clustering, explanation = result.clustering, result.explanation
    scored = result.customer_anomalies
    profile = result.segments
    keep = ["segment", "cluster", "customers", "customer_share", "revenue", "revenue_share",
            "recency_median", "frequency_median", "monetary_median", "opportunity", "action"]
    segments = [{k: _plain(v) for k, v in row.items()}
                for row in profile[[c for c in keep if c in profile]].to_dict("records")]
    importances = explanation.importances
    flagged = scored.scores[scored.scores["is_anomaly"]]
    reasons = flagged.sort_values("anomaly_score", ascending=False)["anomaly_reason"]
    return {
        "k": int(clustering.k),
        "k_reason": clustering.reason,
        "transform": clustering.transform,
        "segments": segments,
        "accuracy": round(float(explanation.accuracy), 4),
        "macro_f1": round(float(explanation.macro_f1), 4),
        "rules_fidelity": round(float(explanation.fidelity), 4),
        "importances": [{k: _plain(v) for k, v in row.items()}
                        for row in importances.to_dict("records")],
        "drivers": importances["feature"].tolist(),
        "customer_anomalies": {
            "flagged": int(scored.n_flagged),
            "detector": scored.detector,
            "second_detector": scored.second_detector,
            "agreement": round(float(scored.agreement), 4),
            "top_reasons": reasons.head(5).tolist(),
        },
    }


def _plain(value: Any) -> Any:
    """NumPy scalars to Python numbers, rounded for JSON."""
    if hasattr(value, "item"):
        value = value.item()
    return round(value, 4) if isinstance(value, float) else value


def _iso(value: Any) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None

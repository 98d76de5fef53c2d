"""``run()``: the stages in order, with progress callbacks, returning a :class:`Result`.

Each stage is also a public function so the dashboard can cache them one by one:
:func:`load` (read + clean) → :func:`compute_rfm` → :func:`model` → :func:`transaction_anomalies`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from custseg import clean, io, rfm
from custseg.config import Config
from custseg.engine import connect

#: ``progress(stage, step, total)`` is called as each stage starts.
Progress = Callable[[str, int, int], None]


@dataclass
class Dataset:
    """Transactions loaded and cleaned: the DuckDB connection holding ``lines``/``clean``."""

    con: duckdb.DuckDBPyConnection
    source: io.SourceInfo
    cleaning: clean.CleaningReport
    snapshot: datetime


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
    con = con or connect(config)
    info = io.register_source(con, source, sheet=sheet, overrides=mapping)
    where = info.path or "the input frame"
    info = _with_mapping(info, io.detect_mapping(list(info.columns), mapping, where))
    select_sql, info = io.canonical_select(con, info)
    report = clean.build_lines(con, select_sql, info.mapping, config.cleaning,
                               config.rfm.as_of)
    snapshot = rfm.snapshot_for(con, config.rfm.as_of)
    return Dataset(con=con, source=info, cleaning=report, snapshot=snapshot)


def _with_mapping(info: io.SourceInfo, mapping: dict[str, str]) -> io.SourceInfo:
    import dataclasses

    absent = [k for k in io.CANONICAL if k not in mapping and k != "amount"]
    notes = tuple(f"no {k} column" for k in absent)
    return dataclasses.replace(info, mapping=mapping, notes=info.notes + notes)


def compute_rfm(dataset: Dataset) -> pd.DataFrame:
    """The RFM table of a loaded dataset."""
    return rfm.build_rfm(dataset.con, dataset.snapshot)


FOUNDATION_STAGES = ["Reading and cleaning", "RFM"]


def run(source: Any, config: Config | None = None, *, sheet: str | None = None,
        mapping: Mapping[str, str] | None = None, progress: Progress | None = None) -> Result:
    """Run every stage on ``source`` and return the :class:`Result`.

    Raises
    ------
    custseg.errors.CustsegError
        With a message for the user when the input or a setting is wrong.
    """
    config = config or Config()
    stages = _Stages(list(FOUNDATION_STAGES), progress)
    with stages.stage("Reading and cleaning"):
        dataset = load(source, config, sheet=sheet, mapping=mapping)
    with stages.stage("RFM"):
        table = compute_rfm(dataset)
    result = Result(config=config, source=dataset.source, cleaning=dataset.cleaning,
                    snapshot=dataset.snapshot, rfm=table, dataset=dataset)
    result.timings = stages.timings
    result.summary = build_summary(result)
    return result


def build_summary(result: Result) -> dict[str, Any]:
    """The machine-readable summary written to ``summary.json``."""
    table = result.rfm
    lines = result.dataset.con.execute(
        "SELECT min(invoice_date), max(invoice_date), count(DISTINCT invoice) FROM clean"
    ).fetchone() if result.dataset else (None, None, None)
    return {
        "source": result.source.to_dict(),
        "rows_in": result.cleaning.rows_in,
        "rows_kept": result.cleaning.rows_kept,
        "customers": len(table),
        "invoices": int(lines[2] or 0),
        "revenue": round(float(table["monetary"].sum()), 2),
        "period": {"first": _iso(lines[0]), "last": _iso(lines[1])},
        "snapshot": _iso(result.snapshot),
        "rfm_segments": {str(k): int(v) for k, v in
                         table["rfm_segment"].value_counts().sort_index().items()},
        "timings": result.timings,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None

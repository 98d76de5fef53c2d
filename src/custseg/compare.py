"""Comparing snapshots: one file at two (or more) dates, or two files, assigned by one model,
giving the migration, the movers with their actions, the headline and, with ``every``, the
segments over time. What ``custseg compare`` and the dashboard's "Changes over time" call.

One file is read and cleaned once; each snapshot is the RFM table of the lines before its date
(:mod:`custseg.snapshots`). The model is fitted on the first snapshot (as ``custseg run
--as-of`` that date would fit it) unless one is given, and assigns every snapshot
(:mod:`custseg.assign`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from custseg import actions, assign, migration, snapshots
from custseg.config import Config
from custseg.errors import ConfigError, InputError, NoSegmentsError
from custseg.pipeline import Dataset, compute_rfm, load
from custseg.segmenter import Segmenter

if TYPE_CHECKING:
    from custseg.pipeline import Transactions


@dataclass
class Comparison:
    """Two snapshots under one model and what moved between them."""

    config: Config
    #: Labels of the two compared snapshots (dates, or file names and dates).
    dates: tuple[str, str]
    #: True for one file at two dates (nobody can be gone), False for two files.
    cumulative: bool
    model: Segmenter
    #: Segment names, most valuable first.
    order: list[str]
    #: The first snapshot's RFM table with ``segment``.
    before: pd.DataFrame
    #: The second's with ``segment`` and each customer's action (custseg.actions).
    after: pd.DataFrame
    #: :func:`custseg.migration.pair`.
    paired: pd.DataFrame
    #: :func:`custseg.migration.migration_table`.
    migration: pd.DataFrame
    #: :func:`custseg.migration.movers`.
    movers: pd.DataFrame
    headline: str
    #: :func:`segments_over_time` of every snapshot, None without ``every``.
    over_time: pd.DataFrame | None = None
    #: The loaded (first) dataset, for the cohort tables.
    dataset: Dataset | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.config.currency or ""


def labelled(model: Segmenter, table: pd.DataFrame,
             config: Config, *, with_actions: bool = False) -> pd.DataFrame:
    """``table`` with each customer's ``segment`` under ``model`` (and their action)."""
    out = table.assign(segment=assign.assign(model, table))
    if with_actions:
        out = out.join(actions.customer_actions(out, config.cluster.lapse_after))
    return out


def segments_over_time(snaps: Sequence[snapshots.Snapshot],
                       model: Segmenter) -> pd.DataFrame:
    """Customers and the period's revenue per segment at each snapshot.

    The revenue of a snapshot is what its customers spent since the one before (all their
    spend at the first), grouped by their segment at that snapshot; snapshots are cumulative,
    so that is the difference of their totals.

    Returns
    -------
    ``when``, ``segment``, ``customers``, ``revenue``, ``customer_share``, ``revenue_share``.
    """
    frames = []
    previous = pd.Series(dtype=float)
    for snap in snaps:
        table = snap.rfm.assign(segment=assign.assign(model, snap.rfm))
        spent = table.set_index("customer_id")["monetary"]
        period = spent - previous.reindex(spent.index).fillna(0.0)
        previous = spent
        table = table.assign(revenue=period.to_numpy())
        per = table.groupby("segment").agg(customers=("customer_id", "size"),
                                           revenue=("revenue", "sum")).reset_index()
        per.insert(0, "when", pd.Timestamp(snap.when))
        per["customer_share"] = per["customers"] / per["customers"].sum()
        total = per["revenue"].sum()
        per["revenue_share"] = per["revenue"] / total if total else 0.0
        frames.append(per)
    return pd.concat(frames, ignore_index=True)


def _finish(config: Config, labels: tuple[str, str], before_rfm: pd.DataFrame,
            after_rfm: pd.DataFrame, *, cumulative: bool,
            model: Segmenter | None, clock: dict[str, float]) -> Comparison:
    start = time.perf_counter()
    if model is None:
        try:
            model = assign.fit(before_rfm, config)
        except NoSegmentsError as exc:
            raise NoSegmentsError(f"The model is fitted on the first snapshot ({labels[0]}), "
                                  f"and it cannot be segmented: {exc} Choose a later first "
                                  f"date, or give a saved model with --model.") from exc
    order = assign.segment_order(model)
    before = labelled(model, before_rfm, config)
    after = labelled(model, after_rfm, config, with_actions=True)
    clock["Segments"] = round(time.perf_counter() - start, 4)
    paired = migration.pair(before, after, cumulative=cumulative)
    table = migration.migration_table(paired, order)
    return Comparison(
        config=config, dates=labels, cumulative=cumulative, model=model, order=order,
        before=before, after=after, paired=paired, migration=table,
        movers=migration.movers(paired, order),
        headline=migration.headline(table, order, currency=config.currency or "",
                                    dates=labels),
        timings=clock)


def compare_dates(source: Transactions, dates: Sequence[date] | None, config: Config | None = None,
                  *, every: str | None = None, sheet: str | None = None,
                  mapping: Mapping[str, str] | None = None,
                  model: Segmenter | None = None) -> Comparison:
    """Compare one file at two dates, or at the first day of every ``every`` (month, quarter,
    year): the migration runs from the first snapshot to the last.

    Parameters
    ----------
    dates:
        Two dates, earlier first; with ``every``, the snapshots are these two and the first
        day of every period between them. None (with ``every``): from the data's first period
        to its end.
    model:
        A fitted model to assign with; by default one is fitted on the first snapshot.

    Raises
    ------
    ConfigError
        For dates outside the data, in the wrong order, not two, or neither dates nor every.
    """
    config = config or Config()
    dates = list(dates or [])
    if every is None and len(dates) != 2:
        raise ConfigError(f"Comparing needs two --as-of dates (got {len(dates)}), a second "
                          f"file, or --every month|quarter|year.")
    if every is not None and len(dates) not in (0, 2):
        raise ConfigError(f"--every with --as-of needs two dates, the span to cover (got "
                          f"{len(dates)}).")
    start = time.perf_counter()
    if dates:
        config = config.replace(rfm=dataclasses.replace(config.rfm, as_of=max(dates)))
    dataset = load(source, config, sheet=sheet, mapping=mapping)
    read = round(time.perf_counter() - start, 4)
    result = compare_snapshots(dataset, dates, every=every, model=model)
    result.timings = {"Reading and cleaning": read, **result.timings}
    return result


def compare_snapshots(dataset: Dataset, dates: Sequence[date], *, every: str | None = None,
                      model: Segmenter | None = None, config: Config | None = None) -> Comparison:
    """:func:`compare_dates` on a loaded dataset (the dashboard's cached one): snapshots at
    ``dates`` (and the first day of every ``every`` between them, or across the data).
    ``config`` (clustering, seed, currency) defaults to the dataset's."""
    config = config or dataset.config
    whens = snapshots.check_dates(dataset, dates) if dates else []
    if every is not None:
        starts = snapshots.period_starts(dataset, every)
        if whens:
            inside = [w for w in starts if whens[0] < w < whens[-1]]
            whens = [whens[0], *inside, whens[-1]]
        else:
            whens = starts
    clock: dict[str, float] = {}
    start = time.perf_counter()
    snaps = [snapshots.snapshot_at(dataset, w) for w in whens]
    clock["RFM"] = round(time.perf_counter() - start, 4)
    result = _finish(config, (snaps[0].label, snaps[-1].label), snaps[0].rfm, snaps[-1].rfm,
                     cumulative=True, model=model, clock=clock)
    result.dataset = dataset
    if every is not None:
        start = time.perf_counter()
        result.over_time = segments_over_time(snaps, result.model)
        clock["Segments over time"] = round(time.perf_counter() - start, 4)
    return result


def compare_files(first: Transactions, second: Transactions, config: Config | None = None, *,
                  sheet: str | None = None, mapping: Mapping[str, str] | None = None,
                  model: Segmenter | None = None) -> Comparison:
    """Compare two files, each at its own snapshot (its last invoice + 1 day): customers of the
    first only are gone, of the second only new.

    Raises
    ------
    InputError
        When the second file's columns are not the first's.
    """
    config = config or Config()
    start = time.perf_counter()
    one = load(first, config, sheet=sheet, mapping=mapping)
    two = load(second, config, sheet=sheet, mapping=mapping)
    read = round(time.perf_counter() - start, 4)
    result = compare_datasets(one, two, model=model)
    result.timings = {"Reading and cleaning": read, **result.timings}
    return result


def compare_datasets(one: Dataset, two: Dataset, *, model: Segmenter | None = None,
                     config: Config | None = None) -> Comparison:
    """:func:`compare_files` on two loaded datasets (``config`` defaults to the first's)."""
    _same_columns(one, two)
    clock: dict[str, float] = {}
    start = time.perf_counter()
    before, after = compute_rfm(one), compute_rfm(two)
    clock["RFM"] = round(time.perf_counter() - start, 4)
    labels = (_file_label(one), _file_label(two))
    result = _finish(config or one.config, labels, before, after, cumulative=False,
                     model=model, clock=clock)
    result.dataset = one
    return result


def _file_label(dataset: Dataset) -> str:
    name = dataset.source.path.rsplit("/", 1)[-1] if dataset.source.path else "the frame"
    return f"{name} ({_day(dataset.snapshot)})"


def _day(when: datetime) -> str:
    return when.date().isoformat()


def _same_columns(one: Dataset, two: Dataset) -> None:
    """Refuse a second file whose columns (as mapped) differ from the first's."""
    a, b = one.source.mapping, two.source.mapping
    if a.keys() == b.keys():
        return
    name_a, name_b = one.source.path or "the first input", two.source.path or "the second"
    only_a = sorted(a.keys() - b.keys())
    only_b = sorted(b.keys() - a.keys())
    said = []
    if only_a:
        said.append(f"{name_b} has no {', '.join(only_a)} column (in {name_a}: "
                    f"{', '.join(a[k] for k in only_a)})")
    if only_b:
        said.append(f"{name_a} has no {', '.join(only_b)} column (in {name_b}: "
                    f"{', '.join(b[k] for k in only_b)})")
    raise InputError(f"The two files do not have the same columns: {'; '.join(said)}. Compare "
                     f"two exports of the same kind, or map the columns with --map.")


def write_comparison(comparison: Comparison, out_dir: str | Path) -> list[Path]:
    """Write migration.csv, movers.csv, segments_over_time.csv (with ``every``) and
    compare.html into ``out_dir`` (created if needed); returns the paths written."""
    from custseg.safe_cells import to_csv
    from custseg.timeline_report import render_compare

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    to_csv(comparison.migration, out / "migration.csv")
    to_csv(comparison.movers, out / "movers.csv")
    written = [out / "migration.csv", out / "movers.csv"]
    if comparison.over_time is not None:
        to_csv(comparison.over_time, out / "segments_over_time.csv")
        written.append(out / "segments_over_time.csv")
    (out / "compare.html").write_text(render_compare(comparison), encoding="utf-8")
    written.append(out / "compare.html")
    return written

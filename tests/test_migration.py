"""Snapshots at earlier dates and the migration between two labelled snapshots: hand-worked
tables, a run at the same date, and exact reconciliation with both snapshots' sizes."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

import custseg
from custseg import migration, snapshots
from custseg.config import Config, RFMConfig
from custseg.errors import ConfigError
from tests.test_cohorts import _log

LOG = _log([("1", "501", "2011-01-05 10:00", 10), ("1", "502", "2011-03-01 09:00", 20),
            ("2", "503", "2011-02-10 10:00", 7), ("3", "504", "2011-04-01 10:00", 4)])


def test_snapshot_counts_only_earlier_lines() -> None:
    snap = snapshots.snapshot_at(custseg.load(LOG), datetime(2011, 3, 1))
    # Customer 1's March order is after midnight of 1 March; customer 3 has not bought yet.
    assert snap.rfm["customer_id"].tolist() == ["1", "2"]
    assert snap.rfm["frequency"].tolist() == [1, 1]
    assert snap.rfm["monetary"].tolist() == [10.0, 7.0]
    # 5 Jan 10:00 → 1 Mar 00:00 is 54 days 14 h; 10 Feb 10:00 → 1 Mar is 18 days 14 h.
    assert snap.rfm["recency"].tolist() == [54, 18]
    assert snap.label == "2011-03-01"


def test_snapshot_equals_a_run_as_of_that_date(small_log: pd.DataFrame) -> None:
    when = date(2011, 7, 1)
    alone = custseg.load(small_log, Config(rfm=RFMConfig(as_of=when)))
    expected = custseg.pipeline.compute_rfm(alone)
    got = snapshots.snapshot_at(custseg.load(small_log), datetime(2011, 7, 1)).rfm
    pd.testing.assert_frame_equal(got, expected)


def test_dates_outside_the_data_or_out_of_order_are_refused() -> None:
    dataset = custseg.load(LOG)
    with pytest.raises(ConfigError, match=r"outside the data.*2011-01-05"):
        snapshots.check_dates(dataset, [date(2010, 12, 1), date(2011, 3, 1)])
    with pytest.raises(ConfigError, match="outside the data"):
        snapshots.check_dates(dataset, [date(2011, 3, 1), date(2011, 6, 1)])
    with pytest.raises(ConfigError, match="increasing order"):
        snapshots.check_dates(dataset, [date(2011, 3, 1), date(2011, 2, 1)])
    assert snapshots.check_dates(dataset, [date(2011, 2, 1), date(2011, 4, 2)]) == [
        datetime(2011, 2, 1), datetime(2011, 4, 2)]


def test_period_starts_close_with_the_snapshot() -> None:
    dataset = custseg.load(LOG)
    assert snapshots.period_starts(dataset, "month") == [
        datetime(2011, 2, 1), datetime(2011, 3, 1), datetime(2011, 4, 1), dataset.snapshot]
    with pytest.raises(ConfigError, match="--every"):
        snapshots.period_starts(dataset, "fortnight")


def _table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [r[0] for r in rows], "segment": [r[1] for r in rows],
                         "recency": 10, "frequency": 2, "monetary": [r[2] for r in rows]})


ORDER = ["Champions", "Loyal", "At Risk"]


def test_hand_worked_migration_of_one_file() -> None:
    before = _table([("a", "Champions", 100.0), ("b", "Champions", 50.0),
                     ("c", "At Risk", 10.0)])
    after = _table([("a", "Champions", 150.0), ("b", "At Risk", 50.0), ("c", "Loyal", 40.0),
                    ("d", "Champions", 30.0)])
    paired = migration.pair(before, after, cumulative=True)
    table = migration.migration_table(paired, ORDER)
    assert [tuple(r) for r in table.itertuples(index=False)] == [
        ("Champions", "Champions", 1, 100.0, 50.0), ("Champions", "At Risk", 1, 50.0, 0.0),
        ("At Risk", "Loyal", 1, 10.0, 30.0), ("(new)", "Champions", 1, 0.0, 30.0)]
    moved = migration.movers(paired, ORDER)
    assert moved["customer_id"].tolist() == ["b", "c"]
    assert moved["direction"].tolist() == ["down", "up"]
    assert moved[["monetary_before", "monetary_after"]].values.tolist() == [[50, 50], [10, 40]]
    text = migration.headline(table, ORDER, currency="£", dates=("2011-06-01", "2011-12-09"))
    assert text == ("1 Champions slipped to At Risk between 2011-06-01 and 2011-12-09: £50 of "
                    "the first period's revenue. The largest rise: 1 At Risk became Loyal. "
                    "2 of the 3 customers at both dates changed segment; 1 is new.")


def test_two_files_have_gone_customers() -> None:
    before = _table([("a", "Champions", 100.0), ("b", "Loyal", 50.0)])
    after = _table([("a", "Loyal", 20.0), ("c", "Champions", 30.0)])
    paired = migration.pair(before, after, cumulative=False)
    table = migration.migration_table(paired, ORDER)
    assert [tuple(r) for r in table.itertuples(index=False)] == [
        ("Champions", "Loyal", 1, 100.0, 20.0), ("Loyal", "(gone)", 1, 50.0, 0.0),
        ("(new)", "Champions", 1, 0.0, 30.0)]
    matrix = migration.migration_matrix(table, ORDER)
    assert matrix.loc["Loyal", migration.GONE] == 1 and matrix.loc["total", "total"] == 3
    assert migration.headline(table, ORDER).endswith("1 is new and 1 is gone.")


def reconciles(table: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> None:
    """Row totals are the first snapshot's segment sizes and revenue (plus new), column
    totals the second's (plus gone)."""
    rows = table.groupby("from_segment")["customers"].sum()
    cols = table.groupby("to_segment")["customers"].sum()
    new = int(rows.pop(migration.NEW)) if migration.NEW in rows else 0
    gone = int(cols.pop(migration.GONE)) if migration.GONE in cols else 0
    assert rows.sort_index().to_dict() == before["segment"].value_counts().sort_index().to_dict()
    assert cols.sort_index().to_dict() == after["segment"].value_counts().sort_index().to_dict()
    ids_before, ids_after = set(before["customer_id"]), set(after["customer_id"])
    assert new == len(ids_after - ids_before) and gone == len(ids_before - ids_after)
    revenue = table[table["from_segment"] != migration.NEW].groupby("from_segment")[
        "revenue_before"].sum()
    expected = before.groupby("segment")["monetary"].sum()
    np.testing.assert_allclose(revenue.sort_index(), expected.sort_index(), rtol=1e-12)


def test_random_snapshots_reconcile_exactly() -> None:
    rng = np.random.default_rng(5)
    ids = np.array([f"c{i}" for i in range(500)])
    names = np.array([*ORDER, "Lost"])
    before = _table([(i, s, m) for i, s, m in zip(
        ids[:400], rng.choice(names, 400), rng.gamma(2, 50, 400), strict=True)])
    after = _table([(i, s, m) for i, s, m in zip(
        ids[100:], rng.choice(names, 400), rng.gamma(2, 50, 400), strict=True)])
    table = migration.migration_table(migration.pair(before, after, cumulative=False), ORDER)
    reconciles(table, before, after)
    matrix = migration.migration_matrix(table, ORDER)
    assert matrix.loc["total", "total"] == 500
    assert matrix.loc[migration.NEW, "total"] == 100
    assert matrix.loc["total", migration.GONE] == 100

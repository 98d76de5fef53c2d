"""Cohorts by first-purchase month: the SQL against hand-worked tables and against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import custseg
from custseg import cohorts, synth
from tests import reference


def _log(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """An Online Retail-shaped log from (customer, invoice, date, amount) rows."""
    return pd.DataFrame({
        "InvoiceNo": [r[1] for r in rows],
        "StockCode": [f"P{i}" for i in range(len(rows))],
        "Description": "item",
        "Quantity": 1,
        "InvoiceDate": pd.to_datetime([r[2] for r in rows]),
        "UnitPrice": [r[3] for r in rows],
        "CustomerID": [float(r[0]) for r in rows],
        "Country": "France",
    })


def _pandas_cohorts(lines: pd.DataFrame) -> pd.DataFrame:
    """The cohort table computed another way: pandas monthly periods."""
    month = pd.to_datetime(lines["invoice_date"]).dt.to_period("M")
    frame = lines.assign(month=month)
    cohort = frame.groupby("customer_id")["month"].transform("min")
    frame = frame.assign(cohort=cohort, months_since=(month - cohort).map(lambda d: d.n))
    out = (frame.groupby(["cohort", "months_since"])
           .agg(customers=("customer_id", "nunique"), revenue=("amount", "sum"))
           .reset_index())
    out["cohort"] = out["cohort"].dt.to_timestamp()
    size = out[out["months_since"] == 0].set_index("cohort")["customers"]
    out["cohort_size"] = out["cohort"].map(size)
    out["retention"] = out["customers"] / out["cohort_size"]
    return out


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = got.sort_values(["cohort", "months_since"]).reset_index(drop=True)
    expected = expected.sort_values(["cohort", "months_since"]).reset_index(drop=True)
    assert got[["cohort", "months_since", "customers", "cohort_size"]].astype(str).equals(
        expected[["cohort", "months_since", "customers", "cohort_size"]].astype(str))
    np.testing.assert_allclose(got["revenue"], expected["revenue"], rtol=1e-9)
    np.testing.assert_allclose(got["retention"], expected["retention"], rtol=1e-12)


def test_hand_worked_cohorts_and_matrix() -> None:
    # Customer 1 buys in Jan, Feb and Apr; 2 in Jan only (twice); 3 first in Mar, again in Apr.
    log = _log([("1", "501", "2011-01-05 10:00", 10), ("1", "502", "2011-02-07 10:00", 20),
                ("1", "503", "2011-04-01 10:00", 5), ("2", "504", "2011-01-20 10:00", 7),
                ("2", "505", "2011-01-28 10:00", 3), ("3", "506", "2011-03-31 23:00", 4),
                ("3", "507", "2011-04-02 10:00", 6)])
    table = cohorts.cohort_table(custseg.load(log))
    assert list(table.columns) == list(cohorts.COLUMNS)
    rows = [(str(r.cohort.date()), r.months_since, r.customers, r.revenue, r.cohort_size)
            for r in table.itertuples()]
    assert rows == [("2011-01-01", 0, 2, 20.0, 2), ("2011-01-01", 1, 1, 20.0, 2),
                    ("2011-01-01", 3, 1, 5.0, 2), ("2011-03-01", 0, 1, 4.0, 1),
                    ("2011-03-01", 1, 1, 6.0, 1)]
    matrix = cohorts.retention_matrix(table)
    # January's month 2 (March) is observed with no buyer: 0. March's months 2–3 lie after
    # April, the data's last month: not observed.
    assert matrix.loc["2011-01-01"].tolist() == [1.0, 0.5, 0.0, 0.5]
    march = matrix.loc["2011-03-01"].tolist()
    assert march[:2] == [1.0, 1.0] and np.isnan(march[2]) and np.isnan(march[3])
    revenue = cohorts.retention_matrix(table, "revenue")
    assert revenue.loc["2011-01-01"].tolist() == [20.0, 20.0, 0.0, 5.0]


def test_demo_data_against_pandas() -> None:
    frame = synth.generate_frame(300, 3)[0]
    lines = reference.kept_lines(frame)
    _same(cohorts.cohort_table(custseg.load(frame)), _pandas_cohorts(lines))


@pytest.mark.usefixtures("real_csv")
def test_real_data_against_pandas_and_the_rfm_table(seed_dataset, seed_rfm) -> None:
    lines = seed_dataset.con.execute(
        "SELECT customer_id, invoice_date, amount FROM clean").df()
    table = cohorts.cohort_table(seed_dataset)
    _same(table, _pandas_cohorts(lines))
    # Every customer is in exactly one cohort, that of their first purchase.
    firsts = pd.to_datetime(seed_rfm["first_purchase"]).dt.to_period("M").dt.to_timestamp()
    sizes = table[table["months_since"] == 0].set_index("cohort")["customers"]
    assert sizes.to_dict() == firsts.value_counts().sort_index().to_dict()
    assert table["revenue"].sum() == pytest.approx(seed_rfm["monetary"].sum(), rel=1e-9)

"""Cohorts: customers grouped by the month of their first purchase, and how many of each cohort
buy in each later month (retention), with their revenue.

Computed in SQL over the kept lines (``clean``), so it streams at any size; only one row per
cohort and month comes back. Months are calendar months of the UTC timestamps, the same clock
as the rest of custseg. A cohort's first month is month 0, so its retention there is 100%.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from custseg.pipeline import Dataset

#: Columns of :func:`cohort_table`, in order.
COLUMNS = ("cohort", "months_since", "customers", "revenue", "cohort_size", "retention")

_SQL = """
WITH months AS (
  SELECT customer_id, date_trunc('month', invoice_date) AS month, SUM(amount) AS revenue
  FROM clean
  GROUP BY customer_id, month
), firsts AS (
  SELECT customer_id, MIN(month) AS cohort FROM months GROUP BY customer_id
)
SELECT CAST(f.cohort AS DATE) AS cohort,
       CAST(date_diff('month', f.cohort, m.month) AS INTEGER) AS months_since,
       COUNT(*) AS customers,
       SUM(m.revenue) AS revenue
FROM months m JOIN firsts f USING (customer_id)
GROUP BY f.cohort, months_since
ORDER BY cohort, months_since
"""


def cohort_table(dataset: Dataset) -> pd.DataFrame:
    """One row per cohort and month since its first month in which any of it bought.

    Returns
    -------
    :data:`COLUMNS`: ``cohort`` (first day of the first-purchase month), ``months_since``
    (0 for that month), ``customers`` (of the cohort buying in that month), ``revenue``
    (their kept amounts in that month), ``cohort_size`` and ``retention``
    (customers / cohort_size). Months in which nobody of a cohort bought have no row:
    :func:`retention_matrix` shows them as 0.
    """
    cursor = dataset.con.cursor()
    try:
        table = cursor.execute(_SQL).df()
    finally:
        cursor.close()
    table["cohort"] = pd.to_datetime(table["cohort"])
    table["customers"] = table["customers"].astype("int64")
    size = table.loc[table["months_since"] == 0].set_index("cohort")["customers"]
    table["cohort_size"] = table["cohort"].map(size).astype("int64")
    table["retention"] = table["customers"] / table["cohort_size"]
    return table[list(COLUMNS)]


def retention_matrix(table: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """Cohorts (rows) × months since the first purchase (columns) of ``value`` from
    :func:`cohort_table`.

    A month the data covers in which nobody of the cohort bought is 0; a month after the
    data's last month is NaN (not yet observed), so a young cohort's empty right-hand cells
    are not read as customers lost.
    """
    if table.empty:
        return pd.DataFrame()
    wide = table.pivot(index="cohort", columns="months_since", values=value)
    wide = wide.reindex(columns=range(int(table["months_since"].max()) + 1))
    # Months counted from year 0, so that "the data's last month" is one number.
    first = wide.index.year * 12 + wide.index.month - 1
    cohort = table["cohort"].dt
    last = int((cohort.year * 12 + cohort.month - 1 + table["months_since"]).max())
    observed = np.asarray(wide.columns)[None, :] <= (last - np.asarray(first))[:, None]
    wide = wide.mask(observed & wide.isna(), 0.0)
    wide.columns.name = "months since first purchase"
    return wide


#: The months after the first whose retention :func:`cohort_summary` reports.
SUMMARY_MONTHS = (1, 3, 6)


def cohort_summary(table: pd.DataFrame, months: tuple[int, ...] = SUMMARY_MONTHS) -> pd.DataFrame:
    """One row per cohort: its size, its revenue over every month, and its retention at
    ``months`` (NaN where that month lies after the data).

    Returns
    -------
    ``cohort``, ``customers``, ``revenue``, then ``month_<m>`` per month of ``months``.
    """
    if table.empty:
        return pd.DataFrame(columns=["cohort", "customers", "revenue",
                                     *(f"month_{m}" for m in months)])
    matrix = retention_matrix(table)
    out = pd.DataFrame({
        "cohort": matrix.index,
        "customers": table.groupby("cohort")["cohort_size"].first().reindex(matrix.index)
        .to_numpy(),
        "revenue": table.groupby("cohort")["revenue"].sum().reindex(matrix.index).to_numpy()})
    for m in months:
        out[f"month_{m}"] = (matrix[m].to_numpy() if m in matrix.columns
                             else np.full(len(matrix), np.nan))
    return out

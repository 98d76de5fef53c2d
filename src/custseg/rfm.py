"""The RFM table: one row per customer, computed in SQL over the ``clean`` view.

Quintile scores use NTILE(5) over the value with the customer id as tie-breaker, so equal
values split deterministically (the usual ``qcut(rank(method="first"))``). Recency is reversed:
score 5 is the most recent fifth.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from custseg.errors import EmptyResultError

#: The per-customer features every model uses, in this order: columns of the RFM table.
FEATURES: tuple[str, ...] = ("recency", "frequency", "monetary")

#: The RFM grid: rows are R scores 5..1, columns FM scores 1..5, FM = round-half-up((F + M) / 2).
GRID_ROWS: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Loyal"),
    3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose"),
    1: ("Lost", "Lost", "At Risk", "At Risk", "Can't Lose"),
}

#: Every RFM-grid name, most valuable first.
GRID_SEGMENTS: tuple[str, ...] = (
    "Champions", "Loyal", "Potential Loyalist", "New", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose", "Hibernating", "Lost",
)

_GRID = np.array([GRID_ROWS[r] for r in (1, 2, 3, 4, 5)], dtype=object)  # [r-1, fm-1]


def default_snapshot(con: duckdb.DuckDBPyConnection) -> datetime:
    """Latest kept invoice timestamp + 1 day."""
    latest = con.execute("SELECT max(invoice_date) FROM clean").fetchall()[0][0]
    if latest is None:
        raise EmptyResultError("No kept line has an invoice date; nothing to build RFM from.")
    return latest + timedelta(days=1)


def snapshot_for(con: duckdb.DuckDBPyConnection, as_of: date | None) -> datetime:
    """The snapshot timestamp: midnight of ``as_of``, or :func:`default_snapshot`."""
    if as_of is None:
        return default_snapshot(con)
    return datetime(as_of.year, as_of.month, as_of.day)


#: The RFM query over some of the kept lines: ``{before}`` is empty or a WHERE clause.
_RFM_TEMPLATE = """
WITH per AS (
  SELECT customer_id,
         min(invoice_date) AS first_purchase,
         max(invoice_date) AS last_purchase,
         count(DISTINCT invoice) AS frequency,
         sum(amount) AS monetary
  FROM clean{before}
  GROUP BY customer_id
), base AS (
  SELECT customer_id,
         CAST(floor((epoch(CAST(? AS TIMESTAMP)) - epoch(last_purchase)) / 86400) AS INTEGER)
           AS recency,
         CAST(frequency AS INTEGER) AS frequency,
         monetary,
         first_purchase,
         last_purchase,
         CAST(floor((epoch(CAST(? AS TIMESTAMP)) - epoch(first_purchase)) / 86400) AS INTEGER)
           AS tenure,
         monetary / frequency AS avg_order_value
  FROM per
)
SELECT *,
       CAST(ntile(5) OVER (ORDER BY recency DESC, customer_id) AS INTEGER) AS r_score,
       CAST(ntile(5) OVER (ORDER BY frequency, customer_id) AS INTEGER) AS f_score,
       CAST(ntile(5) OVER (ORDER BY monetary, customer_id) AS INTEGER) AS m_score
FROM base
ORDER BY customer_id
"""
#: The RFM query over every kept line (what a run computes).
RFM_SQL = _RFM_TEMPLATE.format(before="")


def build_rfm(con: duckdb.DuckDBPyConnection, snapshot: datetime, *,
              before: datetime | None = None) -> pd.DataFrame:
    """Compute the RFM table from the ``clean`` view.

    Parameters
    ----------
    snapshot:
        The timestamp recency and tenure are measured to (see :func:`snapshot_for`).
    before:
        Only lines before this instant count (an earlier snapshot from the same lines:
        :mod:`custseg.snapshots`); None for every kept line, as a run does.

    Returns
    -------
    One row per customer, sorted by ``customer_id``, with the columns listed in
    docs/architecture.md, including ``rfm_segment``.
    """
    # No filter at all when None: a run's table is the one it always was.
    where, params = ("", []) if before is None else (" WHERE invoice_date < ?", [before])
    rfm = con.execute(_RFM_TEMPLATE.format(before=where), [*params, snapshot, snapshot]).df()
    if rfm.empty:
        raise EmptyResultError("Cleaning kept no customers; relax the cleaning rules.")
    rfm["customer_id"] = rfm["customer_id"].astype(str)
    rfm["rfm_segment"] = grid_segment(rfm["r_score"].to_numpy(), rfm["f_score"].to_numpy(),
                                      rfm["m_score"].to_numpy())
    return rfm.reset_index(drop=True)


def grid_segment(r: np.ndarray, f: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Name each customer from R, F and M scores (1–5) with the RFM grid."""
    fm = (np.asarray(f) + np.asarray(m) + 1) // 2
    return _GRID[np.asarray(r) - 1, fm - 1].astype(str)

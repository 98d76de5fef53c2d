"""The modelling inputs of the lifetime-value models, per customer, in one SQL over ``clean``.

The BG/NBD and Gamma-Gamma models read, for each customer, what lifetimes'
``summary_data_from_transaction_data(freq="D")`` computes, with purchases counted by calendar
day (several invoices on one day are one purchase, their amounts summed):

- ``frequency``: repeat purchase days (distinct purchase days − 1) up to the calibration end;
- ``recency``: days from the first to the last purchase day;
- ``T``: days from the first purchase day to the calibration end;
- ``monetary``: mean spend of the repeat purchase days (0 without one);
- ``holdout``: purchase days after the calibration end up to the observation end (0 when the
  two ends are the same day: the full fit).

Computed here in SQL, beside the RFM table, rather than by lifetimes' pandas summary, which is
slow and memory-hungry at scale. Customers whose first purchase falls after the calibration
end are not in the table (the models cannot know them yet).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

#: Columns of :func:`clv_inputs`, in order.
INPUT_COLUMNS: tuple[str, ...] = ("customer_id", "frequency", "recency", "T", "monetary",
                                  "holdout")

CLV_INPUTS_SQL = """
WITH days AS (
  SELECT customer_id, CAST(invoice_date AS DATE) AS day, sum(amount) AS spend
  FROM clean
  WHERE CAST(invoice_date AS DATE) <= CAST(? AS DATE)
  GROUP BY customer_id, CAST(invoice_date AS DATE)
), firsts AS (
  SELECT customer_id, min(day) AS first_day
  FROM days
  WHERE day <= CAST(? AS DATE)
  GROUP BY customer_id
)
SELECT d.customer_id,
       CAST(count(*) FILTER (WHERE d.day <= CAST(? AS DATE)) - 1 AS INTEGER) AS frequency,
       CAST(date_diff('day', f.first_day,
                      max(d.day) FILTER (WHERE d.day <= CAST(? AS DATE))) AS DOUBLE) AS recency,
       CAST(date_diff('day', f.first_day, CAST(? AS DATE)) AS DOUBLE) AS "T",
       coalesce(avg(d.spend) FILTER (WHERE d.day > f.first_day AND d.day <= CAST(? AS DATE)),
                0.0) AS monetary,
       CAST(count(*) FILTER (WHERE d.day > CAST(? AS DATE)) AS INTEGER) AS holdout
FROM days d
JOIN firsts f ON f.customer_id = d.customer_id
GROUP BY d.customer_id, f.first_day
ORDER BY d.customer_id
"""


def observation_end(snapshot: datetime) -> date:
    """The last whole day of data before ``snapshot``: the day of the latest invoice for the
    default snapshot (latest + 1 day), the day before ``as_of`` otherwise."""
    return (snapshot - timedelta(days=1)).date()


def clv_inputs(con: duckdb.DuckDBPyConnection, calibration_end: date,
               observation_end: date) -> pd.DataFrame:
    """Per-customer modelling inputs (:data:`INPUT_COLUMNS`), sorted by ``customer_id``.

    Parameters
    ----------
    calibration_end:
        The models see purchases up to and including this day.
    observation_end:
        Purchases after ``calibration_end`` up to and including this day are counted in
        ``holdout``; pass ``calibration_end`` for the full fit.
    """
    cal, obs = calibration_end, observation_end
    frame = con.execute(CLV_INPUTS_SQL, [obs, cal, cal, cal, cal, cal, cal]).df()
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame[list(INPUT_COLUMNS)].reset_index(drop=True)


def first_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The first purchase day of the cleaned lines (None when there is none)."""
    value = con.execute("SELECT CAST(min(invoice_date) AS DATE) FROM clean").fetchall()[0][0]
    return value

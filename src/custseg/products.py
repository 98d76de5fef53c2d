"""What each segment buys (product mix, lift) and which products to stock first, in SQL.

Everything is computed by the engine over the ``clean`` view joined to a customer → segment
assignment registered as the table ``segment_customers``; only the small result comes back to
pandas. Non-product stock codes (postage, fees, manual lines, vouchers: the data preset's,
e.g. :data:`custseg.config.NON_PRODUCT_CODES` for Online Retail) are always left out — even
when the cleaning rule ``non_product`` is off — from the products *and* from the revenue
totals that shares divide by.

Definitions (see docs/products.md):

* ``segment_share`` — the product's revenue from the segment ÷ the segment's product revenue.
* ``overall_share`` — the product's revenue from all assigned customers ÷ their product revenue.
* ``lift`` — ``segment_share / overall_share``: above 1 the segment over-buys the product.
* most valuable segments — the first segments of the profile (ordered most valuable first) whose
  revenue shares add up to at least ``cover`` (half the revenue by default).
* trend — revenue in the second half of the data's period ÷ revenue in the first half − 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from custseg import clean
from custseg.config import CleaningConfig
from custseg.errors import ConfigError, InputError

#: Columns of :func:`segment_products`.
PRODUCT_COLUMNS = ("segment", "stock_code", "description", "revenue", "customers",
                   "segment_share", "overall_share", "lift", "rank_revenue", "rank_customers")
#: Columns of :func:`stock_priorities`.
PRIORITY_COLUMNS = ("rank", "stock_code", "description", "revenue", "share", "customers",
                    "first_half", "second_half", "trend", "trend_label")
#: A trend within ± this band counts as "steady".
STEADY_BAND = 0.10
#: Name of the customer → segment table the statements join to.
ASSIGNMENT_TABLE = "segment_customers"


def product_filter(cleaning: CleaningConfig | None = None) -> str:
    """The SQL condition keeping product lines: a stock code that is not a non-product code.

    The codes and prefixes come from ``cleaning`` (none unless a data preset gave them); the filter
    applies whether or not the cleaning rule ``non_product`` is switched on.
    """
    # The cleaning rule's own condition, so both places agree on what a product is.
    non_product = clean.non_product_condition(cleaning or CleaningConfig())
    return f"stock_code IS NOT NULL AND NOT ({non_product})"


#: Temporary tables of the assignment's cursor that both statements read.
TOTALS_TABLE = "segment_product_totals"
#: Revenue per segment and product (:func:`money_sql`).
MONEY_TABLE = "segment_product_money"
#: Buyers per segment and product, one table a pass (:func:`buyers_sql`) named with its number
#: after this: Spark cannot insert into a temporary view.
BUYERS_TABLE = "segment_product_buyers"
#: Above this many kept lines the buyers are counted in passes over shares of the customers,
#: so that the distinct (customer, product) pairs of a pass stay within the memory limit
#: (nearly one pair per kept line in generated logs; 7.7M pairs took 0-18 MB of spill under
#: the 1 GB limit, docs/scale.md).
BUYERS_PASS_LINES = 12_000_000
NAMES_TABLE = "product_names"

_ASSIGNED = f"""assigned AS (
  SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(segment AS VARCHAR) AS segment
  FROM {ASSIGNMENT_TABLE}
)"""


def money_sql(cleaning: CleaningConfig | None = None) -> str:
    """Per segment and product, revenue and the revenue of each half of the data's period
    (temp table :data:`MONEY_TABLE`): one pass over the lines into one small group a
    segment and product.

    The period's midpoint is that of every kept line (all customers), so the two halves are
    the same calendar halves whichever segments are chosen.
    """
    return f"""
CREATE OR REPLACE TEMP TABLE {MONEY_TABLE} AS
WITH {_ASSIGNED}, bounds AS (
  SELECT (epoch(min(invoice_date)) + epoch(max(invoice_date))) / 2 AS mid FROM clean
)
SELECT a.segment, c.stock_code, sum(c.amount) AS revenue,
       sum(CASE WHEN epoch(c.invoice_date) < b.mid THEN c.amount ELSE 0 END) AS first_half,
       sum(CASE WHEN epoch(c.invoice_date) >= b.mid THEN c.amount ELSE 0 END) AS second_half
FROM clean c
JOIN assigned a ON a.customer_id = c.customer_id
CROSS JOIN bounds b
WHERE {product_filter(cleaning)}
GROUP BY a.segment, c.stock_code
"""


def buyers_sql(cleaning: CleaningConfig | None = None, part: int = 0, parts: int = 1) -> str:
    """Per segment and product, the number of buyers among the customers whose hash falls in
    share ``part`` of ``parts`` (temp table :data:`BUYERS_TABLE` and the pass's number).

    The buyers are the distinct (customer, product) pairs, counted per segment: a customer is
    in one segment and one share, so buyers add up across both. Distinct pairs without any
    sums are the smallest table that counts them exactly (with the sums beside them, 7.7M
    pairs spilled 190 MB under the 1 GB limit; ``count(DISTINCT)`` per product ran the limit
    out at 100M lines).
    """
    share = ""
    if parts > 1:
        n = int(parts)  # positive on both engines (Spark's hash is a signed integer)
        share = f"AND (hash(customer_id) % {n} + {n}) % {n} = {int(part)}"
    return f"""
CREATE OR REPLACE TEMP TABLE {BUYERS_TABLE}_{int(part)} AS
WITH {_ASSIGNED}, pairs AS (
  SELECT DISTINCT customer_id, stock_code FROM clean
  WHERE {product_filter(cleaning)} {share}
)
SELECT a.segment, p.stock_code, count(*) AS customers
FROM pairs p
JOIN assigned a ON a.customer_id = p.customer_id
GROUP BY a.segment, p.stock_code
"""


def totals_sql(parts: int = 1) -> str:
    """:data:`TOTALS_TABLE`, per segment and product: revenue, buyers and the revenue of each
    half of the period, from :func:`money_sql` and the ``parts`` passes of
    :func:`buyers_sql`."""
    passes = " UNION ALL ".join(f"SELECT * FROM {BUYERS_TABLE}_{part}" for part in range(parts))
    return f"""
CREATE OR REPLACE TEMP TABLE {TOTALS_TABLE} AS
WITH buyers AS (
  SELECT segment, stock_code, CAST(sum(customers) AS BIGINT) AS customers
  FROM ({passes}) passes
  GROUP BY segment, stock_code
)
SELECT m.segment, m.stock_code, m.revenue, b.customers, m.first_half, m.second_half
FROM {MONEY_TABLE} m
JOIN buyers b ON b.segment = m.segment AND b.stock_code = m.stock_code
"""


def names_sql() -> str:
    """Each stock code's most common trimmed description (temp table :data:`NAMES_TABLE`)."""
    return f"""
CREATE OR REPLACE TEMP TABLE {NAMES_TABLE} AS
WITH name_counts AS (
  SELECT stock_code, trim(description) AS description,
         row_number() OVER (PARTITION BY stock_code
                            ORDER BY count(*) DESC, trim(description)) AS pick
  FROM clean
  WHERE stock_code IS NOT NULL AND description IS NOT NULL
  GROUP BY stock_code, trim(description)
)
SELECT stock_code, description FROM name_counts WHERE pick = 1
"""


def segment_products_sql() -> str:
    """The statement behind :func:`segment_products`, over :func:`totals_sql`'s table;
    parameters: ``top_n`` twice."""
    return f"""
WITH overall AS (
  SELECT stock_code, sum(revenue) AS revenue FROM {TOTALS_TABLE} GROUP BY stock_code
), segment_totals AS (
  SELECT segment, sum(revenue) AS revenue FROM {TOTALS_TABLE} GROUP BY segment
), grand AS (
  SELECT sum(revenue) AS revenue FROM overall
), ranked AS (
  SELECT p.segment, p.stock_code, p.revenue, p.customers,
         p.revenue / nullif(t.revenue, 0) AS segment_share,
         o.revenue / nullif(g.revenue, 0) AS overall_share,
         t.revenue AS segment_revenue,
         row_number() OVER (PARTITION BY p.segment
                            ORDER BY p.revenue DESC, p.stock_code) AS rank_revenue,
         row_number() OVER (PARTITION BY p.segment
                            ORDER BY p.customers DESC, p.revenue DESC, p.stock_code)
           AS rank_customers
  FROM {TOTALS_TABLE} p
  JOIN segment_totals t ON t.segment = p.segment
  JOIN overall o ON o.stock_code = p.stock_code
  CROSS JOIN grand g
)
SELECT r.segment, r.stock_code, n.description, r.revenue,
       CAST(r.customers AS BIGINT) AS customers, r.segment_share, r.overall_share,
       r.segment_share / nullif(r.overall_share, 0) AS lift,
       CAST(r.rank_revenue AS BIGINT) AS rank_revenue,
       CAST(r.rank_customers AS BIGINT) AS rank_customers
FROM ranked r LEFT JOIN {NAMES_TABLE} n ON n.stock_code = r.stock_code
WHERE r.rank_revenue <= ? OR r.rank_customers <= ?
ORDER BY r.segment_revenue DESC, r.segment, r.rank_revenue
"""


def stock_priorities_sql() -> str:
    """The statement behind :func:`stock_priorities`, over :func:`totals_sql`'s table;
    parameters: the chosen segments (a list), ``top_n``."""
    return f"""
WITH per_product AS (
  SELECT stock_code, sum(revenue) AS revenue, sum(customers) AS customers,
         sum(first_half) AS first_half, sum(second_half) AS second_half
  FROM {TOTALS_TABLE}
  WHERE list_contains(?, segment)
  GROUP BY stock_code
), shared AS (
  SELECT *, revenue / nullif(sum(revenue) OVER (), 0) AS share,
         row_number() OVER (ORDER BY revenue DESC, stock_code) AS product_rank
  FROM per_product
)
SELECT CAST(s.product_rank AS BIGINT) AS rank, s.stock_code, n.description, s.revenue,
       s.share, CAST(s.customers AS BIGINT) AS customers, s.first_half, s.second_half,
       s.second_half / nullif(s.first_half, 0) - 1 AS trend
FROM shared s LEFT JOIN {NAMES_TABLE} n ON n.stock_code = s.stock_code
WHERE s.product_rank <= ?
ORDER BY s.product_rank
"""


@contextmanager
def _totals(con: duckdb.DuckDBPyConnection, customers: pd.DataFrame,
            cleaning: CleaningConfig | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on ``con`` holding the temp tables of :func:`totals_sql` and :func:`names_sql`
    for ``customers`` (customer_id, segment), registered as :data:`ASSIGNMENT_TABLE`.

    A cursor of its own keeps the registration and the temp tables local, and works even when
    the caller's connection holds an unfinished result (DuckDB refuses ``register`` then).
    """
    missing = [c for c in ("customer_id", "segment") if c not in customers.columns]
    if missing:
        raise InputError(f"The customer table needs columns customer_id and segment; "
                         f"{', '.join(missing)} missing. Pass the pipeline's customer table "
                         f"(RFM table with a segment column).")
    frame = pd.DataFrame({"customer_id": customers["customer_id"].astype(str).to_numpy(),
                          "segment": customers["segment"].astype(str).to_numpy()})
    cursor = con.cursor()
    try:
        cursor.register(ASSIGNMENT_TABLE, frame)
        kept = cursor.execute("SELECT count(*) FROM clean").fetchall()[0][0]
        parts = max(1, math.ceil(int(kept) / BUYERS_PASS_LINES))
        # The tables go with the cursor, like the totals.
        cursor.execute(money_sql(cleaning))
        for part in range(parts):
            cursor.execute(buyers_sql(cleaning, part, parts))
        cursor.execute(totals_sql(parts))
        cursor.execute(names_sql())
        yield cursor
    finally:
        cursor.close()


def _check_top_n(top_n: int) -> None:
    if top_n < 1:
        raise ConfigError(f"top_n must be at least 1, got {top_n}.")


def segment_products(con: duckdb.DuckDBPyConnection, customers: pd.DataFrame, top_n: int = 10,
                     cleaning: CleaningConfig | None = None) -> pd.DataFrame:
    """Each segment's top products by revenue and by number of buyers, with shares and lift.

    Parameters
    ----------
    con:
        A connection holding the ``clean`` view.
    customers:
        One row per customer with ``customer_id`` and ``segment``.
    top_n:
        A product is kept when it is in the segment's top ``top_n`` by revenue or by buyers.
    cleaning:
        Where the non-product codes come from (pass the dataset's preset-resolved
        ``Dataset.config.cleaning``; by default there are none).

    Returns
    -------
    :data:`PRODUCT_COLUMNS`, segments by revenue (largest first), then by ``rank_revenue``.
    Empty when the input has no stock codes.
    """
    _check_top_n(top_n)
    with _totals(con, customers, cleaning) as cursor:
        return _segment_products(cursor, top_n)


def _segment_products(cursor: duckdb.DuckDBPyConnection, top_n: int) -> pd.DataFrame:
    table = cursor.execute(segment_products_sql(), [top_n, top_n]).df()
    return table[list(PRODUCT_COLUMNS)].reset_index(drop=True)


def valuable_segments(profile: pd.DataFrame, cover: float = 0.5) -> list[str]:
    """The most valuable segments: the first ones of ``profile`` holding ``cover`` of revenue.

    Parameters
    ----------
    profile:
        Segment table ordered most valuable first, with ``segment`` and ``revenue``.
    cover:
        Share of total revenue (0–1] the chosen segments must reach together.

    Returns
    -------
    Segment names in profile order; at least the first segment.
    """
    if not 0 < cover <= 1:
        raise ConfigError(f"cover must be in (0, 1], got {cover}.")
    revenue = profile["revenue"].to_numpy(dtype=float)
    before = np.concatenate([[0.0], np.cumsum(revenue)[:-1]]) / revenue.sum()
    # A segment joins while the segments before it still hold less than `cover`.
    return profile["segment"].astype(str)[before < cover].tolist()


def trend_label(trend: pd.Series, band: float = STEADY_BAND) -> pd.Series:
    """``rising`` / ``falling`` / ``steady`` (within ± ``band``) / ``new`` (no first-half sales)."""
    values = trend.to_numpy(dtype=float)
    labels = np.select([np.isnan(values), values > band, values < -band],
                       ["new", "rising", "falling"], "steady")
    return pd.Series(labels, index=trend.index, name="trend_label")


def stock_priorities(con: duckdb.DuckDBPyConnection, customers: pd.DataFrame,
                     segments_profile: pd.DataFrame, top_n: int = 20, *, cover: float = 0.5,
                     cleaning: CleaningConfig | None = None) -> pd.DataFrame:
    """Products ranked by revenue from the most valuable segments, with share and trend.

    Parameters
    ----------
    con:
        A connection holding the ``clean`` view.
    customers:
        One row per customer with ``customer_id`` and ``segment``.
    segments_profile:
        Segment table ordered most valuable first (``segment``, ``revenue``, …).
    top_n:
        Number of products returned.
    cover:
        See :func:`valuable_segments`.
    cleaning:
        Where the non-product codes come from (pass the dataset's preset-resolved
        ``Dataset.config.cleaning``; by default there are none).

    Returns
    -------
    :data:`PRIORITY_COLUMNS`; ``share`` is of the chosen segments' product revenue,
    ``trend`` is NaN for products without first-half sales. ``attrs["segments"]`` lists the
    chosen segments.
    """
    _check_top_n(top_n)
    chosen = valuable_segments(segments_profile, cover)
    with _totals(con, customers, cleaning) as cursor:
        return _stock_priorities(cursor, chosen, top_n)


def product_mix(con: duckdb.DuckDBPyConnection, customers: pd.DataFrame,
                segments_profile: pd.DataFrame, *, top_n: int = 10, priorities_n: int = 20,
                cover: float = 0.5, cleaning: CleaningConfig | None = None,
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`segment_products` and :func:`stock_priorities` from one pass over the lines."""
    _check_top_n(top_n)
    _check_top_n(priorities_n)
    chosen = valuable_segments(segments_profile, cover)
    with _totals(con, customers, cleaning) as cursor:
        return _segment_products(cursor, top_n), _stock_priorities(cursor, chosen, priorities_n)


def _stock_priorities(cursor: duckdb.DuckDBPyConnection, chosen: list[str],
                      top_n: int) -> pd.DataFrame:
    table = cursor.execute(stock_priorities_sql(), [chosen, top_n]).df()
    table["trend"] = table["trend"].astype(float)
    table["trend_label"] = trend_label(table["trend"])
    table = table[list(PRIORITY_COLUMNS)].reset_index(drop=True)
    table.attrs["segments"] = chosen
    return table


def summary_records(priorities: pd.DataFrame, n: int = 3) -> list[dict[str, Any]]:
    """The first ``n`` stock priorities as JSON-ready dicts for ``summary.json``.

    Keys: stock_code, description, revenue (2 dp), share, trend (4 dp or None), trend_label.
    """
    head = priorities.head(n)
    return [{
        "stock_code": str(row.stock_code),
        "description": str(row.description) if pd.notna(row.description) else str(row.stock_code),
        "revenue": round(float(row.revenue), 2),
        "share": round(float(row.share), 4),
        "trend": None if pd.isna(row.trend) else round(float(row.trend), 4),
        "trend_label": str(row.trend_label),
    } for row in head.itertuples(index=False)]

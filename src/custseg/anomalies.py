"""Unusual customers (Isolation Forest and LOF on the RFM features) and unusual transactions (SQL).

Customers are scored by two detectors on the scaled R/F/M matrix used for clustering; the primary
one (``AnomalyConfig.detector``) flags the top ``contamination`` share and each flagged customer
gets a reason in words: how many customers bought less (or more) recently, less (or more) often
and spent less (or more), e.g. "spent more than 99.6% of customers (£250,000)".

Transactions are judged in the engine over the table ``lines`` with robust statistics (median and
MAD of logarithms, see docs/anomalies.md); only the flagged rows come back to pandas, where the
reason text is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from custseg.cluster import profile_codes
from custseg.config import AnomalyConfig
from custseg.errors import ConfigError, InputError
from custseg.money import money_texts
from custseg.rfm import FEATURES

#: Kinds of flagged transactions, in the order of :func:`flag_transactions`'s output.
TRANSACTION_KINDS: tuple[str, ...] = (
    "price_outlier", "quantity_outlier", "invoice_total_outlier", "large_cancellation",
)
#: Plain words for each kind, for people (tables, charts, the executive summary); files keep
#: the kind names. Each label's plural is the label plus "s" ("y" → "ies").
KIND_LABELS: dict[str, str] = {
    "price_outlier": "Unusual unit price",
    "quantity_outlier": "Unusually large quantity",
    "invoice_total_outlier": "Unusually large invoice",
    "large_cancellation": "Large cancellation",
}
#: Columns of :func:`flag_transactions`.
TRANSACTION_COLUMNS: tuple[str, ...] = (
    "row_id", "invoice", "stock_code", "description", "quantity", "invoice_date", "unit_price",
    "amount", "customer_id", "country", "kind", "reason", "score",
)
#: Columns of :attr:`CustomerAnomalies.scores`.
SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id", "anomaly_score", "is_anomaly", "anomaly_reason", "second_score",
    "second_is_anomaly",
)
DETECTORS: tuple[str, ...] = ("isolation_forest", "lof")
#: A feature is named in a reason when its percentile is at least this far from the 50th
#: (below the 10th or above the 90th); the most extreme feature is always named.
EXTREME_DISTANCE = 40.0
#: Drop rules whose lines are still real transactions worth judging: the extreme-line rules
#: remove exactly the lines the transaction detectors are meant to look at.
JUDGED_RULES: tuple[str, ...] = ("max_line_total", "max_quantity")
CANCELLATION_RULE = "cancellation"
#: A score this close below its threshold reaches it. Quantities are whole numbers, so a line
#: 32 times its product's usual quantity, with a MAD of log 2, scores exactly 5: whether its
#: logarithms round to just above or just below depends on the maths library (DuckDB's C
#: library and Spark's JVM differ in the last bit), and both engines must flag the same lines.
TIE_TOLERANCE = 1e-9
_N_TREES = 100


# --------------------------------------------------------------------------- customers


@dataclass
class CustomerAnomalies:
    """Customer anomaly scores of both detectors.

    ``scores`` has :data:`SCORE_COLUMNS`, one row per customer in RFM order; scores are higher
    for more unusual customers and comparable within a run.
    """

    scores: pd.DataFrame
    detector: str
    second_detector: str
    #: Jaccard index of the two detectors' flagged sets (1.0 when both are empty).
    agreement: float
    n_flagged: int


def _check_customer_inputs(rfm: pd.DataFrame, cfg: AnomalyConfig, features: np.ndarray) -> None:
    if cfg.detector not in DETECTORS:
        raise ConfigError(f"Unknown anomaly detector {cfg.detector!r}. "
                          f"Use one of: {', '.join(DETECTORS)}.")
    if not 0 < cfg.contamination <= 0.5:
        raise ConfigError(f"Anomaly contamination must be in (0, 0.5], got {cfg.contamination}. "
                          "It is the share of customers to flag, e.g. 0.02 for 2%.")
    if features.ndim != 2 or len(features) != len(rfm):
        raise InputError(f"The feature matrix has shape {features.shape} but the RFM table has "
                         f"{len(rfm)} rows; pass the scaled features in RFM row order.")
    if len(rfm) < 3:
        raise InputError(f"Scoring customer anomalies needs at least 3 customers, got {len(rfm)}.")


def _isolation_forest(x: np.ndarray, cfg: AnomalyConfig, seed: int) -> np.ndarray:
    """Isolation Forest outlier score (higher = more unusual); trees see at most 256 rows each."""
    # contamination="auto": flags come from ranking (_top_share), so fit need not score the
    # training set a second time to set a threshold.
    model = IsolationForest(n_estimators=_N_TREES, max_samples=min(256, len(x)),
                            contamination="auto", random_state=seed)
    model.fit(x)
    return _per_profile(x, lambda rows: -model.score_samples(rows))


def _per_profile(x: np.ndarray, score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``score(x)`` computed once per distinct row and given to every copy of it.

    A fitted detector scores each row on its own, so copies get the same score bit for bit;
    scoring them once matters when many customers share a profile (one-time buyers with the
    same spend): LOF's neighbour search among thousands of points at distance 0 cannot prune
    and visits every copy for every copy (40 s at 1M customers with 60% in five profiles).
    """
    codes = profile_codes(x)
    first = np.unique(codes, return_index=True)[1]
    if len(first) == len(x):
        return score(x)
    return score(x[first])[codes]


def _lof(x: np.ndarray, cfg: AnomalyConfig, seed: int) -> np.ndarray:
    """LOF outlier factor (higher = more unusual).

    Up to ``cfg.lof_max_fit`` customers LOF is exact. Above it, LOF is fitted on a seeded
    sample of that size and the other customers are scored as new points (``novelty=True``):
    exact LOF took 20 s on a million customers (docs/anomalies.md).
    """
    n_neighbors = min(cfg.lof_neighbors, len(x) - 1)
    if len(x) <= cfg.lof_max_fit:
        model = LocalOutlierFactor(n_neighbors=n_neighbors)
        model.fit(x)
        return -model.negative_outlier_factor_
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(x), cfg.lof_max_fit, replace=False))
    model = LocalOutlierFactor(n_neighbors=n_neighbors, novelty=True)
    model.fit(x[sample])
    rest = np.ones(len(x), bool)
    rest[sample] = False
    score = np.empty(len(x))
    # Sampled customers keep their training LOF: scored as new points they would count
    # themselves among their own neighbours.
    score[sample] = -model.negative_outlier_factor_
    score[rest] = _per_profile(x[rest], lambda rows: -model.score_samples(rows))
    return score


_SCORERS = {"isolation_forest": _isolation_forest, "lof": _lof}


def _top_share(score: np.ndarray, share: float) -> np.ndarray:
    """Mask of the round(share × n) highest scores (ties broken by row order)."""
    n_flag = max(1, round(share * len(score)))
    order = np.argsort(-score, kind="stable")
    flagged = np.zeros(len(score), bool)
    flagged[order[:n_flag]] = True
    return flagged


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def explain_percentiles(rfm: pd.DataFrame) -> pd.DataFrame:
    """Percentile rank (0–100) of each customer's recency, frequency and monetary.

    The rank is ``scipy.stats.percentileofscore(..., kind="mean")``: the share of customers
    below the value plus half the share equal to it, so ties share one rank. It is computed
    from the mid-ranks (``scipy.stats.rankdata``, one sort) rather than by comparing every
    customer with every other.

    Parameters
    ----------
    rfm : RFM table with ``customer_id``, ``recency``, ``frequency``, ``monetary``.

    Returns
    -------
    DataFrame with ``customer_id`` and one column per feature, in RFM row order.
    """
    missing = [c for c in ("customer_id", *FEATURES) if c not in rfm]
    if missing:
        raise InputError(f"The RFM table lacks column(s) {', '.join(missing)}.")
    out = {"customer_id": rfm["customer_id"].to_numpy()}
    for col in FEATURES:
        # mid-rank = below + (equal + 1) / 2, so 2 × mid-rank − 1 = below + (below + equal).
        out[col] = (2 * rankdata(rfm[col]) - 1) * (50.0 / len(rfm))
    return pd.DataFrame(out, index=rfm.index)


def _shown_share(share: np.ndarray) -> np.ndarray:
    """A share of customers (0–100) as shown: whole numbers, tenths from 99 up (rounded
    down, so that "more than 99.96%" never reads "more than 100%")."""
    return np.where(share >= 99, np.floor(share * 10) / 10, np.round(share))


def _percent(share: np.ndarray) -> pd.Series:
    """'99.8%', '80%' (no trailing '.0')."""
    value = _shown_share(share)
    tenths = np.round(value * 10).astype(np.int64)
    return pd.Series(np.where(tenths % 10 == 0, np.char.mod("%d", tenths // 10),
                              np.char.mod("%.1f", value))) + "%"


#: How a reason words each feature: (above most customers, below most customers).
_COMPARISONS = {
    "recency": ("last bought longer ago than", "bought more recently than"),
    "frequency": ("more orders than", "fewer orders than"),
    "monetary": ("spent more than", "spent less than"),
}


def _strict_shares(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per value, the share (0–100) of customers strictly below it and strictly above it."""
    n = len(values)
    below = (rankdata(values, method="min") - 1) * (100.0 / n)
    above = (n - rankdata(values, method="max")) * (100.0 / n)
    return below, above


def _feature_value(col: str, values: pd.Series, currency: str) -> pd.Series:
    """The value in units: '300 days ago', '1 order', '£70,871'."""
    if col == "monetary":
        return money_texts(values, currency)
    whole = values.round().astype("int64")
    unit = {"recency": ("day ago", "days ago"), "frequency": ("order", "orders")}[col]
    return whole.map("{:,}".format) + np.where(whole == 1, f" {unit[0]}", f" {unit[1]}")


def _reasons(rfm: pd.DataFrame, pct: pd.DataFrame, currency: str,
             shares: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.Series:
    """'spent more than 99.9% of customers (£70,871), fewer orders than 62% (1 order)'.

    ``pct`` (mid-rank percentiles) decides which features are named and in which order;
    ``shares`` (strictly below, strictly above) gives the percentages, so that "more than
    95% of customers" is true as written even when many customers share a value.
    """
    first, later = [], []
    for col in FEATURES:
        high = (pct[col] >= 50).to_numpy()
        below, above = shares[col]
        share = _percent(np.where(high, below, above))
        words = pd.Series(np.where(high, _COMPARISONS[col][0], _COMPARISONS[col][1]))
        value = _feature_value(col, rfm[col].reset_index(drop=True), currency)
        first.append((words + " " + share + " of customers (" + value + ")").to_numpy())
        later.append((words + " " + share + " (" + value + ")").to_numpy())
    distance = np.abs(pct[list(FEATURES)].to_numpy() - 50.0)
    # Most extreme first; stable so equal distances keep R, F, M order.
    order = np.argsort(-distance, axis=1, kind="stable")
    first_text = np.take_along_axis(np.column_stack(first), order, axis=1)
    later_text = np.take_along_axis(np.column_stack(later), order, axis=1)
    named = np.take_along_axis(distance, order, axis=1) >= EXTREME_DISTANCE
    reason = pd.Series(first_text[:, 0])
    both = named[:, 1] & named[:, 2]
    reason = reason + np.where(named[:, 1], np.where(both, ", ", " and ") + later_text[:, 1], "")
    return reason + np.where(named[:, 2], " and " + later_text[:, 2], "")


def score_customers(rfm: pd.DataFrame, cfg: AnomalyConfig, features: np.ndarray,
                    seed: int, currency: str = "") -> CustomerAnomalies:
    """Score every customer with both detectors and explain the primary detector's flags.

    Parameters
    ----------
    rfm : RFM table (``customer_id``, ``recency``, ``frequency``, ``monetary``).
    cfg : anomaly settings; ``cfg.detector`` is the primary detector, the other one is second.
    features : the transformed, scaled R/F/M matrix used for clustering, in RFM row order.
    seed : random state of Isolation Forest and of the LOF sample.
    currency : written before spend in the reasons ("£", "EUR"; "" for none).

    Returns
    -------
    CustomerAnomalies
        Each detector flags the ``round(contamination × n)`` highest scores.

    Raises
    ------
    ConfigError : unknown detector or contamination outside (0, 0.5].
    InputError : features and RFM table disagree, or fewer than 3 customers.
    """
    x = np.asarray(features, dtype=float)
    _check_customer_inputs(rfm, cfg, x)
    second = next(d for d in DETECTORS if d != cfg.detector)
    score = _SCORERS[cfg.detector](x, cfg, seed)
    other = _SCORERS[second](x, cfg, seed)
    flagged = _top_share(score, cfg.contamination)
    other_flagged = _top_share(other, cfg.contamination)
    reason = np.full(len(rfm), "", dtype=object)
    pct = explain_percentiles(rfm)[flagged].reset_index(drop=True)
    shares = {c: tuple(part[flagged] for part in _strict_shares(rfm[c])) for c in FEATURES}
    reason[flagged] = _reasons(rfm[flagged], pct, currency, shares).to_numpy()
    scores = pd.DataFrame({
        "customer_id": rfm["customer_id"].to_numpy(), "anomaly_score": score,
        "is_anomaly": flagged, "anomaly_reason": reason, "second_score": other,
        "second_is_anomaly": other_flagged,
    })
    return CustomerAnomalies(scores, cfg.detector, second, _jaccard(flagged, other_flagged),
                             int(flagged.sum()))


# --------------------------------------------------------------------------- transactions


_LINE_COLUMNS = ", ".join(TRANSACTION_COLUMNS[:10])


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in TRANSACTION_COLUMNS[:10])


def _judged(extra: str) -> str:
    """Lines that are real, in-scope purchases (kept or dropped only for being extreme)."""
    rules = ", ".join(f"'{r}'" for r in JUDGED_RULES)
    return f"(drop_rule IS NULL OR drop_rule IN ({rules})) AND {extra}"


@dataclass(frozen=True)
class _LineTest:
    """One per-product test: the column judged on a log scale, and its threshold."""

    kind: str
    column: str
    floor: float
    z: float
    #: Score both directions (price) or only values above the usual one (quantity).
    two_sided: bool
    #: Judge lines of products with too few lines against all products (quantity) or skip
    #: them (price: prices of different products are not comparable).
    fallback: bool


def _line_tests(cfg: AnomalyConfig) -> tuple[_LineTest, ...]:
    return (
        _LineTest("price_outlier", "unit_price", cfg.mad_floor, cfg.price_z,
                  two_sided=True, fallback=False),
        # One-sided: buying one unit of a product usually bought by the dozen is not unusual.
        _LineTest("quantity_outlier", "quantity", cfg.quantity_mad_floor, cfg.quantity_z,
                  two_sided=False, fallback=True),
    )


def _median_ctes(name: str, source: str, keys: tuple[str, ...] = ()) -> str:
    """CTEs ending in ``name`` (``keys``…, ``n``, ``v``): the median ``v`` of ``x`` over ``n``
    values, per ``keys``, from ``source``'s counts (``keys``…, ``x``, ``k`` = how many lines
    have that value).

    Equal to ``MEDIAN(x)`` over the lines themselves — the middle value, or the mean of the two
    middle ones, ``lo * 0.5 + hi * 0.5`` as DuckDB interpolates — but it reads a table of
    distinct values (a product has a handful of prices, not millions of lines), where
    ``MEDIAN`` holds every line's value in memory and cannot spill: at 10M lines the per-product
    medians alone ran a 1 GB limit out of memory (docs/scale.md).
    """
    part = f"PARTITION BY {', '.join(keys)}" if keys else ""
    sel = "".join(f"{key}, " for key in keys)
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    return f"""{name}_cum AS (
  SELECT {sel}x,
         CAST(SUM(k) OVER ({part} ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
              AS BIGINT) AS upto,
         CAST(SUM(k) OVER ({part}) AS BIGINT) AS n
  FROM {source}
), {name}_ends AS (
  SELECT {sel}MAX(n) AS n,
         MIN(x) FILTER (WHERE upto > FLOOR((n - 1) / 2.0)) AS lo,
         MIN(x) FILTER (WHERE upto > FLOOR(n / 2.0)) AS hi
  FROM {name}_cum{group}
), {name} AS (
  SELECT {sel}n, lo * 0.5 + hi * 0.5 AS v FROM {name}_ends
)"""


def _column_stats_ctes(t: _LineTest) -> str:
    """CTEs ``stats_<column>`` (stock_code, n, c = median, m = MAD of the log values) and,
    for a test with a fallback, ``overall_<column>`` (c, m over all products' lines)."""
    c = t.column
    ctes = [f"""hist_{c} AS (
  SELECT stock_code, x, CAST(COUNT(*) AS BIGINT) AS k
  FROM (SELECT stock_code, LN({c}) AS x FROM lines
        WHERE {_judged(f"stock_code IS NOT NULL AND {c} > 0")}) AS judged
  GROUP BY stock_code, x
)""", _median_ctes(f"center_{c}", f"hist_{c}", ("stock_code",)), f"""dev_{c} AS (
  SELECT h.stock_code, ABS(h.x - m.v) AS x, SUM(h.k) AS k
  FROM hist_{c} h JOIN center_{c} m ON m.stock_code = h.stock_code
  GROUP BY h.stock_code, ABS(h.x - m.v)
)""", _median_ctes(f"mad_{c}", f"dev_{c}", ("stock_code",)), f"""stats_{c} AS (
  SELECT m.stock_code, m.n, m.v AS c, d.v AS m
  FROM center_{c} m JOIN mad_{c} d ON d.stock_code = m.stock_code
)"""]
    if t.fallback:
        ctes += [f"""all_{c} AS (SELECT x, SUM(k) AS k FROM hist_{c} GROUP BY x)""",
                 _median_ctes(f"all_center_{c}", f"all_{c}"), f"""all_dev_{c} AS (
  SELECT ABS(a.x - o.v) AS x, SUM(a.k) AS k
  FROM all_{c} a CROSS JOIN all_center_{c} o GROUP BY ABS(a.x - o.v)
)""", _median_ctes(f"all_mad_{c}", f"all_dev_{c}"), f"""overall_{c} AS (
  SELECT o.v AS c, d.v AS m FROM all_center_{c} o CROSS JOIN all_mad_{c} d
)"""]
    return ",\n".join(ctes)


def _test_terms(t: _LineTest, min_lines: int) -> tuple[str, str, str]:
    """(by_product, center, mad) expressions of one test in the ``scored`` step."""
    c = t.column
    by_product = f"(s_{c}.n >= {int(min_lines)})"
    if not t.fallback:
        return by_product, f"s_{c}.c", f"s_{c}.m"
    return (by_product, f"CASE WHEN {by_product} THEN s_{c}.c ELSE o_{c}.c END",
            f"CASE WHEN {by_product} THEN s_{c}.m ELSE o_{c}.m END")


def _product_lines_sql(tests: tuple[_LineTest, ...], min_lines: int) -> str:
    """Lines whose log price / quantity is far from their product's median.

    Streams: the per-product medians and MADs come from counts of distinct values (one
    aggregation per test, small), and one scan of ``lines`` joined to those few rows scores
    every line and keeps the hits. No intermediate table of all lines, no holistic aggregate
    over all lines, no join back to ``lines``.
    """
    joins, scores, hit, branches = [], [], [], []
    for t in tests:
        c = t.column
        joins.append(f"LEFT JOIN stats_{c} s_{c} ON s_{c}.stock_code = l.stock_code")
        if t.fallback:
            joins.append(f"CROSS JOIN overall_{c} o_{c}")
        by_product, center, mad = _test_terms(t, min_lines)
        x = f"CASE WHEN l.{c} > 0 THEN LN(l.{c}) END"
        dev = f"{x} - {center}"
        dev = f"ABS({dev})" if t.two_sided else f"({dev})"
        score = f"{dev} / GREATEST({mad}, {float(t.floor)})"
        if not t.fallback:
            score = f"CASE WHEN {by_product} THEN {score} END"
        scores.append(f"{score} AS s_{c}, EXP({center}) AS u_{c}, {by_product} AS b_{c}")
        hit.append(f"s_{c} >= {float(t.z) - TIE_TOLERANCE}")
        branches.append(f"SELECT {_LINE_COLUMNS}, '{t.kind}' AS kind, s_{c} AS score, "
                        f"u_{c} AS usual, CAST(NULL AS BIGINT) AS n_lines, "
                        f"b_{c} AS by_product FROM hits WHERE {hit[-1]}")
    stats = ",\n".join(_column_stats_ctes(t) for t in tests)
    return f"""
WITH {stats}, scored AS (
  SELECT {_prefixed("l")}, {", ".join(scores)}
  FROM lines l {" ".join(joins)}
  WHERE {_judged("l.stock_code IS NOT NULL")}
), hits AS (
  SELECT * FROM scored WHERE {" OR ".join(hit)}
)
{" UNION ALL ".join(branches)}"""


def _invoice_sql(cfg: AnomalyConfig) -> str:
    """Invoices whose log total is far above the median invoice's (one row per invoice).

    The aggregation over every invoice keeps only what the test needs (total, lines, first
    row); the flagged invoices' quantity, date, customer and country come from a second
    scan of their own lines. With all of them in the first aggregation, its 9M invoices at
    100M lines spilled 160 MB under the 1 GB limit.
    """
    judged = _judged("amount IS NOT NULL")
    z = f"(l.x - c.center) / GREATEST(s.mad, {float(cfg.mad_floor)})"
    return f"""
WITH invoices AS (
  SELECT invoice, MIN(row_id) AS row_id, SUM(amount) AS amount, COUNT(*) AS n_lines
  FROM lines WHERE {judged}
  GROUP BY invoice
), logged AS (
  SELECT *, LN(amount) AS x FROM invoices WHERE amount > 0
), center AS (
  SELECT MEDIAN(x) AS center FROM logged
), spread AS (
  SELECT MEDIAN(ABS(l.x - c.center)) AS mad FROM logged l CROSS JOIN center c
), flagged AS (
  SELECT l.invoice, l.row_id, l.amount, l.n_lines, {z} AS score, EXP(c.center) AS usual
  FROM logged l CROSS JOIN center c CROSS JOIN spread s
  WHERE {z} >= {float(cfg.invoice_z) - TIE_TOLERANCE}
), details AS (
  SELECT invoice, SUM(quantity) AS quantity, MIN(invoice_date) AS invoice_date,
         MIN(customer_id) AS customer_id, MIN(country) AS country
  FROM lines WHERE {judged} AND invoice IN (SELECT invoice FROM flagged)
  GROUP BY invoice
)
SELECT f.row_id, f.invoice, CAST(NULL AS VARCHAR) AS stock_code,
       CAST(NULL AS VARCHAR) AS description, d.quantity, d.invoice_date,
       CAST(NULL AS DOUBLE) AS unit_price, f.amount, d.customer_id, d.country,
       'invoice_total_outlier' AS kind, f.score, f.usual, f.n_lines,
       CAST(NULL AS BOOLEAN) AS by_product
FROM flagged f JOIN details d ON d.invoice = f.invoice"""


def _cancellation_sql(cfg: AnomalyConfig) -> str:
    """Cancellation lines whose log |amount| is far above the median cancellation line's."""
    return f"""
WITH cancelled AS (
  SELECT {_LINE_COLUMNS}, LN(ABS(amount)) AS x FROM lines
  WHERE drop_rule = '{CANCELLATION_RULE}' AND amount <> 0
), center AS (
  SELECT MEDIAN(x) AS center FROM cancelled
), spread AS (
  SELECT MEDIAN(ABS(k.x - c.center)) AS mad FROM cancelled k CROSS JOIN center c
), scored AS (
  SELECT k.*, (k.x - c.center) / GREATEST(s.mad, {float(cfg.mad_floor)}) AS score,
         EXP(c.center) AS usual
  FROM cancelled k CROSS JOIN center c CROSS JOIN spread s
)
SELECT {_LINE_COLUMNS}, 'large_cancellation' AS kind, score, usual,
       CAST(NULL AS BIGINT) AS n_lines, CAST(NULL AS BOOLEAN) AS by_product
FROM scored WHERE score >= {float(cfg.cancellation_z) - TIE_TOLERANCE}"""


def transaction_statements(cfg: AnomalyConfig) -> dict[str, str]:
    """The SQL statement of each transaction kind (over the table ``lines``).

    Each returns the line columns plus ``kind``, ``score``, ``usual`` (the median the value
    is compared with, back in units) and ``n_lines`` (invoice kind only). The SQL uses plain
    aggregates, window sums, ``FILTER`` and ``MEDIAN`` (DuckDB; Spark 3.4+ has them too), so it
    transpiles with sqlglot. ``MEDIAN`` is only used over invoices and cancellations; the
    per-product medians are computed from counts of distinct values, which stream.
    """
    return {
        "price_and_quantity": _product_lines_sql(_line_tests(cfg), cfg.min_product_lines),
        "invoice_total_outlier": _invoice_sql(cfg),
        "large_cancellation": _cancellation_sql(cfg),
    }


def _money(values: pd.Series, currency: str) -> pd.Series:
    """'£1,234.50'; sub-penny prices keep a third decimal (£0.001, not £0.00)."""
    tiny = (values.abs() < 0.01) & (values != 0)
    return money_texts(values, currency, 2).where(~tiny, money_texts(values, currency, 3))


def _count(values: pd.Series) -> pd.Series:
    return values.map("{:,.0f}".format)


def _product(flagged: pd.DataFrame) -> pd.Series:
    """' for 85123A', or ' across products (23843 has too few lines)' for the fallback."""
    code = flagged["stock_code"].fillna("")
    by_product = flagged["by_product"].fillna(True).astype(bool)
    return pd.Series(np.where(by_product, " for " + code,
                              " across products (" + code + " has too few lines)"),
                     index=flagged.index)


def _plural(count: pd.Series, word: str) -> pd.Series:
    return _count(count) + np.where(count == 1, f" {word}", f" {word}s")


#: Reason text per kind, from the flagged rows of that kind and the currency.
_REASONS = {
    "price_outlier": lambda f, c: ("unit price " + _money(f["unit_price"], c) + " vs usual "
                                   + _money(f["usual"], c) + _product(f)),
    "quantity_outlier": lambda f, c: ("quantity " + _count(f["quantity"]) + " vs usual "
                                      + _count(f["usual"]) + _product(f)),
    "invoice_total_outlier": lambda f, c: ("invoice total " + _money(f["amount"], c) + " over "
                                           + _plural(f["n_lines"], "line") + " vs usual "
                                           + _money(f["usual"], c) + " per invoice"),
    "large_cancellation": lambda f, c: ("cancelled " + _money(f["amount"].abs(), c)
                                        + " on one line vs usual " + _money(f["usual"], c)
                                        + " per cancelled line"),
}


def _transaction_reasons(flagged: pd.DataFrame, currency: str) -> pd.Series:
    """Reason text per flagged row, written per kind with vectorised string operations."""
    reason = pd.Series("", index=flagged.index, dtype=object)
    for kind, text in _REASONS.items():
        rows = flagged[flagged["kind"] == kind]
        if len(rows):
            reason[rows.index] = text(rows, currency)
    return reason


def _check_lines(con: duckdb.DuckDBPyConnection) -> None:
    try:
        present = {r[0] for r in con.execute("DESCRIBE lines").fetchall()}
    except duckdb.CatalogException as err:
        raise InputError("The connection holds no table 'lines'; load the data first "
                         "(custseg.load).") from err
    missing = [c for c in (*TRANSACTION_COLUMNS[:10], "drop_rule") if c not in present]
    if missing:
        raise InputError(f"The table 'lines' lacks column(s) {', '.join(missing)}; it must have "
                         "the canonical layout of docs/architecture.md.")


def _check_transaction_cfg(cfg: AnomalyConfig) -> None:
    for name in ("price_z", "quantity_z", "invoice_z", "cancellation_z", "mad_floor",
                 "quantity_mad_floor"):
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"AnomalyConfig.{name} must be positive, got {getattr(cfg, name)}.")
    if cfg.min_product_lines < 1:
        raise ConfigError(f"AnomalyConfig.min_product_lines must be at least 1, "
                          f"got {cfg.min_product_lines}.")


def flag_transactions(con: duckdb.DuckDBPyConnection, cfg: AnomalyConfig,
                      currency: str = "") -> pd.DataFrame:
    """Flag unusual lines and invoices of the table ``lines``, computed in SQL.

    Parameters
    ----------
    con : connection holding ``lines`` (canonical layout with ``drop_rule``).
    cfg : thresholds (robust z-scores) and MAD floors.
    currency : written before amounts in the reasons ("£", "EUR"; "" for none).

    Returns
    -------
    DataFrame with :data:`TRANSACTION_COLUMNS`, ordered by kind (in :data:`TRANSACTION_KINDS`
    order), then score descending, then row_id. Invoice rows have no stock code and describe the
    whole invoice (first row_id, summed quantity and amount). Kinds whose columns are absent
    (all NULL) return no rows.

    Raises
    ------
    InputError : no table ``lines`` or a column missing from it.
    ConfigError : a non-positive threshold.
    """
    _check_lines(con)
    _check_transaction_cfg(cfg)
    union = "\nUNION ALL\n".join(f"SELECT * FROM ({sql})"
                                 for sql in transaction_statements(cfg).values())
    flagged = con.execute(union).df()
    rank = {k: i for i, k in enumerate(TRANSACTION_KINDS)}
    # Scores equal but for their last bits (the same ratio to the usual value) are ordered by
    # row id: which of them rounds higher depends on the engine's logarithm.
    flagged = (flagged.assign(_kind=flagged["kind"].map(rank),
                              _score=flagged["score"].round(9))
               .sort_values(["_kind", "_score", "row_id"], ascending=[True, False, True],
                            kind="stable")
               .reset_index(drop=True))
    flagged["reason"] = _transaction_reasons(flagged, currency)
    return flagged[list(TRANSACTION_COLUMNS)]

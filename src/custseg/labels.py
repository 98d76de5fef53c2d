"""The plain words people read instead of machine names: table headers of the report and the
dashboard, the kinds of flagged transactions, cleaning rules, outlier detectors and file
formats, and lists written as a sentence ("A, B and C").

Downloadable files (CSV, JSON) keep the machine names; only what is displayed goes through
:func:`label` and :func:`kind_label`. One table here means the report and the dashboard call a
column the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: Displayed header per column name, with the unit where a number has one. Money columns say
#: no currency here: the cells carry it (see :mod:`custseg.money`).
COLUMN_LABELS: dict[str, str] = {
    # customers (the RFM table and the customer scores)
    "customer_id": "Customer",
    "recency": "Recency (days)",
    "frequency": "Frequency (orders)",
    "monetary": "Monetary (total spend)",
    "first_purchase": "First purchase",
    "last_purchase": "Last purchase",
    "tenure": "Tenure (days)",
    "avg_order_value": "Average order",
    "r_score": "R score",
    "f_score": "F score",
    "m_score": "M score",
    "rfm_segment": "RFM-grid segment",
    "cluster": "Cluster",
    "segment": "Segment",
    "anomaly_score": "Anomaly score",
    "is_anomaly": "Outlier",
    "anomaly_reason": "Why flagged",
    "second_score": "Second detector's score",
    "second_is_anomaly": "Flagged by the second detector",
    "lapsed": "Lapsed",
    "usual_gap": "Usual gap between orders (days)",
    "action": "Action",
    "action_reason": "Why this action",
    "expected_purchases": "Expected purchases",
    "p_alive": "P(alive)",
    "expected_spend": "Expected spend per purchase",
    "clv": "Lifetime value",
    "clv_rank": "Call order in segment",
    "clv_total": "Lifetime value (total)",
    "clv_median": "Lifetime value (median)",
    "p_alive_mean": "Mean P(alive)",
    # segments
    "customers": "Customers",
    "customer_share": "Share of customers",
    "revenue": "Revenue",
    "revenue_share": "Share of revenue",
    "recency_mean": "Mean recency (days)",
    "recency_median": "Median recency (days)",
    "frequency_mean": "Mean frequency (orders)",
    "frequency_median": "Median frequency (orders)",
    "monetary_mean": "Mean spend",
    "monetary_median": "Median spend",
    "opportunity": "Opportunity",
    "lapsed_customers": "Lapsed customers",
    # choosing k
    "k": "k (segments)",
    "inertia": "Inertia",
    "silhouette": "Silhouette",
    "calinski_harabasz": "Calinski–Harabasz",
    "davies_bouldin": "Davies–Bouldin",
    "min_share": "Smallest segment (share)",
    "stability": "Stability (ARI)",
    "eligible": "Passes the checks",
    "chosen": "Chosen",
    "note": "Why",
    # explanation
    "feature": "Feature",
    "impurity": "Impurity importance",
    "impurity_std": "Impurity importance (sd)",
    "permutation": "Permutation importance",
    "permutation_std": "Permutation importance (sd)",
    "rule": "Rule",
    "precision": "Precision",
    # transaction lines and flagged transactions
    "row_id": "Line",
    "invoice": "Invoice",
    "invoice_date": "Date",
    "stock_code": "Stock code",
    "description": "Description",
    "quantity": "Quantity",
    "unit_price": "Unit price",
    "amount": "Amount",
    "country": "Country",
    "kind": "Kind",
    "reason": "Why flagged",
    "score": "Score",
    "dropped_by": "Dropped by",
    "drop_rule": "Dropped by",
    "lines": "Lines",
    # products
    "segment_share": "Share of segment revenue",
    "overall_share": "Share of all revenue",
    "lift": "Lift",
    "rank_revenue": "Revenue rank",
    "rank_customers": "Buyers rank",
    "rank": "Rank",
    "share": "Share",
    "first_half": "First half",
    "second_half": "Second half",
    "trend": "Trend",
    "trend_label": "Trend",
    # cleaning
    "step": "Step",
    "rows": "Rows",
    "why": "Why",
}


def humanise(name: str) -> str:
    """A machine name as words: underscores become spaces, the first letter a capital."""
    words = " ".join(str(name).replace("_", " ").split())
    return words[:1].upper() + words[1:]


def label(column: str) -> str:
    """The header people read for ``column``: :data:`COLUMN_LABELS`, else :func:`humanise`."""
    return COLUMN_LABELS.get(column) or humanise(column)


def labels(columns: Iterable[object]) -> dict[str, str]:
    """``{column: label(column)}`` for each of ``columns`` (e.g. a frame's columns)."""
    return {str(c): label(str(c)) for c in columns}


def kind_label(kind: str) -> str:
    """Plain words for a kind of flagged transaction (``quantity_outlier`` → words).

    The words belong to :mod:`custseg.anomalies` (``KIND_LABELS``), next to the SQL that
    finds each kind; a kind it does not name is humanised.
    """
    # Imported here: custseg.anomalies loads scikit-learn (~2 s), and a page that only
    # labels columns should not wait for it.
    from custseg import anomalies

    words = getattr(anomalies, "KIND_LABELS", {})
    return words.get(kind) or humanise(kind)


def and_list(items: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C' (``items`` not empty)."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


#: What each cleaning rule (:data:`custseg.clean.RULES`) drops, in words: the row account,
#: the dropped lines and the look-up's history show these, never the rule's name.
RULE_LABELS: dict[str, str] = {
    "invalid_number": "not a number", "missing_customer": "no customer id",
    "missing_values": "empty fields", "future_date": "dated in the future",
    "after_snapshot": "after the as-of date", "country": "country not kept",
    "duplicate": "duplicate line", "cancellation": "cancellation",
    "adjustment": "adjustment (bad debt)",
    "non_positive": "zero or negative quantity or price",
    "non_product": "postage, fee or voucher", "max_line_total": "line total above the limit",
    "max_quantity": "quantity above the limit",
}

#: The outlier detectors (:data:`custseg.anomalies.DETECTORS`) by name.
DETECTOR_LABELS: dict[str, str] = {"isolation_forest": "Isolation Forest",
                                   "lof": "Local Outlier Factor"}

#: File formats as :func:`custseg.io.register_source` names them.
FORMAT_LABELS: dict[str, str] = {"excel": "Excel workbook", "csv": "delimited text file (CSV)",
                                 "parquet": "Parquet file", "frame": "table in memory"}


def rule_label(rule: str) -> str:
    """A cleaning rule's name in words (:data:`RULE_LABELS`; a new rule's name humanised)."""
    return RULE_LABELS.get(rule) or humanise(rule).lower()


def detector_label(name: str) -> str:
    """An outlier detector's name in words."""
    return DETECTOR_LABELS.get(name) or humanise(name)


def format_label(name: str) -> str:
    """A file format's name in words."""
    return FORMAT_LABELS.get(name) or humanise(name)

"""Report pieces about time: the cohort section of a run's report.html, and the compare
report (compare.html) of ``custseg compare`` with the migration, its Sankey, the movers,
segments over time and the cohorts. Built from :mod:`custseg.report`'s page and tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from custseg import cohorts, migration, money, report, timeline_charts

if TYPE_CHECKING:
    from custseg.compare import Comparison

#: Rows of the movers table in the report (movers.csv has every one).
TOP_MOVERS = 50

_MOVER_SHOWN = ("customer_id", "from_segment", "to_segment", "recency_after", "frequency_after",
                "monetary_before", "monetary_after", "action")
_LABELS = {"from_segment": "From", "to_segment": "To", "recency_after": "Recency (days) now",
           "frequency_after": "Orders now", "monetary_before": "Spend before",
           "monetary_after": "Spend now", "revenue_before": "Revenue before",
           "revenue_after": "Revenue after", "month_1": "Month 1", "month_3": "Month 3",
           "month_6": "Month 6", "cohort": "First-purchase month"}


def cohort_sentence(table: pd.DataFrame) -> str:
    """The oldest cohort's retention at months 1, 3 and 6, in words."""
    summary = cohorts.cohort_summary(table)
    if summary.empty:
        return ""
    first = summary.iloc[0]
    seen = [(m, first[f"month_{m}"]) for m in cohorts.SUMMARY_MONTHS
            if pd.notna(first[f"month_{m}"])]
    if not seen:
        return ""
    shares = ", ".join(f"{v:.1%} in month {m}" for m, v in seen)
    return (f"Of the {int(first['customers']):,} customers who first bought in "
            f"{pd.Timestamp(first['cohort']):%B %Y}, {shares} bought again.")


def cohort_html(table: pd.DataFrame | None, currency: str = "") -> str:
    """The heatmap of retention by first-purchase month, a sentence and a table per cohort."""
    if table is None or table.empty:
        return '<p class="muted">Cohorts were not computed in this run.</p>'
    summary = cohorts.cohort_summary(table)
    summary["cohort"] = pd.to_datetime(summary["cohort"]).dt.strftime("%Y-%m")
    figure = timeline_charts.cohort_heatmap(cohorts.retention_matrix(table))
    share = report.SHARE
    return (f"<p>{report._esc(cohort_sentence(table))}</p>"
            + report._chart(figure, "cohorts")
            + report.table(summary, labels=_LABELS, currency=currency, segment_col=None,
                           formats={f"month_{m}": share for m in cohorts.SUMMARY_MONTHS}))


def cohort_section(result: Any) -> str:
    """The Cohorts section of a run's report (``result.cohorts``)."""
    return cohort_html(getattr(result, "cohorts", None), money.currency_of(result))


def _matrix_html(comparison: Comparison, value: str) -> str:
    matrix = migration.migration_matrix(comparison.migration, comparison.order, value)
    frame = matrix.reset_index().rename(columns={"from": "from \\ to"})
    fmt = report.INT if value == "customers" else report._money(comparison.currency)
    return report.table(frame, formats=dict.fromkeys(matrix.columns, fmt), segment_col=None)


def render_compare(comparison: Comparison) -> str:
    """compare.html: the headline, the migration, the movers, segments over time, cohorts."""
    first, second = comparison.dates
    currency = comparison.currency
    gone = "" if not comparison.cumulative else (
        " Both snapshots come from the same lines, so nobody is gone: a customer who stopped "
        "buying moves, as their recency grows, into the segment their R/F/M then describe.")
    summary = (f"<p><strong>{report._esc(comparison.headline)}</strong></p>"
               + report._metrics([
                   (f"customers at {first}", f"{len(comparison.before):,}"),
                   (f"customers at {second}", f"{len(comparison.after):,}"),
                   ("changed segment", f"{len(comparison.movers):,}"),
                   ("segments", f"{len(comparison.order)}")])
               + f'<p class="muted">One model (fitted on the snapshot at {report._esc(first)})'
               f" assigns every customer at both dates.{report._esc(gone)}</p>")
    moves = (report._chart(timeline_charts.migration_sankey(
        comparison.migration, comparison.order, dates=comparison.dates, currency=currency),
        "sankey")
        + "<h3>Customers</h3>" + _matrix_html(comparison, "customers")
        + f"<h3>Revenue of the first period (up to {report._esc(first)})</h3>"
        + _matrix_html(comparison, "revenue_before")
        + f"<h3>Revenue of the second period ({report._esc(second)})</h3>"
        + _matrix_html(comparison, "revenue_after"))
    movers = comparison.movers.head(TOP_MOVERS)
    movers_html = (f'<p class="muted">The {len(movers):,} movers who spent most in the first '
                   f"period, with the action for their new state (movers.csv has all "
                   f"{len(comparison.movers):,}).</p>"
                   + report.table(movers[list(_MOVER_SHOWN)], labels=_LABELS,
                                  currency=currency, segment_col="to_segment"))
    sections = [("summary", "Summary", summary), ("migration", "Migration", moves),
                ("movers", "Movers", movers_html)]
    if comparison.over_time is not None:
        charts_ = [timeline_charts.segments_area(comparison.over_time, comparison.order,
                                                 value=v, currency=currency)
                   for v in ("customers", "revenue_share")]
        sections.append(("over-time", "Segments over time",
                         "".join(report._chart(f, f"over-time-{i}")
                                 for i, f in enumerate(charts_))))
    table = None
    if comparison.dataset is not None:
        table = cohorts.cohort_table(comparison.dataset)
    sections.append(("cohorts", "Cohorts", cohort_html(table, currency)))
    return report.page("Changes over time", f"Segments at {first} and {second}: who moved "
                       f"where, and what to do about it.", sections)

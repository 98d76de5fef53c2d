"""The time pieces of the reports: the cohort sentence and summary (hand-worked, and the real
data's December 2010 cohort against pandas), the Cohorts section of report.html, and the
figures of change over time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import custseg
from custseg import cohorts, migration, report, timeline_charts, timeline_report
from tests.test_cohorts import _log

SMALL = _log([("1", "501", "2011-01-05 10:00", 10), ("1", "502", "2011-02-07 10:00", 20),
              ("1", "503", "2011-04-01 10:00", 5), ("2", "504", "2011-01-20 10:00", 7),
              ("3", "506", "2011-03-31 23:00", 4), ("3", "507", "2011-04-02 10:00", 6)])


def test_cohort_summary_and_sentence_by_hand() -> None:
    table = cohorts.cohort_table(custseg.load(SMALL))
    summary = cohorts.cohort_summary(table)
    # January: customers 1 and 2 (42 over the months), 1 of 2 back in February (month 1),
    # nobody in March, 1 in April (month 3); month 6 lies after the data.
    first = summary.iloc[0]
    assert (first["customers"], first["revenue"]) == (2, 42.0)
    assert (first["month_1"], first["month_3"]) == (0.5, 0.5) and np.isnan(first["month_6"])
    assert timeline_report.cohort_sentence(table) == (
        "Of the 2 customers who first bought in January 2011, 50.0% in month 1, 50.0% in "
        "month 3 bought again.")


def test_real_december_2010_cohort_against_pandas(real_csv) -> None:
    dataset = custseg.load(real_csv)
    lines = dataset.con.execute("SELECT customer_id, invoice_date FROM clean").df()
    month = pd.to_datetime(lines["invoice_date"]).dt.to_period("M")
    first = month.groupby(lines["customer_id"]).transform("min")
    december = lines.assign(month=month)[first == pd.Period("2010-12", "M")]
    size = december["customer_id"].nunique()
    expected = {m: december.loc[december["month"] == pd.Period("2010-12", "M") + m,
                                "customer_id"].nunique() / size for m in (1, 3, 6)}
    summary = cohorts.cohort_summary(cohorts.cohort_table(dataset)).iloc[0]
    assert summary["cohort"] == pd.Timestamp("2010-12-01") and summary["customers"] == size
    for m, share in expected.items():
        assert summary[f"month_{m}"] == pytest.approx(share, rel=1e-12)


def test_run_report_has_the_cohort_section() -> None:
    result = custseg.run(custseg.synth.generate_frame(300, 4)[0])
    page = report.render_html(result)
    assert '<section id="cohorts"><h2>Cohorts</h2>' in page
    assert timeline_report.cohort_sentence(result.cohorts) in page
    assert 'id="fig-cohorts"' in page


def test_figures_are_valid_plotly() -> None:
    table = pd.DataFrame({"from_segment": ["Champions", "Champions", migration.NEW],
                          "to_segment": ["Champions", "At Risk", "At Risk"],
                          "customers": [5, 2, 3], "revenue_before": [50.0, 20.0, 0.0],
                          "revenue_after": [10.0, 0.0, 4.0]})
    sankey = go.Figure(timeline_charts.migration_sankey(table, ["Champions", "At Risk"],
                                                        dates=("a", "b"), currency="£"))
    trace = sankey.data[0]
    assert list(trace.node.label) == ["Champions", "(new)", "Champions", "At Risk"]
    assert list(trace.link.source) == [0, 0, 1] and list(trace.link.target) == [2, 3, 3]
    assert list(trace.link.value) == [5, 2, 3]
    # Each column top to bottom in the model's order, "(new)" last; sized by customers
    # (left: 7 Champions above 3 new, so Champions' centre is nearer the top than the middle).
    assert list(trace.node.x) == [0.001, 0.001, 0.999, 0.999]
    assert trace.node.y[0] < trace.node.y[1] and trace.node.y[2] < trace.node.y[3]
    assert trace.node.y[0] == pytest.approx(0.9 * 0.7 / 2)
    matrix = cohorts.retention_matrix(cohorts.cohort_table(custseg.load(SMALL)))
    heat = go.Figure(timeline_charts.cohort_heatmap(matrix))
    assert list(heat.data[0].y) == ["2011-01", "2011-03"]
    assert heat.data[0].text[0][0] == "100%" and heat.data[0].text[1][3] == ""
    over = pd.DataFrame({"when": pd.to_datetime(["2011-01-01"] * 2 + ["2011-02-01"] * 2),
                         "segment": ["Champions", "At Risk"] * 2, "customers": [1, 3, 2, 4],
                         "revenue_share": [0.6, 0.4, 0.7, 0.3]})
    area = go.Figure(timeline_charts.segments_area(over, ["Champions", "At Risk"]))
    # Most valuable on top: drawn last in the stack.
    assert [t.name for t in area.data] == ["At Risk", "Champions"]
    assert list(area.data[1].y) == [1, 2]

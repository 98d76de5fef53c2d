"""Changes over time: the data at two dates (or against a second file) under one model — the
headline, the Sankey, the migration matrix, the movers with the action for their new state,
segments month by month — and the cohort retention heatmap."""

from datetime import date, timedelta

import streamlit as st

from custseg import assign, cohorts, migration, timeline_charts
from custseg.app import state, timeline_state, ui
from custseg.app.sidebar import MAX_UPLOAD_MB, UPLOAD_TYPES
from custseg.timeline_report import cohort_sentence

st.title("Changes over time")
ctx = ui.page()
config = ctx.config
currency = ui.currency()
span = ui.query("SELECT min(invoice_date) AS first, max(invoice_date) AS last FROM clean")
first_day = span["first"].iloc[0].date()
last_day = span["last"].iloc[0].date() + timedelta(days=1)
# Halfway through the data, on the first of a month: two comparable halves by default.
middle = first_day + (last_day - first_day) / 2
default_from = max(date(middle.year, middle.month, 1), first_day + timedelta(days=1))

st.caption("One model, fitted at the first date (or a saved one), puts every customer in a "
           "segment at both; the movers are the customers whose segment changed.")
mode = st.radio("Compare", ["Two dates in this data", "This data with a second file"],
                horizontal=True, key="changes_mode")
saved = st.file_uploader("A saved model (optional, from the Downloads page)", type=["json"],
                         key="changes_model", max_upload_size=1,
                         help="Segments a model saved earlier, instead of fitting one on the "
                              "first date: the same segments month after month.")
model_path = None
if saved is not None:
    path, _ = state.save_upload(saved.name, saved.getvalue())
    model_path = str(path)
    with ui.guard("Reading the saved model", ctx.source):
        shown = assign.segment_order(assign.load(model_path))
    st.caption(f"Using the saved model's {len(shown)} segments: {', '.join(shown)}.")

comparison = None
if mode == "Two dates in this data":
    left, right = st.columns(2)
    start = left.date_input("From", value=default_from, min_value=first_day + timedelta(days=1),
                            max_value=last_day, key="changes_from")
    end = right.date_input("To", value=last_day, min_value=first_day + timedelta(days=1),
                           max_value=last_day, key="changes_to")
    monthly = st.toggle("Also segments month by month between the dates", key="changes_monthly")
    with ui.guard("Comparing the two dates", ctx.source):
        comparison = timeline_state.at_two_dates(
            ctx.source, config.cleaning, config.rfm.as_of, start, end, config.cluster,
            config.seed, currency, monthly, model_path).value
else:
    upload = st.file_uploader(f"The second file (up to {MAX_UPLOAD_MB} MB), with the same "
                              f"columns", type=UPLOAD_TYPES, key="changes_second",
                              max_upload_size=MAX_UPLOAD_MB)
    if upload is None:
        st.info("Upload a later export of the same shop: its customers are compared with "
                "this data's (customers of this data only are gone, of the second only new).",
                icon=":material/info:")
    else:
        path, digest = state.save_upload(upload.name, upload.getvalue())
        second = state.file_source(path, name=upload.name, digest=digest)
        with ui.guard("Comparing the two files", second):
            comparison = timeline_state.with_second_file(
                ctx.source, second, config.cleaning, config.cluster, config.seed, currency,
                model_path).value

if comparison is not None:
    st.markdown(f"**{comparison.headline}**")
    with ui.metrics():
        st.metric(f"Customers at {comparison.dates[0]}", ui.fmt_count(len(comparison.before)))
        st.metric(f"Customers at {comparison.dates[1]}", ui.fmt_count(len(comparison.after)))
        st.metric("Changed segment", ui.fmt_count(len(comparison.movers)))
    ui.chart(timeline_charts.migration_sankey(comparison.migration, comparison.order,
                                              dates=comparison.dates, currency=currency),
             key="changes_sankey")
    st.subheader("Migration matrix")
    st.caption("Customers by segment at the first date (rows) and the second (columns).")
    matrix = migration.migration_matrix(comparison.migration, comparison.order)
    ui.table(matrix.reset_index().rename(columns={"from": "from \\ to"}))
    st.subheader("Movers and what to do")
    movers = comparison.movers
    st.caption(f"{len(movers):,} customers changed segment, the biggest spenders of the first "
               f"period first; the action is for their segment and recency now.")
    ui.table(movers[["customer_id", "from_segment", "to_segment", "recency_after",
                     "frequency_after", "monetary_after", "action"]])
    if comparison.over_time is not None:
        st.subheader("Segments month by month")
        ui.panels([timeline_charts.segments_area(comparison.over_time, comparison.order,
                                                 value=v, currency=currency)
                   for v in ("customers", "revenue_share")], key="changes_area", per_row=2)

st.subheader("Cohorts: who keeps buying")
table = timeline_state.cohort_table(ctx.source, config.cleaning, config.rfm.as_of)
if table.empty:
    st.info("No kept purchase to group by month.", icon=":material/info:")
else:
    st.markdown(cohort_sentence(table))
    ui.chart(timeline_charts.cohort_heatmap(cohorts.retention_matrix(table)),
             key="changes_cohorts")
    summary = cohorts.cohort_summary(table)
    summary["cohort"] = summary["cohort"].dt.strftime("%Y-%m")
    ui.table(summary, column_config={f"month_{m}": ui.share_col(f"Month {m}")
                                     for m in cohorts.SUMMARY_MONTHS})

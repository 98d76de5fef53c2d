"""Cleaning: the row account per rule (table and chart) and the cleaned lines."""

import pandas as pd
import streamlit as st

from custseg import charts, labels
from custseg.app import ui

st.title("2 · Cleaning")
ui.page()
st.caption("Switch rules and change thresholds in the sidebar. Each row is counted under the "
           "first rule that drops it, so the account always adds up.")
dataset = ui.stage("dataset")
report = dataset.cleaning

with ui.metrics():
    st.metric("Rows in", ui.fmt_count(report.rows_in))
    st.metric("Rows kept", ui.fmt_count(report.rows_kept),
              f"{report.rows_kept / report.rows_in:.1%} kept" if report.rows_in else None,
              delta_color="off", delta_arrow="off")
    st.metric("Customers kept", ui.fmt_count(report.customers_kept))
    st.metric("Revenue kept", ui.fmt_money(report.revenue_kept))

account = pd.DataFrame(
    [("rows in", report.rows_in, "")]
    + [(f"− {labels.rule_label(rule)}", -n, report.rules.get(rule, ""))
       for rule, n in report.dropped.items()]
    + [("rows kept", report.rows_kept, "")],
    columns=["step", "rows", "why"])
account["share of rows in"] = account["rows"].abs() / max(report.rows_in, 1)
st.subheader("Row account")
ui.table(account, column_config={"share of rows in": ui.share_col("Share of rows in")})
for why in report.skipped.values():  # each a sentence: which rule, and why it did not run
    st.caption(why)
ui.chart(charts.cleaning_waterfall(report), key="waterfall")

st.subheader("Cleaned lines")
tab_kept, tab_dropped = st.tabs(["Kept (first 500)", "Dropped, by rule"])
with tab_kept:
    kept = ui.query("SELECT * EXCLUDE (drop_rule) FROM clean ORDER BY row_id LIMIT 500")
    ui.table(kept)
with tab_dropped:
    rules = [r for r, n in report.dropped.items() if n]
    if rules:
        rule = st.selectbox("Rule", rules, format_func=labels.rule_label)
        dropped = ui.query("SELECT * EXCLUDE (drop_rule) FROM lines WHERE drop_rule = ? "
                           "ORDER BY row_id LIMIT 500", [rule])
        ui.table(dropped)
    else:
        st.info("No line was dropped.")
ui.timing_note("dataset")

"""Anomalies: the three customer scatters, flagged customers with reasons and their action,
and flagged transaction lines (their kind and why first)."""

import streamlit as st

from custseg import charts, labels
from custseg.app import ui

st.title("7 · Anomalies")
ui.page()
model = ui.stage("model")
customers = model.customers
scored = model.customer_anomalies
seed = ui.context().config.seed
currency = ui.currency()

st.subheader("Unusual customers")
second = labels.detector_label(scored.second_detector)
with ui.metrics():
    st.metric("Flagged customers", ui.fmt_count(int(customers["is_anomaly"].sum())))
    st.metric("Detector", labels.detector_label(scored.detector))
    st.metric(f"Agreement with {second}", f"{scored.agreement:.0%}",
              help=f"The customers both detectors flag, as a share of the customers either "
                   f"flags (100% = the same customers). {second}, built differently, is run "
                   f"beside the chosen detector to show how firm the flags are.")
tabs = st.tabs([f"{labels.label(x)} vs {labels.label(y)}" for x, y in charts.ANOMALY_VIEWS])
for tab, (x, y) in zip(tabs, charts.ANOMALY_VIEWS, strict=True):
    with tab:
        ui.chart(charts.anomaly_scatter(customers, x, y, seed=seed, currency=currency),
                 key=f"anomaly_{x}_{y}")
flagged = customers[customers["is_anomaly"].fillna(False).astype(bool)]
flagged = flagged.sort_values("anomaly_score", ascending=False)
shown = ["customer_id", "anomaly_reason", "action", "segment", "recency", "frequency",
         "monetary", "anomaly_score"]
event = ui.table(flagged[[c for c in shown if c in flagged.columns]], key="flagged_customers",
                 on_select="rerun", selection_mode="single-row")
picked = ui.selected_row(event, flagged)
if picked is None:
    st.caption("Select a customer's row to read why they were flagged and their action in "
               "full.")
else:
    st.markdown(f"**Customer {picked['customer_id']}** ({picked['segment']}). "
                f"Why flagged: {picked['anomaly_reason']}.")
    if "action" in picked:
        why = picked.get("action_reason") if bool(picked.get("lapsed", False)) else None
        st.info(f"Action: {picked['action']}" + (f" ({why})" if why else ""),
                icon=":material/campaign:")

st.subheader("Unusual transactions")
lines = ui.stage("flagged")
ui.chart(charts.flagged_kinds(lines, currency=currency), key="flagged_kinds")
if not lines.empty:
    kinds = sorted(lines["kind"].unique())
    chosen = st.multiselect("Kind", kinds, key="tx_kinds", placeholder="All kinds",
                            format_func=labels.kind_label)
    shown_lines = lines[lines["kind"].isin(chosen)] if chosen else lines
    # Kind and why first, in words: what a reader needs before scrolling sideways.
    first = ["kind", "reason"]
    shown_lines = shown_lines[first + [c for c in shown_lines.columns if c not in first]]
    ui.table(shown_lines.assign(kind=shown_lines["kind"].map(labels.kind_label)), height=420)
ui.timing_note("model", "flagged")

"""Anomalies: the three customer scatters, flagged customers with reasons, flagged lines."""

import streamlit as st

from custseg import charts
from custseg.app import ui

st.title("7 · Anomalies")
ui.page()
model = ui.stage("model")
customers = model.customers
scored = model.customer_anomalies
seed = ui.context().config.seed
currency = ui.currency()

st.subheader("Unusual customers")
cols = st.columns(3)
cols[0].metric("Flagged customers", ui.fmt_count(int(customers["is_anomaly"].sum())))
cols[1].metric("Detector", str(getattr(scored, "detector", "")).replace("_", " "))
agreement = getattr(scored, "agreement", None)
if agreement is not None:
    cols[2].metric(f"Agreement with {getattr(scored, 'second_detector', 'the other detector')}",
                   f"{agreement:.0%}")
tabs = st.tabs([f"{x} vs {y}" for x, y in charts.ANOMALY_VIEWS])
for tab, (x, y) in zip(tabs, charts.ANOMALY_VIEWS, strict=True):
    with tab:
        ui.chart(charts.anomaly_scatter(customers, x, y, seed=seed, currency=currency),
                 key=f"anomaly_{x}_{y}")
flagged = customers[customers["is_anomaly"].fillna(False).astype(bool)]
flagged = flagged.sort_values("anomaly_score", ascending=False)
ui.table(flagged[["customer_id", "segment", "recency", "frequency", "monetary", "anomaly_score",
                  "anomaly_reason"]],
         column_config={"anomaly_reason": st.column_config.TextColumn("why", width="large")})

st.subheader("Unusual transactions")
lines = ui.stage("flagged")
ui.chart(charts.flagged_kinds(lines, currency=currency), key="flagged_kinds")
if not lines.empty:
    kinds = sorted(lines["kind"].unique())
    chosen = st.multiselect("Kind", kinds, key="tx_kinds", placeholder="All kinds")
    shown = lines[lines["kind"].isin(chosen)] if chosen else lines
    ui.table(shown, height=420,
             column_config={"reason": st.column_config.TextColumn("why", width="large")})
ui.timing_note("model", "flagged")

"""RFM: the per-customer table with search and sort, distributions and the RFM grid."""

import streamlit as st

from custseg import charts
from custseg.app import figures, ui

st.title("3 · RFM")
ui.page()
st.caption("Recency = days since the last purchase, frequency = distinct invoices, monetary = "
           "total spend. Scores 1–5 are quintiles (5 = best); the grid names come from them.")
rfm = ui.stage("rfm")
dataset = ui.stage("dataset")
st.markdown(f"**{ui.fmt_count(len(rfm))} customers**, snapshot "
            f"{dataset.snapshot:%d %B %Y %H:%M} (recency is measured to it).")

left, right = st.columns([2, 1])
example = str(rfm["customer_id"].iloc[0]) if len(rfm) else ""  # an id this data has
query = left.text_input("Search customer id", placeholder=f"e.g. {example}", key="rfm_search")
grid = right.multiselect("RFM-grid segment", sorted(rfm["rfm_segment"].unique()),
                         key="rfm_grid", placeholder="All segments")
shown = rfm
if query.strip():
    shown = shown[shown["customer_id"].str.contains(query.strip(), regex=False)]
if grid:
    shown = shown[shown["rfm_segment"].isin(grid)]
st.caption(f"{ui.fmt_count(len(shown))} of {ui.fmt_count(len(rfm))} customers — click a column "
           "header to sort.")
ui.table(shown, height=380)

ui.panels(charts.rfm_distribution_panels(rfm, currency=ui.currency()), key="rfm_dist")
st.subheader("RFM-grid segments")
ui.chart(figures.rfm_grid_bar(rfm, currency=ui.currency()), key="rfm_grid_bar")
ui.table(figures.grid_table(rfm))
ui.timing_note("rfm")

"""Segments: every segment's opportunity and action, the PCA scatter by segment name, the
profiles, and what each segment buys."""

import streamlit as st

from custseg import charts
from custseg.app import ui

st.title("5 · Segments")
ui.page()
model = ui.stage("model")
clustering = model.clustering
seed = ui.context().config.seed
currency = ui.currency()

st.subheader("What to do with each segment")
ui.segment_cards(model.segments)
ui.chart(charts.pca_scatter(clustering.pca, model.customers, clustering.pca_explained,
                            getattr(clustering, "pca_loadings", None), seed=seed,
                            currency=currency), key="pca")
st.subheader("Profiles")
ui.panels(charts.segment_profile_panels(model.segments, currency=currency), key="profiles")
ui.segment_numbers(model.segments, [c for c in model.segments.columns  # words: the cards
                                    if c not in ("cluster", "opportunity", "action")])

st.subheader("What each segment buys")
mix, priorities = ui.context().mix().value
if mix.empty:
    st.info("The data has no product codes, so there is no product mix to show.")
else:
    names = model.segments["segment"].astype(str).tolist()
    chosen = st.selectbox("Segment", names, key="mix_segment")
    ui.chart(charts.product_mix_bar(mix, chosen, currency=currency), key="mix")
    st.caption("Lift above 1: the segment buys this product more than customers overall.")
    ui.table(mix[mix["segment"] == chosen].drop(columns="segment"))
st.subheader("Stock priorities")
if not priorities.empty:
    segments_used = ", ".join(priorities.attrs.get("segments", []))
    st.caption(f"Products ranked by revenue from {segments_used}, with the change from the "
               f"first to the second half of the period.")
    ui.chart(charts.stock_priorities_bar(priorities, currency=currency), key="stock")
    ui.table(priorities.drop(columns="trend_label", errors="ignore"))  # the chart's colours
ui.timing_note("model")

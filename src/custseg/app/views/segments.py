"""Segments: PCA scatter by segment name, profiles, share of revenue and actions."""

import streamlit as st

from custseg import charts
from custseg.app import ui

st.title("5 · Segments")
ui.page()
model = ui.stage("model")
clustering = model.clustering
seed = ui.context().config.seed

ui.segment_table(model.segments, ["segment", "customers", "customer_share", "revenue_share",
                                  "opportunity", "action"])
ui.chart(charts.pca_scatter(clustering.pca, model.customers, clustering.pca_explained,
                            getattr(clustering, "pca_loadings", None), seed=seed), key="pca")
ui.chart(charts.segment_profiles(model.segments), key="profiles")
st.subheader("Profiles")
ui.segment_table(model.segments, [c for c in model.segments.columns if c != "action"])
ui.timing_note("model")

"""Choosing k: every metric of the k search, the chosen k with its reason, and an override."""

import streamlit as st

from custseg import charts
from custseg.app import sidebar, ui

st.title("4 · Choosing k")
ui.page()
model = ui.stage("model")
clustering = model.clustering
manual = ui.context().config.cluster.k is not None

st.metric("Number of segments (k)", clustering.k, "set by hand" if manual else "chosen "
          "automatically", delta_color="off", delta_arrow="off")
st.info(clustering.reason, icon=":material/info:")
ui.chart(charts.k_metrics(clustering.k_table), key="k_metrics")

st.subheader("Try another k")
st.caption("The same control is in the sidebar. Only the modelling re-runs.")
ks = [int(k) for k in clustering.k_table["k"]]
cols = st.columns(len(ks) + 1)
for col, k in zip(cols, ks, strict=False):
    col.button(f"k = {k}", key=f"use_k_{k}", on_click=sidebar.use_k, args=(k,),
               type="primary" if k == clustering.k else "secondary")
cols[-1].button("Automatic", key="use_k_auto", on_click=sidebar.use_k, args=(None,),
                disabled=not manual)

st.subheader("All candidates")
table = clustering.k_table
ui.table(table, column_config={
    "k": st.column_config.NumberColumn("k", format="%d"),
    "inertia": st.column_config.NumberColumn("inertia", format="%,.0f"),
    "silhouette": st.column_config.NumberColumn("silhouette", format="%.3f"),
    "calinski_harabasz": st.column_config.NumberColumn("Calinski–Harabasz", format="%,.0f"),
    "davies_bouldin": st.column_config.NumberColumn("Davies–Bouldin", format="%.3f"),
    "min_share": ui.share_col("smallest cluster"),
    "stability": st.column_config.NumberColumn("stability", format="%.3f")})
ui.timing_note("model")

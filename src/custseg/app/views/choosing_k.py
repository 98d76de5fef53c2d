"""Choosing k: every metric of the k search, the chosen k with why it was chosen and why the
smaller k were passed over, and buttons to try another k."""

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
ui.panels(charts.k_metric_panels(clustering.k_table), key="k_metrics")

st.subheader("Try another k")
st.caption("The same control is in the sidebar. Only the modelling re-runs.")
# A row that wraps, each button as wide as its label: nothing is cut short at any width.
with st.container(horizontal=True, gap="small"):
    for k in (int(k) for k in clustering.k_table["k"]):
        st.button(f"k = {k}", key=f"use_k_{k}", on_click=sidebar.use_k, args=(k,),
                  type="primary" if k == clustering.k else "secondary")
    st.button("Automatic", key="use_k_auto", on_click=sidebar.use_k, args=(None,),
              disabled=not manual, help="Let custseg choose k again")

st.subheader("All candidates")
table = clustering.k_table
first = [c for c in ("k", "chosen", "note") if c in table.columns]  # readable on a phone
ui.table(table[first + [c for c in table.columns if c not in first]])
ui.timing_note("model")

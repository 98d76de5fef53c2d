"""Overview: which data and countries were analysed, the key figures, the executive summary
and every segment with its opportunity and action."""

import streamlit as st

from custseg.app import ui

st.title("Customer segments at a glance")
ui.page()
source = ui.context().source
st.caption(f"Data: **{source.name}**. Every page follows from the settings in the sidebar.")

result = ui.stage("result")
scope = result.summary.get("scope")
if scope:  # which countries are analysed, and what the others held
    st.markdown(f"**Countries.** {scope}")
if result.clustering is None:  # the customers cannot be segmented: the note says why
    with ui.metrics():
        st.metric("Customers", ui.fmt_count(len(result.rfm)))
        st.metric("Revenue", ui.fmt_money(result.rfm["monetary"].sum()))
    for note in result.summary["notes"]:
        st.info(note, icon=":material/info:")
    st.caption("The RFM table and grid are on page 3 · RFM; the row account on 2 · Cleaning.")
    st.stop()
with ui.metrics():
    st.metric("Customers", ui.fmt_count(len(result.rfm)))
    st.metric("Revenue", ui.fmt_money(result.rfm["monetary"].sum()))
    st.metric("Segments (k)", result.clustering.k)
    st.metric("Outlier customers", ui.fmt_count(int(result.rfm["is_anomaly"].sum())))
    st.metric("Flagged transactions", ui.fmt_count(len(result.flagged_transactions)))

st.subheader("Segments and what to do")
ui.segment_cards(result.segments)

if result.summary_markdown:
    st.subheader("Executive summary")
    with st.container(border=True):
        st.markdown(ui.summary_markdown(result.summary_markdown, shown=scope))
ui.timing_note("dataset", "rfm", "model", "flagged")

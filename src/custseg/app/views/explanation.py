"""Explanation: what separates the segments — importances, accuracy and plain rules."""

import streamlit as st

from custseg import charts
from custseg.app import ui

st.title("6 · Explanation")
ui.page()
st.caption("A Random Forest learns to predict each customer's segment from recency, frequency "
           "and monetary; how well it does, and which variables it leans on, explain the "
           "segments. A shallow tree gives rules a person can read.")
explanation = ui.stage("model").explanation
with ui.metrics():
    st.metric("Accuracy (held-out customers)", f"{explanation.accuracy:.1%}")
    st.metric("Macro F1", f"{explanation.macro_f1:.3f}")
    st.metric("Rules agree with the segments", f"{explanation.fidelity:.1%}")
ui.chart(charts.importances_bar(explanation.importances), key="importances")
st.subheader("The rules")
st.markdown(explanation.rules_markdown)
ui.timing_note("model")

"""Data: what was read, how its columns were mapped, and a preview."""

import pandas as pd
import streamlit as st

from custseg import io, labels
from custseg.app import state, ui

DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}

st.title("1 · Data")
ui.page()
dataset = ui.stage("dataset")
info = dataset.source
first, last, customers, invoices = ui.query(
    "SELECT min(invoice_date), max(invoice_date), count(DISTINCT customer_id), "
    "count(DISTINCT invoice) FROM lines").iloc[0]
preview = state.preview(ui.context().source)

source = ui.context().source
what = ("generated in memory, like an export of an online shop" if source.kind == "demo"
        else labels.format_label(info.format))
details = [what]
if info.sheets:
    details.append(("sheet " if len(info.sheets) == 1 else "sheets ") + ", ".join(info.sheets))
if info.delimiter:
    details.append(f"columns separated by {DELIMITERS.get(info.delimiter, repr(info.delimiter))}")
if info.encoding:
    details.append(f"text encoding {info.encoding}")
st.caption(f"**{info.path or source.name}**: " + "; ".join(details) + ".")
with ui.metrics():
    st.metric("Rows", ui.fmt_count(info.rows))
    st.metric("Columns", len(info.columns))
    st.metric("Customers (before cleaning)", ui.fmt_count(customers or 0))
    st.metric("Invoices (before cleaning)", ui.fmt_count(invoices or 0))
if pd.notna(first):
    days = (last - first).days
    st.markdown(f"**Date range:** {first:%d %B %Y} → {last:%d %B %Y} ({ui.fmt_days(days)})")

st.subheader("Detected columns")
mapping = pd.DataFrame(
    [(ui.KEY_LABELS.get(key, key), info.mapping.get(key, "— not in the file —"))
     for key in io.CANONICAL],
    columns=["What custseg needs", "Column in the file"])
st.dataframe(mapping, hide_index=True)
for note in info.notes:
    st.caption(f"Note: {note}.")
if info.date_format:
    st.caption(f"Dates were read as text with the format `{info.date_format}`.")
st.caption("Wrong column? Rename it in the file, or use `custseg run --map key=Column`. "
           "When a required column is not recognised, this app asks for it.")

st.subheader("Preview (first 200 rows, as read)")
st.dataframe(preview, hide_index=True, placeholder="")  # missing: empty, not "None"

"""Customer look-up: one customer's RFM, scores, segment, anomaly verdict and history."""

import streamlit as st

from custseg import io
from custseg.app import ui

st.title("Customer look-up")
ui.page()
model = ui.stage("model")
customers = model.customers
example = customers["customer_id"].iloc[0] if len(customers) else ""
raw = st.text_input("Customer id", key="lookup_id", placeholder=f"e.g. {example}")
customer_id = io.normalise_id(raw) or ""  # as the lines table holds ids
if not customer_id:
    st.info("Type a customer id to see their numbers and history.")
    st.stop()

match = customers[customers["customer_id"] == customer_id]
history = ui.query(
    "SELECT invoice, invoice_date, stock_code, description, quantity, unit_price, amount, "
    "country, drop_rule AS dropped_by FROM lines WHERE customer_id = ? "
    "ORDER BY invoice_date, row_id", [customer_id])
if match.empty:
    if history.empty:
        st.warning(f"There is no customer {customer_id!r} in this data. Ids are matched "
                   "exactly, e.g. 17850.")
    else:
        rules = history["dropped_by"].value_counts()
        st.warning(f"Customer {customer_id} has {len(history):,} lines, but cleaning dropped "
                   "all of them (" + ", ".join(f"{r.replace('_', ' ')}: {n:,}"
                                              for r, n in rules.items())
                   + "), so they have no RFM or segment. Relax those rules in the sidebar.")
        ui.table(history)
    st.stop()

row = match.iloc[0]
st.subheader(f"Customer {customer_id} — {row['segment']}")
cols = st.columns(4)
cols[0].metric("Recency", ui.fmt_days(row["recency"]))
cols[1].metric("Frequency", f"{ui.fmt_count(row['frequency'])} orders")
cols[2].metric("Monetary", ui.fmt_money(row["monetary"]))
cols[3].metric("R / F / M scores", f"{row['r_score']} / {row['f_score']} / {row['m_score']}")
cols = st.columns(4)
cols[0].metric("Segment", str(row["segment"]))
cols[1].metric("RFM-grid segment", str(row["rfm_segment"]))
cols[2].metric("Anomaly score", f"{row['anomaly_score']:.3f}")
cols[3].metric("Outlier?", "yes" if bool(row["is_anomaly"]) else "no")
if bool(row["is_anomaly"]):
    st.warning(f"Why flagged: {row['anomaly_reason']}", icon=":material/warning:")
action = model.segments.set_index("segment")["action"].get(row["segment"])
if action:
    st.info(f"Action for {row['segment']}: {action}", icon=":material/campaign:")

kept = history["dropped_by"].isna()
st.subheader(f"Transaction history ({ui.fmt_count(int(kept.sum()))} kept lines, "
             f"{ui.fmt_count(int((~kept).sum()))} dropped by cleaning)")
ui.table(history, column_config={"dropped_by": st.column_config.TextColumn(
    "dropped by", help="Empty when the line is kept")})

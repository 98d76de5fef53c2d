"""Customer look-up: one customer's RFM, scores, segment, their own action and why, anomaly
verdict and every line of their history."""

import streamlit as st

from custseg import io, labels
from custseg.app import clv_panel, ui

st.title("Customer look-up")
ui.page()
model = ui.stage("model")
customers = model.customers
# An id from the data loaded, so the example always exists: the most valuable customer.
example = (str(customers.loc[customers["monetary"].idxmax(), "customer_id"])
           if len(customers) else "")
raw = st.text_input("Customer id", key="lookup_id", placeholder=f"e.g. {example}")
customer_id = io.normalise_id(raw) or ""  # as the lines table holds ids
if not customer_id:
    st.info("Type a customer id to see their numbers, their action and their history.")
    st.stop()

match = customers[customers["customer_id"] == customer_id]
history = ui.query(
    "SELECT invoice, invoice_date, stock_code, description, quantity, unit_price, amount, "
    "country, drop_rule AS dropped_by FROM lines WHERE customer_id = ? "
    "ORDER BY invoice_date, row_id", [customer_id])
kept = history["dropped_by"].isna()
# Kept lines say so, in words; dropped ones name the rule in words.
history["dropped_by"] = history["dropped_by"].map(labels.rule_label, na_action="ignore")
history["dropped_by"] = history["dropped_by"].fillna("kept")
if match.empty:
    if history.empty:
        st.warning(f"There is no customer {customer_id!r} in this data. Ids are matched "
                   f"exactly, e.g. {example}.")
    else:
        rules = history["dropped_by"].value_counts()
        st.warning(f"Customer {customer_id} has {len(history):,} lines, but cleaning dropped "
                   "all of them (" + ", ".join(f"{r}: {n:,}" for r, n in rules.items())
                   + "), so they have no RFM or segment. Relax those rules in the sidebar.")
        ui.table(history)
    st.stop()

row = match.iloc[0]
st.subheader(f"Customer {customer_id} — {row['segment']}")
lapsed = bool(row.get("lapsed", False))
action = row.get("action") or model.segments.set_index("segment")["action"].get(row["segment"])
reason = row.get("action_reason")
if action:
    title = "Their action (lapsed: win them back)" if lapsed else "Their action"
    st.info(f"**{title}.** {action}" + (f"\n\n**Why.** {reason}" if reason else ""),
            icon=":material/campaign:")
with ui.metrics():
    st.metric("Recency", ui.fmt_days(row["recency"]), help="Days since the last purchase")
    st.metric("Frequency", f"{ui.fmt_count(row['frequency'])} orders")
    st.metric("Monetary", ui.fmt_money(row["monetary"]), help="Total spend")
    st.metric("R / F / M scores", f"{row['r_score']} / {row['f_score']} / {row['m_score']}",
              help="Quintiles from 1 to 5; 5 is the most recent, most frequent, highest spend")
with ui.metrics():
    st.metric("Segment", str(row["segment"]))
    st.metric("Lapsed", "yes" if lapsed else "no",
              help="A customer of a high-value segment who has stayed away far longer than "
                   "their usual gap between orders")
    st.metric("RFM-grid segment", str(row["rfm_segment"]))
    st.metric("Outlier", "yes" if bool(row["is_anomaly"]) else "no",
              help=f"Anomaly score {row['anomaly_score']:.3f}; higher is more unusual")
if bool(row["is_anomaly"]):
    st.warning(f"Why flagged: {row['anomaly_reason']}", icon=":material/warning:")
clv_panel.customer_value(customer_id)

st.subheader(f"Transaction history ({ui.fmt_count(int(kept.sum()))} kept lines, "
             f"{ui.fmt_count(int((~kept).sum()))} dropped by cleaning)")
ui.table(history, column_config={"dropped_by": st.column_config.TextColumn(
    "Kept or dropped by", help="'kept', or the cleaning rule that dropped the line")})

"""One customer's lifetime value, expected purchases and P(alive), for the customer look-up;
P(alive) carries the model's own caveat where it cannot tell who has stopped buying."""

from __future__ import annotations

import streamlit as st

from custseg.app import ui


def customer_value(customer_id: str) -> None:
    """Metrics of ``customer_id`` from the lifetime-value stage, or a line saying why there
    are none."""
    ctx = ui.context()
    if not ctx.config.clv.enabled:
        return
    with ui.guard(ui.STAGES["clv"], ctx.source):
        estimated, why = ctx.clv().value
    if estimated is None:
        st.caption(why or "Lifetime value was not estimated.")
        return
    found = estimated.predictions[estimated.predictions["customer_id"] == customer_id]
    if found.empty:
        return
    row, cfg = found.iloc[0], estimated.config
    caveat = ("; on this data the model cannot tell who has stopped buying (see Future value)"
              if not estimated.verdict.discriminates else "")
    with ui.metrics():
        st.metric(f"Lifetime value, {cfg.months} months", ui.fmt_money(row["clv"]),
                  help=f"Discounted by {cfg.discount_rate:.1%} a month")
        st.metric(f"Expected purchases, next {cfg.horizon_days} days",
                  f"{row['expected_purchases']:.2f}")
        st.metric("Expected spend per purchase", ui.fmt_money(row["expected_spend"]))
        st.metric("P(alive)", f"{row['p_alive']:.1%}",
                  help="The model's chance that the customer is still buying" + caveat)

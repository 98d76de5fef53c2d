"""Future value: each customer's lifetime value, expected purchases and P(alive), the hold-out
check against a naive baseline, who to call first in each segment, and, in plain words, what
the model cannot tell on this data."""

import streamlit as st

from custseg import clv_charts, forecast, labels, pipeline
from custseg.app import ui

st.title("8 · Future value")
ui.page()
ctx = ui.context()
rfm = ui.stage("rfm")
with ui.guard(ui.STAGES["clv"], ctx.source):
    estimated, why = ctx.clv().value if ctx.config.clv.enabled else (None, None)
if estimated is None:
    st.warning(why or "Lifetime value is switched off.", icon=":material/info:")
    st.stop()

cfg, val = estimated.config, estimated.validation
segmented = pipeline.why_no_segments(rfm, ctx.config) is None
customers = forecast.customer_columns(ui.stage("model").customers if segmented else rfm,
                                      estimated)
st.caption(f"BG/NBD forecasts each customer's purchases and the chance they are still active "
           f"(P(alive)); Gamma-Gamma their spend per purchase. Lifetime value is the spend "
           f"expected over the next {cfg.months} months, discounted by {cfg.discount_rate:.1%} "
           f"a month. Checked first on the last {val.holdout_days} days, held out, then "
           f"refitted on the whole period.")
for sentence in estimated.verdict.warnings:
    st.warning(sentence, icon=":material/report:")
if not estimated.verdict.warnings:
    st.success("The model tells customers apart: P(alive) is spread across customers, and on "
               "the held-out days its forecasts were closer than the same-rate rule.")
m = val.metrics
with ui.metrics():
    st.metric(f"Lifetime value, {cfg.months} months", ui.fmt_money(customers["clv"].sum()))
    st.metric(f"Purchases expected, next {cfg.horizon_days} days",
              ui.fmt_count(round(customers["expected_purchases"].sum())))
    st.metric(f"P(alive) above {cfg.alive_level:.0%}", f"{estimated.verdict.alive_share:.1%}")
    st.metric("Hold-out error per customer", f"{m['mae']:.2f}",
              delta=f"{m['mae'] - m['baseline_mae']:+.2f} against the same rate",
              delta_color="inverse",
              help="Mean absolute error of purchases in the held-out days; the same-rate rule "
                   "keeps each customer at their own past rate")

currency = ui.currency()
if segmented:
    ui.chart(clv_charts.clv_by_segment(customers, months=cfg.months, currency=currency),
             key="clv_segments")
ui.chart(clv_charts.purchases_heatmap(customers, horizon_days=cfg.horizon_days),
         key="clv_heatmap")

st.subheader(f"Checked on the last {val.holdout_days} days")
ui.chart(clv_charts.calibration_plot(val.calibration, holdout_days=val.holdout_days),
         key="clv_calibration")
ui.table(forecast.holdout_table(estimated))

money = {c: ui.money_col(labels.label(c), None) for c in ("clv", "expected_spend")}
if segmented:
    st.subheader("Who to call first")
    names = customers.groupby("segment")["clv"].sum().sort_values(ascending=False).index
    chosen = st.selectbox("Segment", [str(n) for n in names], key="clv_segment")
    members = customers[customers["segment"] == chosen].sort_values("clv_rank")
    cols = ["clv_rank", "customer_id", "clv", "expected_purchases", "expected_spend"]
    # P(alive) only where it tells customers apart.
    cols += ["p_alive"] if estimated.verdict.discriminates else []
    cols += [c for c in ("recency", "frequency", "monetary", "action") if c in members]
    ui.table(members[cols].head(200), column_config={
        **money,
        "expected_purchases": st.column_config.NumberColumn(labels.label("expected_purchases"),
                                                            format="%.2f"),
        "p_alive": st.column_config.NumberColumn(labels.label("p_alive"), format="percent")})

st.subheader("Fitted parameters")
ui.table(estimated.params)

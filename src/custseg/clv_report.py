"""The report's "Future value" section: lifetime value per segment, expected purchases by
recency and frequency, the hold-out check against a naive baseline, the fitted parameters,
who to call first in each segment, and, in plain words, what the model cannot tell.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from custseg import clv_charts, forecast, money
from custseg.report import (
    FLOAT,
    INT,
    SHARE,
    _absent,
    _chart,
    _esc,
    _get,
    _metrics,
    _money,
    _num,
    table,
)

#: Customers listed per segment under "who to call first".
CALL_FIRST = 5
_HOLDOUT_COLUMNS = ("segment", "customers", "actual_total", "predicted_total", "baseline_total",
                    "mae", "baseline_mae", "correlation", "baseline_correlation")
_HOLDOUT_LABELS = {
    "segment": "Segment", "customers": "Customers", "actual_total": "Actual",
    "predicted_total": "Model", "baseline_total": "Same rate", "mae": "MAE model",
    "baseline_mae": "MAE same rate", "correlation": "r model",
    "baseline_correlation": "r same rate",
}
_TWO = _num(",.2f")


def not_estimated(result: Any) -> str:
    """Why lifetime value is missing (the run's note), or that it was switched off."""
    notes = (_get(result, "summary") or {}).get("notes") or []
    why = [n for n in notes if str(n).startswith("Lifetime value was not estimated")]
    if why:
        return f'<p class="muted">{_esc(why[0])}</p>'
    return _absent("Lifetime value")


def verdict_html(estimate: forecast.CLVResult) -> str:
    """The plain-words verdict: what the model cannot tell, or that it tells customers
    apart."""
    if estimate.verdict.warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in estimate.verdict.warnings)
        return (f'<div class="metric"><b style="font-size:1rem">What this model cannot tell'
                f"</b><ul>{items}</ul></div>")
    return ('<p>The model tells customers apart: P(alive) is spread across customers, and on '
            'the held-out days its forecasts were closer than the same-rate rule.</p>')


def section(result: Any) -> str:
    """The section's HTML (the report's ``future-value`` builder)."""
    estimate = _get(result, "clv")
    customers = _get(result, "rfm")
    if estimate is None or customers is None or "clv" not in customers:
        return not_estimated(result)
    cfg, currency = estimate.config, money.currency_of(result)
    val = estimate.validation
    parts = [
        f"<p>BG/NBD forecasts each customer's purchases and the chance they are still active "
        f"(P(alive)); Gamma-Gamma their spend per purchase. Lifetime value is the spend "
        f"expected over the next {cfg.months} months, discounted by "
        f"{cfg.discount_rate:.1%} a month. The models were first fitted without the last "
        f"{val.holdout_days} days (to {val.calibration_end}) and checked on them, then "
        f"refitted on the whole period for the numbers below.</p>",
        verdict_html(estimate),
        _metrics([
            (money.label(f"lifetime value, {cfg.months} months", currency),
             money.money(customers["clv"].sum(), currency)),
            (f"purchases expected, next {cfg.horizon_days} days",
             f"{customers['expected_purchases'].sum():,.0f}"),
            (f"P(alive) above {cfg.alive_level:.0%}", SHARE(estimate.verdict.alive_share)),
        ]),
    ]
    if "segment" in customers:
        parts.append(_chart(clv_charts.clv_by_segment(customers, months=cfg.months,
                                                      currency=currency), "clv-segments"))
    parts.append(_chart(clv_charts.purchases_heatmap(customers, horizon_days=cfg.horizon_days),
                        "clv-heatmap"))
    parts.append(f"<h3>Checked on the last {val.holdout_days} days</h3>"
                 "<p class=\"muted\">Purchase days in the held-out period against the model's "
                 "forecast and a naive one, the same rate: each customer keeps buying at their "
                 "own past rate (repeat purchases ÷ days since their first). MAE: mean "
                 "absolute error per customer; r: correlation with what happened. Segments are "
                 "those of the whole period, which has seen the held-out days.</p>")
    parts.append(_chart(clv_charts.calibration_plot(val.calibration,
                                                    holdout_days=val.holdout_days),
                        "clv-calibration"))
    holdout = forecast.holdout_table(estimate)
    parts.append(table(holdout[[c for c in _HOLDOUT_COLUMNS if c in holdout]],
                       formats={"actual_total": INT, "predicted_total": INT,
                                "baseline_total": INT, "mae": _TWO, "baseline_mae": _TWO,
                                "correlation": FLOAT, "baseline_correlation": FLOAT},
                       labels=_HOLDOUT_LABELS))
    if "segment" in customers:
        parts.append(_call_first(customers, estimate, currency))
    params = estimate.params[["model", "parameter", "value", "standard_error", "penalizer"]]
    parts.append("<h3>Fitted parameters</h3><p class=\"muted\">Maximum likelihood (lifetimes), "
                 "with standard errors; also in clv.csv.</p>"
                 + table(params, formats={"value": _num(",.6g"),
                                          "standard_error": _num(",.4g"),
                                          "penalizer": _num("g")}, segment_col=None))
    return "".join(parts)


def _call_first(customers: pd.DataFrame, estimate: forecast.CLVResult, currency: str) -> str:
    top = forecast.call_first(customers, CALL_FIRST)
    cols = ["segment", "clv_rank", "customer_id", "clv", "expected_purchases"]
    # P(alive) only where it tells customers apart: otherwise every row would read "100%".
    cols += ["p_alive"] if estimate.verdict.discriminates else []
    cols += [c for c in ("recency", "frequency") if c in top]
    return (f"<h3>Who to call first</h3><p class=\"muted\">The {CALL_FIRST} customers of "
            f"highest lifetime value in each segment, in order (customers.csv ranks everyone: "
            f"call order).</p>"
            + table(top[cols], currency=currency,
                    formats={"clv": _money(currency),
                             "expected_purchases": _TWO, "p_alive": SHARE,
                             "clv_rank": INT}))


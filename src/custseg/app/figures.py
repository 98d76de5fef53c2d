"""Figures the dashboard needs that :mod:`custseg.charts` does not (yet) provide."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from custseg import money
from custseg.rfm import GRID_SEGMENTS


def rfm_grid_bar(rfm: pd.DataFrame, *, currency: str = "") -> go.Figure:
    """Customers and revenue per RFM-grid segment, most valuable segment first.

    Parameters
    ----------
    rfm:
        The RFM table (``rfm_segment``, ``monetary``).
    currency:
        Written before money (see :mod:`custseg.money`).

    Returns
    -------
    A bar chart of customers, with each segment's share of revenue in the hover and label.
    """
    per = grid_table(rfm)
    fig = go.Figure(go.Bar(
        x=per["rfm_segment"], y=per["customers"], marker_color="#4e79a7",
        customdata=per[["revenue", "revenue_share"]],
        text=[f"{s:.0%} of revenue" for s in per["revenue_share"]], textposition="outside",
        hovertemplate="%{x}<br>%{y:,} customers<br>"
                      + money.hover("%{customdata[0]:,.0f}", currency)
                      + " (%{customdata[1]:.1%} of revenue)<extra></extra>"))
    fig.update_xaxes(title_text="RFM-grid segment (from R, F and M scores 1–5)")
    fig.update_yaxes(title_text="customers", tickformat=",.0f")
    fig.update_layout(title={"text": "Customers per RFM-grid segment", "x": 0.01},
                      template="plotly_white", height=420, separators=".,")
    return fig


def grid_table(rfm: pd.DataFrame) -> pd.DataFrame:
    """Customers, revenue and median R/F/M per RFM-grid segment, in grid order."""
    per = (rfm.groupby("rfm_segment", observed=True)
           .agg(customers=("customer_id", "size"), revenue=("monetary", "sum"),
                recency_median=("recency", "median"), frequency_median=("frequency", "median"),
                monetary_median=("monetary", "median"))
           .reset_index())
    total = per["revenue"].sum()
    per["revenue_share"] = per["revenue"] / total if total else 0.0
    order = {name: i for i, name in enumerate(GRID_SEGMENTS)}
    return per.sort_values("rfm_segment", key=lambda s: s.map(order)).reset_index(drop=True)

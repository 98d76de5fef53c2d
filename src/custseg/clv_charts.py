"""Plotly figures of lifetime value, shared by the report and the dashboard: data in, a figure
dict out, with the look and rules of :mod:`custseg.charts` (titles, units, segment colours,
money in the run's currency, readable from a phone to a laptop).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from custseg import money
from custseg.charts import Figure, _data_text, _log_axis, _style, _title
from custseg.segments import segment_color

#: Recency bands of the heatmap, in days since the last purchase (lower edges).
RECENCY_EDGES: tuple[int, ...] = (0, 15, 30, 60, 90, 180, 270)
#: Frequency bands of the heatmap, in orders (lower edges).
FREQUENCY_EDGES: tuple[int, ...] = (1, 2, 3, 4, 6, 11, 21)


def _bands(edges: tuple[int, ...], unit: str) -> list[str]:
    names = []
    for lo, hi in zip(edges, (*edges[1:], None), strict=True):
        if hi is None:
            names.append(f"{lo}+ {unit}")
        elif hi - lo == 1:
            names.append(f"{lo} {unit}")
        else:
            names.append(f"{lo}–{hi - 1} {unit}")
    return names


def clv_by_segment(customers: pd.DataFrame, *, months: int = 12,
                   currency: str = "") -> Figure:
    """Each segment's distribution of lifetime value: one box per segment, on a log axis
    (a few customers are worth a hundred times the median); segments ordered by total value.

    ``customers``: ``segment`` and ``clv``.
    """
    values = customers[["segment", "clv"]].dropna()
    order = values.groupby("segment")["clv"].sum().sort_values(ascending=False).index
    prefix = money.prefix(currency)
    data = []
    for name in order:
        clv = values.loc[values["segment"] == name, "clv"].to_numpy()
        data.append({"type": "box", "x": clv, "name": _data_text(pd.Series([str(name)]))[0],
                     "orientation": "h", "marker": {"color": segment_color(str(name))},
                     "boxpoints": False, "showlegend": False})
    positive = values["clv"][values["clv"] > 0]
    axis = _title(money.label(f"lifetime value, next {months} months", currency))
    if len(positive):
        axis |= _log_axis(positive, many=False, whole=False, prefix=prefix)
    layout = {"xaxis": axis, "yaxis": _title("segment", autorange="reversed")}
    return _style({"data": data, "layout": layout}, "Lifetime value per segment",
                  subtitle="box: the middle half of customers; line: median",
                  height=140 + 40 * len(data))


def purchases_heatmap(customers: pd.DataFrame, *, horizon_days: int = 90) -> Figure:
    """Mean expected purchases in the next ``horizon_days`` by recency band (rows) and
    frequency band (columns): lifetimes' frequency/recency matrix on the RFM axes.

    ``customers``: ``recency`` (days), ``frequency`` (orders), ``expected_purchases``.
    """
    rec = np.searchsorted(RECENCY_EDGES, customers["recency"].to_numpy(), side="right") - 1
    freq = np.searchsorted(FREQUENCY_EDGES, customers["frequency"].to_numpy(), side="right") - 1
    frame = pd.DataFrame({"r": np.clip(rec, 0, None), "f": np.clip(freq, 0, None),
                          "e": customers["expected_purchases"].to_numpy()})
    grid = frame.groupby(["r", "f"])["e"].agg(["mean", "size"])
    shape = (len(RECENCY_EDGES), len(FREQUENCY_EDGES))
    mean = np.full(shape, np.nan)
    count = np.zeros(shape, dtype=int)
    idx = (grid.index.get_level_values(0), grid.index.get_level_values(1))
    mean[idx] = grid["mean"].to_numpy()
    count[idx] = grid["size"].to_numpy()
    text = np.where(count > 0, np.char.mod("%.1f", np.nan_to_num(mean)), "")
    trace = {"type": "heatmap", "z": mean, "x": _bands(FREQUENCY_EDGES, "orders"),
             "y": _bands(RECENCY_EDGES, "days"), "customdata": count,
             "colorscale": "Blues", "text": text, "texttemplate": "%{text}",
             "colorbar": {"title": {"text": "purchases"}, "thickness": 12},
             "hovertemplate": "last bought %{y} ago, %{x}<br>%{customdata:,} customers<br>"
                              "expected purchases: %{z:.2f}<extra></extra>"}
    layout = {"xaxis": _title("frequency (orders so far)", type="category"),
              "yaxis": _title("recency (days since last purchase)", type="category",
                              autorange="reversed")}
    return _style({"data": [trace], "layout": layout},
                  f"Expected purchases in the next {horizon_days} days",
                  subtitle="mean per customer, by recency and frequency",
                  height=460)


def calibration_plot(calibration: pd.DataFrame, *, holdout_days: int) -> Figure:
    """Mean purchases in the held-out days against purchases before them: actual, the model's
    forecast and the same-rate baseline (lifetimes' calibration/hold-out plot).

    ``calibration``: :func:`custseg.clv_validation.calibration_table`.
    """
    last = int(calibration["purchases"].max()) if len(calibration) else 0
    labels = [f"{p}+" if p == last and last > 0 else str(p)
              for p in calibration["purchases"].astype(int)]
    data = []
    for col, name, color, dash in (("actual", "actual", "#1f2328", "solid"),
                                   ("predicted", "model (BG/NBD)", "#0969da", "solid"),
                                   ("baseline", "same rate as before", "#bf8700", "dot")):
        data.append({"type": "scatter", "mode": "lines+markers", "x": labels,
                     "y": calibration[col].to_numpy(), "name": name,
                     "line": {"color": color, "dash": dash},
                     "customdata": calibration["customers"].to_numpy(),
                     "hovertemplate": f"{name}: %{{y:.2f}}<br>%{{customdata:,}} customers"
                                      "<extra></extra>"})
    layout = {"xaxis": _title("repeat purchases before the hold-out", type="category"),
              "yaxis": _title(f"purchases in the last {holdout_days} days (mean)",
                              rangemode="tozero")}
    return _style({"data": data, "layout": layout}, "Forecast against what happened",
                  subtitle=f"fitted without the last {holdout_days} days",
                  height=420)

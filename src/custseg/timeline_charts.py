"""Plotly figures of change over time, shared by the report and the dashboard: the migration
Sankey between two snapshots, the cohort retention heatmap, and segment sizes and revenue
shares over rolling snapshots as stacked areas.

Figures are plain dicts with the look of :mod:`custseg.charts` (its ``_style``), segment
colours from :func:`custseg.segments.segment_color`, money in the configured currency.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from custseg import money
from custseg.charts import Figure, _style, _title
from custseg.migration import GONE, NEW
from custseg.segments import segment_color

#: The colour of "new" and "gone", which are no segment.
_OUTSIDE = "#b0b0b0"


def _color(name: str) -> str:
    return _OUTSIDE if name in (NEW, GONE) else segment_color(name)


def _rgba(color: str, alpha: float) -> str:
    """A ``#rrggbb`` colour made see-through (links under their source's colour)."""
    red, green, blue = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _centres(sizes: np.ndarray) -> list[float]:
    """Vertical centres (0 top, 1 bottom) of nodes of these sizes stacked in order, leaving
    plotly room for the padding between them."""
    share = np.asarray(sizes, dtype=float) / max(float(np.sum(sizes)), 1.0) * 0.9
    top = np.concatenate([[0.0], np.cumsum(share)[:-1]]) + 0.1 * np.arange(len(share)) / max(
        len(share) - 1, 1)
    return np.clip(top + share / 2, 0.001, 0.999).round(4).tolist()


def migration_sankey(table: pd.DataFrame, order: Sequence[str], *, dates: tuple[str, str],
                     currency: str = "") -> Figure:
    """Customers flowing from their segment at the first date (left) to the second (right).

    Parameters
    ----------
    table:
        :func:`custseg.migration.migration_table`.
    order:
        Segment names, most valuable first: both columns of nodes run in this order, with
        "new" last on the left and "gone" last on the right.
    dates:
        The two snapshots' labels, shown in the node names' hover and the title.
    """
    present = set(table["from_segment"]) | set(table["to_segment"])
    known = [s for s in order if s in present]
    others = sorted(present - set(known) - {NEW, GONE})
    lefts = [s for s in [*known, *others, NEW] if s in set(table["from_segment"])]
    rights = [s for s in [*known, *others, GONE] if s in set(table["to_segment"])]
    left_at = {s: i for i, s in enumerate(lefts)}
    right_at = {s: len(lefts) + i for i, s in enumerate(rights)}
    colors = [_color(s) for s in lefts] + [_color(s) for s in rights]
    left_sizes = table.groupby("from_segment")["customers"].sum().reindex(lefts).to_numpy()
    right_sizes = table.groupby("to_segment")["customers"].sum().reindex(rights).to_numpy()
    # Placed, not left to plotly's layout: both columns in the model's order, most valuable
    # on top, so that a flat line reads "stayed" and a line going down reads "slipped".
    node = {"label": [*lefts, *rights], "color": colors, "pad": 12, "thickness": 14,
            "line": {"width": 0},
            "x": [0.001] * len(lefts) + [0.999] * len(rights),
            "y": [*_centres(left_sizes), *_centres(right_sizes)],
            "customdata": [dates[0]] * len(lefts) + [dates[1]] * len(rights),
            "hovertemplate": "%{label} at %{customdata}: %{value:,} customers<extra></extra>"}
    link = {
        "source": table["from_segment"].map(left_at).to_numpy(),
        "target": table["to_segment"].map(right_at).to_numpy(),
        "value": table["customers"].to_numpy(),
        "color": [_rgba(_color(s), 0.35) for s in table["from_segment"]],
        "customdata": table[["revenue_before", "revenue_after"]].to_numpy(),
        "hovertemplate": ("%{source.label} → %{target.label}: %{value:,} customers<br>"
                          + money.hover("%{customdata[0]:,.0f}", currency)
                          + " before, " + money.hover("%{customdata[1]:,.0f}", currency)
                          + " after<extra></extra>")}
    trace = {"type": "sankey", "arrangement": "fixed", "node": node, "link": link,
             "valueformat": ",d"}
    return _style({"data": [trace], "layout": {}}, "Where each segment's customers went",
                  subtitle=f"left: segment at {dates[0]}; right: at {dates[1]}",
                  height=max(420, 40 * max(len(lefts), len(rights)) + 120))


def cohort_heatmap(matrix: pd.DataFrame, *, title: str = "Retention by first-purchase month",
                   value: str = "retention", currency: str = "") -> Figure:
    """Cohorts (rows, oldest on top) × months since the first purchase (columns).

    Parameters
    ----------
    matrix:
        :func:`custseg.cohorts.retention_matrix` (NaN cells, months not yet observed, are
        left blank).
    value:
        ``"retention"`` (shares, shown as %) or ``"revenue"`` (money).
    """
    rows = [f"{ts:%Y-%m}" for ts in pd.to_datetime(matrix.index)]
    cells = matrix.to_numpy(dtype=float)
    share = value == "retention"
    text = np.where(np.isnan(cells), "",
                    np.vectorize(lambda v: f"{v:.0%}" if share else f"{v / 1000:,.0f}k",
                                 otypes=[object])(np.nan_to_num(cells)))
    trace = {"type": "heatmap", "z": cells, "x": [int(c) for c in matrix.columns], "y": rows,
             "text": text, "texttemplate": "%{text}", "textfont": {"size": 10},
             "colorscale": "Blues", "zmin": 0, "zmax": 1 if share else None,
             "colorbar": {"thickness": 10, "tickformat": ".0%" if share else ",.0f",
                          "len": 0.8},
             "hoverongaps": False,
             "hovertemplate": ("cohort %{y}, month %{x}: "
                               + ("%{z:.1%} bought" if share
                                  else money.hover("%{z:,.0f}", currency) + " revenue")
                               + "<extra></extra>")}
    layout = {"xaxis": _title("months since first purchase", dtick=1),
              "yaxis": _title("first-purchase month", autorange="reversed", type="category")}
    return _style({"data": [trace], "layout": layout}, title,
                  subtitle=("share of each cohort buying in each later month" if share
                            else "revenue of each cohort in each later month"),
                  height=160 + 24 * len(rows))


def segments_area(over_time: pd.DataFrame, order: Sequence[str], *,
                  value: str = "customers", currency: str = "") -> Figure:
    """Segment sizes (``value="customers"``) or shares of each period's revenue
    (``"revenue_share"``) at each snapshot, stacked, most valuable segment on top.

    Parameters
    ----------
    over_time:
        :func:`custseg.compare.segments_over_time`: ``when``, ``segment``, ``customers``,
        ``revenue``, ``customer_share``, ``revenue_share``.
    """
    wide = over_time.pivot_table(index="when", columns="segment", values=value,
                                 aggfunc="sum", fill_value=0).sort_index()
    names = [s for s in order if s in wide.columns]
    names += sorted(set(wide.columns) - set(names))
    share = value != "customers"
    traces = [{"type": "scatter", "mode": "lines", "stackgroup": "one", "name": name,
               "x": [f"{ts:%Y-%m-%d}" for ts in wide.index], "y": wide[name].to_numpy(),
               "line": {"width": 0.5, "color": segment_color(name)},
               "hovertemplate": (f"{name}<br>%{{x}}: "
                                 + ("%{y:.1%} of the period's revenue" if share
                                    else "%{y:,} customers") + "<extra></extra>")}
              for name in reversed(names)]
    axis = (_title("share of the period's revenue", tickformat=".0%", range=[0, 1])
            if share else _title("customers", tickformat=",d"))
    layout = {"xaxis": _title("snapshot date", type="date"), "yaxis": axis}
    title = ("Revenue share per segment over time" if share
             else "Customers per segment over time")
    return _style({"data": traces, "layout": layout}, title,
                  subtitle="every customer assigned by the same model at each date",
                  height=420)

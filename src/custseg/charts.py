"""Plotly figures shared by the HTML report and the dashboard: data in, a figure dict out.

A figure is a plain dict in plotly's figure schema (:data:`Figure`), which plotly takes wherever
it takes a figure: ``st.plotly_chart(fig)`` validates it, ``plotly.io.to_json(fig,
validate=False)`` encodes it as it is (the report's fast path: graph objects would validate and
copy every property again), ``go.Figure(fig)`` checks every property (the tests do). A figure
carries no template: it keeps the default look of where it is drawn (Streamlit's in the
dashboard, plotly.js's in the report), with the white background and light grid lines set in
its layout.

Every figure must stay readable from a phone (390 px) to a laptop (1400 px): no figure holds a
grid of subplots (their titles and axes collide on a phone); where several views belong
together, a ``*_panels`` function returns one small figure per view, which the report sets in a
CSS grid and the dashboard in columns, both stacking on a phone. Titles push the margins
(plotly's ``automargin``) and start at the figure's left edge, legends run below the plot,
long category labels (products, segments, kinds) sit on a vertical axis, and log axes carry
1-2-5 ticks (:func:`_nice_ticks`). tests/test_report_browser.py checks in Chromium at both
widths that no two texts of a chart overlap.

Every chart has a title and axis titles with units (days, orders, the currency), colours a
segment with :func:`custseg.segments.segment_color` wherever segments appear, and formats money
with the configured currency (``currency``, see :mod:`custseg.money`; none by default) and
thousands separators. Text from the data is shown literally (:func:`_data_text`). Scatter
charts of large tables plot a seeded sample that keeps every outlier (see
:func:`sample_points`) so the report stays small and fast.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from plotly.colors import get_colorscale

from custseg import money
from custseg.errors import ConfigError
from custseg.labels import kind_label, rule_label
from custseg.rfm import GRID_SEGMENTS
from custseg.segments import segment_color

#: A Plotly figure as plain data: ``{"data": [trace, ...], "layout": {...}}`` in plotly's
#: figure schema. Values may be NumPy arrays.
Figure = dict[str, Any]

#: Scatter charts plot a sample at and above this many customers.
SAMPLE_ABOVE = 20_000
#: Number of non-outlier points a sampled scatter keeps.
SAMPLE_SIZE = 5_000

#: Units of recency and frequency; monetary is in the run's currency (see :func:`_unit`).
RFM_UNITS = {"recency": "days", "frequency": "orders"}
RFM_LABELS = {
    "recency": "Recency (days since last purchase)",
    "frequency": "Frequency (orders)",
    "monetary": "Monetary (total spend)",
}
_GREY = "#b0b0b0"
_OUTLIER = "#d62728"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
#: Every axis: light grid lines, and room for long tick labels (product names) with its title
#: clear of them (``title.standoff``, set in :func:`_style`).
_AXIS_LOOK = {"gridcolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "linecolor": "#EBF0F8",
              "automargin": True}
_AXIS_KEY = re.compile(r"[xy]axis\d*")


def _style(fig: Figure, title: str, *, height: int = 450, subtitle: str = "") -> Figure:
    """Give ``fig`` the shared look (title, white background, light grid lines, system font,
    thousands separators) in place, under what its layout sets itself; return it.

    The title (and ``subtitle``, a smaller second line) sits above the plot area and pushes the
    top margin (``automargin``), so it never covers the plot, a tick label or an axis title at
    any width; the legend runs horizontally below the plot, where it wraps on a phone instead
    of taking a third of the width beside it.
    """
    # The second line is part of the title's text: plotly.js's own subtitle is left out of
    # the room the title takes from the margin, and would cover the top of the plot.
    text = title + (f'<br><span style="font-size:12px;color:#59636e">{subtitle}</span>'
                    if subtitle else "")
    # From the figure's left edge (not the plot's): a phone needs every pixel of the width.
    heading: dict[str, Any] = {"text": text, "x": 0, "xref": "container", "xanchor": "left",
                               "pad": {"l": 8, "b": 10}, "y": 1, "yref": "paper",
                               "yanchor": "bottom", "automargin": True, "font": {"size": 15}}
    layout = {"title": heading,
              "font": {"family": _FONT, "size": 13}, "separators": ".,", "height": height,
              "margin": {"l": 10, "r": 10, "t": 20, "b": 10},
              "legend": {"title": {"text": ""}, "orientation": "h", "x": 0, "xanchor": "left",
                         "yref": "container", "y": 0, "yanchor": "bottom"},
              "paper_bgcolor": "white", "plot_bgcolor": "white", "hoverlabel": {"align": "left"},
              **fig.get("layout", {})}
    for key, axis in layout.items():
        if _AXIS_KEY.fullmatch(key):
            layout[key] = {**_AXIS_LOOK, **axis,
                           "title": {"standoff": 10, "font": {"size": 13},
                                     **axis.get("title", {})}}
    fig["layout"] = layout
    if not fig.setdefault("data", []):
        # st.plotly_chart rejects a dict figure without traces; an empty one draws nothing.
        fig["data"].append({"type": "scatter", "x": [], "y": [], "hoverinfo": "skip"})
    return fig


def _unit(var: str, currency: str) -> str:
    """The unit of an RFM variable: days, orders, or the currency ("" when there is none)."""
    return RFM_UNITS.get(var) or (currency or "").strip()


def _rfm_label(var: str, currency: str) -> str:
    """An RFM variable's axis title, with the currency in the monetary one:
    "Monetary (total spend, £)"."""
    label, unit = RFM_LABELS[var], _unit(var, currency)
    return label[:-1] + f", {unit})" if var == "monetary" and unit else label


def _title(text: str, **axis: Any) -> dict[str, Any]:
    """Axis settings with a title."""
    return {"title": {"text": text}, **axis}


def _is_skewed(values: pd.Series) -> bool:
    """True when a positive variable is skewed enough that a log axis reads better."""
    clean = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(clean) > 2 and clean.min() > 0 and clean.skew() > 2)


def _segment_order(names: Sequence[Any] | pd.Series) -> list[str]:
    """Segment names in a stable order (first appearance in sorted unique values)."""
    # unique() first: the names come one per customer, and a Python loop over them is slow.
    return sorted({str(n) for n in pd.Series(names).unique() if pd.notna(n)})


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def _data_text(values: pd.Series) -> pd.Series:
    """Text from the data (descriptions, ids, reasons) as plotly.js shows it literally.

    plotly.js renders labels and hover text as a subset of HTML (``<b>``, ``<a href>``, …), so
    a description ``<b>SALE</b>`` would be drawn bold; ``&``, ``<`` and ``>`` become entities,
    which plotly.js turns back into the characters on screen. (Quotes are left alone: plotly.js
    decodes no ``&quot;``.)
    """
    text = values.astype(str)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.str.replace(char, entity, regex=False)
    return text.where(values.notna(), values)


# --------------------------------------------------------------------------- sampling


def sample_points(frame: pd.DataFrame, *, flag: str = "is_anomaly", above: int = SAMPLE_ABOVE,
                  size: int = SAMPLE_SIZE, seed: int = 0) -> tuple[pd.DataFrame, bool]:
    """A seeded sample of ``frame`` for plotting that keeps every flagged row.

    Parameters
    ----------
    frame:
        One row per point.
    flag:
        Boolean column marking rows that must be kept (outliers); absent means none.
    above:
        Frames with fewer rows than this are returned whole.
    size:
        Number of unflagged rows to keep.
    seed:
        Seed of the random choice.

    Returns
    -------
    The rows to plot (original order) and whether it is a sample.
    """
    if len(frame) < above:
        return frame, False
    flagged = frame[flag].fillna(False).astype(bool).to_numpy() if flag in frame else \
        np.zeros(len(frame), dtype=bool)
    rest = np.flatnonzero(~flagged)
    rng = np.random.default_rng(seed)
    keep = rng.choice(rest, size=min(size, len(rest)), replace=False)
    mask = flagged.copy()
    mask[keep] = True
    return frame[mask], True


def _sample_note(shown: pd.DataFrame, total: int, flag: str = "is_anomaly") -> str:
    outliers = int(shown[flag].fillna(False).astype(bool).sum()) if flag in shown else 0
    return (f"a sample: {_fmt_int(len(shown))} of {_fmt_int(total)} customers"
            + (f", all {_fmt_int(outliers)} outliers" if outliers else ""))


# --------------------------------------------------------------------------- k selection

#: Per k-search metric: column, panel title, vertical axis title, how to read it, format.
_K_PANELS = (
    ("inertia", "Inertia", "sum of squares", "spread within segments", ",.0f"),
    ("silhouette", "Silhouette", "silhouette", "higher is better", ".2f"),
    ("calinski_harabasz", "Calinski–Harabasz", "score", "higher is better", ",.0f"),
    ("davies_bouldin", "Davies–Bouldin", "score", "lower is better", ".2f"),
    ("min_share", "Smallest segment", "share of customers", "of the customers", ".0%"),
    ("stability", "Stability across seeds", "adjusted Rand index", "higher is better", ".2f"),
)


def k_metric_panels(k_table: pd.DataFrame) -> list[Figure]:
    """One small figure per k-search metric, to stack or set side by side: the chosen k
    marked by a dashed line, k that fail the checks in grey.

    Parameters
    ----------
    k_table:
        Columns ``k``, the metric columns, ``eligible`` and ``chosen`` (booleans).

    Returns
    -------
    A figure per metric present in ``k_table`` (inertia, silhouette, Calinski–Harabasz,
    Davies–Bouldin, smallest segment, stability), each with its own title and axis titles.
    """
    eligible = k_table["eligible"].astype(bool) if "eligible" in k_table else \
        pd.Series(True, index=k_table.index)
    chosen = k_table.loc[k_table["chosen"].astype(bool), "k"] if "chosen" in k_table else []
    k = int(chosen.iloc[0]) if len(chosen) else None
    figures = []
    for col, name, unit, meaning, fmt in (p for p in _K_PANELS if p[0] in k_table):
        data: list[dict[str, Any]] = [{
            "type": "scatter", "x": k_table["k"].to_numpy(), "y": k_table[col].to_numpy(),
            "mode": "lines", "line": {"color": "#4e79a7"}, "showlegend": False,
            "hoverinfo": "skip"}]
        for ok, label in ((True, "passes the checks"), (False, "fails the checks")):
            part = k_table[eligible == ok]
            data.append({
                "type": "scatter", "x": part["k"].to_numpy(), "y": part[col].to_numpy(),
                "mode": "markers", "name": label, "showlegend": False,
                "marker": {"color": "#4e79a7" if ok else _GREY, "size": 9},
                "hovertemplate": f"k=%{{x}}<br>{name}: %{{y:{fmt}}}<extra>{label}</extra>"})
        layout: dict[str, Any] = {
            "xaxis": _title("k (segments)", dtick=1),
            "yaxis": _title(unit, tickformat=fmt, nticks=5)}
        if k is not None:
            # The chosen k: a dashed line through the panel, named at its top.
            layout["shapes"] = [{"type": "line", "x0": k, "x1": k, "xref": "x", "y0": 0,
                                 "y1": 1, "yref": "y domain",
                                 "line": {"color": _OUTLIER, "dash": "dash"}}]
            layout["annotations"] = [{"text": f"chosen k={k}", "x": k, "xref": "x", "y": 1,
                                      "yref": "y domain", "yanchor": "top", "xanchor": "left",
                                      "xshift": 4, "showarrow": False,
                                      "font": {"color": _OUTLIER, "size": 12},
                                      "bgcolor": "rgba(255,255,255,0.8)"}]
        figures.append(_style({"data": data, "layout": layout}, name,
                              subtitle=f"{meaning}; grey: k that fail the checks",
                              height=300))
    return figures


# --------------------------------------------------------------------------- PCA


def _rfm_hover(frame: pd.DataFrame, extra: str | None = None,
               currency: str = "") -> tuple[np.ndarray, str]:
    """customdata and a hovertemplate showing customer id and R/F/M (and ``extra``)."""
    cols = ["customer_id", "recency", "frequency", "monetary"] + ([extra] if extra else [])
    texts = ["customer_id"] + ([extra] if extra else [])
    data = frame[cols].astype(object).assign(
        **{c: _data_text(frame[c]) for c in texts}).to_numpy()
    template = ("customer %{customdata[0]}<br>recency %{customdata[1]:,} days<br>"
                "frequency %{customdata[2]:,} orders<br>monetary "
                + money.hover("%{customdata[3]:,.2f}", currency))
    if extra:
        template += "<br>%{customdata[4]}"
    return data, template


def pca_scatter(pca: pd.DataFrame, rfm: pd.DataFrame, explained: Sequence[float],
                loadings: pd.DataFrame | None = None, *, seed: int = 0,
                currency: str = "") -> Figure:
    """Customers in the first two principal components, coloured by segment.

    Parameters
    ----------
    pca:
        ``customer_id``, ``pc1``, ``pc2``.
    rfm:
        The RFM table with ``segment`` (and ``is_anomaly`` for sampling).
    explained:
        Explained-variance ratio of PC1 and PC2.
    loadings:
        Optional; index recency/frequency/monetary, columns pc1/pc2, drawn as arrows.
    seed:
        Seed of the sample drawn for large tables.
    currency:
        Written before money (see :mod:`custseg.money`).

    Returns
    -------
    The scatter figure.
    """
    cols = [c for c in ("customer_id", "recency", "frequency", "monetary", "segment",
                        "is_anomaly") if c in rfm]
    data = pca[["customer_id", "pc1", "pc2"]].merge(rfm[cols], on="customer_id", how="left")
    if "segment" not in data:
        data["segment"] = "all customers"
    shown, sampled = sample_points(data, seed=seed)
    custom, template = _rfm_hover(shown, currency=currency)
    segments = shown["segment"].astype(str).to_numpy()
    traces = []
    for name in _segment_order(shown["segment"]):
        part = segments == name
        traces.append({
            "type": "scatter", "x": shown["pc1"].to_numpy()[part],
            "y": shown["pc2"].to_numpy()[part], "mode": "markers", "name": name,
            "marker": {"color": segment_color(name), "size": 6, "opacity": 0.7},
            "customdata": custom[part], "hovertemplate": template + f"<extra>{name}</extra>"})
    layout: dict[str, Any] = {
        "xaxis": _title(f"PC1 ({explained[0]:.0%} of variance)"),
        "yaxis": _title(f"PC2 ({explained[1]:.0%} of variance)")}
    if loadings is not None:
        layout["annotations"] = _loading_arrows(loadings, shown)
    return _style({"data": traces, "layout": layout}, "Segments in PCA space", height=520,
                  subtitle=(_sample_note(shown, len(data)) if sampled else
                            "scaled R/F/M; arrows: where each of R, F and M grows"))


#: Loading arrows closer than this (degrees) have their names pushed apart.
_CLOSE_DEGREES = 30.0


def _loading_arrows(loadings: pd.DataFrame, points: pd.DataFrame) -> list[dict[str, Any]]:
    """Each feature's loading as an arrow from the origin (a biplot), named at its tip.

    The arrows are scaled to the points' spread (the 90th percentile distance from the
    origin), so the names stand out among the points instead of at the origin; each name is
    anchored on the side of its tip away from the origin, and names of arrows pointing
    nearly the same way are pushed apart across the arrows (``xshift``/``yshift``, pixels).
    """
    reach = float(np.nanpercentile(np.hypot(points["pc1"], points["pc2"]), 90)) or 1.0
    longest = float(np.hypot(loadings["pc1"], loadings["pc2"]).max()) or 1.0
    tips = loadings[["pc1", "pc2"]].to_numpy(dtype=float) * (reach / longest)
    angles = np.degrees(np.arctan2(tips[:, 1], tips[:, 0]))
    shifts = np.zeros(len(tips))
    order = np.argsort(angles, kind="stable")
    for a, b in pairwise(order):
        if angles[b] - angles[a] < _CLOSE_DEGREES:
            shifts[a] -= 1
            shifts[b] += 1
    annotations: list[dict[str, Any]] = []
    for (feature, tip, angle, shift) in zip(loadings.index, tips, angles, shifts,
                                             strict=True):
        # The arrow: head at the tip, tail at the origin, no text.
        annotations.append({"x": float(tip[0]), "y": float(tip[1]), "ax": 0, "ay": 0,
                            "xref": "x", "yref": "y", "axref": "x", "ayref": "y", "text": "",
                            "showarrow": True, "arrowhead": 2, "arrowwidth": 1.5,
                            "arrowcolor": "#333"})
        across = np.radians(angle + 90)  # pushed apart at right angles to the arrow
        annotations.append({
            "x": float(tip[0]), "y": float(tip[1]), "xref": "x", "yref": "y",
            "text": f"<b>{feature}</b>", "showarrow": False,
            "xanchor": "left" if tip[0] >= 0 else "right",
            "yanchor": "bottom" if tip[1] >= 0 else "top",
            "xshift": float(10 * shift * np.cos(across)),
            "yshift": float(10 * shift * np.sin(across)),
            "font": {"color": "#222", "size": 13}, "bgcolor": "rgba(255,255,255,0.8)"})
    return annotations


# --------------------------------------------------------------------------- profiles


def segment_profile_panels(segments: pd.DataFrame, *, currency: str = "") -> list[Figure]:
    """Median recency, frequency and spend per segment, and each segment's share of customers
    against its share of revenue: four small figures to stack or set side by side.

    Segments run down the vertical axis (horizontal bars), so their names stay readable on a
    phone.

    Parameters
    ----------
    segments:
        The segment table (``segment``, ``*_median``, ``customer_share``, ``revenue_share``).
    currency:
        Written before money (see :mod:`custseg.money`).

    Returns
    -------
    Four figures, in the order above.
    """
    names = _data_text(segments["segment"].astype(str)).tolist()
    colors = [segment_color(str(n)) for n in segments["segment"]]
    height = 110 + 34 * len(names)
    segment_axis = _title("segment", autorange="reversed", automargin=True)
    figures = []
    # (column, title, axis title, number format, text before and after the number)
    panels = (("recency_median", "Median recency", "days since last purchase", ",.0f", "",
               " days"),
              ("frequency_median", "Median frequency", "orders", ",~f", "", " orders"),
              ("monetary_median", "Median spend", money.label("total spend", currency), ",.0f",
               money.prefix(currency), ""))
    for col, title, unit, fmt, prefix, suffix in panels:
        trace = {"type": "bar", "orientation": "h", "y": names, "x": segments[col].to_numpy(),
                 "marker": {"color": colors}, "showlegend": False,
                 "hovertemplate": f"%{{y}}<br>median {prefix}%{{x:{fmt}}}{suffix}"
                                  "<extra></extra>"}
        layout = {"xaxis": _title(unit, tickprefix=prefix, tickformat=fmt, nticks=5),
                  "yaxis": segment_axis}
        figures.append(_style({"data": [trace], "layout": layout}, title, height=height))
    data = []
    for col, label, pattern, opacity in (("customer_share", "share of customers", "", 0.45),
                                         ("revenue_share", "share of revenue", "/", 1.0)):
        data.append({
            "type": "bar", "orientation": "h", "y": names, "x": segments[col].to_numpy(),
            "name": label, "opacity": opacity, "showlegend": False,
            "marker": {"color": colors, "pattern": {"shape": pattern},
                       "line": {"color": "#333", "width": 0.5}},
            "hovertemplate": f"%{{y}}<br>{label}: %{{x:.1%}}<extra></extra>"})
    layout = {"barmode": "group", "xaxis": _title("share", tickformat=".0%", nticks=5),
              "yaxis": segment_axis}
    figures.append(_style({"data": data, "layout": layout}, "Customers against revenue",
                          subtitle="pale: share of customers; hatched: share of revenue",
                          height=height + 20 * len(names)))
    return figures


# --------------------------------------------------------------------------- explanation


def importances_bar(importances: pd.DataFrame) -> Figure:
    """Impurity and permutation importance of recency, frequency and monetary.

    Parameters
    ----------
    importances:
        ``feature``, ``impurity``, ``permutation``.

    Returns
    -------
    A horizontal grouped bar chart.
    """
    data = [{"type": "bar", "y": importances["feature"].to_numpy(),
             "x": importances[col].to_numpy(), "orientation": "h", "name": label,
             "marker": {"color": color},
             "hovertemplate": "%{y}: %{x:.3f}<extra>" + col + "</extra>"}
            for col, label, color in (
                ("impurity", "share of the forest's splits", "#4e79a7"),
                ("permutation", "accuracy lost when shuffled", "#f28e2b"))
            if col in importances]
    layout = {"barmode": "group",
              "xaxis": _title("importance (0–1)", tickformat=".2f", nticks=6),
              "yaxis": _title("feature", autorange="reversed")}
    return _style({"data": data, "layout": layout}, "What separates the segments",
                  subtitle="importance of each of R, F and M", height=400)


# --------------------------------------------------------------------------- anomalies


def anomaly_scatter(rfm: pd.DataFrame, x: str, y: str, *, seed: int = 0,
                    currency: str = "") -> Figure:
    """Two RFM variables against each other, outliers highlighted with their reason.

    Parameters
    ----------
    rfm:
        The RFM table; ``segment``, ``is_anomaly`` and ``anomaly_reason`` are used if present.
    x, y:
        Two of ``recency``, ``frequency``, ``monetary``.
    seed:
        Seed of the sample drawn for large tables.
    currency:
        Written before money (see :mod:`custseg.money`).

    Returns
    -------
    The scatter figure; skewed positive axes are logarithmic.
    """
    for axis in (x, y):
        if axis not in RFM_LABELS:
            raise ConfigError(f"Unknown RFM variable {axis!r}; use one of "
                              f"{', '.join(RFM_LABELS)}.")
    shown, sampled = sample_points(rfm, seed=seed)
    flagged = (shown["is_anomaly"].fillna(False).astype(bool) if "is_anomaly" in shown
               else pd.Series(False, index=shown.index))
    normal = shown[~flagged]
    segments = (normal["segment"].astype(str).to_numpy() if "segment" in normal
                else np.full(len(normal), "customers"))
    custom, template = _rfm_hover(normal, currency=currency)
    data = []
    for name in _segment_order(segments):
        part = segments == name
        data.append({
            "type": "scatter", "x": normal[x].to_numpy()[part], "y": normal[y].to_numpy()[part],
            "mode": "markers", "name": name,
            "marker": {"color": segment_color(name) if "segment" in normal else _GREY,
                       "size": 5, "opacity": 0.55},
            "customdata": custom[part], "hovertemplate": template + f"<extra>{name}</extra>"})
    outliers = shown[flagged].copy()
    if not outliers.empty:
        outliers["_why"] = (outliers["anomaly_reason"].fillna("").astype(str)
                            if "anomaly_reason" in outliers else "")
        custom, template = _rfm_hover(outliers, "_why", currency)
        data.append({
            "type": "scatter", "x": outliers[x].to_numpy(), "y": outliers[y].to_numpy(),
            "mode": "markers", "name": "outlier",
            "marker": {"symbol": "x", "color": _OUTLIER, "size": 9,
                       "line": {"width": 1, "color": _OUTLIER}},
            "customdata": custom, "hovertemplate": template + "<extra>outlier</extra>"})
    layout: dict[str, Any] = {}
    for axis, var in (("xaxis", x), ("yaxis", y)):
        log = _is_skewed(rfm[var])
        settings = _title(_rfm_label(var, currency) + (", log scale" if log else ""))
        prefix = money.prefix(currency) if var == "monetary" else ""
        if log:
            # Explicit 1-2-5 ticks: plotly's own log ticks label 0.7, 0.8, 0.9 between
            # powers of ten on a short range, and put the prefix on some labels only.
            settings.update(_log_axis(rfm[var], many=axis == "yaxis", whole=var != "monetary",
                                      prefix=prefix))
        elif var == "monetary":
            settings.update(money.axis(currency))
        else:
            settings.update(tickformat=",d")  # days and orders are whole numbers
        layout[axis] = settings
    title = f"Outliers: {x} and {y}"
    return _style({"data": data, "layout": layout}, title, height=480,
                  subtitle=_sample_note(shown, len(rfm)) if sampled else "")


#: The three views of customer outliers shown in the report.
ANOMALY_VIEWS = (("frequency", "monetary"), ("recency", "monetary"), ("recency", "frequency"))


# --------------------------------------------------------------------------- cleaning


def _field(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)


def cleaning_waterfall(report: Any) -> Figure:
    """Rows in, minus the rows each cleaning rule dropped, equals rows kept.

    Parameters
    ----------
    report:
        A :class:`~custseg.clean.CleaningReport` (or its ``to_dict()``).

    Returns
    -------
    A waterfall figure.
    """
    rows_in, rows_kept = int(_field(report, "rows_in")), int(_field(report, "rows_kept"))
    dropped = dict(_field(report, "dropped"))
    labels = ["rows in", *(rule_label(r) for r in dropped), "rows kept"]
    values = [rows_in, *(-int(v) for v in dropped.values()), rows_kept]
    # Horizontal: the rule names read across a phone's width instead of standing on end.
    trace = {
        "type": "waterfall", "orientation": "h", "y": labels, "x": values,
        "measure": ["absolute", *["relative"] * len(dropped), "total"],
        "text": [_fmt_int(abs(v)) for v in values], "textposition": "outside",
        "cliponaxis": False,
        "decreasing": {"marker": {"color": "#e15759"}},
        "increasing": {"marker": {"color": "#59a14f"}},
        "totals": {"marker": {"color": "#4e79a7"}},
        "connector": {"line": {"color": "#999", "width": 1}},
        "hovertemplate": "%{y}: %{text} rows<extra></extra>"}
    # Room right of the longest bar for its count.
    layout = {"xaxis": _title("rows", tickformat=",.0f", nticks=4,
                              range=[0, max(rows_in, 1) * 1.3]),
              "yaxis": _title("cleaning rule (in the order applied)", autorange="reversed")}
    share = rows_kept / rows_in if rows_in else 0.0
    return _style({"data": [trace], "layout": layout}, "Cleaning: the row account",
                  subtitle=f"{_fmt_int(rows_in)} rows in, {_fmt_int(rows_kept)} kept "
                           f"({share:.1%})", height=150 + 30 * len(labels))


# --------------------------------------------------------------------------- distributions


def _bins(values: np.ndarray, n: int = 40) -> np.ndarray:
    """Equal-width bin edges on the plotting scale (already log10 for skewed variables)."""
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    return np.linspace(lo, max(hi, lo + 1.0) if hi <= lo else hi, n + 1)


def _nice_ticks(lo: float, hi: float, *, many: bool, whole: bool) -> list[float]:
    """Tick values for a log axis from ``lo`` to ``hi``: 1, 2 and 5 × 10^n while the range
    spans few powers of ten (up to 4 when ``many``, for a vertical axis; 2 otherwise), else
    the powers of ten alone, thinned to at most 7. ``whole`` (counts): no tick below 1."""
    lo, hi = max(lo, 1.0) if whole else lo, max(hi, lo)
    decades = np.log10(hi / lo) if lo > 0 else 0.0
    steps = (1, 2, 5) if decades <= (4 if many else 2) else (1,)
    ticks = [m * 10.0 ** p for p in range(int(np.floor(np.log10(lo))) - 1,
                                          int(np.ceil(np.log10(hi))) + 1)
             for m in steps if lo <= m * 10.0 ** p <= hi]
    if steps == (1,) and len(ticks) > 7:
        every = -(-len(ticks) // 7)
        ticks = ticks[::every]
    return ticks or [lo]


def _tick_texts(ticks: Sequence[float], prefix: str = "") -> list[str]:
    """'£1,000', '£0.5', '20': thousands separators, no trailing zeros, the prefix on every
    label."""
    return [prefix + (f"{t:,.0f}" if t >= 1 else f"{t:g}") for t in ticks]


def _log_axis(values: pd.Series, *, many: bool, whole: bool, prefix: str) -> dict[str, Any]:
    """Settings of a log axis over ``values``: its range and 1-2-5 ticks (see
    :func:`_nice_ticks`), each label with ``prefix`` (the currency on money axes)."""
    clean = pd.to_numeric(values, errors="coerce")
    clean = clean[np.isfinite(clean) & (clean > 0)]
    lo, hi = float(clean.min()), float(clean.max())
    ticks = _nice_ticks(lo, hi, many=many, whole=whole)
    # A little room beyond the outermost points (5% of the log range each side).
    pad = max(np.log10(hi / lo), 1.0) * 0.05
    return {"type": "log", "range": [np.log10(lo) - pad, np.log10(hi) + pad],
            "tickmode": "array", "tickvals": ticks, "ticktext": _tick_texts(ticks, prefix)}


def rfm_distribution_panels(rfm: pd.DataFrame, *, currency: str = "") -> list[Figure]:
    """Histograms of recency, frequency and monetary, stacked by segment: three small figures
    to stack or set side by side.

    Counts are binned here (not by plotly.js) so a figure holds ~40 bars however many
    customers there are; skewed variables are binned on a log scale.

    Parameters
    ----------
    rfm:
        The RFM table (``segment`` optional).
    currency:
        Written before money (see :mod:`custseg.money`).

    Returns
    -------
    Three figures: recency, frequency, monetary.
    """
    segments = rfm["segment"].astype(str) if "segment" in rfm else \
        pd.Series("customers", index=rfm.index)
    names = _segment_order(segments)
    figures = []
    for var in ("recency", "frequency", "monetary"):
        unit = _unit(var, currency)
        # Money: the currency before each amount; days and orders: the unit after the range.
        before, after = (money.prefix(currency), "") if var == "monetary" else ("", f" {unit}")
        values = pd.to_numeric(rfm[var], errors="coerce").to_numpy(dtype=float)
        log = _is_skewed(rfm[var])
        scaled = np.log10(values) if log else values
        ok = np.isfinite(scaled)
        edges = _bins(scaled[ok])
        centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        data = []
        for name in names:
            counts, _ = np.histogram(scaled[ok & (segments == name).to_numpy()], bins=edges)
            data.append({
                "type": "bar", "x": centres, "y": counts, "width": widths, "name": name,
                "marker": {"color": segment_color(name) if "segment" in rfm else "#4e79a7",
                           "line": {"width": 0}},
                "customdata": np.c_[10 ** edges[:-1], 10 ** edges[1:]] if log
                else np.c_[edges[:-1], edges[1:]],
                "hovertemplate": f"{var} {before}%{{customdata[0]:,.1f}}–{before}"
                                 f"%{{customdata[1]:,.1f}}{after}<br>%{{y:,}} customers"
                                 f"<extra>{name}</extra>"})
        xaxis = _title(_rfm_label(var, currency) + (", log scale" if log else ""))
        if log:
            # The bars sit at log10 of the values on a linear axis: ticks name the values.
            ticks = _nice_ticks(10 ** edges[0], 10 ** edges[-1], many=False,
                                whole=var != "monetary")
            xaxis.update(tickmode="array", tickvals=np.log10(ticks).tolist(),
                         ticktext=_tick_texts(ticks, before))
        elif var == "monetary":
            xaxis.update(money.axis(currency))
        layout = {"xaxis": xaxis, "yaxis": _title("customers", tickformat=",.0f"),
                  "barmode": "stack", "bargap": 0, "showlegend": "segment" in rfm}
        figures.append(_style({"data": data, "layout": layout},
                              f"{RFM_LABELS[var].split(' (')[0]} of "
                              f"{_fmt_int(len(rfm))} customers", height=340))
    return figures


# --------------------------------------------------------------------------- transactions


def flagged_kinds(flagged: pd.DataFrame, *, currency: str = "") -> Figure:
    """Number of flagged transaction lines per kind of anomaly.

    Parameters
    ----------
    flagged:
        Flagged lines with ``kind`` (and ``amount`` for the hover).
    currency:
        Written before money (see :mod:`custseg.money`).

    Returns
    -------
    A bar chart (no bars and a note when nothing was flagged).
    """
    data = []
    layout: dict[str, Any] = {}
    if flagged is not None and not flagged.empty:
        amount = flagged["amount"] if "amount" in flagged else pd.Series(0.0, index=flagged.index)
        per = (flagged.assign(_abs=amount.abs()).groupby("kind", sort=True)
               .agg(lines=("kind", "size"), value=("_abs", "sum")).reset_index()
               .sort_values("lines", ascending=False, kind="stable"))
        words = [kind_label(str(k)) for k in per["kind"]]
        data.append({
            "type": "bar", "orientation": "h", "y": words, "x": per["lines"].to_numpy(),
            "marker": {"color": "#e15759"}, "customdata": per[["value"]].to_numpy(),
            "text": [_fmt_int(int(v)) for v in per["lines"]], "textposition": "auto",
            "hovertemplate": "%{y}: %{x:,} lines<br>"
                             + money.hover("%{customdata[0]:,.2f}", currency)
                             + " in total<extra></extra>"})
        height = 130 + 40 * len(per)
    else:
        layout["annotations"] = [{"text": "No transaction lines were flagged.",
                                  "showarrow": False, "xref": "paper", "yref": "paper",
                                  "x": 0.5, "y": 0.5}]
        height = 260
    layout["xaxis"] = _title("flagged lines", tickformat=",d", nticks=5)
    layout["yaxis"] = _title("kind of anomaly", autorange="reversed")
    return _style({"data": data, "layout": layout}, "Flagged lines per kind",
                  height=max(height, 260))


# --------------------------------------------------------------------------- products


#: Product names on an axis wrap at this many characters, on at most two lines.
_LABEL_WIDTH = 20


def _product_label(frame: pd.DataFrame) -> np.ndarray:
    """Axis label per product: its description, else its stock code, on at most two lines of
    :data:`_LABEL_WIDTH` characters (the full name is in the hover), so a phone keeps room
    for the bars."""
    names = frame["description"].fillna(frame["stock_code"]).astype(str)
    short = names.map(lambda n: "\n".join(textwrap.wrap(n, _LABEL_WIDTH, max_lines=2,
                                                         placeholder=" …")) or n)
    # Escaped first, then broken with <br> (plotly.js's line break).
    return _data_text(short).str.replace("\n", "<br>", regex=False).to_numpy()


def _product_name(frame: pd.DataFrame) -> np.ndarray:
    """The full name of each product (description, else stock code), escaped for a hover."""
    return _data_text(frame["description"].fillna(frame["stock_code"]).astype(str)).to_numpy()


def _colorscale(name: str) -> list[list[Any]]:
    """A plotly.py colour scale by name, written out: plotly.js has scales of the same names
    with other colours (its "RdBu" runs the other way)."""
    return get_colorscale(name)


def product_mix_bar(products: pd.DataFrame, segment: str, top_n: int = 10, *,
                    currency: str = "") -> Figure:
    """One segment's top products by revenue, coloured by lift (over-bought products stand out).

    Parameters
    ----------
    products:
        The table from :func:`custseg.products.segment_products`.
    segment:
        The segment to show.
    top_n:
        Number of products shown (by ``rank_revenue``).
    currency:
        Written before money (see :mod:`custseg.money`).
    """
    rows = products[(products["segment"].astype(str) == str(segment))
                    & (products["rank_revenue"] <= top_n)].sort_values("rank_revenue")
    custom = np.column_stack([rows["segment_share"], rows["lift"], rows["customers"],
                              _product_name(rows)]).astype(object)
    fig: Figure = {
        "data": [{
            "type": "bar", "y": _product_label(rows), "x": rows["revenue"].to_numpy(),
            "orientation": "h", "customdata": custom,
            "marker": {"color": rows["lift"].to_numpy(), "colorscale": _colorscale("RdBu"),
                       "cmid": 1.0, "colorbar": {"title": {"text": "lift"}, "thickness": 12}},
            "hovertemplate": "%{customdata[3]}<br>revenue " + money.hover("%{x:,.0f}", currency)
                             + "<br>share of segment %{customdata[0]:.1%}<br>lift "
                               "%{customdata[1]:.2f}<br>buyers %{customdata[2]:,}"
                               "<extra></extra>"}],
        "layout": {"xaxis": _title(money.label("revenue from the segment", currency), nticks=5,
                                   **money.axis(currency)),
                   "yaxis": _title("product", autorange="reversed")},
    }
    return _style(fig, f"{_data_text(pd.Series([str(segment)]))[0]}: top products",
                  subtitle="by revenue; colour: lift against all customers",
                  height=max(350, 44 * len(rows) + 150))


_TREND_COLORS = {"rising": "#59a14f", "steady": "#bab0ac", "falling": "#e15759",
                 "new": "#4e79a7"}


def stock_priorities_bar(priorities: pd.DataFrame, *, currency: str = "") -> Figure:
    """Stock priorities: revenue from the most valuable segments, coloured by trend label.

    Parameters
    ----------
    priorities:
        The table from :func:`custseg.products.stock_priorities`.
    currency:
        Written before money (see :mod:`custseg.money`).
    """
    data = []
    for label, color in _TREND_COLORS.items():
        rows = priorities[priorities["trend_label"] == label]
        if rows.empty:
            continue
        data.append({
            "type": "bar", "y": _product_label(rows), "x": rows["revenue"].to_numpy(),
            "orientation": "h", "name": label, "marker": {"color": color},
            "customdata": np.column_stack([rows["share"], rows["trend"].fillna(0.0),
                                           _product_name(rows)]).astype(object),
            "hovertemplate": "%{customdata[2]}<br>revenue " + money.hover("%{x:,.0f}", currency)
                             + "<br>share %{customdata[0]:.1%}"
                             "<br>second half vs first %{customdata[1]:+.1%}<extra>" + label
                             + "</extra>"})
    chosen = priorities.attrs.get("segments")
    fig: Figure = {"data": data, "layout": {
        "xaxis": _title(money.label("revenue", currency), nticks=5, **money.axis(currency)),
        "yaxis": _title("product", categoryorder="array",
                        categoryarray=_product_label(priorities)[::-1].tolist())}}
    subtitle = ("revenue from " + ", ".join(_data_text(pd.Series(chosen, dtype=str)))
                if chosen else "")
    return _style(fig, "Stock priorities", subtitle=subtitle,
                  height=max(380, 40 * len(priorities) + 170))


# --------------------------------------------------------------------------- RFM grid


def rfm_grid_table(rfm: pd.DataFrame) -> pd.DataFrame:
    """Customers, revenue, their shares and median R/F/M per RFM-grid segment, most valuable
    segment first (the order of :data:`custseg.rfm.GRID_SEGMENTS`).

    Parameters
    ----------
    rfm:
        The RFM table (``rfm_segment``, ``customer_id``, ``recency``, ``frequency``,
        ``monetary``).
    """
    per = (rfm.groupby("rfm_segment", observed=True)
           .agg(customers=("customer_id", "size"), revenue=("monetary", "sum"),
                recency_median=("recency", "median"), frequency_median=("frequency", "median"),
                monetary_median=("monetary", "median")))
    per = per.reindex([s for s in GRID_SEGMENTS if s in per.index])
    total = per["revenue"].sum()
    per["customer_share"] = per["customers"] / per["customers"].sum()
    per["revenue_share"] = per["revenue"] / total if total else 0.0
    return per.reset_index()


def rfm_grid_bar(rfm: pd.DataFrame, *, currency: str = "") -> Figure:
    """Customers per RFM-grid segment (most valuable first), each labelled with its share of
    revenue.

    Parameters
    ----------
    rfm:
        The RFM table (see :func:`rfm_grid_table`).
    currency:
        Written before money (see :mod:`custseg.money`).
    """
    per = rfm_grid_table(rfm)
    trace = {
        "type": "bar", "orientation": "h", "y": per["rfm_segment"].to_numpy(),
        "x": per["customers"].to_numpy(), "marker": {"color": "#4e79a7"},
        "customdata": per[["revenue", "revenue_share"]].to_numpy(),
        "text": [f"{s:.0%} of revenue" for s in per["revenue_share"]], "textposition": "auto",
        "hovertemplate": "%{y}<br>%{x:,} customers<br>"
                         + money.hover("%{customdata[0]:,.0f}", currency)
                         + " (%{customdata[1]:.1%} of revenue)<extra></extra>"}
    layout = {"yaxis": _title("RFM-grid segment", autorange="reversed"),
              "xaxis": _title("customers", tickformat=",d", nticks=5)}
    return _style({"data": [trace], "layout": layout}, "Customers per RFM-grid segment",
                  subtitle="from R, F and M scores 1–5; label: share of revenue",
                  height=140 + 36 * len(per))

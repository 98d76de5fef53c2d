"""Plotly figures shared by the HTML report and the dashboard: data in, a figure dict out.

A figure is a plain dict in plotly's figure schema (:data:`Figure`), which plotly takes wherever
it takes a figure: ``st.plotly_chart(fig)`` validates it, ``plotly.io.to_json(fig,
validate=False)`` encodes it as it is (the report's fast path: graph objects would validate and
copy every property again), ``go.Figure(fig)`` checks every property (the tests do). Subplot
grids are laid out by plotly.js (``layout.grid``). A figure carries no template: it keeps the
default look of where it is drawn (Streamlit's in the dashboard, plotly.js's in the report),
with the white background and light grid lines set in its layout.

Every chart has a title and axis titles with units (days, orders, the currency), colours a
segment with :func:`custseg.segments.segment_color` wherever segments appear, and formats money
with the configured currency (``currency``, see :mod:`custseg.money`; none by default) and
thousands separators. Text from the data is shown literally (:func:`_data_text`). Scatter
charts of large tables plot a seeded sample that keeps every outlier (see
:func:`sample_points`) so the report stays small and fast.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from plotly.colors import get_colorscale

from custseg import money
from custseg.errors import ConfigError
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


def _style(fig: Figure, title: str, *, height: int = 450) -> Figure:
    """Give ``fig`` the shared look (title, white background, light grid lines, system font,
    thousands separators) in place, under what its layout sets itself; return it."""
    layout = {"title": {"text": title, "x": 0.01, "xanchor": "left"},
              "font": {"family": _FONT, "size": 13}, "separators": ".,", "height": height,
              "margin": {"l": 70, "r": 30, "t": 70, "b": 60}, "legend": {"title": {"text": ""}},
              "paper_bgcolor": "white", "plot_bgcolor": "white", "hoverlabel": {"align": "left"},
              **fig.get("layout", {})}
    for key, axis in layout.items():
        if _AXIS_KEY.fullmatch(key):
            layout[key] = {**_AXIS_LOOK, **axis,
                           "title": {"standoff": 15, **axis.get("title", {})}}
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


# --------------------------------------------------------------------------- subplot grids


def _cell(i: int) -> dict[str, str]:
    """Axis references of grid cell ``i`` (row by row from the top left), for a trace."""
    n = "" if i == 0 else str(i + 1)
    return {"xaxis": f"x{n}", "yaxis": f"y{n}"}


def _axis_keys(i: int) -> tuple[str, str]:
    """Layout keys (``xaxis``, ``yaxis``; ``xaxis2``, ``yaxis2`` …) of grid cell ``i``."""
    n = "" if i == 0 else str(i + 1)
    return f"xaxis{n}", f"yaxis{n}"


def _grid(rows: int, cols: int, titles: Sequence[str], *, xgap: float,
          ygap: float = 0.0) -> dict[str, Any]:
    """Layout of a ``rows`` × ``cols`` grid of subplots, a title above each, that plotly.js
    lays out (``layout.grid`` with an x and y axis per cell).

    Cell ``i`` is row ``i // cols`` from the top, column ``i % cols``; its traces use
    :func:`_cell` and its axes :func:`_axis_keys`. The gaps between cells are fractions of a
    cell's width (``xgap``) and height (``ygap``).
    """
    layout: dict[str, Any] = {"grid": {"rows": rows, "columns": cols, "pattern": "independent",
                                       "xgap": xgap, "ygap": ygap}}
    layout["annotations"] = [
        {"text": text, "xref": f"{_cell(i)['xaxis']} domain", "x": 0.5, "xanchor": "center",
         "yref": f"{_cell(i)['yaxis']} domain", "y": 1.0, "yanchor": "bottom",
         "showarrow": False, "font": {"size": 16}}
        for i, text in enumerate(titles) if text]
    return layout


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
    return (f" — sample of {_fmt_int(len(shown))} of {_fmt_int(total)} customers"
            + (f", all {_fmt_int(outliers)} outliers kept" if outliers else ""))


# --------------------------------------------------------------------------- k selection

_K_PANELS = (
    ("inertia", "Inertia (within-cluster SS)", ",.0f"),
    ("silhouette", "Silhouette (higher is better)", ".3f"),
    ("calinski_harabasz", "Calinski–Harabasz (higher is better)", ",.0f"),
    ("davies_bouldin", "Davies–Bouldin (lower is better)", ".3f"),
    ("min_share", "Smallest cluster (share of customers)", ".0%"),
    ("stability", "Stability (agreement across seeds)", ".3f"),
)


def k_metrics(k_table: pd.DataFrame) -> Figure:
    """Small multiples of the k-search metrics, chosen k marked, ineligible k greyed.

    Parameters
    ----------
    k_table:
        Columns ``k``, the metric columns, ``eligible`` and ``chosen`` (booleans).

    Returns
    -------
    A figure with one panel per metric present in ``k_table``.
    """
    panels = [p for p in _K_PANELS if p[0] in k_table]
    cols = 3
    rows = max(1, -(-len(panels) // cols))
    layout = _grid(rows, cols, [p[1] for p in panels], xgap=0.3, ygap=0.45)
    eligible = k_table["eligible"].astype(bool) if "eligible" in k_table else \
        pd.Series(True, index=k_table.index)
    data: list[dict[str, Any]] = []
    for i, (col, label, fmt) in enumerate(panels):
        data.append({"type": "scatter", "x": k_table["k"].to_numpy(),
                     "y": k_table[col].to_numpy(), "mode": "lines",
                     "line": {"color": "#4e79a7"}, "showlegend": False, "hoverinfo": "skip",
                     **_cell(i)})
        for ok, name in ((True, "eligible k"), (False, "rejected k")):
            part = k_table[eligible == ok]
            data.append({
                "type": "scatter", "x": part["k"].to_numpy(), "y": part[col].to_numpy(),
                "mode": "markers", "name": name, "legendgroup": name,
                "showlegend": i == 0 and not part.empty,
                "marker": {"color": "#4e79a7" if ok else _GREY, "size": 9},
                "hovertemplate": f"k=%{{x}}<br>{label}: %{{y:{fmt}}}<extra>{name}</extra>",
                **_cell(i)})
        xkey, ykey = _axis_keys(i)
        layout[xkey] = _title("k (number of clusters)", dtick=1)
        layout[ykey] = _title(label.split(" (")[0], tickformat=fmt)
    chosen = k_table.loc[k_table["chosen"].astype(bool), "k"] if "chosen" in k_table else []
    title = "Choosing k: quality of each candidate number of clusters"
    if len(chosen):
        k = int(chosen.iloc[0])
        # A dashed line across every panel that has data (as add_vline(row="all") draws it).
        layout["shapes"] = [{"type": "line", "x0": k, "x1": k, "xref": _cell(i)["xaxis"],
                             "y0": 0, "y1": 1, "yref": _cell(i)["yaxis"] + " domain",
                             "line": {"color": _OUTLIER, "dash": "dash"}}
                            for i in range(len(panels))]
        layout["annotations"].append({"text": f"chosen k = {k}", "xref": "paper",
                                      "yref": "paper", "x": 1, "y": 1.08, "showarrow": False,
                                      "font": {"color": _OUTLIER}})
        title += f" (chosen k = {k})"
    return _style({"data": data, "layout": layout}, title, height=320 * rows + 80)


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
        "xaxis": _title(f"PC1 ({explained[0]:.1%} of variance, scaled RFM units)"),
        "yaxis": _title(f"PC2 ({explained[1]:.1%} of variance, scaled RFM units)")}
    if loadings is not None:
        layout["annotations"] = _loading_arrows(loadings, shown)
    title = "Segments in PCA space" + (_sample_note(shown, len(data)) if sampled else "")
    return _style({"data": traces, "layout": layout}, title, height=550)


def _loading_arrows(loadings: pd.DataFrame, points: pd.DataFrame) -> list[dict[str, Any]]:
    """Each feature's loading as an arrow from the origin (a biplot), as annotations.

    An annotation's text stands at the arrow's tail (``ax``, ``ay``): the tail is the loading's
    tip and the head is drawn at that end (``arrowside="start"``), so the names do not pile up
    at the origin.
    """
    reach = float(np.nanpercentile(np.hypot(points["pc1"], points["pc2"]), 90)) or 1.0
    longest = float(np.hypot(loadings["pc1"], loadings["pc2"]).max()) or 1.0
    scale = reach / longest
    return [{"x": 0, "y": 0, "ax": float(row["pc1"] * scale), "ay": float(row["pc2"] * scale),
             "xref": "x", "yref": "y", "axref": "x", "ayref": "y", "text": str(feature),
             "showarrow": True, "arrowside": "start", "arrowhead": 2, "arrowwidth": 1.5,
             "arrowcolor": "#333", "font": {"color": "#333"},
             "bgcolor": "rgba(255,255,255,0.7)"}
            for feature, row in loadings.iterrows()]


# --------------------------------------------------------------------------- profiles


def segment_profiles(segments: pd.DataFrame, *, currency: str = "") -> Figure:
    """Median R/F/M per segment, and each segment's share of customers against revenue.

    Parameters
    ----------
    segments:
        The segment table (``segment``, ``*_median``, ``customer_share``, ``revenue_share``).
    currency:
        Written before money (see :mod:`custseg.money`).

    Returns
    -------
    A 2×2 figure.
    """
    names = segments["segment"].astype(str).tolist()
    colors = [segment_color(n) for n in names]
    layout = _grid(2, 2, ("Median recency (days)", "Median frequency (orders)",
                          money.label("Median monetary", currency),
                          "Share of customers vs share of revenue"),
                   xgap=0.22, ygap=0.5)
    data: list[dict[str, Any]] = []
    # (column, axis title, number format, text before and after the number)
    panels = (("recency_median", "days", ",.0f", "", " days"),
              ("frequency_median", "orders", ",.1f", "", " orders"),
              ("monetary_median", money.label("spend", currency), ",.0f",
               money.prefix(currency), ""))
    for i, (col, unit, fmt, prefix, suffix) in enumerate(panels):
        data.append({
            "type": "bar", "x": names, "y": segments[col].to_numpy(),
            "marker": {"color": colors}, "showlegend": False,
            "hovertemplate": f"%{{x}}<br>median {prefix}%{{y:{fmt}}}{suffix}<extra></extra>",
            **_cell(i)})
        xkey, ykey = _axis_keys(i)
        layout[xkey], layout[ykey] = _title("segment"), _title(unit, tickprefix=prefix,
                                                               tickformat=fmt)
    for col, label, pattern, opacity in (("customer_share", "share of customers", "", 0.45),
                                         ("revenue_share", "share of revenue", "/", 1.0)):
        data.append({
            "type": "bar", "x": names, "y": segments[col].to_numpy(), "name": label,
            "opacity": opacity,
            "marker": {"color": colors, "pattern": {"shape": pattern},
                       "line": {"color": "#333", "width": 0.5}},
            "hovertemplate": f"%{{x}}<br>{label}: %{{y:.1%}}<extra></extra>", **_cell(3)})
    xkey, ykey = _axis_keys(3)
    layout[xkey], layout[ykey] = _title("segment"), _title("share (%)", tickformat=".0%")
    layout["barmode"] = "group"
    return _style({"data": data, "layout": layout}, "Segment profiles", height=700)


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
                ("impurity", "impurity (share of splits)", "#4e79a7"),
                ("permutation", "permutation (accuracy lost when shuffled)", "#f28e2b"))
            if col in importances]
    layout = {"barmode": "group",
              "xaxis": _title("importance (share / accuracy drop, 0–1)", tickformat=".2f"),
              "yaxis": _title("feature", autorange="reversed")}
    return _style({"data": data, "layout": layout},
                  "What separates the segments: feature importance", height=380)


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
        if log:
            settings["type"] = "log"
        settings.update(money.axis(currency, log=log) if var == "monetary"
                        else {"tickformat": ",~r"})
        layout[axis] = settings
    title = f"Customer outliers: {x} vs {y}"
    if sampled:
        title += _sample_note(shown, len(rfm))
    return _style({"data": data, "layout": layout}, title, height=500)


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
    labels = ["rows in", *(r.replace("_", " ") for r in dropped), "rows kept"]
    values = [rows_in, *(-int(v) for v in dropped.values()), rows_kept]
    trace = {
        "type": "waterfall", "x": labels, "y": values,
        "measure": ["absolute", *["relative"] * len(dropped), "total"],
        "text": [_fmt_int(abs(v)) for v in values], "textposition": "outside",
        "decreasing": {"marker": {"color": "#e15759"}},
        "increasing": {"marker": {"color": "#59a14f"}},
        "totals": {"marker": {"color": "#4e79a7"}},
        "connector": {"line": {"color": "#999", "width": 1}},
        "hovertemplate": "%{x}: %{text} rows<extra></extra>"}
    layout = {"xaxis": _title("cleaning rule (in the order applied)"),
              "yaxis": _title("rows", tickformat=",.0f")}
    share = rows_kept / rows_in if rows_in else 0.0
    return _style({"data": [trace], "layout": layout},
                  f"Cleaning: {_fmt_int(rows_in)} rows in → {_fmt_int(rows_kept)} kept "
                  f"({share:.1%})", height=450)


# --------------------------------------------------------------------------- distributions


def _bins(values: np.ndarray, n: int = 40) -> np.ndarray:
    """Equal-width bin edges on the plotting scale (already log10 for skewed variables)."""
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    return np.linspace(lo, max(hi, lo + 1.0) if hi <= lo else hi, n + 1)


def _log_ticks(lo: float, hi: float, prefix: str) -> dict[str, Any]:
    """Tick values (powers of ten) and labels for an axis that plots log10 of the data."""
    powers = np.arange(np.floor(lo), np.ceil(hi) + 1)
    return {"tickvals": powers.tolist(),
            "ticktext": [f"{prefix}{10 ** p:,.0f}" if p >= 0 else f"{prefix}{10 ** p:g}"
                         for p in powers]}


def rfm_distributions(rfm: pd.DataFrame, *, currency: str = "") -> Figure:
    """Histograms of recency, frequency and monetary, stacked by segment.

    Counts are binned here (not by plotly.js) so the figure holds ~40 bars per panel however
    many customers there are; skewed variables are binned on a log scale.

    Parameters
    ----------
    rfm:
        The RFM table (``segment`` optional).
    currency:
        Written before money (see :mod:`custseg.money`).

    Returns
    -------
    A three-panel figure.
    """
    variables = ("recency", "frequency", "monetary")
    layout = _grid(1, 3, [RFM_LABELS[v].split(" (")[0] for v in variables], xgap=0.25)
    segments = rfm["segment"].astype(str) if "segment" in rfm else \
        pd.Series("customers", index=rfm.index)
    names = _segment_order(segments)
    data = []
    for i, var in enumerate(variables):
        unit = _unit(var, currency)
        # Money: the currency before each amount; days and orders: the unit after the range.
        before, after = (money.prefix(currency), "") if var == "monetary" else ("", f" {unit}")
        values = pd.to_numeric(rfm[var], errors="coerce").to_numpy(dtype=float)
        log = _is_skewed(rfm[var])
        scaled = np.log10(values) if log else values
        ok = np.isfinite(scaled)
        edges = _bins(scaled[ok])
        centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        for name in names:
            counts, _ = np.histogram(scaled[ok & (segments == name).to_numpy()], bins=edges)
            data.append({
                "type": "bar", "x": centres, "y": counts, "width": widths, "name": name,
                "legendgroup": name, "showlegend": i == 0,
                "marker": {"color": segment_color(name) if "segment" in rfm else "#4e79a7",
                           "line": {"width": 0}},
                "customdata": np.c_[10 ** edges[:-1], 10 ** edges[1:]] if log
                else np.c_[edges[:-1], edges[1:]],
                "hovertemplate": f"{var} {before}%{{customdata[0]:,.1f}}–{before}"
                                 f"%{{customdata[1]:,.1f}}{after}<br>%{{y:,}} customers"
                                 f"<extra>{name}</extra>",
                **_cell(i)})
        xkey, ykey = _axis_keys(i)
        notes = ", ".join(n for n in (unit, "log scale" if log else "") if n)
        xaxis = _title(f"{var} ({notes})" if notes else var)
        if log:
            xaxis.update(_log_ticks(edges[0], edges[-1], before))
        elif var == "monetary":
            xaxis.update(money.axis(currency))
        layout[xkey], layout[ykey] = xaxis, _title("customers", tickformat=",.0f")
    layout.update(barmode="stack", bargap=0)
    return _style({"data": data, "layout": layout},
                  f"RFM distributions ({_fmt_int(len(rfm))} customers)", height=420)


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
               .sort_values("lines", ascending=False))
        data.append({
            "type": "bar", "x": per["kind"].to_numpy(), "y": per["lines"].to_numpy(),
            "marker": {"color": "#e15759"}, "customdata": per[["value"]].to_numpy(),
            "text": [_fmt_int(int(v)) for v in per["lines"]], "textposition": "outside",
            "hovertemplate": "%{x}: %{y:,} lines<br>"
                             + money.hover("%{customdata[0]:,.2f}", currency)
                             + " in total<extra></extra>"})
    else:
        layout["annotations"] = [{"text": "No transaction lines were flagged.",
                                  "showarrow": False, "xref": "paper", "yref": "paper",
                                  "x": 0.5, "y": 0.5}]
    layout["xaxis"] = _title("kind of anomaly")
    layout["yaxis"] = _title("flagged lines", tickformat=",.0f")
    return _style({"data": data, "layout": layout}, "Flagged transaction lines per kind",
                  height=380)


# --------------------------------------------------------------------------- products


def _product_label(frame: pd.DataFrame) -> np.ndarray:
    """Axis label per product: its description, else its stock code."""
    return _data_text(frame["description"].fillna(frame["stock_code"])).to_numpy()


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
    custom = np.column_stack([rows["segment_share"], rows["lift"], rows["customers"]])
    fig: Figure = {
        "data": [{
            "type": "bar", "y": _product_label(rows), "x": rows["revenue"].to_numpy(),
            "orientation": "h", "customdata": custom,
            "marker": {"color": rows["lift"].to_numpy(), "colorscale": _colorscale("RdBu"),
                       "cmid": 1.0, "colorbar": {"title": {"text": "lift"}}},
            "hovertemplate": "%{y}<br>revenue " + money.hover("%{x:,.0f}", currency)
                             + "<br>share of segment %{customdata[0]:.1%}<br>lift "
                               "%{customdata[1]:.2f}<br>buyers %{customdata[2]:,}"
                               "<extra></extra>"}],
        "layout": {"xaxis": _title(money.label("revenue from the segment", currency),
                                   **money.axis(currency)),
                   "yaxis": _title("product", autorange="reversed")},
    }
    return _style(fig, f"{segment}: top products by revenue (colour: lift vs all customers)",
                  height=max(350, 40 * len(rows) + 150))


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
            "customdata": np.column_stack([rows["share"], rows["trend"].fillna(0.0)]),
            "hovertemplate": "%{y}<br>revenue " + money.hover("%{x:,.0f}", currency)
                             + "<br>share %{customdata[0]:.1%}"
                             "<br>second half vs first %{customdata[1]:+.1%}<extra>" + label
                             + "</extra>"})
    chosen = priorities.attrs.get("segments")
    title = "Stock priorities" + (f" ({', '.join(chosen)})" if chosen else "")
    fig: Figure = {"data": data, "layout": {
        "xaxis": _title(money.label("revenue", currency), **money.axis(currency)),
        "yaxis": _title("product", categoryorder="array",
                        categoryarray=_product_label(priorities)[::-1].tolist())}}
    return _style(fig, title, height=max(350, 30 * len(priorities) + 150))


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
        "type": "bar", "x": per["rfm_segment"].to_numpy(), "y": per["customers"].to_numpy(),
        "marker": {"color": "#4e79a7"},
        "customdata": per[["revenue", "revenue_share"]].to_numpy(),
        "text": [f"{s:.0%} of revenue" for s in per["revenue_share"]], "textposition": "outside",
        "hovertemplate": "%{x}<br>%{y:,} customers<br>"
                         + money.hover("%{customdata[0]:,.0f}", currency)
                         + " (%{customdata[1]:.1%} of revenue)<extra></extra>"}
    layout = {"xaxis": _title("RFM-grid segment (from R, F and M scores 1–5)"),
              "yaxis": _title("customers", tickformat=",.0f")}
    return _style({"data": [trace], "layout": layout}, "Customers per RFM-grid segment",
                  height=420)

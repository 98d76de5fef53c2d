"""Plotly figures shared by the HTML report and the dashboard: data in, ``go.Figure`` out.

Every chart has a title and axis titles with units (days, orders, £), colours a segment with
:func:`custseg.segments.segment_color` wherever segments appear, and formats money with a £ and
thousands separators. Scatter charts of large tables plot a seeded sample that keeps every
outlier (see :func:`sample_points`) so the report stays small and fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from custseg.errors import ConfigError
from custseg.segments import segment_color

#: Scatter charts plot a sample at and above this many customers.
SAMPLE_ABOVE = 20_000
#: Number of non-outlier points a sampled scatter keeps.
SAMPLE_SIZE = 5_000

RFM_UNITS = {"recency": "days", "frequency": "orders", "monetary": "£"}
RFM_LABELS = {
    "recency": "Recency (days since last purchase)",
    "frequency": "Frequency (orders)",
    "monetary": "Monetary (£ total spend)",
}
_GREY = "#b0b0b0"
_OUTLIER = "#d62728"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


#: The parts of plotly's "plotly_white" look the charts use. The full template is deep-copied
#: into every figure (25 ms and ~10 KB of HTML each); this one is a fraction of that.
_TEMPLATE: dict[str, Any] = {"layout": {
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
    "xaxis": {"gridcolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "linecolor": "#EBF0F8",
              "automargin": True},
    "yaxis": {"gridcolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "linecolor": "#EBF0F8",
              "automargin": True},
    "hoverlabel": {"align": "left"},
    "colorscale": {"sequential": [[0, "#0d0887"], [0.5, "#cc4778"], [1, "#f0f921"]]},
}}


def _style(fig: go.Figure, title: str, *, height: int = 450) -> go.Figure:
    """Apply the shared look: title, white template, system font, £-friendly separators."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        template=_TEMPLATE,
        font={"family": _FONT, "size": 13},
        separators=".,",
        height=height,
        margin={"l": 70, "r": 30, "t": 70, "b": 60},
        legend={"title": {"text": ""}},
    )
    return fig


def _money_axis(log: bool = False) -> dict[str, Any]:
    """Axis settings that show £ with thousands separators."""
    return {"tickprefix": "£", "tickformat": ",.0f" if not log else ",~r"}


def _is_skewed(values: pd.Series) -> bool:
    """True when a positive variable is skewed enough that a log axis reads better."""
    clean = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(clean) > 2 and clean.min() > 0 and clean.skew() > 2)


def _segment_order(names: Sequence[Any]) -> list[str]:
    """Segment names in a stable order (first appearance in sorted unique values)."""
    return sorted({str(n) for n in names if pd.notna(n)})


def _fmt_int(n: int) -> str:
    return f"{n:,}"


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


def k_metrics(k_table: pd.DataFrame) -> go.Figure:
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
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p[1] for p in panels],
                        horizontal_spacing=0.08, vertical_spacing=0.18)
    eligible = k_table["eligible"].astype(bool) if "eligible" in k_table else \
        pd.Series(True, index=k_table.index)
    for i, (col, label, fmt) in enumerate(panels):
        row, c = divmod(i, cols)
        ref = {"row": row + 1, "col": c + 1}
        fig.add_trace(go.Scatter(
            x=k_table["k"], y=k_table[col], mode="lines", line={"color": "#4e79a7"},
            showlegend=False, hoverinfo="skip"), **ref)
        for ok, name in ((True, "eligible k"), (False, "rejected k")):
            part = k_table[eligible == ok]
            fig.add_trace(go.Scatter(
                x=part["k"], y=part[col], mode="markers", name=name, legendgroup=name,
                showlegend=i == 0 and not part.empty,
                marker={"color": "#4e79a7" if ok else _GREY, "size": 9},
                hovertemplate=f"k=%{{x}}<br>{label}: %{{y:{fmt}}}<extra>{name}</extra>"), **ref)
        fig.update_xaxes(title_text="k (number of clusters)", dtick=1, **ref)
        fig.update_yaxes(title_text=label.split(" (")[0], tickformat=fmt, **ref)
    chosen = k_table.loc[k_table["chosen"].astype(bool), "k"] if "chosen" in k_table else []
    title = "Choosing k: quality of each candidate number of clusters"
    if len(chosen):
        k = int(chosen.iloc[0])
        fig.add_vline(x=k, line={"color": _OUTLIER, "dash": "dash"}, row="all", col="all")
        fig.add_annotation(text=f"chosen k = {k}", xref="paper", yref="paper", x=1, y=1.08,
                           showarrow=False, font={"color": _OUTLIER})
        title += f" (chosen k = {k})"
    return _style(fig, title, height=320 * rows + 80)


# --------------------------------------------------------------------------- PCA


def _rfm_hover(frame: pd.DataFrame, extra: str | None = None) -> tuple[np.ndarray, str]:
    """customdata and a hovertemplate showing customer id and R/F/M (and ``extra``)."""
    cols = ["customer_id", "recency", "frequency", "monetary"] + ([extra] if extra else [])
    data = frame[cols].astype(object).to_numpy()
    template = ("customer %{customdata[0]}<br>recency %{customdata[1]:,} days<br>"
                "frequency %{customdata[2]:,} orders<br>monetary £%{customdata[3]:,.2f}")
    if extra:
        template += "<br>%{customdata[4]}"
    return data, template


def pca_scatter(pca: pd.DataFrame, rfm: pd.DataFrame, explained: Sequence[float],
                loadings: pd.DataFrame | None = None, *, seed: int = 0) -> go.Figure:
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
    fig = go.Figure()
    for name in _segment_order(shown["segment"]):
        part = shown[shown["segment"].astype(str) == name]
        custom, template = _rfm_hover(part)
        fig.add_trace(go.Scatter(
            x=part["pc1"], y=part["pc2"], mode="markers", name=name,
            marker={"color": segment_color(name), "size": 6, "opacity": 0.7},
            customdata=custom, hovertemplate=template + f"<extra>{name}</extra>"))
    if loadings is not None:
        _add_loadings(fig, loadings, shown)
    title = "Segments in PCA space" + (_sample_note(shown, len(data)) if sampled else "")
    fig.update_xaxes(title_text=f"PC1 ({explained[0]:.1%} of variance, scaled RFM units)")
    fig.update_yaxes(title_text=f"PC2 ({explained[1]:.1%} of variance, scaled RFM units)")
    return _style(fig, title, height=550)


def _add_loadings(fig: go.Figure, loadings: pd.DataFrame, points: pd.DataFrame) -> None:
    """Draw each feature's loading as an arrow from the origin (a biplot)."""
    reach = float(np.nanpercentile(np.hypot(points["pc1"], points["pc2"]), 90)) or 1.0
    longest = float(np.hypot(loadings["pc1"], loadings["pc2"]).max()) or 1.0
    scale = reach / longest
    for feature, row in loadings.iterrows():
        fig.add_annotation(x=row["pc1"] * scale, y=row["pc2"] * scale, ax=0, ay=0,
                           xref="x", yref="y", axref="x", ayref="y", text=str(feature),
                           showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor="#333",
                           font={"color": "#333"})


# --------------------------------------------------------------------------- profiles


def segment_profiles(segments: pd.DataFrame) -> go.Figure:
    """Median R/F/M per segment, and each segment's share of customers against revenue.

    Parameters
    ----------
    segments:
        The segment table (``segment``, ``*_median``, ``customer_share``, ``revenue_share``).

    Returns
    -------
    A 2×2 figure.
    """
    names = segments["segment"].astype(str).tolist()
    colors = [segment_color(n) for n in names]
    fig = make_subplots(rows=2, cols=2, vertical_spacing=0.2, horizontal_spacing=0.1,
                        subplot_titles=("Median recency (days)", "Median frequency (orders)",
                                        "Median monetary (£)",
                                        "Share of customers vs share of revenue"))
    panels = (("recency_median", "days", ",.0f", ""), ("frequency_median", "orders", ",.1f", ""),
              ("monetary_median", "£", ",.0f", "£"))
    for i, (col, unit, fmt, prefix) in enumerate(panels):
        ref = {"row": i // 2 + 1, "col": i % 2 + 1}
        fig.add_trace(go.Bar(
            x=names, y=segments[col], marker_color=colors, showlegend=False,
            hovertemplate=f"%{{x}}<br>median {prefix}%{{y:{fmt}}} "
                          f"{unit if unit != '£' else ''}<extra></extra>"), **ref)
        fig.update_yaxes(title_text=unit if unit != "£" else "£", tickprefix=prefix,
                         tickformat=",.0f" if unit != "orders" else ",.1f", **ref)
        fig.update_xaxes(title_text="segment", **ref)
    for col, label, pattern, opacity in (("customer_share", "share of customers", "", 0.45),
                                         ("revenue_share", "share of revenue", "/", 1.0)):
        fig.add_trace(go.Bar(
            x=names, y=segments[col], name=label, opacity=opacity,
            marker={"color": colors, "pattern": {"shape": pattern},
                    "line": {"color": "#333", "width": 0.5}},
            hovertemplate=f"%{{x}}<br>{label}: %{{y:.1%}}<extra></extra>"), row=2, col=2)
    fig.update_yaxes(title_text="share (%)", tickformat=".0%", row=2, col=2)
    fig.update_xaxes(title_text="segment", row=2, col=2)
    fig.update_layout(barmode="group")
    return _style(fig, "Segment profiles", height=700)


# --------------------------------------------------------------------------- explanation


def importances_bar(importances: pd.DataFrame) -> go.Figure:
    """Impurity and permutation importance of recency, frequency and monetary.

    Parameters
    ----------
    importances:
        ``feature``, ``impurity``, ``permutation``.

    Returns
    -------
    A horizontal grouped bar chart.
    """
    fig = go.Figure()
    for col, label, color in (("impurity", "impurity (share of splits)", "#4e79a7"),
                              ("permutation", "permutation (accuracy lost when shuffled)",
                               "#f28e2b")):
        if col in importances:
            fig.add_trace(go.Bar(
                y=importances["feature"], x=importances[col], orientation="h", name=label,
                marker_color=color, hovertemplate="%{y}: %{x:.3f}<extra>" + col + "</extra>"))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="importance (share / accuracy drop, 0–1)", tickformat=".2f")
    fig.update_yaxes(title_text="feature", autorange="reversed")
    return _style(fig, "What separates the segments: feature importance", height=380)


# --------------------------------------------------------------------------- anomalies


def anomaly_scatter(rfm: pd.DataFrame, x: str, y: str, *, seed: int = 0) -> go.Figure:
    """Two RFM variables against each other, outliers highlighted with their reason.

    Parameters
    ----------
    rfm:
        The RFM table; ``segment``, ``is_anomaly`` and ``anomaly_reason`` are used if present.
    x, y:
        Two of ``recency``, ``frequency``, ``monetary``.
    seed:
        Seed of the sample drawn for large tables.

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
    segments = normal["segment"].astype(str) if "segment" in normal else \
        pd.Series("customers", index=normal.index)
    fig = go.Figure()
    for name in _segment_order(segments):
        part = normal[segments == name]
        custom, template = _rfm_hover(part)
        fig.add_trace(go.Scatter(
            x=part[x], y=part[y], mode="markers", name=name,
            marker={"color": segment_color(name) if "segment" in normal else _GREY, "size": 5,
                    "opacity": 0.55},
            customdata=custom, hovertemplate=template + f"<extra>{name}</extra>"))
    outliers = shown[flagged].copy()
    if not outliers.empty:
        outliers["_why"] = (outliers["anomaly_reason"].fillna("").astype(str)
                            if "anomaly_reason" in outliers else "")
        custom, template = _rfm_hover(outliers, "_why")
        fig.add_trace(go.Scatter(
            x=outliers[x], y=outliers[y], mode="markers", name="outlier",
            marker={"symbol": "x", "color": _OUTLIER, "size": 9,
                    "line": {"width": 1, "color": _OUTLIER}},
            customdata=custom, hovertemplate=template + "<extra>outlier</extra>"))
    for axis, var in (("x", x), ("y", y)):
        log = _is_skewed(rfm[var])
        settings: dict[str, Any] = {"title_text": RFM_LABELS[var] + (", log scale" if log
                                                                     else "")}
        if log:
            settings["type"] = "log"
        settings.update(_money_axis(log=log) if var == "monetary" else {"tickformat": ",~r"})
        (fig.update_xaxes if axis == "x" else fig.update_yaxes)(**settings)
    title = f"Customer outliers: {x} vs {y}"
    if sampled:
        title += _sample_note(shown, len(rfm))
    return _style(fig, title, height=500)


#: The three views of customer outliers shown in the report.
ANOMALY_VIEWS = (("frequency", "monetary"), ("recency", "monetary"), ("recency", "frequency"))


# --------------------------------------------------------------------------- cleaning


def _field(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)


def cleaning_waterfall(report: Any) -> go.Figure:
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
    fig = go.Figure(go.Waterfall(
        x=labels, y=values, measure=["absolute", *["relative"] * len(dropped), "total"],
        text=[_fmt_int(abs(v)) for v in values], textposition="outside",
        decreasing={"marker": {"color": "#e15759"}},
        increasing={"marker": {"color": "#59a14f"}},
        totals={"marker": {"color": "#4e79a7"}},
        connector={"line": {"color": "#999", "width": 1}},
        hovertemplate="%{x}: %{text} rows<extra></extra>"))
    fig.update_xaxes(title_text="cleaning rule (in the order applied)")
    fig.update_yaxes(title_text="rows", tickformat=",.0f")
    share = rows_kept / rows_in if rows_in else 0.0
    return _style(fig, f"Cleaning: {_fmt_int(rows_in)} rows in → {_fmt_int(rows_kept)} kept "
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


def rfm_distributions(rfm: pd.DataFrame) -> go.Figure:
    """Histograms of recency, frequency and monetary, stacked by segment.

    Counts are binned here (not by plotly.js) so the figure holds ~40 bars per panel however
    many customers there are; skewed variables are binned on a log scale.

    Parameters
    ----------
    rfm:
        The RFM table (``segment`` optional).

    Returns
    -------
    A three-panel figure.
    """
    variables = ("recency", "frequency", "monetary")
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07,
                        subplot_titles=[RFM_LABELS[v].split(" (")[0] for v in variables])
    segments = rfm["segment"].astype(str) if "segment" in rfm else \
        pd.Series("customers", index=rfm.index)
    names = _segment_order(segments)
    for i, var in enumerate(variables):
        values = pd.to_numeric(rfm[var], errors="coerce").to_numpy(dtype=float)
        log = _is_skewed(rfm[var])
        scaled = np.log10(values) if log else values
        ok = np.isfinite(scaled)
        edges = _bins(scaled[ok])
        centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        for name in names:
            counts, _ = np.histogram(scaled[ok & (segments == name).to_numpy()], bins=edges)
            fig.add_trace(go.Bar(
                x=centres, y=counts, width=widths, name=name, legendgroup=name,
                showlegend=i == 0, marker={"color": segment_color(name) if "segment" in rfm
                                           else "#4e79a7", "line": {"width": 0}},
                customdata=np.c_[10 ** edges[:-1], 10 ** edges[1:]] if log
                else np.c_[edges[:-1], edges[1:]],
                hovertemplate=f"{var} %{{customdata[0]:,.1f}}–%{{customdata[1]:,.1f}} "
                              f"{RFM_UNITS[var]}<br>%{{y:,}} customers<extra>{name}</extra>"),
                row=1, col=i + 1)
        unit = RFM_UNITS[var]
        xaxis: dict[str, Any] = {"title_text": f"{var} ({unit}{', log scale' if log else ''})"}
        if log:
            xaxis.update(_log_ticks(edges[0], edges[-1], "£" if var == "monetary" else ""))
        elif var == "monetary":
            xaxis.update(_money_axis())
        fig.update_xaxes(row=1, col=i + 1, **xaxis)
        fig.update_yaxes(title_text="customers", tickformat=",.0f", row=1, col=i + 1)
    fig.update_layout(barmode="stack", bargap=0)
    return _style(fig, f"RFM distributions ({_fmt_int(len(rfm))} customers)", height=420)


# --------------------------------------------------------------------------- transactions


def flagged_kinds(flagged: pd.DataFrame) -> go.Figure:
    """Number of flagged transaction lines per kind of anomaly.

    Parameters
    ----------
    flagged:
        Flagged lines with ``kind`` (and ``amount`` for the hover).

    Returns
    -------
    A bar chart (empty with a note when nothing was flagged).
    """
    fig = go.Figure()
    if flagged is not None and not flagged.empty:
        amount = flagged["amount"] if "amount" in flagged else pd.Series(0.0, index=flagged.index)
        per = (flagged.assign(_abs=amount.abs()).groupby("kind", sort=True)
               .agg(lines=("kind", "size"), value=("_abs", "sum")).reset_index()
               .sort_values("lines", ascending=False))
        fig.add_trace(go.Bar(
            x=per["kind"], y=per["lines"], marker_color="#e15759", customdata=per[["value"]],
            text=[_fmt_int(int(v)) for v in per["lines"]], textposition="outside",
            hovertemplate="%{x}: %{y:,} lines<br>£%{customdata[0]:,.2f} in total"
                          "<extra></extra>"))
    else:
        fig.add_annotation(text="No transaction lines were flagged.", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(title_text="kind of anomaly")
    fig.update_yaxes(title_text="flagged lines", tickformat=",.0f")
    return _style(fig, "Flagged transaction lines per kind", height=380)

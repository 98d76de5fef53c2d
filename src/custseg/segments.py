"""Segment names from each cluster's R/F/M levels, and the opportunity and action per name.

Naming rule (docs/modelling.md): for each cluster take the median recency, frequency and
monetary of its customers and place each median in the distribution of all customers as a
mid-rank percentile (0–1). Recentness is 1 − the recency percentile, and "value" is
FM = (frequency + monetary) / 2. Each axis is *low* below 1/3, *high* above 2/3, else *mid*.
The (recentness, value) cell gives a list of names; clusters are named from the most valuable
(mean of recentness, frequency and monetary percentiles) down, each taking the first name of
its cell not yet used, so names are unique and deterministic for any k.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy.stats import percentileofscore

from custseg.errors import InputError
from custseg.rfm import FEATURES

#: Segment name -> (opportunity, suggested action): every name custseg can emit, for the
#: clusters and the RFM grid (custseg.rfm.GRID_SEGMENTS).
ACTIONS: dict[str, tuple[str, str]] = {
    "Champions": (
        "Your best customers: bought recently, buy often and spend the most.",
        "VIP programme and loyalty rewards; early access to new products; ask for reviews "
        "and referrals. Do not discount."),
    "Loyal": (
        "Buy often and spend well, though not the very latest buyers.",
        "Loyalty rewards and membership perks; upsell higher-value ranges; recommend "
        "products from their favourite categories."),
    "Regulars": (
        "The steady middle: moderate frequency and spend, still active.",
        "Upsell and cross-sell: bundles, 'frequently bought together', free-delivery "
        "thresholds just above their usual basket."),
    "Big Spenders": (
        "Large baskets but few orders: high value per order.",
        "Premium and bulk offers; personal account contact; nudge a second and third order "
        "with reorder reminders."),
    "Potential Loyalist": (
        "Recent customers with average frequency and spend: could become Loyal.",
        "Membership or loyalty sign-up; personalised recommendations; a reason to order "
        "again within the month."),
    "Promising": (
        "Recent buyers who have not spent much yet.",
        "Onboarding series, best-seller picks and a small first-repeat incentive."),
    "New": (
        "First-time, recent buyers.",
        "Welcome series; show the range; a time-limited offer on the second order."),
    "Need Attention": (
        "Average customers whose last order is slipping back in time.",
        "Limited-time offers and recommendations based on past purchases before they drift."),
    "About to Sleep": (
        "Low frequency and spend, and not bought for a while.",
        "Re-engage with popular products and seasonal reminders; modest discounts."),
    "At Risk": (
        "Used to buy, but have not for a long time: likely to churn.",
        "Win-back campaign: personalised emails, reactivation discounts, 'we miss you' "
        "offers; ask what went wrong."),
    "Can't Lose": (
        "Formerly big, frequent buyers who have gone quiet.",
        "Personal outreach (call or account manager); strong win-back offer; survey why "
        "they left."),
    "Hibernating": (
        "Low spend, few orders, long since the last one.",
        "Low-cost reactivation: newsletter, seasonal campaigns; limit spend on them."),
    "Lost": (
        "Lowest value and longest gone.",
        "Only cheap automated reactivation; otherwise exclude from paid campaigns."),
}

#: One fixed colour per name: greens and blues for active value, yellows for new, oranges and
#: reds for risk, brown and grey for gone. Chosen so that any two differ clearly (CIEDE2000
#: distance at least 17 in normal vision, and at least 10 under simulated deuteranopia,
#: protanopia and tritanopia, where red-green pairs usually merge), with lightness between
#: L* 30 and 83 so that none fades into a white page (tests/test_segments.py checks it).
SEGMENT_COLORS: dict[str, str] = {
    "Champions": "#16521b",
    "Loyal": "#28865e",
    "Regulars": "#3499f0",
    "Big Spenders": "#8251a4",
    "Potential Loyalist": "#5edcf9",
    "Promising": "#9f995b",
    "New": "#bad58c",
    "Need Attention": "#fdbf24",
    "About to Sleep": "#bf7caf",
    "At Risk": "#fb6517",
    "Can't Lose": "#82244e",
    "Hibernating": "#94642b",
    "Lost": "#89928b",
}
#: Used for names outside SEGMENT_COLORS (e.g. a numbered name when a cell runs out).
_FALLBACK_COLORS = ("#17becf", "#bcbd22", "#7f7f7f", "#8c564b", "#e377c2", "#1f77b4")

#: (recentness level, FM level) -> names in order of preference.
NAME_GRID: dict[tuple[str, str], tuple[str, ...]] = {
    ("high", "high"): ("Champions", "Loyal", "Potential Loyalist", "Big Spenders"),
    ("high", "mid"): ("Potential Loyalist", "Promising", "Regulars"),
    ("high", "low"): ("New", "Promising"),
    ("mid", "high"): ("Loyal", "Big Spenders", "Regulars"),
    ("mid", "mid"): ("Regulars", "Need Attention", "Potential Loyalist"),
    ("mid", "low"): ("Need Attention", "About to Sleep", "Promising"),
    ("low", "high"): ("Can't Lose", "At Risk"),
    ("low", "mid"): ("At Risk", "About to Sleep", "Hibernating"),
    ("low", "low"): ("At Risk", "Hibernating", "Lost", "About to Sleep"),
}
#: A cluster whose monetary percentile exceeds its frequency percentile by this much and is
#: high is named Big Spenders first.
_BIG_SPENDER_GAP = 0.2


def segment_color(name: str) -> str:
    """The fixed colour of a segment name (a stable fallback for unknown names)."""
    base = base_name(name)
    if base in SEGMENT_COLORS:
        return SEGMENT_COLORS[base]
    return _FALLBACK_COLORS[zlib.crc32(name.encode()) % len(_FALLBACK_COLORS)]


def _luminance(color: str) -> float:
    """WCAG relative luminance of '#rrggbb'."""
    channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def segment_text_color(name: str) -> str:
    """Black or white, whichever reads better on the segment's colour (WCAG contrast): for a
    name written on its own colour (badges, table cells)."""
    lum = _luminance(segment_color(name))
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def segment_action(name: str) -> tuple[str, str]:
    """(opportunity, action) of a segment name, numbered names falling back to their base."""
    return ACTIONS.get(base_name(name), ("", ""))


def base_name(name: str) -> str:
    """The name a numbered name is numbered from: 'Regulars 2' -> 'Regulars'."""
    head, _, tail = name.rpartition(" ")
    return head if tail.isdigit() and head else name


def level(value: float | np.ndarray) -> np.ndarray:
    """'low' below 1/3, 'high' above 2/3, else 'mid'."""
    value = np.asarray(value, dtype=float)
    return np.where(value < 1 / 3, "low", np.where(value > 2 / 3, "high", "mid"))


def percentile_profile(rfm: pd.DataFrame, groups: np.ndarray) -> pd.DataFrame:
    """Per group, the mid-rank percentile of its median R, F and M among all customers.

    Returns
    -------
    Index = group; columns ``recentness`` (1 − recency percentile), ``frequency``,
    ``monetary``, ``fm`` and ``value`` (mean of recentness, frequency, monetary), all 0–1.
    """
    medians = rfm[list(FEATURES)].groupby(np.asarray(groups)).median()
    out = pd.DataFrame(index=medians.index)
    for col in FEATURES:
        out[col] = percentileofscore(rfm[col], medians[col], kind="mean") / 100
    out["recentness"] = 1 - out.pop("recency")
    out["fm"] = (out["frequency"] + out["monetary"]) / 2
    out["value"] = (out["recentness"] + out["frequency"] + out["monetary"]) / 3
    return out


def _assign_names(profile: pd.DataFrame) -> dict[object, str]:
    """Names by the grid rule, most valuable cluster first; unique within the run."""
    order = profile.sort_values("value", ascending=False, kind="stable").index
    r_level = dict(zip(profile.index, level(profile["recentness"]), strict=True))
    fm_level = dict(zip(profile.index, level(profile["fm"]), strict=True))
    used: set[str] = set()
    names: dict[object, str] = {}
    for cluster in order:
        row = profile.loc[cluster]
        prefs = list(NAME_GRID[(r_level[cluster], fm_level[cluster])])
        if row["monetary"] > 2 / 3 and row["monetary"] - row["frequency"] >= _BIG_SPENDER_GAP:
            prefs.insert(0, "Big Spenders")
        name = next((p for p in prefs if p not in used), None)
        if name is None:  # the cell ran out of names: number its first name
            name = next(f"{prefs[0]} {i}" for i in range(2, len(profile) + 2)
                        if f"{prefs[0]} {i}" not in used)
        used.add(name)
        names[cluster] = name
    return names


def name_segments(rfm: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """One row per cluster with its name, size, revenue, R/F/M profile and action.

    Parameters
    ----------
    rfm:
        The RFM table (``recency``, ``frequency``, ``monetary``).
    labels:
        Cluster per RFM row.

    Returns
    -------
    Columns ``cluster``, ``segment``, ``customers``, ``customer_share``, ``revenue``,
    ``revenue_share``, ``{recency,frequency,monetary}_{mean,median}``, ``opportunity``,
    ``action``; ordered from the most to the least valuable cluster. (:func:`custseg.pipeline.model`
    adds ``lapsed``, the members whose own history says they have lapsed: see
    :mod:`custseg.actions`.)
    """
    labels = np.asarray(labels)
    if len(labels) != len(rfm):
        raise InputError(f"{len(labels)} cluster labels for {len(rfm)} customers; they must "
                         "match one to one.")
    profile = percentile_profile(rfm, labels)
    names = _assign_names(profile)
    figures = segment_figures(rfm, labels, profile.index.to_numpy())
    table = pd.concat([pd.DataFrame({"cluster": profile.index.to_numpy(),
                                     "segment": [names[c] for c in profile.index]}),
                       figures], axis=1)
    actions = [segment_action(n) for n in table["segment"]]
    table["opportunity"] = [a[0] for a in actions]
    table["action"] = [a[1] for a in actions]
    order = np.argsort(-profile["value"].to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def segment_figures(rfm: pd.DataFrame, labels: np.ndarray,
                    clusters: np.ndarray) -> pd.DataFrame:
    """Per cluster of ``clusters`` (in that order, a cluster without customers included):
    ``customers``, ``customer_share``, ``revenue``, ``revenue_share`` and the mean and median
    of each feature (``recency_mean``, …), with a fresh 0-based index."""
    labels = np.asarray(labels)
    grouped = rfm[list(FEATURES)].groupby(labels)
    stats = grouped.agg(["mean", "median"]).reindex(clusters)
    stats.columns = [f"{col}_{fn}" for col, fn in stats.columns]
    revenue = grouped["monetary"].sum().reindex(clusters, fill_value=0.0)
    customers = grouped.size().reindex(clusters, fill_value=0)
    table = pd.DataFrame({
        "customers": customers.to_numpy(),
        "customer_share": (customers / max(len(rfm), 1)).to_numpy(),
        "revenue": revenue.to_numpy(),
        "revenue_share": (revenue / rfm["monetary"].sum()).to_numpy(),
    })
    return pd.concat([table, stats.reset_index(drop=True)], axis=1)


def segment_per_customer(segments: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """The segment name of each customer, from :func:`name_segments` and the labels."""
    mapping = pd.Series(segments["segment"].to_numpy(), index=segments["cluster"].to_numpy())
    names = mapping.reindex(np.asarray(labels)).to_numpy(dtype=object)
    if pd.isna(names).any():
        raise InputError("Some labels have no row in the segment table; name the segments "
                         "from the same labels.")
    return names

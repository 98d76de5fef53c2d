"""Segment naming on hand-built RFM tables, actions and colours, real-data k=3 names."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import percentileofscore

from custseg import rfm as rfm_module
from custseg.segments import (
    ACTIONS,
    NAME_GRID,
    SEGMENT_COLORS,
    name_segments,
    percentile_profile,
    segment_color,
    segment_per_customer,
    segment_text_color,
)


def _profiles(profiles: list[tuple[int, int, float]],
              per: int | list[int] = 50) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers around given (recency, frequency, monetary) profiles, one cluster each."""
    rng = np.random.default_rng(0)
    sizes = [per] * len(profiles) if isinstance(per, int) else per
    rows = []
    for (r, f, m), per in zip(profiles, sizes, strict=True):
        rows.append(np.column_stack([
            np.maximum(r + rng.integers(-2, 3, per), 0),
            np.maximum(f + rng.integers(-1, 2, per), 1),
            m * rng.uniform(0.9, 1.1, per),
        ]))
    values = np.vstack(rows)
    table = pd.DataFrame({"customer_id": [str(i) for i in range(len(values))],
                          "recency": values[:, 0].astype(int),
                          "frequency": values[:, 1].astype(int), "monetary": values[:, 2]})
    return table, np.repeat(np.arange(len(profiles)), sizes)


def test_three_clear_profiles_get_the_seed_names() -> None:
    # Deliberately shuffled cluster ids: the name follows the profile, not the id.
    rfm, labels = _profiles([(200, 1, 150.0), (10, 25, 9000.0), (45, 4, 900.0)])
    table = name_segments(rfm, labels)
    assert table["segment"].tolist() == ["Champions", "Regulars", "At Risk"]
    assert table["cluster"].tolist() == [1, 2, 0]
    names = segment_per_customer(table, labels)
    assert set(names[labels == 1]) == {"Champions"} and set(names[labels == 0]) == {"At Risk"}


def test_percentile_profile_places_each_median_by_mid_rank() -> None:
    rfm = pd.DataFrame({"recency": [1, 2, 3, 4], "frequency": [1, 1, 2, 5],
                        "monetary": [10.0, 20.0, 30.0, 40.0]})
    profile = percentile_profile(rfm, np.array(["a", "a", "b", "b"]))
    # a: medians 1.5 days (1 of 4 below), 1 order (none below, 2 equal), 15 (1 below):
    # (below + equal / 2) / 4 = 0.25 each; b: 3.5, 3.5 and 35, 3 of 4 below: 0.75 each.
    expected = pd.DataFrame({"frequency": [0.25, 0.75], "monetary": [0.25, 0.75],
                             "recentness": [0.75, 0.25], "fm": [0.25, 0.75],
                             "value": [1.25 / 3, 1.75 / 3]}, index=["a", "b"])
    pd.testing.assert_frame_equal(profile, expected, check_names=False)


def _level(p: float) -> str:
    return "low" if p < 1 / 3 else "high" if p > 2 / 3 else "mid"


@pytest.mark.parametrize("seed", range(6))
def test_each_name_comes_from_its_levels_cell(seed: int) -> None:
    """Recompute the documented levels with scipy and check each name is one of its cell's."""
    rng = np.random.default_rng(100 + seed)
    profiles = [(int(rng.integers(1, 360)), int(rng.integers(1, 40)),
                 float(rng.uniform(50, 20000))) for _ in range(5)]
    rfm, labels = _profiles(profiles, per=int(rng.integers(10, 40)))
    table = name_segments(rfm, labels)
    for row in table.itertuples():
        members = rfm[labels == row.cluster]
        pct = {c: percentileofscore(rfm[c], members[c].median(), kind="mean") / 100
               for c in ("recency", "frequency", "monetary")}
        cell = (_level(1 - pct["recency"]), _level((pct["frequency"] + pct["monetary"]) / 2))
        allowed = set(NAME_GRID[cell]) | {"Big Spenders"}
        assert re.sub(r" \d+$", "", row.segment) in allowed, (row.segment, cell)


def test_lapsed_groups_ladder_at_risk_hibernating_lost() -> None:
    rfm, labels = _profiles([(5, 30, 12000.0), (8, 20, 9000.0), (12, 25, 10000.0),
                             (250, 2, 300.0), (300, 1, 120.0), (350, 1, 40.0)],
                                   per=[70, 70, 70, 30, 30, 30])
    names = name_segments(rfm, labels).set_index("cluster")["segment"]
    assert [names[3], names[4], names[5]] == ["At Risk", "Hibernating", "Lost"]


def test_table_columns_totals_and_order() -> None:
    rfm, labels = _profiles([(200, 1, 150.0), (10, 25, 9000.0), (45, 4, 900.0)], per=30)
    table = name_segments(rfm, labels)
    assert list(table.columns) == [
        "cluster", "segment", "customers", "customer_share", "revenue", "revenue_share",
        "recency_mean", "recency_median", "frequency_mean", "frequency_median",
        "monetary_mean", "monetary_median", "opportunity", "action"]
    assert table["customers"].sum() == len(rfm)
    assert table["revenue"].sum() == pytest.approx(rfm["monetary"].sum())
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    for row in table.itertuples():
        members = rfm[labels == row.cluster]
        assert row.recency_median == members["recency"].median()
        assert row.monetary_mean == pytest.approx(members["monetary"].mean())
    assert table["monetary_median"].is_monotonic_decreasing


@pytest.mark.parametrize("k", range(2, 9))
def test_any_k_gives_unique_known_names(k: int) -> None:
    rng = np.random.default_rng(k)
    profiles = [(int(rng.integers(1, 360)), int(rng.integers(1, 40)),
                 float(rng.uniform(50, 20000))) for _ in range(k)]
    rfm, labels = _profiles(profiles, per=20)
    first = name_segments(rfm, labels)
    again = name_segments(rfm, labels)
    pd.testing.assert_frame_equal(first, again)
    assert first["segment"].is_unique and len(first) == k
    assert set(first["segment"]) <= set(ACTIONS)
    assert (first["action"] != "").all()


def test_every_emittable_name_has_an_action_and_a_colour() -> None:
    names = {n for cell in NAME_GRID.values() for n in cell} | {"Big Spenders"}
    names |= set(rfm_module.GRID_SEGMENTS)
    assert names <= set(ACTIONS) and names <= set(SEGMENT_COLORS)
    for name in names:
        opportunity, action = ACTIONS[name]
        assert opportunity and action
        assert re.fullmatch(r"#[0-9a-f]{6}", segment_color(name))
    assert len(set(SEGMENT_COLORS.values())) == len(SEGMENT_COLORS)
    assert "VIP" in ACTIONS["Champions"][1] and "win-back" in ACTIONS["At Risk"][1].lower()
    assert "cross-sell" in ACTIONS["Regulars"][1]
    assert segment_color("Regulars 2") == SEGMENT_COLORS["Regulars"]
    assert segment_color("something else") == segment_color("something else")


# --------------------------------------------------------------------------- colours
# CIELAB from sRGB (D65) and CIEDE2000 (Sharma, Wu and Dalal 2005), written out here; colour
# vision deficiencies simulated with Machado, Oliveira and Fernandes (2009), severity 1, on
# linear RGB.

_MACHADO = {
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _linear(color: str) -> np.ndarray:
    c = np.array([int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean, cp_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_mean = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_mean = (h1p + h2p) / 2
    else:
        h_mean = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    r_t = (-2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25**7))
           * np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2)))))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_mean, 1 + 0.015 * cp_mean * t
    d_l, d_c, d_hh = (l2 - l1) / s_l, (c2p - c1p) / s_c, d_h / s_h
    return float(np.sqrt(d_l**2 + d_c**2 + d_hh**2 + r_t * d_c * d_hh))


def _distance(first: str, second: str, vision: str | None = None) -> float:
    lin = [_linear(first), _linear(second)]
    if vision is not None:
        lin = [np.clip(_MACHADO[vision] @ x, 0, 1) for x in lin]
    return _ciede2000(_lab(lin[0]), _lab(lin[1]))


@pytest.mark.parametrize("lab1,lab2,expected", [
    # Pairs 1, 7, 17 and 25 of Sharma, Wu and Dalal's CIEDE2000 test data.
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
])
def test_the_colour_distance_is_ciede2000(lab1, lab2, expected) -> None:
    assert _ciede2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)


def test_segment_colours_are_clearly_distinct_also_for_colour_blind_readers() -> None:
    names = list(SEGMENT_COLORS)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    # The old Champions and Loyal greens: what the thresholds are there to refuse.
    assert _distance("#1a9850", "#59a14f") < 10
    for vision, least in ((None, 17.0), ("deuteranopia", 10.0), ("protanopia", 10.0),
                          ("tritanopia", 10.0)):
        closest = min(pairs, key=lambda p: _distance(SEGMENT_COLORS[p[0]],
                                                      SEGMENT_COLORS[p[1]], vision))
        gap = _distance(SEGMENT_COLORS[closest[0]], SEGMENT_COLORS[closest[1]], vision)
        assert gap >= least, (vision, closest, gap)
    # None fades into a white page or turns into black.
    for name, color in SEGMENT_COLORS.items():
        assert 30 <= _lab(_linear(color))[0] <= 83, name


def test_a_name_on_its_colour_is_written_in_the_more_readable_of_black_and_white() -> None:
    def contrast(one: str, other: str) -> float:
        lum = [float(np.array([0.2126, 0.7152, 0.0722]) @ _linear(c)) for c in (one, other)]
        return (max(lum) + 0.05) / (min(lum) + 0.05)

    for name, color in SEGMENT_COLORS.items():
        text = segment_text_color(name)
        other = "#ffffff" if text == "#000000" else "#000000"
        assert contrast(color, text) >= contrast(color, other) and contrast(color, text) >= 4.5
    assert segment_text_color("Can't Lose") == "#ffffff"
    assert segment_text_color("Need Attention") == "#000000"


def test_real_data_k3_names(seed_rfm: pd.DataFrame) -> None:
    from custseg.cluster import fit_clusters
    from custseg.config import ClusterConfig

    labels = fit_clusters(seed_rfm, ClusterConfig(k=3, k_min=3, k_max=3), seed=42).labels
    table = name_segments(seed_rfm, labels).set_index("segment")
    assert table.index.tolist() == ["Champions", "Regulars", "At Risk"]
    assert table["recency_median"].is_monotonic_increasing
    assert table["frequency_median"].is_monotonic_decreasing
    assert table["monetary_median"].is_monotonic_decreasing

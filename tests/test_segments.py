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


def test_real_data_k3_names(seed_rfm: pd.DataFrame) -> None:
    from custseg.cluster import fit_clusters
    from custseg.config import ClusterConfig

    labels = fit_clusters(seed_rfm, ClusterConfig(k=3, k_min=3, k_max=3), seed=42).labels
    table = name_segments(seed_rfm, labels).set_index("segment")
    assert table.index.tolist() == ["Champions", "Regulars", "At Risk"]
    assert table["recency_median"].is_monotonic_increasing
    assert table["frequency_median"].is_monotonic_decreasing
    assert table["monetary_median"].is_monotonic_decreasing

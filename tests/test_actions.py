"""Each customer's own action: the lapse rule on hand-built tables (expected values worked out
by hand in the comments), and customer 17850 of the real workbook."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from custseg.actions import (
    ACTION_COLUMNS,
    HIGH_VALUE_SEGMENTS,
    WIN_BACK_SEGMENT,
    customer_actions,
    lapsed_per_segment,
    usual_gap,
)
from custseg.errors import ConfigError, InputError
from custseg.segments import ACTIONS

SNAPSHOT = datetime(2011, 12, 10)
WIN_BACK = ACTIONS[WIN_BACK_SEGMENT][1]


def customer(cid: str, segment: str, recency: float, frequency: int,
             span_days: float) -> dict[str, object]:
    """A customer whose orders span ``span_days`` and whose last order was ``recency`` days
    before the snapshot."""
    last = SNAPSHOT - timedelta(days=recency)
    return {"customer_id": cid, "segment": segment, "recency": int(recency),
            "frequency": frequency, "first_purchase": last - timedelta(days=span_days),
            "last_purchase": last}


def table(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_the_usual_gap_is_the_span_over_the_orders_minus_one():
    t = table(customer("a", "Loyal", 5, 5, 40), customer("b", "Loyal", 5, 2, 7.5),
              customer("c", "Loyal", 5, 1, 0))
    # 40 days over 4 gaps; 7.5 days over one; one order has no gap.
    assert usual_gap(t).iloc[:2].tolist() == [10.0, 7.5]
    assert pd.isna(usual_gap(t).iloc[2])


def test_high_value_customers_past_three_gaps_and_60_days_have_lapsed():
    t = table(
        # gap 10: threshold max(30, 60) = 60 days.
        customer("a", "Champions", 40, 5, 40),    # 40 ≤ 60: active
        customer("b", "Champions", 61, 5, 40),    # 61 > 60: lapsed (the 60-day floor)
        # gap 50: threshold max(150, 60) = 150 days.
        customer("c", "Loyal", 150, 3, 100),      # 150 is not above 150: active
        customer("d", "Loyal", 151, 3, 100),      # lapsed, 151 / 50 = 3.02×
        # Not a high-value segment: never lapsed, whatever the recency.
        customer("e", "Regulars", 300, 2, 5),
        customer("f", "At Risk", 365, 4, 30),
    )
    out = customer_actions(t)
    assert list(out.columns) == list(ACTION_COLUMNS)
    assert out["lapsed"].tolist() == [False, True, False, True, False, False]
    assert out["usual_gap"].tolist() == [10.0, 10.0, 50.0, 50.0, 5.0, 10.0]
    assert out["action"].tolist() == [ACTIONS["Champions"][1], WIN_BACK,
                                      ACTIONS["Loyal"][1], WIN_BACK,
                                      ACTIONS["Regulars"][1], ACTIONS["At Risk"][1]]
    assert out.loc[1, "action_reason"] == (
        "Champions by their history, but last bought 61 days ago — about 6.1× their usual "
        "10 days between orders: win them back.")
    assert out.loc[3, "action_reason"] == (
        "Loyal by their history, but last bought 151 days ago — about 3× their usual "
        "50 days between orders: win them back.")
    assert out.loc[0, "action_reason"] == "The action for their segment, Champions."
    assert out.loc[4, "action_reason"] == "The action for their segment, Regulars."


def test_the_threshold_is_a_setting():
    t = table(customer("a", "Champions", 40, 5, 40), customer("b", "Champions", 25, 5, 40))
    # (2, 0): lapsed above 2 × 10 = 20 days.
    assert customer_actions(t, (2, 0))["lapsed"].tolist() == [True, True]
    # (5, 0): above 50 days.
    assert customer_actions(t, (5, 0))["lapsed"].tolist() == [False, False]
    # (3, 30): above max(30, 30) = 30 days.
    assert customer_actions(t, (3, 30))["lapsed"].tolist() == [True, False]
    for bad in [(0, 60), (-1, 60), (3, -1), (float("nan"), 60), ("x", 60), (3,)]:
        with pytest.raises(ConfigError):
            customer_actions(t, bad)


def test_a_burst_of_orders_is_judged_by_the_floor_and_said_in_words():
    # Four orders within six hours: a gap of 0.06 days, so the 60-day floor decides.
    t = table(customer("a", "Champions", 59, 4, 0.25), customer("b", "Champions", 100, 4, 0.25),
              customer("c", "Loyal", 372, 34, 1.3))
    out = customer_actions(t)
    assert out["lapsed"].tolist() == [False, True, True]
    assert out.loc[1, "action_reason"] == (
        "Champions by their history, but last bought 100 days ago — their 4 orders all came "
        "within 1 day: win them back.")
    assert "their 34 orders all came within 2 days" in out.loc[2, "action_reason"]


def test_one_order_customers_are_judged_by_their_segments_typical_gap():
    t = table(
        # Big Spenders' repeat buyers: gaps 20 and 40, median 30 → threshold max(90, 60) = 90.
        customer("a", "Big Spenders", 10, 2, 20),
        customer("b", "Big Spenders", 10, 3, 80),
        customer("c", "Big Spenders", 90, 1, 0),    # 90 is not above 90: active
        customer("d", "Big Spenders", 100, 1, 0),   # lapsed, 100 / 30 = 3.3×
        # Champions with one order only: no repeat buyer in the segment, so every repeat
        # buyer's median gap: gaps 20, 40 (Big Spenders) and 8 (Regulars) → 20 → 60 days.
        customer("e", "Champions 2", 61, 1, 0),     # numbered names count as their base name
        customer("f", "Regulars", 10, 2, 8),
    )
    out = customer_actions(t)
    assert out["lapsed"].tolist() == [False, False, False, True, True, False]
    assert out.loc[3, "action_reason"] == (
        "Big Spenders by their history, but their only order was 100 days ago — about 3.3× "
        "the 30 days between orders typical of Big Spenders: win them back.")
    assert out.loc[4, "action_reason"] == (
        "Champions 2 by their history, but their only order was 61 days ago — about 3× the "
        "20 days between orders typical of repeat customers: win them back.")


def test_nobody_lapses_when_nobody_ordered_twice():
    t = table(customer("a", "Champions", 300, 1, 0), customer("b", "Loyal", 200, 1, 0))
    out = customer_actions(t)
    assert not out["lapsed"].any() and out["usual_gap"].isna().all()


def test_an_empty_table_gives_empty_columns():
    empty = table(customer("a", "Loyal", 1, 1, 0)).iloc[:0]
    out = customer_actions(empty)
    assert list(out.columns) == list(ACTION_COLUMNS) and out.empty


def test_the_segment_table_counts_its_lapsed_members():
    t = table(customer("a", "Champions", 100, 5, 40), customer("b", "Champions", 70, 5, 40),
              customer("c", "Champions", 10, 5, 40), customer("d", "Loyal", 10, 3, 100),
              customer("e", "Regulars", 300, 2, 5))
    t = t.join(customer_actions(t))
    segments = pd.DataFrame({"segment": ["Champions", "Loyal", "Regulars"]})
    assert lapsed_per_segment(segments, t).tolist() == [2, 0, 0]


def test_high_value_names_have_actions_and_a_missing_column_is_named():
    assert set(HIGH_VALUE_SEGMENTS) <= set(ACTIONS) and "win-back" in WIN_BACK
    with pytest.raises(InputError, match="first_purchase"):
        customer_actions(table(customer("a", "Loyal", 1, 1, 0)).drop(columns="first_purchase"))


@pytest.mark.realdata
def test_customer_17850_of_the_workbook_has_lapsed(real_xlsx):
    """The look-up's own example: 34 orders within two days in December 2010, then nothing
    for 372 days. Named Champions for their orders and spend, they get the win-back action."""
    import custseg
    from custseg import outputs, pipeline

    dataset = custseg.load(real_xlsx)
    fitted = pipeline.model(custseg.compute_rfm(dataset), dataset.config)
    row = fitted.customers.set_index("customer_id").loc["17850"]
    assert row["segment"] in HIGH_VALUE_SEGMENTS and row["recency"] == 372
    assert bool(row["lapsed"]) and row["action"] == WIN_BACK
    assert row["action_reason"].startswith(f"{row['segment']} by their history, but last "
                                           f"bought 372 days ago")
    # The segment table counts the lapsed members of each segment.
    counts = fitted.customers.groupby("segment")["lapsed"].sum()
    assert dict(zip(fitted.segments["segment"], fitted.segments["lapsed"], strict=True)) == {
        name: int(counts.get(name, 0)) for name in fitted.segments["segment"]}
    assert set(outputs.CUSTOMER_COLUMNS) <= set(fitted.customers.columns)

"""Each customer's own action: their segment's, unless their own history says they have lapsed.

A segment's action describes its centre. A customer far from it needs their own: a customer
named Champions for their many orders and large spend who has not bought for a year should
be won back, not offered the VIP programme. The rule (docs/modelling.md, section 4):

- a customer's **usual gap** is the days between their first and last purchase divided by
  their number of orders minus one (frequency ≥ 2);
- a customer of a high-value segment (:data:`HIGH_VALUE_SEGMENTS`) is **lapsed** when their
  recency is above ``max(multiple × usual gap, minimum days)``, with ``(multiple, minimum
  days)`` = :attr:`custseg.config.ClusterConfig.lapse_after`;
- a one-order customer has no gap of their own: the median usual gap of their segment's repeat
  buyers stands in for it (of every repeat buyer when the segment has none; nobody is lapsed
  when no customer ordered twice);
- a lapsed customer gets the win-back action (:data:`WIN_BACK_SEGMENT`'s) with the reason in
  words; everyone else gets their segment's action.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from custseg.errors import ConfigError, InputError
from custseg.segments import base_name, segment_action

#: Segments whose actions assume a customer who is still buying and worth the most (VIP
#: treatment and "do not discount"; loyalty perks and upselling; premium offers and personal
#: contact). They are the names the naming grid gives to active clusters of high frequency
#: and spend. A lapsed member would get the wrong advice, so they are checked one by one.
HIGH_VALUE_SEGMENTS: tuple[str, ...] = ("Champions", "Loyal", "Big Spenders")
#: The segment whose action lapsed high-value customers get: formerly big, frequent buyers
#: who have gone quiet (the RFM grid's name for them too).
WIN_BACK_SEGMENT = "Can't Lose"
#: Columns :func:`customer_actions` adds, in order.
ACTION_COLUMNS: tuple[str, ...] = ("usual_gap", "lapsed", "action", "action_reason")
#: Columns of the RFM table the rule reads.
NEEDED: tuple[str, ...] = ("recency", "frequency", "first_purchase", "last_purchase", "segment")

_DAY = pd.Timedelta(days=1)


def check_lapse_after(lapse_after: tuple[float, float]) -> tuple[float, float]:
    """``(multiple, minimum days)`` as floats, or a :class:`ConfigError` saying what is wrong."""
    try:
        multiple, minimum = (float(v) for v in lapse_after)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"lapse_after must be two numbers (multiple of the usual gap, "
                          f"minimum days), got {lapse_after!r}.") from err
    if not (math.isfinite(multiple) and multiple > 0):
        raise ConfigError(f"The lapse multiple must be a positive number of usual gaps, got "
                          f"{multiple:g}.")
    if not (math.isfinite(minimum) and minimum >= 0):
        raise ConfigError(f"The lapse minimum must be zero or more days, got {minimum:g}.")
    return multiple, minimum


def usual_gap(rfm: pd.DataFrame) -> pd.Series:
    """Days between a customer's orders on average: (last − first purchase) / (frequency − 1).

    NaN for customers with a single order (they have no gap). Same index as ``rfm``.
    """
    span = (pd.to_datetime(rfm["last_purchase"]) - pd.to_datetime(rfm["first_purchase"])) / _DAY
    repeats = rfm["frequency"].astype(float) - 1
    return (span / repeats.where(repeats > 0)).astype(float)


def _reference_gap(gap: pd.Series, segment: pd.Series) -> pd.Series:
    """For one-order customers: the median usual gap of their segment's repeat buyers, else
    of every repeat buyer (NaN when nobody ordered twice). Same index as ``gap``."""
    per_segment = gap.groupby(segment, sort=False).median()
    overall = gap.median()  # NaN when every gap is NaN
    return segment.map(per_segment).fillna(overall).astype(float)


def _days(value: float) -> str:
    """'1 day', '70 days' (whole days, half up)."""
    days = math.floor(value + 0.5)
    return f"{days:,} day" + ("" if days == 1 else "s")


def _why_lapsed(segment: str, recency: int, frequency: int, gap: float, own: bool,
                span: float, whose: str) -> str:
    """The reason a lapsed customer gets the win-back action, in plain words."""
    if frequency == 1:
        head = f"{segment} by their history, but their only order was {_days(recency)} ago"
    else:
        head = f"{segment} by their history, but last bought {_days(recency)} ago"
    if gap >= 0.5:  # shown as at least "1 day": a ratio to it reads sensibly
        times = recency / gap
        # One decimal near the threshold (3.3×, not 3×, for a rule "more than 3×").
        ratio = f"{times:,.0f}" if times >= 10 else f"{times:.1f}".removesuffix(".0")
        if own:
            middle = f" — about {ratio}× their usual {_days(gap)} between orders"
        else:
            middle = f" — about {ratio}× the {_days(gap)} between orders typical of {whose}"
    elif own:  # a burst of orders within hours: no meaningful ratio
        middle = (f" — their {frequency:,} orders all came within "
                  f"{_days(max(math.ceil(span), 1))}")
    else:
        middle = f" — orders typical of {whose} come less than a day apart"
    return head + middle + ": win them back."


def customer_actions(customers: pd.DataFrame,
                     lapse_after: tuple[float, float] = (3.0, 60.0)) -> pd.DataFrame:
    """Each customer's usual gap, whether they have lapsed, their action and why.

    Parameters
    ----------
    customers:
        The RFM table with each customer's ``segment`` (:data:`NEEDED` columns).
    lapse_after:
        ``(multiple, minimum days)``: a high-value customer is lapsed when their recency is
        above ``max(multiple × usual gap, minimum days)``.

    Returns
    -------
    A frame with the index of ``customers`` and :data:`ACTION_COLUMNS`: ``usual_gap`` (float
    days, NaN for one order), ``lapsed`` (bool), ``action`` and ``action_reason`` (str).

    Raises
    ------
    InputError
        When a needed column is missing.
    ConfigError
        When ``lapse_after`` is not a positive multiple and a non-negative number of days.
    """
    missing = [c for c in NEEDED if c not in customers.columns]
    if missing:
        raise InputError(f"Per-customer actions need the column(s) {', '.join(missing)} of "
                         f"the RFM table with segments.")
    multiple, minimum = check_lapse_after(lapse_after)
    segment = customers["segment"].astype(str)
    gap = usual_gap(customers)
    reference = _reference_gap(gap, segment)
    own = gap.notna()
    compared = gap.where(own, reference)
    high_value = segment.map(lambda s: base_name(s) in HIGH_VALUE_SEGMENTS).astype(bool)
    threshold = np.maximum(multiple * compared, minimum)  # NaN stays NaN: never lapsed
    lapsed = high_value & (customers["recency"].astype(float) > threshold).fillna(False)
    lapsed = lapsed.astype(bool)

    win_back = segment_action(WIN_BACK_SEGMENT)[1]
    action = segment.map(lambda s: segment_action(s)[1])
    reason = segment.map(lambda s: f"The action for their segment, {s}.")
    if lapsed.any():
        # Where the stand-in gap came from, for one-order customers.
        has_repeat = gap.notna().groupby(segment, sort=False).transform("any")
        span = (pd.to_datetime(customers["last_purchase"])
                - pd.to_datetime(customers["first_purchase"])) / _DAY
        rows = customers.index[lapsed.to_numpy()]
        action.loc[rows] = win_back
        reason.loc[rows] = [
            _why_lapsed(segment[i], int(customers.at[i, "recency"]),
                        int(customers.at[i, "frequency"]), float(compared[i]), bool(own[i]),
                        float(span[i]), segment[i] if has_repeat[i] else "repeat customers")
            for i in rows]
    return pd.DataFrame({"usual_gap": gap.round(2), "lapsed": lapsed, "action": action,
                         "action_reason": reason}, index=customers.index)


def lapsed_per_segment(segments: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    """How many members of each row of the segment table are lapsed (int, in table order).

    ``customers`` needs ``segment`` and ``lapsed`` (:func:`customer_actions`).
    """
    counts = customers.loc[customers["lapsed"].astype(bool), "segment"].value_counts()
    return segments["segment"].map(counts).fillna(0).astype(int).rename("lapsed")

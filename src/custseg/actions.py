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
import pyarrow as pa

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


def _reference_gap(gap: pd.Series, codes: np.ndarray) -> np.ndarray:
    """For one-order customers: the median usual gap of their segment's repeat buyers, else
    of every repeat buyer (NaN when nobody ordered twice). ``codes``: each customer's segment
    as a number (:func:`pandas.factorize`)."""
    per_segment = gap.groupby(codes, sort=True).median().reindex(
        range(codes.max() + 1)).to_numpy()
    return np.where(np.isnan(per_segment), gap.median(), per_segment)[codes]


def _text(values: object, index: pd.Index) -> pd.Series:
    """Texts as a string Series (numbers written without thousands separators)."""
    return pd.Series(np.asarray(values).astype(str), index=index, dtype="str")


def _days(values: pd.Series) -> pd.Series:
    """'1 day', '70 days', '1,096 days' (whole days, half up), per value."""
    whole = np.floor(values.to_numpy(dtype=float) + 0.5).astype(np.int64)
    text = _text(whole, values.index)
    big = whole >= 1000  # rare: thousands separators written one by one
    if big.any():
        text[big] = [f"{d:,}" for d in whole[big]]
    return text + pd.Series(np.where(whole == 1, " day", " days"), index=values.index,
                            dtype="str")


def _times(values: pd.Series) -> pd.Series:
    """'3.3', '15' (one decimal below 10, where it matters against a rule 'more than 3×')."""
    times = values.to_numpy(dtype=float)
    times = np.where(np.isfinite(times), times, 0.0)  # a zero gap: no ratio is shown anyway
    tenths = np.round(times, 1)
    # Below 10: tenths, without a trailing ".0"; from 10: whole, with thousands separators.
    text = _text(np.where(tenths % 1 == 0, tenths.astype(np.int64).astype(str),
                          tenths.astype(str)), values.index)
    big = times >= 10
    if big.any():
        text[big] = [f"{t:,.0f}" for t in times[big]]
    return text


def _why_lapsed(lapsed: pd.DataFrame) -> pd.Series:
    """The reason each lapsed customer gets the win-back action, in plain words.

    ``lapsed`` has ``segment``, ``recency``, ``frequency``, ``gap`` (the gap compared with),
    ``own`` (the customer's own gap, not a stand-in), ``span`` (days from first to last
    order) and ``whose`` (whose typical gap a stand-in is).
    """
    index = lapsed.index
    single = lapsed["frequency"].to_numpy() == 1
    opening = _text(np.where(single, " by their history, but their only order was ",
                             " by their history, but last bought "), index)
    head = lapsed["segment"].astype("str") + opening + _days(lapsed["recency"]) + " ago — "
    gap, own = lapsed["gap"], lapsed["own"].to_numpy(dtype=bool)
    whose = lapsed["whose"].astype("str")
    about = "about " + _times(lapsed["recency"] / gap) + "× "
    usual = _days(gap) + " between orders"
    mine = about + "their usual " + usual
    typical = about + "the " + usual + " typical of " + whose
    # A gap shown as at least "1 day" gives a sensible ratio; a burst of orders within hours
    # does not, and is said as it is.
    shown = gap.to_numpy(dtype=float) >= 0.5
    burst = ("their " + _text(lapsed["frequency"].to_numpy(), index) + " orders all came "
             "within " + _days(np.ceil(lapsed["span"]).clip(lower=1)))
    quick = "orders typical of " + whose + " come less than a day apart"
    middle = mine.where(shown & own, typical.where(shown, burst.where(own, quick)))
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
        raise InputError(f"Per-customer actions need the RFM table with segments; it lacks "
                         f"{', '.join(missing)}.")
    multiple, minimum = check_lapse_after(lapse_after)
    if customers.empty:
        return pd.DataFrame({"usual_gap": pd.Series(dtype=float),
                             "lapsed": pd.Series(dtype=bool), "action": pd.Series(dtype="str"),
                             "action_reason": pd.Series(dtype="str")}, index=customers.index)
    segment = customers["segment"].astype(str)
    # Segments as numbers: a handful of names, so each text is written once per name.
    codes, names = pd.factorize(segment)
    gap = usual_gap(customers)
    own = gap.notna().to_numpy()
    compared = np.where(own, gap.to_numpy(dtype=float, na_value=np.nan),
                        _reference_gap(gap, codes))
    high_value = np.array([base_name(n) in HIGH_VALUE_SEGMENTS for n in names])[codes]
    threshold = np.maximum(multiple * compared, minimum)  # NaN stays NaN: never lapsed
    recency = customers["recency"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        lapsed = high_value & (recency > threshold)

    # Texts are taken from a short list by number (pyarrow's take): a million customers
    # share a handful of texts, and making a million Python strings would take seconds.
    actions = [segment_action(n)[1] for n in names] + [segment_action(WIN_BACK_SEGMENT)[1]]
    reasons = [f"The action for their segment, {n}." for n in names]
    action_codes, reason_codes = codes.copy(), codes.copy()
    if lapsed.any():
        # Where a one-order customer's stand-in gap came from: their segment or everyone.
        has_repeat = np.bincount(codes[own], minlength=len(names)) > 0
        whose = np.where(has_repeat, np.asarray(names, dtype=object), "repeat customers")
        span = (pd.to_datetime(customers["last_purchase"])
                - pd.to_datetime(customers["first_purchase"])) / _DAY
        which = pd.DataFrame({
            "segment": segment.to_numpy(dtype=object)[lapsed], "recency": recency[lapsed],
            "frequency": customers["frequency"].to_numpy(dtype=np.int64)[lapsed],
            "gap": compared[lapsed], "own": own[lapsed],
            "span": span.to_numpy(dtype=float)[lapsed], "whose": whose[codes[lapsed]]})
        action_codes[lapsed] = len(names)
        reason_codes[lapsed] = len(reasons) + np.arange(int(lapsed.sum()))
        reasons += _why_lapsed(which).tolist()
    return pd.DataFrame({"usual_gap": gap.round(2).to_numpy(), "lapsed": lapsed,
                         "action": _take(actions, action_codes),
                         "action_reason": _take(reasons, reason_codes)},
                        index=customers.index)


def _take(texts: list[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``texts[code]`` for every code, as a pandas string array."""
    return pd.array(pa.array(texts, pa.large_string()).take(pa.array(codes)),
                    dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def lapsed_per_segment(segments: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    """How many members of each row of the segment table are lapsed (int, in table order).

    ``customers`` needs ``segment`` and ``lapsed`` (:func:`customer_actions`).
    """
    counts = customers.loc[customers["lapsed"].astype(bool), "segment"].value_counts()
    return segments["segment"].map(counts).fillna(0).astype(int).rename("lapsed")

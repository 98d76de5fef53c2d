"""Hold-out validation of the lifetime-value models, and the verdict in plain words.

The last part of the period is held out (:func:`holdout_days`), the models are fitted on the
rest, and their expected purchases over the held-out days are compared with what each customer
actually did, beside a naive baseline: every customer keeps buying at their own past rate
(repeat purchases ÷ days since their first purchase). :func:`verdict` then says whether the
model tells customers apart: when nearly everyone has a P(alive) above 90%, or the model's error
is no better than the baseline's, the report, the dashboard and the summary say so instead of
leaning on P(alive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from custseg import clv
from custseg.clv_inputs import clv_inputs, first_day
from custseg.config import CLVConfig
from custseg.errors import CLVError

#: Calibration purchases 0 … this − 1 get a point each on the calibration plot; more are
#: pooled into the last ("this or more"), as lifetimes' plot does with ``n``.
CALIBRATION_BINS = 7


@dataclass
class Validation:
    """What the hold-out showed."""

    calibration_end: date
    observation_end: date
    holdout_days: int
    #: Per customer: customer_id, frequency (calibration repeats), T, actual, predicted,
    #: baseline (purchase days in the hold-out).
    customers: pd.DataFrame
    #: customers, mae, correlation, predicted_total, actual_total, baseline_mae,
    #: baseline_correlation, baseline_total.
    metrics: dict[str, float]
    #: The calibration plot's points: purchases (calibration repeats, the last bin "or more"),
    #: customers, actual, predicted, baseline (means per customer).
    calibration: pd.DataFrame
    params: pd.DataFrame = field(default_factory=pd.DataFrame)


def holdout_days(first: date, end: date, config: CLVConfig) -> int:
    """Days held out: ``min(holdout_days, holdout_share × period)``, whole days.

    Raises
    ------
    CLVError
        When that is fewer than ``min_holdout_days``.
    """
    period = (end - first).days + 1
    days = int(min(config.holdout_days, np.floor(config.holdout_share * period)))
    if days < config.min_holdout_days:
        raise CLVError(
            f"The transactions span {period:,} day{'' if period == 1 else 's'} ({first} to "
            f"{end}): holding out "
            f"{config.holdout_share:.0%} of them leaves {days:,} day{'' if days == 1 else 's'}, "
            f"fewer than the "
            f"{config.min_holdout_days} days needed to check the lifetime-value forecast. "
            f"Use at least {int(np.ceil(config.min_holdout_days / config.holdout_share)):,} "
            f"days of transactions.")
    return days


def validate(con: duckdb.DuckDBPyConnection, observation_end: date,
             config: CLVConfig) -> Validation:
    """Fit on all but the held-out days, predict them, and compare (see the module's doc).

    Raises
    ------
    CLVError
        Too short a period, too few repeat customers in the calibration part, or a fit that
        does not converge.
    """
    first = first_day(con)
    if first is None:
        raise CLVError("No kept line has an invoice date: there is nothing to forecast from.")
    days = holdout_days(first, observation_end, config)
    calibration_end = observation_end - timedelta(days=days)
    inputs = clv_inputs(con, calibration_end, observation_end)
    fitted = clv.fit(inputs, penalizers=config.penalizers, tolerances=config.tolerances,
                     min_repeat_customers=config.min_repeat_customers)
    predicted = fitted.expected_purchases(inputs, days)
    customers = pd.DataFrame({
        "customer_id": inputs["customer_id"], "frequency": inputs["frequency"],
        "T": inputs["T"], "actual": inputs["holdout"].astype(float), "predicted": predicted,
        "baseline": naive_baseline(inputs, days)})
    return Validation(calibration_end, observation_end, days, customers,
                      compare(customers), calibration_table(customers), fitted.params)


def naive_baseline(inputs: pd.DataFrame, days: float) -> np.ndarray:
    """Purchases in the next ``days`` at each customer's own past rate: repeat purchases ÷
    days since the first purchase (0 for a customer first seen on the last day)."""
    big_t = inputs["T"].to_numpy(dtype=float)
    rate = np.divide(inputs["frequency"].to_numpy(dtype=float), big_t,
                     out=np.zeros(len(inputs)), where=big_t > 0)
    return rate * days


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def compare(frame: pd.DataFrame) -> dict[str, float]:
    """MAE, Pearson correlation and totals of ``predicted`` and ``baseline`` against
    ``actual`` (columns of ``frame``)."""
    actual = frame["actual"].to_numpy(dtype=float)
    out: dict[str, float] = {"customers": float(len(frame)),
                             "actual_total": float(actual.sum())}
    for name, key in (("predicted", ""), ("baseline", "baseline_")):
        guess = frame[name].to_numpy(dtype=float)
        out[f"{key}mae"] = float(np.abs(guess - actual).mean()) if len(frame) else float("nan")
        out[f"{key}correlation"] = _correlation(guess, actual)
        out[f"{name}_total"] = float(guess.sum())
    return out


def per_segment(validation: Validation, segments: pd.Series) -> pd.DataFrame:
    """:func:`compare` per segment (``segments``: segment by customer_id), one row each."""
    frame = validation.customers.assign(
        segment=validation.customers["customer_id"].map(segments))
    # Customers first seen in the hold-out have no segment here; those without one too.
    frame = frame[frame["segment"].notna()]
    rows = [{"segment": name, **compare(group)} for name, group in
            frame.groupby("segment", sort=True)]
    return pd.DataFrame(rows)


def calibration_table(frame: pd.DataFrame, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Mean actual, predicted and baseline hold-out purchases by calibration repeat purchases
    (0 … bins − 1, the last bin pooling every higher count): lifetimes' calibration plot."""
    pooled = np.minimum(frame["frequency"].to_numpy(dtype=int), bins - 1)
    table = (frame.assign(purchases=pooled)
             .groupby("purchases", sort=True)
             .agg(customers=("actual", "size"), actual=("actual", "mean"),
                  predicted=("predicted", "mean"), baseline=("baseline", "mean"))
             .reset_index())
    return table


@dataclass(frozen=True)
class Verdict:
    """Whether the model tells customers apart, with the reasons in plain words."""

    discriminates: bool
    #: Share of customers with P(alive) above the configured level.
    alive_share: float
    beats_baseline: bool
    #: Plain sentences for the report, the dashboard and the summary (empty when fine).
    warnings: tuple[str, ...]


def verdict(p_alive: pd.Series, validation: Validation | None, config: CLVConfig,
            segments: pd.Series | None = None, recency: pd.Series | None = None) -> Verdict:
    """Judge the model: P(alive) spread (``p_alive`` per customer; ``segments`` and
    ``recency``, aligned with it, name the segment that has been away longest) and the
    hold-out error against the naive baseline."""
    level = config.alive_level
    above = p_alive.to_numpy() > level
    share = float(above.mean()) if len(p_alive) else float("nan")
    sentences = []
    flat = bool(share >= config.alive_share)
    if flat:
        text = f"P(alive) is above {level:.0%} for {share:.1%} of customers"
        if segments is not None and len(segments):
            by = pd.Series(above).groupby(segments.to_numpy())
            if recency is not None:
                # The segment that has been away longest: where churn should show first.
                away = pd.Series(recency.to_numpy()).groupby(segments.to_numpy()).median()
                name = away.idxmax()
                text += (f", even in {name} (typically last seen {away[name]:.0f} days ago): "
                         f"{by.mean()[name]:.1%}")
            else:
                lowest = by.mean().sort_values()
                text += f" (even in {lowest.index[0]}, {lowest.iloc[0]:.1%})"
        sentences.append(
            text + ". On this data the model cannot tell who has stopped buying (it also "
            "counts every customer who never came back as alive). Read P(alive) as 'no sign "
            "of leaving yet', not as a churn forecast; recency and the lapsed flag say more "
            "about who has gone quiet.")
    beats = True
    if validation is not None:
        m = validation.metrics
        beats = bool(m["mae"] < m["baseline_mae"])
        if not beats:
            sentences.append(
                f"On the last {validation.holdout_days} days, held out, the model's forecast "
                f"of each customer's purchases was off by {m['mae']:.2f} on average, no "
                f"better than assuming each customer keeps their own past rate "
                f"({m['baseline_mae']:.2f}): its per-customer forecasts add nothing to that "
                f"simple rule here.")
    return Verdict(discriminates=not flat and beats, alive_share=share,
                   beats_baseline=beats, warnings=tuple(sentences))

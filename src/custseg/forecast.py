"""The lifetime-value stage of a run: validate on a hold-out, refit on the whole period,
predict per customer, and put the results where the rest of custseg reads them.

:func:`estimate` runs the stage (:mod:`custseg.clv_validation` then :mod:`custseg.clv`);
:func:`customer_columns`, :func:`segment_columns` and :func:`summary` shape its results for
customers.csv, segments.csv and summary.json; :func:`write_files` writes clv.csv (the fitted
parameters with their standard errors) and the hold-out tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from custseg import clv, clv_validation
from custseg.clv_inputs import clv_inputs, observation_end
from custseg.config import CLVConfig
from custseg.errors import ConfigError
from custseg.safe_cells import to_csv

#: Columns :func:`customer_columns` adds to the customer table, in order.
CUSTOMER_COLUMNS: tuple[str, ...] = (*clv.PREDICTION_COLUMNS, "clv_rank")
#: Columns :func:`segment_columns` adds to the segment table, in order.
SEGMENT_COLUMNS: tuple[str, ...] = ("clv_total", "clv_median", "p_alive_mean")


@dataclass
class CLVResult:
    """What the lifetime-value stage produced."""

    config: CLVConfig
    #: The whole-period fit's parameters (:attr:`custseg.clv.FittedCLV.params`).
    params: pd.DataFrame
    #: customer_id, then :data:`custseg.clv.PREDICTION_COLUMNS`.
    predictions: pd.DataFrame
    validation: clv_validation.Validation
    verdict: clv_validation.Verdict
    #: :func:`custseg.clv_validation.per_segment` (None without segments).
    validation_by_segment: pd.DataFrame | None = None


def settings(base: CLVConfig | None = None, *, enabled: bool | None = None,
             horizon_days: int | None = None, months: int | None = None,
             discount_rate: float | None = None, holdout_days: int | None = None) -> CLVConfig:
    """``base`` with the given settings changed, each checked (:class:`ConfigError` naming the
    setting and its range when one is out of it)."""
    import dataclasses

    changes: dict[str, Any] = {}
    if enabled is not None:
        changes["enabled"] = bool(enabled)
    for name, value, low in (("horizon_days", horizon_days, 1), ("months", months, 1),
                             ("holdout_days", holdout_days, 1)):
        if value is None:
            continue
        if int(value) != value or value < low:
            raise ConfigError(f"--{name.replace('_', '-')}: {value} must be a whole number of "
                              f"at least {low}.")
        changes[name] = int(value)
    if discount_rate is not None:
        if not 0 <= discount_rate < 1:
            raise ConfigError(f"--discount-rate: {discount_rate} must be a monthly rate from 0 "
                              f"up to (not including) 1, e.g. 0.01 for 1% a month.")
        changes["discount_rate"] = float(discount_rate)
    return dataclasses.replace(base or CLVConfig(), **changes)


def estimate(con: duckdb.DuckDBPyConnection, snapshot: Any, customers: pd.DataFrame,
             config: CLVConfig) -> CLVResult:
    """Validate on the hold-out, refit on the whole period and predict every customer.

    ``customers``: the customer table (customer_id, and segment when segmented).

    Raises
    ------
    custseg.errors.CLVError
        When the data cannot support the models (see :func:`custseg.clv.fit` and
        :func:`custseg.clv_validation.validate`).
    """
    end = observation_end(snapshot)
    validation = clv_validation.validate(con, end, config)
    inputs = clv_inputs(con, end, end)
    fitted = clv.fit(inputs, penalizers=config.penalizers, tolerances=config.tolerances,
                     min_repeat_customers=config.min_repeat_customers)
    predicted = fitted.predict(inputs, horizon_days=config.horizon_days, months=config.months,
                               discount_rate=config.discount_rate)
    predictions = pd.concat([inputs[["customer_id"]], predicted], axis=1)
    segments = None
    by_segment = None
    if "segment" in customers:
        segments = customers.set_index("customer_id")["segment"]
        by_segment = clv_validation.per_segment(validation, segments)
    aligned = predictions["customer_id"].map(segments) if segments is not None else None
    recency = None
    if segments is not None and "recency" in customers:
        recency = predictions["customer_id"].map(customers.set_index("customer_id")["recency"])
    judged = clv_validation.verdict(predictions["p_alive"], validation, config, aligned,
                                    recency)
    return CLVResult(config, fitted.params, predictions, validation, judged, by_segment)


def customer_columns(customers: pd.DataFrame, result: CLVResult) -> pd.DataFrame:
    """``customers`` with :data:`CUSTOMER_COLUMNS`; ``clv_rank`` is the order to contact a
    segment's members in (1 = the highest lifetime value; ties by customer id), or over
    everyone without segments."""
    merged = customers.merge(result.predictions, on="customer_id", how="left",
                             validate="one_to_one")
    group = merged["segment"] if "segment" in merged else pd.Series("", index=merged.index)
    order = merged.assign(_group=group.to_numpy()).sort_values(
        ["_group", "clv", "customer_id"], ascending=[True, False, True], kind="stable",
        na_position="last")
    rank = order.groupby("_group", sort=False).cumcount() + 1
    merged["clv_rank"] = rank.reindex(merged.index).astype("int64")
    return merged


def segment_columns(profile: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """The segment table with :data:`SEGMENT_COLUMNS` (from a customer table that has
    :func:`customer_columns`)."""
    stats = customers.groupby("segment", sort=False).agg(
        clv_total=("clv", "sum"), clv_median=("clv", "median"),
        p_alive_mean=("p_alive", "mean"))
    return profile.join(stats, on="segment")


def call_first(customers: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Each segment's ``n`` customers of highest lifetime value, in contact order."""
    top = customers[customers["clv_rank"] <= n]
    return top.sort_values(["segment", "clv_rank"], kind="stable").reset_index(drop=True)


def summary(result: CLVResult, customers: pd.DataFrame) -> dict[str, Any]:
    """The ``clv`` entry of summary.json: settings, parameters, hold-out figures, verdict, and
    where the future value is."""
    cfg = result.config
    total = float(np.nansum(customers["clv"]))
    out: dict[str, Any] = {
        "months": cfg.months, "horizon_days": cfg.horizon_days,
        "discount_rate": cfg.discount_rate, "total": round(total, 2),
        "expected_purchases": round(float(np.nansum(customers["expected_purchases"])), 2),
        "parameters": {row.parameter: {"value": float(row.value),
                                       "standard_error": float(row.standard_error)}
                       for row in result.params.itertuples()},
        "holdout": {"days": result.validation.holdout_days,
                    "calibration_end": result.validation.calibration_end.isoformat(),
                    **{k: _round(v) for k, v in result.validation.metrics.items()}},
        "discriminates": result.verdict.discriminates,
        "beats_baseline": result.verdict.beats_baseline,
        "alive_share": _round(result.verdict.alive_share),
        "alive_level": cfg.alive_level,
        "warnings": list(result.verdict.warnings),
        "top_customers": customers.nlargest(5, "clv")["customer_id"].astype(str).tolist(),
    }
    if "segment" in customers and total > 0:
        by = customers.groupby("segment")["clv"].sum().sort_values(ascending=False)
        out["top_segment"] = {"segment": str(by.index[0]), "clv": round(float(by.iloc[0]), 2),
                              "share": round(float(by.iloc[0]) / total, 4)}
    return out


def _round(value: float) -> float | None:
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None


def holdout_table(result: CLVResult) -> pd.DataFrame:
    """The hold-out figures, all customers first, then per segment."""
    rows = [{"segment": "All customers", **result.validation.metrics}]
    frame = pd.DataFrame(rows)
    if result.validation_by_segment is not None:
        frame = pd.concat([frame, result.validation_by_segment], ignore_index=True)
    return frame


def write_files(result: CLVResult, out: Path) -> list[Path]:
    """clv.csv (parameters and standard errors of the whole-period fit), clv_holdout.csv
    (hold-out figures) and clv_calibration.csv (the calibration plot's points)."""
    to_csv(result.params, out / "clv.csv")
    to_csv(holdout_table(result), out / "clv_holdout.csv")
    to_csv(result.validation.calibration, out / "clv_calibration.csv")
    return [out / "clv.csv", out / "clv_holdout.csv", out / "clv_calibration.csv"]

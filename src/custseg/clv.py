"""The lifetime-value engine: BG/NBD (purchases, P(alive)) and Gamma-Gamma (spend per
purchase) fitted by maximum likelihood with lifetimes, behind two functions.

:func:`fit` takes the per-customer inputs of :func:`custseg.clv_inputs.clv_inputs` and returns
a :class:`FittedCLV`; :meth:`FittedCLV.predict` gives each customer's expected purchases,
P(alive), expected spend per purchase and discounted lifetime value. Nothing else in custseg
touches lifetimes, so another engine (pymc-marketing where it runs) can stand in here.

Time is in days. A month is 30 days and CLV sums, month by month, the expected purchases of
the month × expected spend per purchase ÷ (1 + monthly discount rate)^month: lifetimes'
``customer_lifetime_value(freq="D")``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import CLVError

#: Days in a month of lifetime value (lifetimes' factor for daily data).
DAYS_PER_MONTH = 30
#: Columns :meth:`FittedCLV.predict` returns, in order.
PREDICTION_COLUMNS: tuple[str, ...] = ("expected_purchases", "p_alive", "expected_spend", "clv")
#: The parameters, in the order of clv.csv.
PARAMETERS: tuple[tuple[str, str], ...] = (
    ("BG/NBD", "r"), ("BG/NBD", "alpha"), ("BG/NBD", "a"), ("BG/NBD", "b"),
    ("Gamma-Gamma", "p"), ("Gamma-Gamma", "q"), ("Gamma-Gamma", "v"),
)


@dataclass(frozen=True)
class FittedCLV:
    """Both models fitted on one set of inputs."""

    #: ``model, parameter, value, standard_error, penalizer, tolerance`` (:data:`PARAMETERS`
    #: order; the last two: the fit's lifetimes ``penalizer_coef`` and optimiser tolerance).
    params: pd.DataFrame
    #: Customers the BG/NBD and Gamma-Gamma models were fitted on.
    customers: int
    repeat_customers: int
    _purchases: Any
    _spend: Any

    def value(self, name: str) -> float:
        """One fitted parameter by name (r, alpha, a, b, p, q, v)."""
        return float(self.params.set_index("parameter").loc[name, "value"])

    def expected_purchases(self, inputs: pd.DataFrame, days: float,
                           patterns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                           ) -> np.ndarray:
        """Expected purchases in the next ``days`` days, per row of ``inputs``."""
        return _per_pattern(lambda f, r, t: self._purchases
                            .conditional_expected_number_of_purchases_up_to_time(days, f, r, t),
                            patterns or _patterns(*_arrays(inputs)))

    def predict(self, inputs: pd.DataFrame, *, horizon_days: float, months: int,
                discount_rate: float) -> pd.DataFrame:
        """Per customer (rows of ``inputs``): :data:`PREDICTION_COLUMNS`.

        ``expected_purchases`` counts purchase days in the next ``horizon_days``;
        ``expected_spend`` is the Gamma-Gamma mean spend per purchase (a customer without a
        repeat purchase gets the population's); ``clv`` is the discounted spend over
        ``months`` months.
        """
        x, t_x, big_t = _arrays(inputs)
        patterns = _patterns(x, t_x, big_t)
        model = self._purchases

        def alive(f: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
            return model.conditional_probability_alive(f, r, t)

        def discounted(f: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
            # The same sum as lifetimes' customer_lifetime_value, factored: spend per purchase
            # does not depend on the month, so it multiplies the discounted purchases once.
            total = np.zeros(len(f))
            before = np.zeros(len(f))
            for month in range(1, months + 1):
                upto = model.conditional_expected_number_of_purchases_up_to_time(
                    month * DAYS_PER_MONTH, f, r, t)
                total += (upto - before) / (1 + discount_rate) ** month
                before = upto
            return total

        # Negative or zero repeat spend (returns netted against purchases) carries no
        # information on spend per purchase: it counts as none, leaving the population mean.
        monetary = np.clip(inputs["monetary"].to_numpy(dtype=float), 0.0, None)
        spend = np.asarray(self._spend.conditional_expected_average_profit(
            pd.Series(np.where(monetary > 0, x, 0)), pd.Series(monetary)), dtype=float)
        frame = pd.DataFrame({
            "expected_purchases": self.expected_purchases(inputs, horizon_days, patterns),
            "p_alive": _per_pattern(alive, patterns),
            "expected_spend": spend,
            "clv": spend * _per_pattern(discounted, patterns),
        }, index=inputs.index)
        return frame


def _arrays(inputs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (inputs["frequency"].to_numpy(dtype=float), inputs["recency"].to_numpy(dtype=float),
            inputs["T"].to_numpy(dtype=float))


def _patterns(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (frequency, recency, T) rows, how often each occurs, and each customer's
    row: with whole days, a million customers share a few hundred thousand patterns."""
    keys = np.column_stack([x, t_x, big_t])
    span = float(max(np.max(keys, initial=0.0), 0.0)) + 1
    whole = bool(len(keys) and np.all(keys >= 0) and np.all(np.floor(keys) == keys))
    if whole and span ** 3 < 2.0**62:
        # Whole days (the SQL inputs): one integer per pattern sorts 50× faster than rows.
        size = int(span)
        code = (keys[:, 0].astype(np.int64) * size + keys[:, 1].astype(np.int64)) * size \
            + keys[:, 2].astype(np.int64)
        codes, inverse, counts = np.unique(code, return_inverse=True, return_counts=True)
        unique = np.column_stack([codes // (size * size), codes // size % size, codes % size])
        return unique.astype(float), counts, inverse.reshape(-1)
    unique, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    return unique, counts, inverse.reshape(-1)


def _per_pattern(func: Any, patterns: tuple[np.ndarray, np.ndarray, np.ndarray]
                 ) -> np.ndarray:
    """``func(x, t_x, T)`` computed once per distinct pattern (:func:`_patterns`) and spread
    to every customer."""
    unique, _, inverse = patterns
    if len(inverse) == 0:
        return np.zeros(0)
    values = np.asarray(func(unique[:, 0], unique[:, 1], unique[:, 2]), dtype=float)
    return values[inverse]


@contextlib.contextmanager
def _quiet() -> Any:
    """lifetimes prints the optimiser's state when a fit fails and changes the global warning
    filters while fitting: keep both from leaking out of the core."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def fit(inputs: pd.DataFrame, *, penalizers: tuple[float, ...] = (0.0,),
        tolerances: tuple[float, ...] = (1e-7,), min_repeat_customers: int = 20) -> FittedCLV:
    """Fit BG/NBD on every customer and Gamma-Gamma on the repeat customers of ``inputs``.

    Each model tries ``penalizers`` in turn, each with the optimiser's ``tolerances`` in turn,
    and keeps the first fit that converges to finite parameters and forecasts (and, for
    Gamma-Gamma, a finite mean spend: q > 1). A looser tolerance comes before a penalizer:
    where the likelihood is flat (no sign of dropout, a → 0) the optimiser stops for
    precision loss next to the optimum, and a penalizer would move the optimum itself.

    Raises
    ------
    CLVError
        Too few repeat customers, or no penalizer converges; the message says which.
    """
    with _quiet():  # lifetimes sets a pandas option at import that pandas 3 warns about
        from lifetimes import BetaGeoFitter, GammaGammaFitter

    x, t_x, big_t = _arrays(inputs)
    monetary = inputs["monetary"].to_numpy(dtype=float)
    repeat = (x > 0) & (monetary > 0)
    n_repeat = int(repeat.sum())
    if n_repeat < max(min_repeat_customers, 3):
        raise CLVError(
            f"Only {n_repeat:,} of {len(inputs):,} customers bought again on a later day (with "
            f"a positive spend): the lifetime-value models need at least "
            f"{max(min_repeat_customers, 3):,} repeat customers. Use a longer purchase "
            f"history, or relax the cleaning rules.")
    unique, counts, _ = _patterns(x, t_x, big_t)

    def fit_purchases(penalizer: float, tol: float) -> Any:
        model = BetaGeoFitter(penalizer_coef=penalizer).fit(
            unique[:, 0], unique[:, 1], unique[:, 2], weights=counts, tol=tol)
        # A fit can "converge" to a degenerate corner (a and b near 0) whose forecasts
        # overflow for some customers: that is no fit either.
        ahead = model.conditional_expected_number_of_purchases_up_to_time(
            DAYS_PER_MONTH, unique[:, 0], unique[:, 1], unique[:, 2])
        alive = model.conditional_probability_alive(unique[:, 0], unique[:, 1], unique[:, 2])
        if not (np.isfinite(ahead).all() and np.isfinite(alive).all()):
            raise FloatingPointError("its forecasts are not finite for some customers")
        return model

    def fit_spend(penalizer: float, tol: float) -> Any:
        model = GammaGammaFitter(penalizer_coef=penalizer).fit(x[repeat], monetary[repeat],
                                                               tol=tol)
        if not model.params_["q"] > 1:
            model = GammaGammaFitter(penalizer_coef=penalizer).fit(
                x[repeat], monetary[repeat], tol=tol, q_constraint=True)
        return model

    purchases, how_purchases = _first_converging(fit_purchases, penalizers, tolerances,
                                                 "BG/NBD")
    spend, how_spend = _first_converging(fit_spend, penalizers, tolerances, "Gamma-Gamma")
    if not spend.params_["q"] > 1:
        raise CLVError(f"The Gamma-Gamma model of spend per purchase gives an infinite mean "
                       f"(q = {spend.params_['q']:.3g} ≤ 1): spend per purchase varies too "
                       f"wildly between customers to forecast.")
    rows = []
    for model_name, parameter in PARAMETERS:
        fitted, (penalizer, tol) = ((purchases, how_purchases) if model_name == "BG/NBD"
                                    else (spend, how_spend))
        summary = fitted.summary
        rows.append({"model": model_name, "parameter": parameter,
                     "value": float(summary.loc[parameter, "coef"]),
                     "standard_error": float(summary.loc[parameter, "se(coef)"]),
                     "penalizer": penalizer, "tolerance": tol})
    return FittedCLV(params=pd.DataFrame(rows), customers=len(inputs),
                     repeat_customers=n_repeat, _purchases=purchases, _spend=spend)


def _first_converging(fit_one: Any, penalizers: tuple[float, ...],
                      tolerances: tuple[float, ...], name: str) -> tuple[Any, tuple[float, float]]:
    """The first model, over penalizers then tolerances, that converges to finite
    parameters, with its (penalizer, tolerance)."""
    from lifetimes.utils import ConvergenceError

    failures = []
    penalizers, tolerances = penalizers or (0.0,), tolerances or (1e-7,)
    for penalizer in penalizers:
        for tol in tolerances:
            try:
                with _quiet():
                    model = fit_one(float(penalizer), float(tol))
            except (ConvergenceError, np.linalg.LinAlgError, FloatingPointError,
                    ValueError) as err:
                failures.append(f"penalizer {penalizer:g}, tolerance {tol:g}: "
                                f"{str(err).strip() or type(err).__name__}")
                continue
            if np.isfinite(model.params_.to_numpy(dtype=float)).all():
                return model, (float(penalizer), float(tol))
            failures.append(f"penalizer {penalizer:g}, tolerance {tol:g}: parameters are not "
                            f"finite")
    tried = ", ".join(f"{p:g}" for p in penalizers)
    raise CLVError(f"The {name} model did not converge with any penalizer tried ({tried}): "
                   f"the purchase histories do not pin its parameters down. Use a longer "
                   f"purchase history, or add a larger penalizer.",
                   detail="; ".join(failures))

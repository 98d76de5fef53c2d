"""Lifetime value: the SQL inputs against lifetimes' own summary, the fit against lifetimes'
fitters and against simulated truth, the hold-out validation and its verdict, and the
errors that make a run go on without it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from custseg import clv, clv_validation
from custseg.clv_inputs import CLV_INPUTS_SQL, clv_inputs, observation_end
from custseg.config import CLVConfig
from custseg.engine import connect
from custseg.errors import CLVError
from tests.clv_sim import simulate

TRUTH = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "p": 3.0, "q": 4.0, "v": 20.0}


def _con_with_clean(rows: list[tuple[str, str, str, float]]):
    """A connection whose ``clean`` view holds (customer_id, invoice, invoice_date, amount)."""
    con = connect()
    frame = pd.DataFrame(rows, columns=["customer_id", "invoice", "invoice_date", "amount"])
    frame["invoice_date"] = pd.to_datetime(frame["invoice_date"])
    con.register("clean_frame", frame)
    con.execute("CREATE VIEW clean AS SELECT * FROM clean_frame")
    return con


#: Hand-worked: A buys on 1 Jan (two invoices), 5 Jan and 11 Jan; B once on 3 Jan; C on 2 Jan
#: and 20 Jan (after a calibration end of 10 Jan); D first on 15 Jan.
HAND_LOG = [
    ("A", "1", "2011-01-01 09:00", 10.0), ("A", "2", "2011-01-01 17:00", 5.0),
    ("A", "3", "2011-01-05 10:00", 20.0), ("A", "4", "2011-01-11 08:00", 40.0),
    ("B", "5", "2011-01-03 12:00", 7.0),
    ("C", "6", "2011-01-02 12:00", 3.0), ("C", "7", "2011-01-20 23:59", 9.0),
    ("D", "8", "2011-01-15 12:00", 1.0),
]


def test_inputs_by_hand_full_period():
    con = _con_with_clean(HAND_LOG)
    got = clv_inputs(con, date(2011, 1, 20), date(2011, 1, 20)).set_index("customer_id")
    # A: days 1, 5, 11 -> 2 repeats, recency 10, T 19, mean repeat spend (20 + 40) / 2.
    assert got.loc["A"].tolist() == [2, 10.0, 19.0, 30.0, 0]
    assert got.loc["B"].tolist() == [0, 0.0, 17.0, 0.0, 0]
    assert got.loc["C"].tolist() == [1, 18.0, 18.0, 9.0, 0]
    assert got.loc["D"].tolist() == [0, 0.0, 5.0, 0.0, 0]


def test_inputs_by_hand_with_holdout():
    con = _con_with_clean(HAND_LOG)
    got = clv_inputs(con, date(2011, 1, 10), date(2011, 1, 20)).set_index("customer_id")
    assert list(got.index) == ["A", "B", "C"]  # D is first seen after the calibration end
    assert got.loc["A"].tolist() == [1, 4.0, 9.0, 20.0, 1]
    assert got.loc["C"].tolist() == [0, 0.0, 8.0, 0.0, 1]


def test_inputs_sql_transpiles_to_spark():
    sqlglot = pytest.importorskip("sqlglot")
    spark = sqlglot.transpile(CLV_INPUTS_SQL, read="duckdb", write="spark",
                              unsupported_level=sqlglot.ErrorLevel.RAISE)
    assert spark and "DATEDIFF" in spark[0].upper()


def _lifetimes_summary(con, end: date) -> pd.DataFrame:
    from lifetimes.utils import summary_data_from_transaction_data

    lines = con.execute("SELECT customer_id, invoice_date, amount FROM clean").df()
    ref = summary_data_from_transaction_data(lines, "customer_id", "invoice_date", "amount",
                                             observation_period_end=pd.Timestamp(end),
                                             freq="D")
    ref.index = ref.index.astype(str)
    return ref.sort_index()


@pytest.mark.realdata
def test_inputs_equal_lifetimes_summary_on_real_data(seed_dataset):
    end = observation_end(seed_dataset.snapshot)
    ours = clv_inputs(seed_dataset.con, end, end).set_index("customer_id")
    ref = _lifetimes_summary(seed_dataset.con, end)
    assert len(ours) == 3882
    assert list(ours.index) == list(ref.index)
    for mine, theirs in (("frequency", "frequency"), ("recency", "recency"), ("T", "T")):
        np.testing.assert_array_equal(ours[mine].to_numpy(float), ref[theirs].to_numpy())
    np.testing.assert_allclose(ours["monetary"], ref["monetary_value"], rtol=1e-9)


@pytest.fixture(scope="module", params=["seed", "default"])
def rules_dataset(request, seed_dataset, real_csv):
    """The real data cleaned under the seed's rules, then under the default rules."""
    if request.param == "seed":
        return seed_dataset
    import custseg

    return custseg.load(real_csv)


@pytest.mark.realdata
def test_fit_matches_lifetimes_on_real_data(rules_dataset):
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    dataset = rules_dataset
    end = observation_end(dataset.snapshot)
    ref = _lifetimes_summary(dataset.con, end)
    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(ref["frequency"], ref["recency"], ref["T"])
    repeat = ref[(ref["frequency"] > 0) & (ref["monetary_value"] > 0)]
    ggf = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"],
                                                   repeat["monetary_value"])
    inputs = clv_inputs(dataset.con, end, end)
    fitted = clv.fit(inputs)
    params = fitted.params.set_index("parameter")
    expected = pd.concat([bgf.summary, ggf.summary])
    np.testing.assert_allclose(params["value"], expected.loc[params.index, "coef"], rtol=1e-4)
    # The well-determined standard errors (a and b sit near a boundary on this data).
    for name in ("r", "alpha", "p", "q", "v"):
        assert params.loc[name, "standard_error"] == pytest.approx(
            expected.loc[name, "se(coef)"], rel=1e-3)
    predicted = fitted.predict(inputs, horizon_days=90, months=12, discount_rate=0.01)
    life = ggf.customer_lifetime_value(bgf, ref["frequency"], ref["recency"], ref["T"],
                                       ref["monetary_value"], time=12, discount_rate=0.01,
                                       freq="D")
    np.testing.assert_allclose(predicted["clv"], life.to_numpy(), rtol=1e-4)
    alive = bgf.conditional_probability_alive(ref["frequency"], ref["recency"], ref["T"])
    np.testing.assert_allclose(predicted["p_alive"], alive, rtol=1e-4)
    top = inputs["customer_id"].to_numpy()[np.argsort(-predicted["clv"].to_numpy())[:5]]
    assert list(top) == list(life.sort_values(ascending=False).index[:5])
    if len(inputs) == 3882:  # the seed rules: the five lifetimes and pymc-marketing agree on
        assert list(top) == ["14096", "17511", "15311", "13089", "14088"]


def test_fit_recovers_simulated_truth():
    inputs = simulate(5000, **TRUTH, seed=1)
    params = clv.fit(inputs).params.set_index("parameter")
    z = (params["value"] - pd.Series(TRUTH)) / params["standard_error"]
    assert (z.abs() < 2).all(), z.to_dict()


def test_predictions_match_the_formulas_by_hand():
    """Expected purchases and P(alive) from Fader, Hardie & Lee (2005), eq. 10 and 11,
    written out with SciPy, for the parameters the fit found."""
    from scipy.special import hyp2f1

    inputs = simulate(2000, **TRUTH, seed=2)
    fitted = clv.fit(inputs)
    r, alpha, a, b = (fitted.value(n) for n in ("r", "alpha", "a", "b"))
    x, t_x, big_t = (inputs[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    t = 90.0
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
    first = (a + b + x - 1) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
                                         * hyp)
    alive = 1 / (1 + (x > 0) * a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x))
    predicted = fitted.predict(inputs, horizon_days=t, months=1, discount_rate=0.0)
    np.testing.assert_allclose(predicted["expected_purchases"], first * alive, rtol=1e-8)
    np.testing.assert_allclose(predicted["p_alive"], alive, rtol=1e-10)
    p, q, v = (fitted.value(n) for n in ("p", "q", "v"))
    m = inputs["monetary"].to_numpy()
    spend = (p * (v + x * m)) / (p * x + q - 1)
    np.testing.assert_allclose(predicted["expected_spend"], spend, rtol=1e-10)
    # One month undiscounted: spend × purchases in the next 30 days.
    month = fitted.expected_purchases(inputs, 30)
    np.testing.assert_allclose(predicted["clv"], spend * month, rtol=1e-10)


def test_too_few_repeat_customers():
    inputs = simulate(200, **TRUTH, seed=3)
    inputs.loc[inputs.index[10:], ["frequency", "recency", "monetary"]] = 0
    inputs.loc[inputs.index[:10], ["frequency", "recency", "monetary"]] = [2, 50.0, 10.0]
    with pytest.raises(CLVError, match="Only 10 of 200 customers bought again"):
        clv.fit(inputs, min_repeat_customers=20)


def test_no_convergence_says_so_without_printing(capsys):
    # Every customer bought again on the last day: the likelihood has no interior optimum.
    inputs = pd.DataFrame({"customer_id": [f"c{i}" for i in range(50)], "frequency": 1,
                           "recency": 10.0, "T": 10.0, "monetary": 5.0 + np.arange(50) % 3,
                           "holdout": 0})
    with pytest.raises(CLVError, match="BG/NBD model did not converge") as err:
        clv.fit(inputs, penalizers=(0.0,), tolerances=(1e-7, 1e-6))
    assert "penalizer 0, tolerance 1e-06" in err.value.detail
    assert capsys.readouterr().out == ""


def test_holdout_days_rule():
    cfg = CLVConfig()
    assert clv_validation.holdout_days(date(2010, 12, 1), date(2011, 12, 9), cfg) == 90
    # 120 days: a quarter (30) is shorter than 90.
    assert clv_validation.holdout_days(date(2011, 1, 1), date(2011, 4, 30), cfg) == 30
    with pytest.raises(CLVError, match="fewer than the 14 days"):
        clv_validation.holdout_days(date(2011, 1, 1), date(2011, 2, 15), cfg)


def test_compare_and_baseline_by_hand():
    inputs = pd.DataFrame({"frequency": [0, 2, 3], "T": [0.0, 10.0, 30.0]})
    np.testing.assert_allclose(clv_validation.naive_baseline(inputs, 15), [0.0, 3.0, 1.5])
    frame = pd.DataFrame({"actual": [0.0, 2.0, 4.0], "predicted": [1.0, 2.0, 2.0],
                          "baseline": [0.0, 3.0, 1.5]})
    got = clv_validation.compare(frame)
    assert got["mae"] == pytest.approx(1.0)
    assert got["baseline_mae"] == pytest.approx((0 + 1 + 2.5) / 3)
    assert got["predicted_total"] == 5.0 and got["actual_total"] == 6.0
    assert got["correlation"] == pytest.approx(np.corrcoef([1, 2, 2], [0, 2, 4])[0, 1])


def test_calibration_table_pools_the_last_bin():
    frame = pd.DataFrame({"frequency": [0, 0, 1, 7, 9], "actual": [0.0, 1, 2, 3, 5],
                          "predicted": [0.5, 0.5, 1, 4, 4], "baseline": [0.0, 0, 1, 2, 2]})
    table = clv_validation.calibration_table(frame, bins=3)
    assert table["purchases"].tolist() == [0, 1, 2]
    assert table["customers"].tolist() == [2, 1, 2]
    assert table["actual"].tolist() == [0.5, 2.0, 4.0]


def test_validate_on_simulated_log_and_verdict():
    """A log built from simulated histories: the hold-out counts what happened later."""
    sim = simulate(400, **TRUTH, days=200, seed=4)
    rng = np.random.default_rng(4)
    rows = []
    start = pd.Timestamp("2011-01-01")
    for row in sim.itertuples():
        first = start + pd.Timedelta(days=int(rng.integers(0, 30)))
        days = np.unique(np.r_[0, np.sort(rng.uniform(0, 200, size=row.frequency))].astype(int))
        rows += [(row.customer_id, f"{row.customer_id}-{d}", str(first + pd.Timedelta(days=d)),
                  10.0 + d % 5) for d in days]
    con = _con_with_clean(rows)
    end = con.execute("SELECT CAST(max(invoice_date) AS DATE) FROM clean").fetchall()[0][0]
    result = clv_validation.validate(con, end, CLVConfig())
    assert result.holdout_days == 57  # a quarter of the period, floored, below 90
    assert result.calibration_end == end - timedelta(days=57)
    counted = con.execute(
        "SELECT customer_id, count(DISTINCT CAST(invoice_date AS DATE)) FROM clean "
        "WHERE CAST(invoice_date AS DATE) > ? GROUP BY 1", [result.calibration_end]).df()
    actual = result.customers.set_index("customer_id")["actual"]
    expected = counted.set_index("customer_id").iloc[:, 0].reindex(actual.index).fillna(0)
    np.testing.assert_array_equal(actual.to_numpy(), expected.to_numpy())
    assert result.metrics["actual_total"] == expected.sum()

    flat = clv_validation.verdict(pd.Series([0.95] * 99 + [0.5]), result, CLVConfig(),
                                  pd.Series(["Loyal"] * 50 + ["At Risk"] * 50))
    assert not flat.discriminates
    assert "P(alive) is above 90% for 99.0% of customers (even in At Risk, 98.0%)" in \
        flat.warnings[0]
    # With recency, the segment away longest is named, with its typical recency.
    away = clv_validation.verdict(pd.Series([0.95] * 99 + [0.5]), None, CLVConfig(),
                                  pd.Series(["At Risk"] * 50 + ["Loyal"] * 50),
                                  pd.Series([200] * 50 + [10] * 50))
    assert ("above 90% for 99.0% of customers, even in At Risk (typically last seen 200 days "
            "ago): 100.0%.") in away.warnings[0]
    spread = clv_validation.verdict(pd.Series(np.linspace(0, 1, 100)), None, CLVConfig())
    assert spread.discriminates and spread.warnings == ()


def test_verdict_names_a_model_worse_than_the_baseline():
    customers = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [1, 2], "T": [5.0, 5.0],
                              "actual": [1.0, 2.0], "predicted": [3.0, 0.0],
                              "baseline": [1.0, 2.0]})
    validation = clv_validation.Validation(date(2011, 1, 1), date(2011, 2, 1), 31, customers,
                                           clv_validation.compare(customers),
                                           clv_validation.calibration_table(customers))
    got = clv_validation.verdict(pd.Series([0.2, 0.8]), validation, CLVConfig())
    assert not got.beats_baseline and not got.discriminates
    assert "no better than assuming each customer keeps their own past rate" in got.warnings[0]

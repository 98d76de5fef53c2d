"""Customer and transaction anomalies against independent computations and planted cases."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import percentileofscore

from custseg import anomalies
from custseg.config import AnomalyConfig
from custseg.errors import ConfigError, InputError

FEATURES = ["recency", "frequency", "monetary"]
CFG = AnomalyConfig()


def scaled(rfm: pd.DataFrame) -> np.ndarray:
    """log1p then standardise: the clustering features, computed here independently."""
    x = np.log1p(rfm[FEATURES].to_numpy(dtype=float))
    return (x - x.mean(axis=0)) / x.std(axis=0)


def random_rfm(n: int, seed: int = 0) -> pd.DataFrame:
    """A skewed RFM table like the real one, with ties in frequency."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "recency": rng.integers(0, 373, n),
        "frequency": rng.geometric(0.35, n),
        "monetary": np.round(rng.lognormal(6.0, 1.0, n), 2),
    })


def planted_rfm() -> pd.DataFrame:
    """300 ordinary customers plus a whale (huge spend, one order) and a bot (many tiny orders)."""
    rfm = random_rfm(300, seed=1)
    extra = pd.DataFrame({"customer_id": ["WHALE", "BOT"], "recency": [30, 2],
                          "frequency": [1, 400], "monetary": [250_000.0, 60.0]})
    return pd.concat([rfm, extra], ignore_index=True)


# ----------------------------------------------------------------------------- percentiles


def test_explain_percentiles_matches_scipy():
    rfm = pd.DataFrame({"customer_id": list("abcdefgh"),
                        "recency": [1, 1, 5, 9, 9, 9, 40, 300],
                        "frequency": [1, 1, 1, 2, 3, 3, 10, 1],
                        "monetary": [5.0, 20.0, 20.0, 33.3, 100.0, 7.5, 5000.0, 1.0]})
    pct = anomalies.explain_percentiles(rfm)
    assert list(pct["customer_id"]) == list(rfm["customer_id"])
    for col in FEATURES:
        expected = [percentileofscore(rfm[col], v, kind="mean") for v in rfm[col]]
        np.testing.assert_allclose(pct[col], expected)
        assert pct[col].between(0, 100).all()


#: The words a reason uses for each feature: (feature, above most customers?).
PHRASES = {
    "last bought longer ago than": ("recency", True),
    "bought more recently than": ("recency", False),
    "more orders than": ("frequency", True),
    "fewer orders than": ("frequency", False),
    "spent more than": ("monetary", True),
    "spent less than": ("monetary", False),
}


def parse_reason(reason: str) -> list[tuple[str, bool, float, str]]:
    """[(feature, above?, shown share of customers, value text)] in the order named."""
    alternatives = "|".join(re.escape(p) for p in PHRASES)
    found = re.findall(rf"({alternatives}) ([\d.]+)%(?: of customers)? \(([^)]*)\)", reason)
    return [(*PHRASES[p], float(share), v) for p, share, v in found]


def test_reasons_agree_with_independent_shares_of_customers():
    rfm = planted_rfm()
    result = anomalies.score_customers(rfm, CFG, scaled(rfm), seed=3)
    flagged = result.scores[result.scores["is_anomaly"]]
    assert len(flagged) == result.n_flagged > 0
    by_id = rfm.set_index("customer_id")
    for cid, reason in zip(flagged["customer_id"], flagged["anomaly_reason"], strict=True):
        named = parse_reason(reason)
        assert named, reason
        # Every feature named is one clause of the reason; nothing else is in it.
        rest = reason
        for clause in re.findall(r"[a-z ]+ [\d.]+%(?: of customers)? \([^)]*\)", reason):
            rest = rest.replace(clause, "")
        assert rest.replace(",", "").replace(" and", "").strip() == "", reason
        mid = {c: percentileofscore(rfm[c], by_id.loc[cid, c], kind="mean") for c in FEATURES}
        for feature, above, shown, value in named:
            raw = by_id.loc[cid, feature]
            # The share is true as written: strictly below (above) the customer's value.
            true = 100 * float((rfm[feature] < raw).mean() if above
                               else (rfm[feature] > raw).mean())
            assert above == (mid[feature] >= 50), (reason, feature)
            # Whole percentages, tenths from 99 up, never rounded up past the truth there.
            if true >= 99:
                assert true - 0.1 < shown <= true, (reason, feature)
            else:
                assert abs(shown - true) <= 0.5, (reason, feature)
            digits = float(re.sub(r"[^\d.]", "", value))
            assert digits == pytest.approx(round(raw), abs=0.5), (reason, feature)
        # Most extreme first; every feature outside the 10th-90th band is named.
        distance = [abs(mid[f] - 50) for f, _, _, _ in named]
        assert distance == sorted(distance, reverse=True)
        extreme = {f for f in FEATURES if abs(mid[f] - 50) >= anomalies.EXTREME_DISTANCE}
        assert extreme <= {f for f, _, _, _ in named}
        assert "percentile" not in reason and "_" not in reason
    assert (result.scores.loc[~result.scores["is_anomaly"], "anomaly_reason"] == "").all()


def test_planted_customers_are_flagged_with_the_right_words():
    rfm = planted_rfm()
    result = anomalies.score_customers(rfm, CFG, scaled(rfm), seed=0, currency="£")
    scores = result.scores.set_index("customer_id")
    assert scores.loc["WHALE", "is_anomaly"] and scores.loc["BOT", "is_anomaly"]
    # 301 of the 302 customers spent less than the whale: 99.67%, shown rounded down.
    assert scores.loc["WHALE", "anomaly_reason"].startswith(
        "spent more than 99.6% of customers (£250,000)")
    assert scores.loc["BOT", "anomaly_reason"].startswith(
        "more orders than 99.6% of customers (400 orders)")
    # Higher score = more unusual: the planted customers outrank the median customer.
    assert scores.loc["WHALE", "anomaly_score"] > scores["anomaly_score"].median()


def test_a_low_value_reads_as_fewer_than_the_others():
    rfm = pd.DataFrame({"customer_id": [f"c{i}" for i in range(10)],
                        "recency": [1, 1, 2, 3, 5, 8, 13, 21, 34, 400],
                        "frequency": [1, 5, 5, 5, 5, 5, 5, 5, 5, 5],
                        "monetary": [100.0] * 9 + [1.0]})
    reasons = anomalies._reasons(rfm.iloc[[0, 9]], anomalies.explain_percentiles(rfm).iloc[
        [0, 9]].reset_index(drop=True), "£", {c: tuple(p[[0, 9]] for p in anomalies.
                                                        _strict_shares(rfm[c]))
                                            for c in FEATURES})
    # c0: 1 order where 9 of 10 have 5 (90% above); bought 1 day ago, like one other: 80% of
    # customers bought longer ago.
    assert reasons.iloc[0] == ("fewer orders than 90% of customers (1 order) and bought more "
                               "recently than 80% (1 day ago)")
    # c9: 400 days, longer ago than 9 of 10; £1 against £100 for 9 of 10.
    assert reasons.iloc[1] == ("last bought longer ago than 90% of customers (400 days ago) "
                               "and spent less than 90% (£1)")


# ----------------------------------------------------------------------------- customer scoring


@pytest.mark.parametrize("detector", ["isolation_forest", "lof"])
def test_flagged_share_is_contamination(detector):
    rfm = random_rfm(1500)
    cfg = dataclasses.replace(CFG, detector=detector, contamination=0.03)
    result = anomalies.score_customers(rfm, cfg, scaled(rfm), seed=1)
    assert result.n_flagged == round(0.03 * 1500) == result.scores["is_anomaly"].sum()
    assert result.scores["second_is_anomaly"].sum() == round(0.03 * 1500)
    assert list(result.scores.columns) == list(anomalies.SCORE_COLUMNS)
    assert list(result.scores["customer_id"]) == list(rfm["customer_id"])
    assert np.isfinite(result.scores[["anomaly_score", "second_score"]].to_numpy()).all()
    # Flags are the top scores.
    threshold = result.scores.loc[result.scores["is_anomaly"], "anomaly_score"].min()
    assert (result.scores.loc[~result.scores["is_anomaly"], "anomaly_score"] <= threshold).all()


def test_deterministic_for_a_seed_and_detectors_swap():
    rfm = random_rfm(800, seed=5)
    x = scaled(rfm)
    first = anomalies.score_customers(rfm, CFG, x, seed=7)
    again = anomalies.score_customers(rfm, CFG, x, seed=7)
    pd.testing.assert_frame_equal(first.scores, again.scores)
    other_seed = anomalies.score_customers(rfm, CFG, x, seed=8)
    assert not np.allclose(first.scores["anomaly_score"], other_seed.scores["anomaly_score"])
    lof = anomalies.score_customers(rfm, dataclasses.replace(CFG, detector="lof"), x, seed=7)
    assert (first.detector, first.second_detector) == ("isolation_forest", "lof")
    assert (lof.detector, lof.second_detector) == ("lof", "isolation_forest")
    np.testing.assert_allclose(lof.scores["anomaly_score"], first.scores["second_score"])
    np.testing.assert_array_equal(lof.scores["is_anomaly"], first.scores["second_is_anomaly"])


def test_agreement_is_jaccard_of_flagged_sets():
    rfm = planted_rfm()
    result = anomalies.score_customers(rfm, CFG, scaled(rfm), seed=2)
    a = set(result.scores.loc[result.scores["is_anomaly"], "customer_id"])
    b = set(result.scores.loc[result.scores["second_is_anomaly"], "customer_id"])
    assert result.agreement == pytest.approx(len(a & b) / len(a | b))


def test_the_pipeline_scores_customers_on_the_clustering_features():
    """``pipeline.customer_anomalies`` scores the standardised features the segments are
    found in, as this module's tests do: LOF's distances depend on the scaling (Isolation
    Forest's do not)."""
    from custseg import Config, pipeline

    rfm = planted_rfm()
    got = pipeline.customer_anomalies(rfm, Config(seed=2)).scores
    want = anomalies.score_customers(rfm, CFG, scaled(rfm), seed=2).scores
    for column in ("anomaly_score", "second_score"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-9)
    assert got["second_is_anomaly"].tolist() == want["second_is_anomaly"].tolist()
    # The log values alone (what the pipeline passed before) give other LOF scores.
    logged = np.log1p(rfm[FEATURES].to_numpy(dtype=float))
    unscaled = anomalies.score_customers(rfm, CFG, logged, seed=2).scores
    assert not np.allclose(unscaled["second_score"], want["second_score"], rtol=1e-3)


def test_lof_on_a_sample_still_finds_planted_outliers():
    rfm = planted_rfm()
    x = scaled(rfm)
    cfg = dataclasses.replace(CFG, detector="lof", lof_max_fit=150)
    result = anomalies.score_customers(rfm, cfg, x, seed=4)
    scores = result.scores.set_index("customer_id")
    assert np.isfinite(scores["anomaly_score"]).all()
    assert scores.loc["WHALE", "is_anomaly"] and scores.loc["BOT", "is_anomaly"]
    assert result.n_flagged == round(0.02 * len(rfm))


@pytest.mark.parametrize("change, error", [
    ({"detector": "dbscan"}, ConfigError),
    ({"contamination": 0.0}, ConfigError),
    ({"contamination": 0.7}, ConfigError),
])
def test_bad_settings_raise(change, error):
    rfm = random_rfm(50)
    with pytest.raises(error):
        anomalies.score_customers(rfm, dataclasses.replace(CFG, **change), scaled(rfm), 0)


def test_features_must_match_the_table():
    rfm = random_rfm(50)
    with pytest.raises(InputError, match="RFM row order"):
        anomalies.score_customers(rfm, CFG, scaled(rfm)[:-1], 0)


def test_real_customers_flagged_share(seed_rfm):
    # Speed is measured by benchmarks/bench_model.py, not asserted here.
    result = anomalies.score_customers(seed_rfm, CFG, scaled(seed_rfm), 42)
    assert result.n_flagged == round(0.02 * len(seed_rfm))
    # The biggest spender of the real data is among the flagged customers.
    top = seed_rfm.loc[seed_rfm["monetary"].idxmax(), "customer_id"]
    assert result.scores.set_index("customer_id").loc[top, "is_anomaly"]


# ----------------------------------------------------------------------------- transactions

LINE_COLUMNS = ["row_id", "invoice", "stock_code", "description", "quantity", "invoice_date",
                "unit_price", "amount", "customer_id", "country", "drop_rule"]


def hand_lines() -> tuple[pd.DataFrame, dict[int, str]]:
    """Ordinary invoices of 20 products plus planted lines; returns (lines, {row_id: kind})."""
    rng = np.random.default_rng(11)
    prices = np.round(rng.uniform(0.5, 5.0, 20), 2)
    rows: list[tuple] = []
    start = datetime(2011, 1, 1)

    def add(invoice, product, qty, price, drop=None, customer="c1"):
        code = f"P{product:02d}" if product is not None else None
        rows.append((invoice, code, f"ITEM {product}", float(qty), start, float(price),
                     float(qty) * float(price), customer, "United Kingdom", drop))
        return len(rows) - 1

    for inv in range(400):
        for _ in range(rng.integers(1, 6)):
            p = int(rng.integers(0, 20))
            add(str(10_000 + inv), p, rng.choice([1, 2, 3, 4, 6, 8, 12]),
                round(prices[p] * rng.uniform(0.97, 1.03), 2), customer=f"c{inv % 50}")
    for inv in range(60):  # ordinary cancellations
        p = int(rng.integers(0, 20))
        add(f"C{20_000 + inv}", p, -rng.choice([1, 2, 3, 6]), prices[p], "cancellation")
    planted = {
        add("30001", 1, 2, prices[1] * 20): "price_outlier",
        add("30002", 2, 3, prices[2] / 20): "price_outlier",
        # Dropped by the max_quantity rule, still judged: the rule removes what we look for.
        add("30003", 3, 600, prices[3], "max_quantity"): "quantity_outlier",
        add("C30004", 4, -900, prices[4], "cancellation"): "large_cancellation",
    }
    big = [add("30005", p % 20, 12, prices[p % 20]) for p in range(150)]
    planted[big[0]] = "invoice_total_outlier"
    # Out of scope: never judged whatever their values.
    add("30006", 5, 1, prices[5] * 50, "missing_customer")
    add("30007", 6, 5000, prices[6], "country")
    add("C30008", 7, -1, prices[7] * 40, "cancellation")  # a cancellation: not a price outlier
    # A product with too few lines is not judged on price.
    for _ in range(3):
        add("30009", 99, 1, 1.0)
    add("30010", 99, 1, 100.0)
    frame = pd.DataFrame(rows, columns=LINE_COLUMNS[1:])
    frame.insert(0, "row_id", np.arange(len(frame), dtype="int64"))
    frame["invoice_date"] = frame["invoice_date"] + pd.to_timedelta(frame["row_id"], unit="min")
    return frame, planted


def lines_con(frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("frame", frame)
    con.execute("CREATE TABLE lines AS SELECT * FROM frame")
    con.unregister("frame")
    return con


def test_exactly_the_planted_lines_are_flagged():
    frame, planted = hand_lines()
    flagged = anomalies.flag_transactions(lines_con(frame), CFG)
    assert list(flagged.columns) == list(anomalies.TRANSACTION_COLUMNS)
    got = dict(zip(flagged["row_id"], flagged["kind"], strict=True))
    assert got == planted
    invoice = flagged[flagged["kind"] == "invoice_total_outlier"].iloc[0]
    assert invoice["invoice"] == "30005" and pd.isna(invoice["stock_code"])
    assert invoice["amount"] == pytest.approx(frame.loc[frame["invoice"] == "30005",
                                                        "amount"].sum())
    assert "over 150 lines" in invoice["reason"]


def test_price_scores_and_reasons_match_a_pandas_computation():
    frame, _ = hand_lines()
    cfg = dataclasses.replace(CFG, price_z=1.0)  # many rows, to compare scores broadly
    flagged = anomalies.flag_transactions(lines_con(frame), cfg, currency="£")
    price = flagged[flagged["kind"] == "price_outlier"].set_index("row_id")
    judged = frame[frame["drop_rule"].isna() | frame["drop_rule"].isin(["max_quantity"])]
    judged = judged.assign(x=np.log(judged["unit_price"]))
    counts = judged.groupby("stock_code")["x"].transform("size")
    judged = judged[counts >= cfg.min_product_lines]
    center = judged.groupby("stock_code")["x"].transform("median")
    mad = (judged["x"] - center).abs().groupby(judged["stock_code"]).transform("median")
    z = (judged["x"] - center).abs() / np.maximum(mad, cfg.mad_floor)
    expected = z[z >= 1.0]
    assert set(price.index) == set(judged.loc[expected.index, "row_id"])
    rows = judged.loc[expected.index].set_index("row_id")
    np.testing.assert_allclose(price.loc[rows.index, "score"], expected.to_numpy())
    usual = np.exp(center[expected.index]).to_numpy()
    for (row_id, line), value in zip(rows.iterrows(), usual, strict=True):
        assert price.loc[row_id, "reason"] == (f"unit price £{line['unit_price']:,.2f} vs usual "
                                               f"£{value:,.2f} for {line['stock_code']}")


def test_output_is_ordered_by_kind_then_score():
    frame, _ = hand_lines()
    cfg = AnomalyConfig(price_z=1.0, quantity_z=1.0, invoice_z=1.0, cancellation_z=1.0)
    flagged = anomalies.flag_transactions(lines_con(frame), cfg)
    assert set(flagged["kind"]) == set(anomalies.TRANSACTION_KINDS)
    rank = flagged["kind"].map(anomalies.TRANSACTION_KINDS.index)
    assert rank.is_monotonic_increasing
    for _, group in flagged.groupby("kind"):
        # Scores equal to 9 decimals (equal but for the last bits of a logarithm) by row id.
        score = group["score"].round(9)
        assert score.is_monotonic_decreasing
        for _, tied in group.groupby(score):
            assert tied["row_id"].is_monotonic_increasing


@pytest.mark.parametrize("absent, kinds", [
    (["stock_code"], {"invoice_total_outlier", "large_cancellation"}),
    (["unit_price"], {"quantity_outlier", "invoice_total_outlier", "large_cancellation"}),
    (["quantity"], {"price_outlier", "invoice_total_outlier", "large_cancellation"}),
    (["stock_code", "quantity", "unit_price"], {"invoice_total_outlier", "large_cancellation"}),
])
def test_absent_columns_switch_off_their_kinds(absent, kinds):
    frame, planted = hand_lines()
    frame[absent] = None
    flagged = anomalies.flag_transactions(lines_con(frame.astype({c: "object" for c in absent})),
                                          CFG)
    got = dict(zip(flagged["row_id"], flagged["kind"], strict=True))
    assert got == {r: k for r, k in planted.items() if k in kinds}


def test_missing_table_or_column_and_bad_thresholds_raise():
    with pytest.raises(InputError, match="no table 'lines'"):
        anomalies.flag_transactions(duckdb.connect(), CFG)
    frame, _ = hand_lines()
    with pytest.raises(InputError, match="drop_rule"):
        anomalies.flag_transactions(lines_con(frame.drop(columns="drop_rule")), CFG)
    with pytest.raises(ConfigError, match="price_z"):
        anomalies.flag_transactions(lines_con(frame), AnomalyConfig(price_z=0))


def test_planted_synthetic_transactions_are_recovered():
    from custseg import pipeline, synth

    transactions, _, truth = synth.generate_frame(customers=1500, seed=5)
    dataset = pipeline.load(transactions)
    flagged = anomalies.flag_transactions(dataset.con, CFG)
    key = {(i, s) for i, s in zip(flagged["invoice"].astype(str),
                                  flagged["stock_code"].fillna("").astype(str), strict=True)}
    planted = {(i, s) for i, s in zip(truth["invoice"].astype(str),
                                      truth["stock_code"].fillna("").astype(str), strict=True)}
    assert len(key & planted) / len(key) >= 0.9
    assert len(key & planted) / len(planted) >= 0.9


def test_real_data_famous_lines(real_lines_con):
    flagged = anomalies.flag_transactions(real_lines_con, CFG)
    counts = flagged["kind"].value_counts()
    assert set(counts.index) == set(anomalies.TRANSACTION_KINDS)
    # Flags are a small share of the 541,909 lines.
    assert counts.sum() < 0.01 * 541_909

    def find(kind: str, invoice: str) -> pd.DataFrame:
        return flagged[(flagged["kind"] == kind) & (flagged["invoice"] == invoice)]

    paper_craft = find("quantity_outlier", "581483")
    assert list(paper_craft["quantity"]) == [80995]
    assert "quantity 80,995" in paper_craft["reason"].iloc[0]
    assert list(find("quantity_outlier", "541431")["stock_code"]) == ["23166"]
    cancellations = flagged[flagged["kind"] == "large_cancellation"]
    assert list(cancellations["invoice"].head(2)) == ["C581484", "C541433"]
    assert not find("invoice_total_outlier", "581483").empty
    # The £38,970 Manual cancellation of customer 15098 is in scope and found.
    assert not find("large_cancellation", "C556445").empty


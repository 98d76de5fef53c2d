"""The RFM table, scores and the RFM grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import custseg
from custseg.rfm import GRID_SEGMENTS, grid_segment
from tests.logs import rfm_reference

RFM_COLS = ["customer_id", "recency", "frequency", "monetary"]


def seed_reference(path) -> pd.DataFrame:
    """The seed's cleaning and RFM written independently with pandas (read with pandas too)."""
    raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str},
                      parse_dates=["InvoiceDate"])
    raw = raw.dropna()
    raw = raw[~raw["InvoiceNo"].str.startswith("C")]
    raw = raw[raw["Country"] == "United Kingdom"]
    raw["TotalCost"] = raw["Quantity"] * raw["UnitPrice"]
    raw = raw[(raw["TotalCost"] <= 500) & (raw["Quantity"] <= 100)]
    lines = pd.DataFrame({"invoice": raw["InvoiceNo"], "invoice_date": raw["InvoiceDate"],
                          "amount": raw["TotalCost"],
                          "customer_id": raw["CustomerID"].astype(int).astype(str)})
    return rfm_reference(lines)


@pytest.mark.realdata
def test_workbook_and_csv_give_identical_rfm_equal_to_reference(real_csv, real_xlsx, seed_rfm):
    seed = custseg.Config(cleaning=custseg.CleaningConfig.preset("seed"))
    from_xlsx = custseg.compute_rfm(custseg.load(real_xlsx, seed))
    pd.testing.assert_frame_equal(from_xlsx.drop(columns=["avg_order_value"]),
                                  seed_rfm.drop(columns=["avg_order_value"]))
    ref = seed_reference(real_csv)
    assert len(ref) == 3_882
    pd.testing.assert_frame_equal(seed_rfm[RFM_COLS], ref[RFM_COLS], check_dtype=False,
                                  rtol=1e-9)


def test_scores_are_quintiles_with_recency_reversed():
    rng = np.random.default_rng(1)
    n = 1003
    lines = pd.DataFrame({
        "InvoiceNo": np.arange(n).astype(str),
        "StockCode": "10001",
        "Description": "THING",
        "Quantity": 1,
        "InvoiceDate": pd.Timestamp("2011-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        "UnitPrice": rng.integers(1, 400, n).astype(float),
        "CustomerID": rng.integers(0, 400, n).astype(str),
        "Country": "United Kingdom",
    })
    table = custseg.compute_rfm(custseg.load(lines))
    for score in ("r_score", "f_score", "m_score"):
        sizes = table[score].value_counts().sort_index()
        assert list(sizes.index) == [1, 2, 3, 4, 5]
        assert sizes.max() - sizes.min() <= 1
    # Higher score = better: more recent, more orders, more spend (monotone in the value).
    for score, value, sign in (("r_score", "recency", -1), ("f_score", "frequency", 1),
                               ("m_score", "monetary", 1)):
        order = table.sort_values([score])
        by_score = order.groupby(score)[value]
        assert (sign * by_score.max().to_numpy()[:-1] <= sign * by_score.min().to_numpy()[1:]
                ).all()
    # Ties break by customer id, so the same input gives the same scores.
    again = custseg.compute_rfm(custseg.load(lines))
    pd.testing.assert_frame_equal(table, again)


def test_rfm_grid_covers_every_score_once_with_eleven_names():
    r, f, m = np.meshgrid(np.arange(1, 6), np.arange(1, 6), np.arange(1, 6), indexing="ij")
    names = grid_segment(r.ravel(), f.ravel(), m.ravel())
    assert set(names) == set(GRID_SEGMENTS) and len(GRID_SEGMENTS) == 11
    named = dict(zip(zip(r.ravel(), f.ravel(), m.ravel(), strict=True), names, strict=True))
    assert named[(5, 5, 5)] == "Champions"
    assert named[(1, 1, 1)] == "Lost"
    assert named[(1, 5, 5)] == "Can't Lose"
    assert named[(5, 1, 1)] == "New"
    assert named[(3, 3, 3)] == "Need Attention"


@pytest.mark.realdata
def test_real_rfm_has_every_customer_in_exactly_one_grid_segment(seed_rfm):
    assert seed_rfm["customer_id"].is_unique
    assert seed_rfm["rfm_segment"].isin(GRID_SEGMENTS).all()
    assert (seed_rfm["tenure"] >= seed_rfm["recency"]).all()
    assert np.allclose(seed_rfm["avg_order_value"] * seed_rfm["frequency"],
                       seed_rfm["monetary"])

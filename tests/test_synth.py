"""Tests of the synthetic generator against independently computed expectations.

RFM, K-Means, Isolation Forest and the robust transaction checks are re-implemented here in
plain pandas/scikit-learn on purpose: the generator must plant what the brief promises,
whatever the other modules do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import fastexcel
import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from custseg import synth
from custseg.errors import ConfigError

UK = "United Kingdom"
RFM = ["recency", "frequency", "monetary"]


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return synth.generate_frame(customers=2000, seed=42)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, synth.Generated]:
    out = tmp_path_factory.mktemp("synth")
    return {fmt: synth.generate(out / fmt, customers=120, seed=5, fmt=fmt)
            for fmt in ("parquet", "csv", "xlsx")}


def _clean(tx: pd.DataFrame) -> pd.DataFrame:
    """The default cleaning rules, written out independently of custseg.clean."""
    c = tx.dropna(subset=["CustomerID"])
    c = c[~c["InvoiceNo"].str.startswith("C") & (c["Country"] == UK)
          & ~c["StockCode"].isin(["POST", "M"])]
    c = c.drop_duplicates()
    c = c.assign(amount=c["Quantity"] * c["UnitPrice"])
    return c[(c["Quantity"] <= 100) & (c["amount"] <= 500)]


def _rfm(tx: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    c = _clean(tx)
    snapshot = c["InvoiceDate"].max() + pd.Timedelta(days=1)
    rfm = c.groupby("CustomerID").agg(last=("InvoiceDate", "max"),
                                      frequency=("InvoiceNo", "nunique"),
                                      monetary=("amount", "sum"))
    rfm["recency"] = (snapshot - rfm["last"]).dt.days
    return rfm.join(truth.set_index("customer_id"), how="left")


def _scaled(rfm: pd.DataFrame) -> np.ndarray:
    return StandardScaler().fit_transform(np.log1p(rfm[RFM]))


def _robust_z(x: pd.Series, by: pd.Series | None = None) -> pd.Series:
    """0.6745 (x - median) / MAD, overall or per group."""
    if by is None:
        med = x.median()
        return 0.6745 * (x - med) / (x - med).abs().median()
    med = x.groupby(by).transform("median")
    return 0.6745 * (x - med) / (x - med).abs().groupby(by).transform("median")


def _log_score(x: pd.Series) -> pd.Series:
    """(ln x - median) / MAD of ln x: how many MADs above the usual order of magnitude."""
    lx = np.log(x)
    return (lx - lx.median()) / (lx - lx.median()).abs().median()


def _truth_keys(truth_tx: pd.DataFrame, kind: str) -> set[tuple[str, str]]:
    t = truth_tx[truth_tx["kind"] == kind]
    return set(zip(t["invoice"], t["stock_code"].fillna(""), strict=True))


def _frame_hash(df: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=True).to_numpy()).hexdigest()


# --- determinism -------------------------------------------------------------------------

def test_same_seed_same_frames_other_seed_differs() -> None:
    a = synth.generate_frame(customers=200, seed=3)
    b = synth.generate_frame(customers=200, seed=3)
    c = synth.generate_frame(customers=200, seed=4)
    assert [_frame_hash(x) for x in a] == [_frame_hash(x) for x in b]
    assert _frame_hash(a[0]) != _frame_hash(c[0])


def test_same_seed_same_parquet_bytes(tmp_path: Path) -> None:
    one = synth.generate(tmp_path / "one", customers=150, seed=9)
    two = synth.generate(tmp_path / "two", customers=150, seed=9)
    for attr in ("transactions", "truth_customers", "truth_transactions"):
        assert getattr(one, attr).read_bytes() == getattr(two, attr).read_bytes()
    assert one.lines == two.lines == len(pd.read_parquet(one.transactions))


def test_generate_writes_what_generate_frame_returns(small: dict[str, synth.Generated]) -> None:
    tx, truth_c, truth_t = synth.generate_frame(customers=120, seed=5)
    written = pd.read_parquet(small["parquet"].transactions)
    pd.testing.assert_frame_equal(written, tx, check_dtype=False)
    got_c = pd.read_csv(small["parquet"].truth_customers)
    pd.testing.assert_frame_equal(got_c, truth_c, check_dtype=False)
    got_t = pd.read_csv(small["parquet"].truth_transactions, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(got_t, truth_t.astype(str), check_dtype=False)


# --- shape --------------------------------------------------------------------------------

def test_headers_dtypes_and_formats(frame) -> None:
    tx, _, _ = frame
    assert tuple(tx.columns) == synth.COLUMNS
    assert pd.api.types.is_string_dtype(tx["InvoiceNo"])
    assert pd.api.types.is_string_dtype(tx["StockCode"])
    assert pd.api.types.is_integer_dtype(tx["Quantity"])
    assert pd.api.types.is_datetime64_any_dtype(tx["InvoiceDate"])
    assert pd.api.types.is_float_dtype(tx["UnitPrice"])
    assert pd.api.types.is_float_dtype(tx["CustomerID"])
    assert tx["InvoiceNo"].str.fullmatch(r"C?\d{6}").all()
    assert tx["StockCode"].str.fullmatch(r"\d{5}[A-Z]?|POST|M").all()
    assert tx["StockCode"].str.fullmatch(r"\d{5}[A-Z]").any()
    dates = tx["InvoiceDate"]
    assert dates.min() >= pd.Timestamp("2010-12-01") and dates.max() < pd.Timestamp("2011-12-10")
    assert dates.dt.hour.between(8, 20).all()
    assert dates.max() - dates.min() > pd.Timedelta(days=360)


def test_realistic_quirks(frame) -> None:
    tx, truth_c, _ = frame
    invoices = tx.groupby("InvoiceNo")
    assert invoices.size().median() >= 5
    assert 0.01 <= invoices["InvoiceNo"].first().str.startswith("C").mean() <= 0.06
    assert (tx.loc[tx["InvoiceNo"].str.startswith("C"), "Quantity"] < 0).all()
    assert 0.15 <= tx["CustomerID"].isna().mean() <= 0.25
    assert 0.005 <= tx.duplicated().mean() <= 0.02
    assert {"POST", "M"} <= set(tx["StockCode"])
    country = tx.dropna(subset=["CustomerID"]).groupby("CustomerID")["Country"].first()
    assert 0.85 <= (country == UK).mean() <= 0.95
    assert country.nunique() >= 5
    assert set(country.index.astype(int)) == set(truth_c["customer_id"])
    assert 100 <= len(tx) / 2000 <= 160  # about 120 lines per customer, like the real data


def test_prices_stable_per_product(frame) -> None:
    tx, _, truth_t = frame
    planted = _truth_keys(truth_t, "price_outlier")
    keys = pd.Series(list(zip(tx["InvoiceNo"], tx["StockCode"], strict=True)), index=tx.index)
    products = tx[~tx["StockCode"].isin(["POST", "M"]) & ~keys.isin(planted)]
    spread = products.groupby("StockCode")["UnitPrice"].agg(["min", "max", "median"])
    assert (spread["max"] <= spread["median"] * 1.15 + 0.011).all()
    assert (spread["min"] >= spread["median"] * 0.85 - 0.011).all()
    assert products.groupby("StockCode")["Description"].nunique().eq(1).all()


# --- truth --------------------------------------------------------------------------------

def test_truth_matches_data(frame) -> None:
    tx, truth_c, truth_t = frame
    assert list(truth_c.columns) == ["customer_id", "archetype", "is_anomaly"]
    assert list(truth_t.columns) == ["invoice", "stock_code", "kind"]
    assert set(truth_t["kind"]) == set(synth.TRANSACTION_KINDS)
    assert set(truth_c["archetype"]) == {*synth.ARCHETYPES, "anomaly"}
    assert truth_c["is_anomaly"].sum() == round(0.02 * 2000)
    assert (truth_c["is_anomaly"] == (truth_c["archetype"] == "anomaly")).all()
    assert not truth_t.duplicated(["invoice", "stock_code"]).any()
    lines = truth_t[truth_t["stock_code"] != ""]
    counts = tx.groupby(["InvoiceNo", "StockCode"]).size()
    assert (counts.reindex(list(zip(lines["invoice"], lines["stock_code"], strict=True)))
            == 1).all()
    totals = truth_t[truth_t["stock_code"] == ""]
    assert (totals["kind"] == "invoice_total_outlier").all()
    assert totals["invoice"].isin(tx["InvoiceNo"]).all()
    on = tx[tx["InvoiceNo"].isin(truth_t["invoice"])]
    assert on["CustomerID"].notna().all() and (on["Country"] == UK).all()
    n_lines = len(tx)
    for kind in synth.TRANSACTION_KINDS:  # roughly one per 2,000 lines of each kind
        assert n_lines / 8000 <= (truth_t["kind"] == kind).sum() <= n_lines / 1000


def test_planted_transactions_have_their_properties(frame) -> None:
    tx, _, truth_t = frame
    keys = pd.Series(list(zip(tx["InvoiceNo"], tx["StockCode"], strict=True)), index=tx.index)
    cancel = tx["InvoiceNo"].str.startswith("C")
    sales = tx[~cancel & ~tx["StockCode"].isin(["POST", "M"])]
    usual_price = sales.groupby("StockCode")["UnitPrice"].median()
    usual_qty = sales.groupby("StockCode")["Quantity"].median()

    price = tx[keys.isin(_truth_keys(truth_t, "price_outlier"))]
    ratio = price["UnitPrice"] / price["StockCode"].map(usual_price)
    assert ((ratio >= 10) | (ratio <= 0.1)).all()
    qty = tx[keys.isin(_truth_keys(truth_t, "quantity_outlier"))]
    assert (qty["Quantity"] >= 20 * qty["StockCode"].map(usual_qty)).all()
    big_cancel = tx[keys.isin(_truth_keys(truth_t, "large_cancellation"))]
    assert big_cancel["InvoiceNo"].str.startswith("C").all()
    assert (-big_cancel["Quantity"] * big_cancel["UnitPrice"]).min() > 20 * (
        -tx.loc[cancel, "Quantity"] * tx.loc[cancel, "UnitPrice"]).median()
    inv_total = sales.assign(a=sales["Quantity"] * sales["UnitPrice"]).groupby("InvoiceNo")["a"]
    totals = inv_total.sum()
    planted = truth_t.loc[truth_t["kind"] == "invoice_total_outlier", "invoice"]
    assert totals[planted].min() >= 20 * totals.median()


def test_normal_lines_respect_cleaning_limits(frame) -> None:
    tx, truth_c, truth_t = frame
    keys = pd.Series(list(zip(tx["InvoiceNo"], tx["StockCode"], strict=True)), index=tx.index)
    planted_lines = truth_t[truth_t["stock_code"] != ""]
    planted = keys.isin(set(zip(planted_lines["invoice"], planted_lines["stock_code"],
                                strict=True)))
    anomalous = tx["CustomerID"].isin(truth_c.loc[truth_c["is_anomaly"], "customer_id"])
    big_invoice = tx["InvoiceNo"].isin(truth_t.loc[truth_t["stock_code"] == "", "invoice"])
    # Bulk invoices of ordinary customers are the only designed excess (dropped by cleaning).
    normal = (~tx["InvoiceNo"].str.startswith("C") & ~tx["StockCode"].isin(["POST", "M"])
              & ~planted & ~(big_invoice & ~anomalous))
    lines = tx[normal]
    assert (lines["Quantity"] > 0).all() and (lines["UnitPrice"] > 0).all()
    assert lines["Quantity"].max() <= 100
    assert (lines["Quantity"] * lines["UnitPrice"]).max() <= 500
    assert (tx.loc[big_invoice & ~anomalous, "Quantity"] > 100).all()


# --- what the pipeline must find ------------------------------------------------------------

def test_kmeans_recovers_archetypes(frame) -> None:
    tx, truth_c, _ = frame
    rfm = _rfm(tx, truth_c)
    normal = rfm[~rfm["is_anomaly"]]
    assert len(normal) > 1500
    labels = KMeans(len(synth.ARCHETYPES), n_init=10, random_state=0).fit_predict(
        _scaled(normal))
    assert adjusted_rand_score(normal["archetype"], labels) >= 0.9
    # Realistic spread, not points: every archetype varies on every RFM measure.
    spread = np.log1p(normal[RFM]).groupby(normal["archetype"]).std()
    assert (spread > 0.1).all().all()


def test_isolation_forest_finds_planted_customers(frame) -> None:
    tx, truth_c, _ = frame
    rfm = _rfm(tx, truth_c)
    share = rfm["is_anomaly"].mean()
    assert rfm["is_anomaly"].sum() == truth_c["is_anomaly"].sum()  # all survive cleaning
    flags = IsolationForest(contamination=share, random_state=0).fit_predict(_scaled(rfm)) == -1
    assert rfm.loc[flags, "is_anomaly"].mean() >= 0.9


def test_robust_detectors_find_planted_transactions(frame) -> None:
    tx, _, truth_t = frame
    tx = tx[~tx["StockCode"].isin(["POST", "M"])]
    tx = tx.assign(amount=tx["Quantity"] * tx["UnitPrice"])
    cancel = tx["InvoiceNo"].str.startswith("C")
    sales, refunds = tx[~cancel], tx[cancel]
    price_z = _robust_z(sales["UnitPrice"], sales["StockCode"]).abs()
    qty_z = _robust_z(sales["Quantity"].astype(float), sales["StockCode"])
    # Totals and refunds span orders of magnitude: judge them on a log scale.
    totals = sales.groupby("InvoiceNo")["amount"].sum()
    refund_score = _log_score(-refunds["amount"])

    def keys(df: pd.DataFrame) -> set[tuple[str, str]]:
        return set(zip(df["InvoiceNo"], df["StockCode"], strict=True))

    flagged = {
        "price_outlier": keys(sales[price_z > 6]),
        "quantity_outlier": keys(sales[qty_z > 8]),
        "invoice_total_outlier": {(i, "") for i in totals.index[_log_score(totals) > 8]},
        "large_cancellation": keys(refunds[refund_score > 8]),
    }
    for kind, found in flagged.items():
        truth = _truth_keys(truth_t, kind)
        assert len(found & truth) / len(found) >= 0.9, kind
        assert len(found & truth) / len(truth) >= 0.9, kind


# --- formats ----------------------------------------------------------------------------

def test_csv_and_xlsx_equal_parquet(small: dict[str, synth.Generated]) -> None:
    ref = pd.read_parquet(small["parquet"].transactions)
    csv_text = small["csv"].transactions.read_text().splitlines()
    assert csv_text[0].replace('"', "").split(",") == list(synth.COLUMNS)
    assert pd.Series(csv_text[1:6]).str.contains(r",\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,").all()
    csv = pd.read_csv(small["csv"].transactions, dtype={"InvoiceNo": str, "StockCode": str},
                      parse_dates=["InvoiceDate"])
    sheet = fastexcel.read_excel(small["xlsx"].transactions).load_sheet(
        0, dtypes={"InvoiceNo": "string", "StockCode": "string"}).to_pandas()
    for got in (csv, sheet):
        assert list(got.columns) == list(synth.COLUMNS)
        assert len(got) == len(ref) == small["xlsx"].lines
        for col in ("InvoiceNo", "StockCode", "Description", "Country"):
            assert got[col].astype(str).tolist() == ref[col].tolist()
        for col in ("Quantity", "UnitPrice", "CustomerID"):
            np.testing.assert_allclose(got[col].astype(float), ref[col].astype(float))
        assert (pd.to_datetime(got["InvoiceDate"]).dt.round("s").to_numpy()
                == ref["InvoiceDate"].astype("datetime64[ns]").to_numpy()).all()


def test_excel_row_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="1,048,575"):
        synth.generate(tmp_path, customers=20_000, fmt="xlsx")
    assert not (tmp_path / "transactions.xlsx").exists()


def test_excel_row_limit_on_the_exact_count(tmp_path: Path, monkeypatch) -> None:
    # Pretend the sheet is tiny so that the exact count (not the estimate) trips the limit.
    monkeypatch.setattr("custseg.synth.writers.EXCEL_MAX_ROWS", 1000)
    with pytest.raises(ConfigError, match="parquet or csv"):
        synth.generate(tmp_path, customers=10, fmt="xlsx")
    assert not (tmp_path / "transactions.xlsx").exists()


@pytest.mark.parametrize("kwargs", [{"customers": 0}, {"fmt": "json"},
                                    {"anomaly_share": 0.5}])
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        synth.generate(tmp_path, **kwargs)


def test_progress_reports_customers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("custseg.synth.block.BLOCK_CUSTOMERS", 40)
    calls: list[tuple[int, int]] = []
    out = synth.generate(tmp_path, customers=100, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(40, 100), (80, 100), (100, 100)]
    truth = pd.read_csv(out.truth_customers)
    assert truth["customer_id"].is_unique and len(truth) == out.customers == 100
    tx = pd.read_parquet(out.transactions)
    # Invoice numbers stay unique across blocks: one customer and one time per invoice.
    per_invoice = tx.groupby("InvoiceNo")[["CustomerID", "InvoiceDate"]].nunique(dropna=False)
    assert per_invoice.eq(1).all().all()
    numbers = tx["InvoiceNo"].drop_duplicates()
    assert numbers.str.lstrip("C").is_unique

"""Product mix per segment and stock priorities against an independent pandas computation."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from custseg import products
from custseg.config import NON_PRODUCT_CODES, NON_PRODUCT_PREFIXES, CleaningConfig
from custseg.errors import ConfigError, InputError

#: The hand log uses Online Retail's non-product codes (POST, …): that preset's lists.
UCI = CleaningConfig(non_product_codes=NON_PRODUCT_CODES,
                     non_product_prefixes=NON_PRODUCT_PREFIXES)

LINE_COLUMNS = ["invoice", "stock_code", "description", "quantity", "invoice_date",
                "unit_price", "customer_id", "country", "drop_rule"]


def hand_log() -> pd.DataFrame:
    """A small log in the canonical ``lines`` layout: 5 customers, products and non-products.

    Non-product lines (postage, manual, voucher, dotcom) have drop_rule NULL, as when the
    non_product cleaning rule is switched off; one dropped row must be ignored.
    """
    d = datetime
    rows = [
        # customer 1 (segment A): two invoices, first half and second half
        ("1001", "P1", "RED MUG", 10, d(2011, 1, 5), 2.0, "1", "UK", None),
        ("1001", "P2", "BLUE BOWL", 2, d(2011, 1, 5), 5.0, "1", "UK", None),
        ("1001", "POST", "POSTAGE", 1, d(2011, 1, 5), 18.0, "1", "UK", None),
        ("1002", "P1", "RED MUG ", 5, d(2011, 11, 5), 2.0, "1", "UK", None),
        ("1002", "P3", "GREEN JUG", 1, d(2011, 11, 5), 30.0, "1", "UK", None),
        # customer 2 (segment A)
        ("1003", "P3", "GREEN JUG", 2, d(2011, 2, 1), 30.0, "2", "UK", None),
        ("1003", "M", "Manual", 1, d(2011, 2, 1), 250.0, "2", "UK", None),
        ("1003", "P4", "YELLOW VASE", 1, d(2011, 9, 1), 12.0, "2", "UK", None),
        # customer 3 (segment B)
        ("1004", "P1", "RED MUG", 1, d(2011, 3, 3), 2.0, "3", "UK", None),
        ("1004", "P2", "BLUE BOWL", 20, d(2011, 3, 3), 5.0, "3", "UK", None),
        ("1004", "GIFT_0001_20", "Dotcomgiftshop Gift Voucher", 1, d(2011, 3, 3), 20.0, "3",
         "UK", None),
        ("1005", "P5", "PINK TRAY", 3, d(2011, 12, 1), 4.0, "3", "UK", None),
        # customer 4 (segment B)
        ("1006", "P2", "BLUE BOWL", 1, d(2011, 6, 30), 5.0, "4", "UK", None),
        ("1006", "DCGSSGIRL", "GIRLS PARTY BAG", 1, d(2011, 6, 30), 3.0, "4", "UK", None),
        ("1006", "P1", "MUG, RED", 1, d(2011, 12, 9), 2.0, "4", "UK", None),
        # customer 5 (segment C): a single large line
        ("1007", "P4", "YELLOW VASE", 40, d(2011, 4, 4), 12.0, "5", "UK", None),
        # dropped rows: must not count
        ("C1008", "P5", "PINK TRAY", -50, d(2011, 5, 5), 4.0, "5", "UK", "cancellation"),
        ("1009", "P5", "PINK TRAY", 500, d(2011, 5, 5), 4.0, "1", "UK", "max_quantity"),
        # a customer without a segment: not in the assignment, so not counted
        ("1010", "P5", "PINK TRAY", 7, d(2011, 7, 7), 4.0, "9", "UK", None),
    ]
    frame = pd.DataFrame(rows, columns=LINE_COLUMNS)
    frame.insert(0, "row_id", np.arange(len(frame), dtype="int64"))
    frame["amount"] = frame["quantity"] * frame["unit_price"]
    return frame


ASSIGNMENT = pd.DataFrame({"customer_id": ["1", "2", "3", "4", "5"],
                           "segment": ["A", "A", "B", "B", "C"]})


def connect(log: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """A connection with ``lines`` (canonical columns) and the ``clean`` view."""
    con = duckdb.connect()
    con.register("log_frame", log)
    con.execute("""
        CREATE TABLE lines AS SELECT row_id, invoice, stock_code, description,
          CAST(quantity AS DOUBLE) AS quantity, CAST(invoice_date AS TIMESTAMP) AS invoice_date,
          unit_price, amount, customer_id, country, drop_rule FROM log_frame""")
    con.unregister("log_frame")
    con.execute("CREATE VIEW clean AS SELECT * FROM lines WHERE drop_rule IS NULL")
    return con


def is_product(codes: pd.Series) -> pd.Series:
    upper = codes.str.upper()
    prefixed = np.logical_or.reduce([upper.str.startswith(p) for p in NON_PRODUCT_PREFIXES])
    return ~upper.isin(NON_PRODUCT_CODES) & ~prefixed


def reference_mix(log: pd.DataFrame, assignment: pd.DataFrame) -> pd.DataFrame:
    """Every (segment, product) with revenue, buyers, shares and lift, computed in pandas."""
    kept = log[log["drop_rule"].isna() & is_product(log["stock_code"])]
    kept = kept.merge(assignment, on="customer_id")
    mix = (kept.groupby(["segment", "stock_code"])
           .agg(revenue=("amount", "sum"), customers=("customer_id", "nunique")).reset_index())
    mix["segment_share"] = mix["revenue"] / mix.groupby("segment")["revenue"].transform("sum")
    overall = kept.groupby("stock_code")["amount"].sum() / kept["amount"].sum()
    mix["overall_share"] = mix["stock_code"].map(overall)
    mix["lift"] = mix["segment_share"] / mix["overall_share"]
    return mix


def test_shares_and_lift_match_pandas():
    log = hand_log()
    got = products.segment_products(connect(log), ASSIGNMENT, top_n=100, cleaning=UCI)
    ref = reference_mix(log, ASSIGNMENT)
    merged = ref.merge(got, on=["segment", "stock_code"], suffixes=("_ref", ""),
                       how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged
    for col in ("revenue", "customers", "segment_share", "overall_share", "lift"):
        np.testing.assert_allclose(merged[col].astype(float), merged[f"{col}_ref"], rtol=1e-12,
                                   err_msg=col)
    assert list(got.columns) == list(products.PRODUCT_COLUMNS)
    # Segment A over-buys the green jug: 90 of A's 142 product revenue vs 90 of 743 overall.
    jug = got[(got["segment"] == "A") & (got["stock_code"] == "P3")].iloc[0]
    assert jug["lift"] == pytest.approx((90 / 142) / (90 / 743))


def test_non_product_codes_left_out_even_when_not_cleaned():
    got = products.segment_products(connect(hand_log()), ASSIGNMENT, top_n=100, cleaning=UCI)
    assert set(got["stock_code"]) == {"P1", "P2", "P3", "P4", "P5"}
    # Shares divide by product revenue only, so they add up to 1 in each segment.
    np.testing.assert_allclose(got.groupby("segment")["segment_share"].sum(), 1.0)


def test_top_lists_are_the_union_of_both_rankings():
    log = hand_log()
    got = products.segment_products(connect(log), ASSIGNMENT, top_n=1, cleaning=UCI)
    ref = reference_mix(log, ASSIGNMENT)
    ref["rank_revenue"] = (ref.sort_values(["revenue", "stock_code"], ascending=[False, True])
                           .groupby("segment").cumcount() + 1)
    ref["rank_customers"] = (ref.sort_values(["customers", "revenue", "stock_code"],
                                             ascending=[False, False, True])
                             .groupby("segment").cumcount() + 1)
    want = ref[(ref["rank_revenue"] <= 1) | (ref["rank_customers"] <= 1)]
    merged = want.merge(got, on=["segment", "stock_code"], suffixes=("_ref", ""))
    assert len(merged) == len(want) == len(got)
    assert (merged["rank_revenue"] == merged["rank_revenue_ref"]).all()
    assert (merged["rank_customers"] == merged["rank_customers_ref"]).all()
    # Segment B: the bowl leads on revenue, and ties the mug on buyers (2 each) but wins the
    # tie on revenue, so it is the only row.
    assert set(got.loc[got["segment"] == "B", "stock_code"]) == {"P2"}


def test_description_is_the_most_common_trimmed_one():
    got = products.segment_products(connect(hand_log()), ASSIGNMENT, top_n=100, cleaning=UCI)
    names = got.drop_duplicates("stock_code").set_index("stock_code")["description"]
    assert names["P1"] == "RED MUG"  # 3 × "RED MUG" (one with a trailing space) vs 1 × "MUG, RED"


def test_segments_ordered_by_revenue():
    got = products.segment_products(connect(hand_log()), ASSIGNMENT, top_n=100, cleaning=UCI)
    assert list(dict.fromkeys(got["segment"])) == ["C", "A", "B"]  # 480, 142, 121


def test_bad_arguments_raise_with_a_fix():
    con = connect(hand_log())
    with pytest.raises(InputError, match="segment"):
        products.segment_products(con, ASSIGNMENT.drop(columns="segment"), cleaning=UCI)
    with pytest.raises(ConfigError, match="top_n"):
        products.segment_products(con, ASSIGNMENT, top_n=0, cleaning=UCI)
    with pytest.raises(ConfigError, match="cover"):
        products.valuable_segments(pd.DataFrame({"segment": ["A"], "revenue": [1.0]}), 0)


def test_assignment_stays_local_and_survives_an_unfinished_result():
    con = connect(hand_log())
    con.execute("SELECT count(*) FROM clean").fetchone()  # leaves a pending result behind
    products.segment_products(con, ASSIGNMENT, cleaning=UCI)
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert products.ASSIGNMENT_TABLE not in tables


def test_valuable_segments_cover_half_the_revenue():
    profile = pd.DataFrame({"segment": ["Champions", "Loyal", "Lost"],
                            "revenue": [40.0, 35.0, 25.0]})
    assert products.valuable_segments(profile) == ["Champions", "Loyal"]
    assert products.valuable_segments(profile, cover=0.4) == ["Champions"]
    assert products.valuable_segments(profile, cover=1.0) == ["Champions", "Loyal", "Lost"]


def test_stock_priorities_shares_and_trend_match_pandas():
    log = hand_log()
    # Profile order puts A first; A (19% of revenue) and B (16%) are needed to pass 30%.
    profile = pd.DataFrame({"segment": ["A", "B", "C"], "revenue": [142.0, 121.0, 480.0]})
    got = products.stock_priorities(connect(log), ASSIGNMENT, profile, top_n=3, cover=0.3,
                                    cleaning=UCI)
    assert got.attrs["segments"] == ["A", "B"]

    kept = log[log["drop_rule"].isna()]
    mid = kept["invoice_date"].min() + (kept["invoice_date"].max() - kept["invoice_date"].min()) / 2
    mine = kept[is_product(kept["stock_code"])].merge(ASSIGNMENT[ASSIGNMENT["segment"] != "C"])
    mine = mine.assign(first=np.where(mine["invoice_date"] < mid, mine["amount"], 0.0),
                       second=np.where(mine["invoice_date"] >= mid, mine["amount"], 0.0))
    ref = mine.groupby("stock_code").agg(revenue=("amount", "sum"), first_half=("first", "sum"),
                                         second_half=("second", "sum"),
                                         customers=("customer_id", "nunique"))
    ref["share"] = ref["revenue"] / ref["revenue"].sum()
    ref = ref.reset_index().sort_values(["revenue", "stock_code"], ascending=[False, True])
    ref = ref.head(3).reset_index(drop=True)

    assert got["stock_code"].tolist() == ref["stock_code"].tolist()
    assert got["rank"].tolist() == [1, 2, 3]
    for col in ("revenue", "share", "first_half", "second_half", "customers"):
        np.testing.assert_allclose(got[col], ref[col], err_msg=col)
    with np.errstate(divide="ignore"):
        trend = ref["second_half"] / ref["first_half"].replace(0, np.nan) - 1
    np.testing.assert_allclose(got["trend"], trend)
    assert list(got.columns) == list(products.PRIORITY_COLUMNS)


def test_trend_labels():
    trend = pd.Series([0.5, -0.5, 0.05, -0.1, np.nan])
    assert products.trend_label(trend).tolist() == ["rising", "falling", "steady", "steady",
                                                    "new"]


def test_summary_records_are_json_ready():
    log = hand_log()
    profile = pd.DataFrame({"segment": ["A", "B", "C"], "revenue": [142.0, 121.0, 480.0]})
    got = products.stock_priorities(connect(log), ASSIGNMENT, profile, cleaning=UCI)
    records = products.summary_records(got, n=2)
    assert len(records) == 2
    assert records[0]["revenue"] == round(float(got["revenue"].iloc[0]), 2)
    assert all(type(r["revenue"]) is float and type(r["description"]) is str for r in records)


def test_no_stock_codes_gives_an_empty_table():
    log = hand_log().assign(stock_code=None)
    got = products.segment_products(connect(log), ASSIGNMENT, cleaning=UCI)
    assert got.empty and list(got.columns) == list(products.PRODUCT_COLUMNS)


@pytest.mark.parametrize("build,reads", [
    (products.money_sql, products.ASSIGNMENT_TABLE),
    (products.buyers_sql, products.ASSIGNMENT_TABLE),
    (products.totals_sql, products.MONEY_TABLE),
    (products.names_sql, "clean"),
    (products.segment_products_sql, products.TOTALS_TABLE),
    (products.stock_priorities_sql, products.TOTALS_TABLE),
    # Above BUYERS_PASS_LINES: one pass, and the passes added up.
    (lambda: products.buyers_sql(None, 1, 3), f"{products.BUYERS_TABLE}_1"),
    (lambda: products.totals_sql(3), f"{products.BUYERS_TABLE}_2"),
])
def test_statements_transpile_to_spark(build, reads):
    sqlglot = pytest.importorskip("sqlglot")
    spark = sqlglot.transpile(build(), read="duckdb", write="spark",
                              unsupported_level=sqlglot.ErrorLevel.RAISE)
    assert len(spark) == 1 and reads in spark[0]


def test_product_mix_is_both_tables_in_one_pass():
    log, profile = hand_log(), pd.DataFrame({"segment": ["C", "A", "B"],
                                             "revenue": [480.0, 142.0, 121.0]})
    mix, priorities = products.product_mix(connect(log), ASSIGNMENT, profile, top_n=2,
                                           priorities_n=4, cleaning=UCI)
    pd.testing.assert_frame_equal(mix, products.segment_products(connect(log), ASSIGNMENT, 2,
                                                                 cleaning=UCI))
    pd.testing.assert_frame_equal(priorities, products.stock_priorities(
        connect(log), ASSIGNMENT, profile, top_n=4, cleaning=UCI))
    assert priorities.attrs["segments"] == ["C"]


# --------------------------------------------------------------------------- real data


def rfm_grid_segments(rfm: pd.DataFrame) -> pd.DataFrame:
    """A stand-in segmentation from RFM quintile scores (Champions: R, F and M all ≥ 4)."""
    champions = (rfm["r_score"] >= 4) & (rfm["f_score"] >= 4) & (rfm["m_score"] >= 4)
    lost = (rfm["r_score"] <= 2) & (rfm["f_score"] <= 2)
    segment = np.select([champions, lost], ["Champions", "Lost"], "Others")
    return pd.DataFrame({"customer_id": rfm["customer_id"], "segment": segment})


@pytest.mark.realdata
def test_real_champions_buy_sensible_products(seed_dataset, seed_rfm):
    con = seed_dataset.con
    assignment = rfm_grid_segments(seed_rfm)
    mix = products.segment_products(con, assignment, top_n=10, cleaning=UCI)
    champs = mix[mix["segment"] == "Champions"].sort_values("rank_revenue")
    assert 10 <= len(champs) <= 20
    assert champs["description"].notna().all()
    assert is_product(champs["stock_code"]).all()
    assert (champs["lift"] > 0).all() and (champs["segment_share"] < 0.1).all()
    # Revenue per product agrees with a direct query on the clean view.
    top = champs.iloc[0]
    con.register("champ_ids", assignment[assignment["segment"] == "Champions"])
    direct = con.execute("SELECT sum(amount) FROM clean JOIN champ_ids USING (customer_id) "
                         "WHERE stock_code = ?", [top["stock_code"]]).fetchall()[0][0]
    con.unregister("champ_ids")
    assert top["revenue"] == pytest.approx(direct)
    # Well-known best sellers of the Online Retail data lead the Champions' list.
    leaders = " ".join(champs["description"].head(5))
    assert any(name in leaders for name in ("REGENCY CAKESTAND", "WHITE HANGING HEART",
                                            "JUMBO BAG RED RETROSPOT", "PARTY BUNTING"))

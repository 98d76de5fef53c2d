"""Cleaning rules and the row account."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import custseg
from custseg.clean import RULE_NAMES, scope_sentence
from custseg.config import NON_PRODUCT_CODES, CleaningConfig
from custseg.errors import EmptyResultError
from tests.logs import edge_log

SWITCHES = ("missing_customer", "missing_values", "cancellations", "adjustments",
            "non_positive", "non_product", "duplicates")


def expected_drops(frame: pd.DataFrame, cfg: CleaningConfig) -> pd.Series:
    """The first rule dropping each row, computed independently with pandas masks."""
    inv = frame["InvoiceNo"].astype(str)
    cust = frame["CustomerID"].map(lambda v: None if v is None or v != v
                                   else str(v).strip().removesuffix(".0"))
    total = frame["Quantity"] * frame["UnitPrice"]
    key = frame.assign(CustomerID=cust, InvoiceNo=inv).astype(str)
    masks = {
        "missing_customer": cust.isna() if cfg.missing_customer else None,
        "missing_values": frame.drop(columns="CustomerID").isna().any(axis=1)
        if cfg.missing_values else None,
        "country": ~frame["Country"].isin(cfg.countries) if cfg.countries else None,
        "duplicate": key.duplicated(keep="first") if cfg.duplicates else None,
        "cancellation": inv.str.upper().str.startswith("C") if cfg.cancellations else None,
        "adjustment": inv.str.upper().str.startswith("A") if cfg.adjustments else None,
        "non_positive": ((frame["Quantity"] <= 0) | (frame["UnitPrice"] <= 0))
        if cfg.non_positive else None,
        # The edge log has Online Retail's columns, so that preset's codes apply.
        "non_product": frame["StockCode"].str.upper().isin(
            NON_PRODUCT_CODES if cfg.non_product_codes is None else cfg.non_product_codes)
        if cfg.non_product else None,
        "max_line_total": total > cfg.max_line_total if cfg.max_line_total else None,
        "max_quantity": frame["Quantity"] > cfg.max_quantity if cfg.max_quantity else None,
    }
    rule = pd.Series([None] * len(frame), dtype=object)
    for name, mask in masks.items():
        if mask is None:
            continue
        rule = rule.where(rule.notna() | ~mask.fillna(False).to_numpy(), name)
    return rule


def run_clean(frame: pd.DataFrame, cfg: CleaningConfig):
    return custseg.load(frame, custseg.Config(cleaning=cfg))


def test_default_rules_drop_each_edge_case_once_under_its_first_rule():
    frame = edge_log()
    cfg = CleaningConfig()
    dataset = run_clean(frame, cfg)
    got = dataset.con.execute("SELECT drop_rule FROM lines ORDER BY row_id").df()["drop_rule"]
    want = expected_drops(frame, cfg)
    assert got.fillna("kept").tolist() == want.fillna("kept").tolist()
    report = dataset.cleaning
    assert report.rows_in == len(frame)
    assert report.rows_kept + sum(report.dropped.values()) == report.rows_in
    # The cancelled 74,215-unit line is counted as a cancellation, not as an extreme quantity.
    assert report.dropped["cancellation"] == 2
    assert report.dropped["duplicate"] == 1
    # 12345, 12346 (its hand warmers), 12347, and France's 12348 and Germany's 12349: every
    # country is kept by default.
    assert report.customers_kept == 5


def test_seed_preset_runs_only_the_seed_rules():
    dataset = run_clean(edge_log(), CleaningConfig.preset("seed"))
    assert list(dataset.cleaning.dropped) == ["invalid_number", "missing_customer",
                                              "missing_values", "future_date", "country",
                                              "cancellation", "max_line_total",
                                              "max_quantity"]
    assert {"duplicate", "adjustment", "non_positive", "non_product"} <= set(
        dataset.cleaning.skipped)


rule_sets = st.fixed_dictionaries({
    **{name: st.booleans() for name in SWITCHES},
    "countries": st.sampled_from([(), ("United Kingdom",), ("France", "Germany")]),
    "max_line_total": st.sampled_from([None, 20.0, 500.0]),
    "max_quantity": st.sampled_from([None, 5.0, 100.0]),
})


@settings(max_examples=40, deadline=None)
@given(switches=rule_sets, seed=st.integers(0, 10_000))
def test_row_account_holds_for_any_rule_set(switches, seed):
    rng = np.random.default_rng(seed)
    frame = edge_log()
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    cfg = dataclasses.replace(CleaningConfig(), **switches)
    want = expected_drops(frame, cfg)
    if want.notna().all():
        with pytest.raises(EmptyResultError):
            run_clean(frame, cfg)
        return
    report = run_clean(frame, cfg).cleaning
    assert report.rows_in == len(frame) == report.rows_kept + sum(report.dropped.values())
    counts = want.value_counts().to_dict()
    assert {k: v for k, v in report.dropped.items() if v} == counts
    assert report.rows_kept == int(want.isna().sum())
    assert list(report.dropped) == [r for r in RULE_NAMES if r in report.dropped]


def test_missing_optional_columns_switch_their_rules_off_and_say_so():
    frame = edge_log().drop(columns=["Country", "StockCode"])
    report = run_clean(frame, CleaningConfig()).cleaning
    assert report.skipped["country"] == "Not applied: the input has no country column."
    assert report.skipped["non_product"] == "Not applied: the input has no stock_code column."
    assert report.countries_in is None
    assert scope_sentence(report, "£") == ("The input has no country column: lines are not "
                                           "selected by country.")
    assert "country" not in report.dropped
    assert report.rows_in == report.rows_kept + sum(report.dropped.values())


def test_country_filter_that_matches_nothing_names_the_countries_found():
    with pytest.raises(EmptyResultError, match=r"United Kingdom.*--country"):
        run_clean(edge_log(), CleaningConfig(countries=("Narnia",)))


def test_as_of_drops_later_lines_under_their_own_rule():
    from datetime import date

    config = custseg.Config(rfm=custseg.RFMConfig(as_of=date(2011, 7, 1)))
    dataset = custseg.load(edge_log(), config)
    later = (edge_log()["InvoiceDate"] >= pd.Timestamp("2011-07-01")).sum()
    assert dataset.cleaning.dropped["after_snapshot"] <= later
    assert dataset.con.execute(
        "SELECT count(*) FROM clean WHERE invoice_date >= TIMESTAMP '2011-07-01'"
    ).fetchone()[0] == 0
    assert str(dataset.snapshot) == "2011-07-01 00:00:00"


@pytest.mark.realdata
def test_seed_preset_reproduces_the_known_real_figures(seed_dataset):
    report = seed_dataset.cleaning
    assert (report.rows_kept, report.customers_kept) == (350_967, 3_882)
    assert report.rows_in == 541_909 == report.rows_kept + sum(report.dropped.values())
    assert report.dropped["missing_customer"] == 135_080


def test_rules_not_applied_say_why_in_a_sentence():
    report = run_clean(edge_log(), CleaningConfig(max_quantity=None, duplicates=False)).cleaning
    assert report.skipped == {
        "after_snapshot": "Not applied: no as-of date was given, so every line up to the "
                          "latest is used.",
        "country": "Not applied: every country is kept.",
        "duplicate": "Not applied: switched off.",
        "max_quantity": "Not applied: no quantity limit is set.",
    }
    # The non-product rule turned off by name, or without codes to look for.
    off = run_clean(edge_log(), CleaningConfig(non_product=False)).cleaning.skipped
    assert off["non_product"] == "Not applied: switched off."
    no_codes = CleaningConfig(non_product_codes=(), non_product_prefixes=())
    assert run_clean(edge_log(), no_codes).cleaning.skipped["non_product"] == (
        "Not applied: no non-product stock codes are set (a known export's preset sets them).")


def test_the_scope_says_every_country_is_kept_by_default():
    report = run_clean(edge_log(), CleaningConfig()).cleaning
    # United Kingdom, France and Germany.
    assert report.countries_in == 3 and report.countries == ()
    assert scope_sentence(report, "£") == "All 3 countries are kept."
    assert report.to_dict()["countries"] == [] and report.to_dict()["countries_in"] == 3


def test_the_scope_names_the_kept_country_and_what_is_left_out():
    frame = edge_log()
    report = run_clean(frame, CleaningConfig(countries=("United Kingdom",))).cleaning
    # Lines out of scope, by hand: France 24 × 3.75 and 100 × 10.95, Germany 24 × 2.95.
    assert report.dropped["country"] == 3
    assert report.revenue_dropped["country"] == pytest.approx(90.0 + 1095.0 + 70.8)
    assert report.countries_left_out == ("France", "Germany")  # most lines first
    assert scope_sentence(report, "£") == ("Only United Kingdom is kept: 3 lines and "
                                           "£1,255.80 of revenue from 2 other countries "
                                           "are left out.")
    # Every line dropped is counted, so the dropped revenue adds up with the kept revenue.
    total = float((frame["Quantity"] * frame["UnitPrice"]).sum())
    assert report.revenue_kept + sum(report.revenue_dropped.values()) == pytest.approx(total)
    data = report.to_dict()
    assert data["revenue_dropped"]["country"] == 1255.8
    assert data["countries"] == ["United Kingdom"]
    assert data["countries_left_out"] == ["France", "Germany"]


def test_the_scope_of_several_countries_and_lines_without_one():
    frame = edge_log()
    frame.loc[frame["Country"] == "Germany", "Country"] = None
    cfg = CleaningConfig(countries=("United Kingdom", "Spain"), missing_values=False)
    report = run_clean(frame, cfg).cleaning
    assert report.no_country_left_out == 1 and report.countries_left_out == ("France",)
    assert scope_sentence(report, "EUR") == (
        "Only United Kingdom and Spain are kept: 3 lines (1 without a country) and "
        "EUR 1,255.80 of revenue from 1 other country are left out.")
    report = run_clean(frame, CleaningConfig(countries=("France",), missing_values=False,
                                             )).cleaning
    assert scope_sentence(report).startswith("Only France is kept: ")

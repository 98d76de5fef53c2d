"""The dashboard's flows, driven by Streamlit's AppTest (no browser).

Expectations come from the core API run directly on the same data, so each test checks that
the app shows what the core computes for the settings the user chose.
"""

from __future__ import annotations

import io as stdio
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import custseg
from custseg import pipeline, synth
from custseg.app import MAIN, state

REPO = Path(__file__).resolve().parents[1]
REAL_XLSX = REPO.parent / "shared" / "data" / "online_retail.xlsx"
DEMO = 400
TIMEOUT = 180


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Stage caches are process-wide; each test starts from nothing."""
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def demo_frame() -> pd.DataFrame:
    """The demo transactions the app generates for DEMO customers."""
    return synth.generate_frame(DEMO, state.DEMO_SEED)[0]


def _expected(source, config: custseg.Config | None = None, **load_kw) -> pipeline.Model:
    config = config or custseg.Config()
    table = custseg.compute_rfm(custseg.load(source, config, **load_kw))
    return pipeline.model(table, config)


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.session_state[state.DEMO_CUSTOMERS_KEY] = DEMO
    at.run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _segment_names(at: AppTest) -> set[str]:
    frame = next(d.value for d in at.dataframe if "segment" in d.value.columns)
    return set(frame["segment"].astype(str))


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.sidebar.file_uploader[0].upload(name, data)
    return at.run()


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = stdio.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def test_demo_data_renders_named_segments(demo_frame: pd.DataFrame) -> None:
    expected = _expected(demo_frame)
    at = _app()
    _ok(at)
    names = set(expected.segments["segment"].astype(str))
    assert _segment_names(at) == names
    assert _metric(at, "Segments (k)") == str(expected.clustering.k)
    assert _metric(at, "Customers") == f"{len(expected.customers):,}"
    at.switch_page("views/segments.py").run()
    _ok(at)
    assert _segment_names(at) == names


@pytest.mark.parametrize("page", ["data", "cleaning", "rfm", "choosing_k", "explanation",
                                  "anomalies", "lookup", "downloads"])
def test_every_page_renders_on_demo_data(page: str) -> None:
    at = _app(page)
    _ok(at)
    assert at.title


def test_cleaning_rule_switch_changes_the_row_account(demo_frame: pd.DataFrame) -> None:
    at = _app("cleaning")
    at.sidebar.checkbox(key="rule_cancellations").uncheck().run()
    _ok(at)
    config = custseg.Config(cleaning=custseg.CleaningConfig(cancellations=False))
    report = custseg.load(demo_frame, config).cleaning
    assert _metric(at, "Rows kept") == f"{report.rows_kept:,}"
    assert "cancellation" not in report.dropped


def test_changing_k_reruns_only_the_modelling(demo_frame: pd.DataFrame,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"load": 0, "rfm": 0, "model": 0, "search_k": 0, "customer_anomalies": 0}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(pipeline, "load", counting("load", pipeline.load))
    monkeypatch.setattr(pipeline, "compute_rfm", counting("rfm", pipeline.compute_rfm))
    for name in ("model", "search_k", "customer_anomalies"):
        monkeypatch.setattr(pipeline, name, counting(name, getattr(pipeline, name)))
    at = _app("choosing_k")
    _ok(at)
    auto_k = int(_metric(at, "Number of segments (k)"))
    new_k = 3 if auto_k != 3 else 4
    before = dict(calls)
    at.button(key=f"use_k_{new_k}").click().run()
    _ok(at)
    assert _metric(at, "Number of segments (k)") == str(new_k)
    assert at.sidebar.radio(key="k_mode").value == "manual"
    assert calls["load"] == before["load"] and calls["rfm"] == before["rfm"]
    assert calls["model"] == before["model"] + 1
    # The k search and the customer scores do not depend on the k used: not recomputed.
    assert calls["search_k"] == before["search_k"] == 1
    assert calls["customer_anomalies"] == before["customer_anomalies"] == 1
    expected = _expected(demo_frame, custseg.Config(cluster=custseg.ClusterConfig(k=new_k)))
    at.switch_page("views/segments.py").run()
    assert _segment_names(at) == set(expected.segments["segment"].astype(str))
    at.switch_page("views/choosing_k.py").run()
    at.button(key="use_k_auto").click().run()
    assert _metric(at, "Number of segments (k)") == str(auto_k)


def test_bad_file_shows_an_error_and_the_app_keeps_working() -> None:
    at = _app()
    _upload(at, "broken.xlsx", b"this is not a workbook")
    assert not at.exception
    assert at.error and "broken.xlsx" in at.error[0].value
    assert "/custseg-uploads/" not in at.error[0].value  # the user's name, not the temp path
    at.sidebar.file_uploader[0].clear()
    at.run()
    _ok(at)
    assert _segment_names(at)


def test_bad_dates_name_the_rows(demo_frame: pd.DataFrame) -> None:
    frame = demo_frame.head(500).astype({"InvoiceDate": str})
    frame.loc[7, "InvoiceDate"] = "yesterday"
    at = _app()
    _upload(at, "dates.csv", _csv_bytes(frame))
    assert not at.exception
    assert at.error and "yesterday" in at.error[0].value and "row 9" in at.error[0].value


def test_unrecognised_columns_show_the_mapping_form(demo_frame: pd.DataFrame) -> None:
    frame = demo_frame.rename(columns={"CustomerID": "Kunde", "InvoiceDate": "Wann"})
    at = _app()
    _upload(at, "renamed.csv", _csv_bytes(frame))
    assert not at.exception and not at.error
    assert at.warning and "could not all be recognised" in at.warning[0].value
    at.selectbox(key="map_customer_id").select("Kunde")
    at.selectbox(key="map_invoice_date").select("Wann")
    next(b for b in at.button if b.label == "Use these columns").click()
    at.run()
    _ok(at)
    expected = _expected(frame, mapping={"customer_id": "Kunde", "invoice_date": "Wann"})
    assert _segment_names(at) == set(expected.segments["segment"].astype(str))


def test_two_date_orders_ask_which_and_use_the_answer(demo_frame: pd.DataFrame) -> None:
    """Month-first dates whose days are all ≤ 12 read both ways: the app asks, like
    --date-format, and then shows what the core computes with that format."""
    frame = demo_frame[demo_frame["InvoiceDate"].dt.day <= 12].copy()
    fmt = "%m/%d/%Y %H:%M"
    frame["InvoiceDate"] = frame["InvoiceDate"].dt.strftime(fmt)
    at = _app()
    _upload(at, "us_dates.csv", _csv_bytes(frame))
    assert not at.exception and not at.error
    assert at.warning and "two orders" in at.warning[0].value
    assert "--date-format" in at.warning[0].value
    at.radio[0].set_value(fmt)
    next(b for b in at.button if b.label == "Read the file this way").click()
    at.run()
    _ok(at)
    config = custseg.Config(read=custseg.config.ReadConfig(date_format=fmt))
    expected = _expected(frame, config)
    assert _segment_names(at) == set(expected.segments["segment"].astype(str))


def test_mapping_form_refuses_an_incomplete_choice(demo_frame: pd.DataFrame) -> None:
    frame = demo_frame.rename(columns={"CustomerID": "Kunde", "InvoiceDate": "Wann"})
    at = _app()
    _upload(at, "renamed.csv", _csv_bytes(frame))
    at.selectbox(key="map_customer_id").select("Kunde")
    next(b for b in at.button if b.label == "Use these columns").click()
    at.run()
    assert not at.exception
    assert any("Invoice date" in e.value for e in at.error)


def test_customer_lookup_shows_their_numbers_and_history(demo_frame: pd.DataFrame) -> None:
    expected = _expected(demo_frame)
    customers = expected.customers
    row = customers.sort_values("monetary").iloc[len(customers) // 2]
    at = _app("lookup")
    at.text_input(key="lookup_id").input(f" {row['customer_id']}.0 ").run()
    _ok(at)
    assert _metric(at, "Recency") == f"{int(row['recency']):,} days"
    assert _metric(at, "Monetary") == f"£{row['monetary']:,.0f}"
    assert _metric(at, "Segment") == row["segment"]
    history = at.dataframe[-1].value
    lines = demo_frame[demo_frame["CustomerID"].astype("Int64").astype(str)
                       == row["customer_id"]]
    assert len(history) == len(lines)
    assert history["dropped_by"].isna().sum() > 0


def test_customer_lookup_unknown_id_says_so() -> None:
    at = _app("lookup")
    at.text_input(key="lookup_id").input("no-such-customer").run()
    assert not at.exception and not at.error
    assert "no customer" in at.warning[0].value


def test_path_seam_loads_a_file(tmp_path: Path, demo_frame: pd.DataFrame) -> None:
    path = tmp_path / "log.parquet"
    demo_frame.to_parquet(path, index=False)
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.session_state[state.SOURCE_PATH_KEY] = str(path)
    at.run()
    _ok(at)
    expected = _expected(path)
    assert _segment_names(at) == set(expected.segments["segment"].astype(str))


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_XLSX.exists(), reason="real data (../shared/data) is absent")
def test_upload_of_the_real_workbook() -> None:
    import fastexcel

    rows = fastexcel.read_excel(str(REAL_XLSX)).load_sheet(0).height
    at = _app()
    _upload(at, REAL_XLSX.name, REAL_XLSX.read_bytes())
    _ok(at)
    assert _segment_names(at)
    at.switch_page("views/data.py").run()
    _ok(at)
    assert _metric(at, "Rows") == f"{rows:,}"
    kept = custseg.load(REAL_XLSX).cleaning.rows_kept
    at.switch_page("views/cleaning.py").run()
    assert _metric(at, "Rows kept") == f"{kept:,}"

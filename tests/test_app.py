"""The dashboard's flows, driven by Streamlit's AppTest (no browser).

Every expectation is computed without the app's own path through custseg: what the app reads,
cleans and measures (rows, rows kept, customers, RFM) is computed with pandas on the same data
(tests/reference.py); what it models (segment names, k, accuracy, flags) is the core modelling
API run on that pandas RFM table, since the app's job there is to pass the user's settings
through (a fixed k, a column mapping, a date format).
"""

from __future__ import annotations

import html
import io as stdio
import itertools
import re
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import custseg
from custseg import actions, labels, pipeline, segments, synth
from custseg.app import MAIN, command, state, ui
from tests import reference
from tests.test_clean import expected_drops

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


def reference_rfm(frame: pd.DataFrame,
                  cfg: custseg.CleaningConfig | None = None) -> pd.DataFrame:
    """The pandas RFM table of ``frame`` (tests/reference.py) with each customer's first and
    last purchase, which the per-customer actions need (their usual gap between orders)."""
    table = reference.rfm(frame, cfg)
    lines = reference.kept_lines(frame, cfg)
    dates = lines.groupby(lines["customer_id"].astype(str))["invoice_date"].agg(["min", "max"])
    return table.assign(first_purchase=table["customer_id"].map(dates["min"]),
                        last_purchase=table["customer_id"].map(dates["max"]))


@pytest.fixture(scope="module")
def demo_rfm(demo_frame: pd.DataFrame) -> pd.DataFrame:
    return reference_rfm(demo_frame)


@pytest.fixture(scope="module")
def demo_model(demo_rfm: pd.DataFrame) -> pipeline.Model:
    return _modelled(demo_rfm)


def _modelled(rfm: pd.DataFrame, config: custseg.Config | None = None) -> pipeline.Model:
    """The core modelling of an RFM table computed by pandas."""
    return pipeline.model(rfm, config or custseg.Config())


def _names(model: pipeline.Model) -> set[str]:
    return set(model.segments["segment"].astype(str))


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


def _table(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _segment_names(at: AppTest) -> set[str]:
    """The segment names the page shows: its segment table's, else its segment cards'."""
    tables = [d.value for d in at.dataframe if "segment" in d.value.columns]
    if tables:
        return set(tables[0]["segment"].astype(str))
    return set(_cards(at))


def _cards(at: AppTest) -> dict[str, str]:
    """The segment cards of the page: {segment name: the card's text}."""
    cards = {}
    for block in at.markdown:
        if 'class="custseg-card"' in block.value:
            name = re.search(r'class="custseg-chip"[^>]*>([^<]*)<', block.value).group(1)
            cards[html.unescape(name)] = html.unescape(re.sub(r"<[^>]+>", " ", block.value))
    return cards


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.sidebar.file_uploader[0].upload(name, data)
    return at.run()


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = stdio.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def test_demo_data_renders_named_segments(demo_rfm: pd.DataFrame,
                                          demo_model: pipeline.Model) -> None:
    at = _app()
    _ok(at)
    assert _segment_names(at) == _names(demo_model)
    assert _metric(at, "Segments (k)") == str(demo_model.clustering.k)
    assert _metric(at, "Customers") == f"{len(demo_rfm):,}"
    at.switch_page("views/segments.py").run()
    _ok(at)
    assert _segment_names(at) == _names(demo_model)


def _shows_rfm(at: AppTest, rfm: pd.DataFrame, _: pipeline.Model) -> None:
    shown = _table(at, "recency").sort_values("customer_id").reset_index(drop=True)
    assert shown["customer_id"].tolist() == rfm["customer_id"].tolist()
    assert shown["recency"].tolist() == rfm["recency"].tolist()
    assert shown["frequency"].tolist() == rfm["frequency"].tolist()
    assert shown["monetary"].tolist() == pytest.approx(rfm["monetary"].tolist())


#: What each page shows of the demo data: a metric (label, expected value from the pandas RFM
#: table of the demo and the core model of it), or a check of the page.
PAGES = {
    "data": ("Customers (before cleaning)",
             lambda frame, rfm, model: f"{frame['CustomerID'].nunique():,}"),
    "cleaning": ("Rows kept",
                 lambda frame, rfm, model: f"{len(reference.kept_lines(frame)):,}"),
    "rfm": _shows_rfm,
    "choosing_k": ("Number of segments (k)", lambda frame, rfm, model: str(model.clustering.k)),
    "explanation": ("Accuracy (held-out customers)",
                    lambda frame, rfm, model: f"{model.explanation.accuracy:.1%}"),
    "anomalies": ("Flagged customers",
                  lambda frame, rfm, model: f"{int(model.customers['is_anomaly'].sum()):,}"),
}


@pytest.mark.parametrize("page", [*PAGES, "lookup", "downloads"])
def test_every_page_renders_on_demo_data(page: str, demo_frame: pd.DataFrame,
                                         demo_rfm: pd.DataFrame,
                                         demo_model: pipeline.Model) -> None:
    at = _app(page)
    _ok(at)
    assert at.title
    check = PAGES.get(page)
    if callable(check):
        check(at, demo_rfm, demo_model)
    elif check is not None:
        label, expected = check
        assert _metric(at, label) == expected(demo_frame, demo_rfm, demo_model)
    elif page == "lookup":  # a customer of this data is offered as an example
        example = demo_rfm.loc[demo_rfm["monetary"].idxmax(), "customer_id"]
        assert at.text_input(key="lookup_id").placeholder == f"e.g. {example}"
    else:
        captions = " ".join(c.value for c in at.caption)
        assert f"{len(demo_rfm):,} customers with RFM" in captions
        assert "custseg score FILE --model" in captions  # the segmentation model is offered


def test_cleaning_rule_switch_changes_the_row_account(demo_frame: pd.DataFrame) -> None:
    at = _app("cleaning")
    at.sidebar.checkbox(key="rule_cancellations").uncheck().run()
    _ok(at)
    rules = custseg.CleaningConfig(cancellations=False)
    assert _metric(at, "Rows kept") == f"{len(reference.kept_lines(demo_frame, rules)):,}"
    account = _table(at, "step")
    rule_of = {words: rule for rule, words in labels.RULE_LABELS.items()}
    dropped = {rule_of[step.removeprefix("− ")]: -n
               for step, n in zip(account["step"], account["rows"], strict=True)
               if step.startswith("−") and n}
    assert dropped == expected_drops(demo_frame, rules).value_counts().to_dict()
    assert "cancellation" not in dropped


def test_changing_k_reruns_only_the_modelling(demo_rfm: pd.DataFrame,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"load": 0, "rfm": 0, "model": 0, "search_k": 0, "customer_anomalies": 0}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    model = pipeline.model
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
    expected = model(demo_rfm, custseg.Config(cluster=custseg.ClusterConfig(k=new_k)))
    at.switch_page("views/segments.py").run()
    assert _segment_names(at) == _names(expected)
    at.switch_page("views/choosing_k.py").run()
    at.button(key="use_k_auto").click().run()
    assert _metric(at, "Number of segments (k)") == str(auto_k)


def test_bad_file_shows_an_error_and_the_app_keeps_working(demo_model: pipeline.Model) -> None:
    at = _app()
    _upload(at, "broken.xlsx", b"this is not a workbook")
    assert not at.exception
    assert at.error and "broken.xlsx" in at.error[0].value
    assert "/custseg-uploads/" not in at.error[0].value  # the user's name, not the temp path
    at.sidebar.file_uploader[0].clear()
    at.run()
    _ok(at)
    assert _segment_names(at) == _names(demo_model)  # back on the demo data


def test_bad_dates_name_the_rows(demo_frame: pd.DataFrame) -> None:
    frame = demo_frame.head(500).astype({"InvoiceDate": str})
    frame.loc[7, "InvoiceDate"] = "yesterday"
    at = _app()
    _upload(at, "dates.csv", _csv_bytes(frame))
    assert not at.exception
    # Frame row 7 is the file's line 9 (the header is line 1).
    assert at.error and "yesterday" in at.error[0].value and "row 9" in at.error[0].value


def test_unrecognised_columns_show_the_mapping_form(demo_frame: pd.DataFrame,
                                                    demo_model: pipeline.Model) -> None:
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
    # Mapped, the renamed columns give what the original names give.
    assert _segment_names(at) == _names(demo_model)


def test_two_date_orders_ask_which_and_use_the_answer(demo_frame: pd.DataFrame) -> None:
    """Month-first dates whose days are all ≤ 12 read both ways: the app asks, like
    --date-format, and then reads them as the dates they were written from."""
    typed = demo_frame[demo_frame["InvoiceDate"].dt.day <= 12]
    fmt = "%m/%d/%Y %H:%M"  # the generated times are whole minutes: nothing is lost
    frame = typed.assign(InvoiceDate=typed["InvoiceDate"].dt.strftime(fmt))
    at = _app()
    _upload(at, "us_dates.csv", _csv_bytes(frame))
    assert not at.exception and not at.error
    assert at.warning and "two orders" in at.warning[0].value
    assert "--date-format" in at.warning[0].value
    at.radio[0].set_value(fmt)
    next(b for b in at.button if b.label == "Read the file this way").click()
    at.run()
    _ok(at)
    assert _segment_names(at) == _names(_modelled(reference_rfm(typed)))


def test_mapping_form_refuses_an_incomplete_choice(demo_frame: pd.DataFrame) -> None:
    frame = demo_frame.rename(columns={"CustomerID": "Kunde", "InvoiceDate": "Wann"})
    at = _app()
    _upload(at, "renamed.csv", _csv_bytes(frame))
    at.selectbox(key="map_customer_id").select("Kunde")
    next(b for b in at.button if b.label == "Use these columns").click()
    at.run()
    assert not at.exception
    assert any("Invoice date" in e.value for e in at.error)


def test_customer_lookup_shows_their_numbers_and_history(demo_frame: pd.DataFrame,
                                                         demo_rfm: pd.DataFrame,
                                                         demo_model: pipeline.Model) -> None:
    row = demo_rfm.sort_values("monetary").iloc[len(demo_rfm) // 2]
    segment = demo_model.customers.set_index("customer_id").loc[row["customer_id"], "segment"]
    at = _app("lookup")
    at.text_input(key="lookup_id").input(f" {row['customer_id']}.0 ").run()
    _ok(at)
    assert _metric(at, "Recency") == f"{int(row['recency']):,} days"
    assert _metric(at, "Monetary") == f"£{row['monetary']:,.0f}"
    assert _metric(at, "Segment") == segment
    history = at.dataframe[-1].value
    lines = demo_frame[demo_frame["CustomerID"].astype("Int64").astype(str)
                       == row["customer_id"]]
    assert len(history) == len(lines)
    kept = reference.kept_lines(demo_frame)
    # Kept lines say "kept" (never "None"); dropped ones the rule, in words.
    assert (history["dropped_by"] == "kept").sum() == \
        (kept["customer_id"] == row["customer_id"]).sum()
    assert set(history["dropped_by"]) <= {"kept", *labels.RULE_LABELS.values()}


def test_lookup_shows_the_customers_own_action(demo_model: pipeline.Model) -> None:
    """A lapsed high-value customer gets the win-back action with their own reason; a
    customer who has not lapsed gets their segment's action."""
    customers = demo_model.customers
    lapsed = customers[customers["lapsed"]]
    assert len(lapsed), "the demo data has lapsed customers (planted churners)"
    steady = customers[~customers["lapsed"]].iloc[0]
    win_back = segments.ACTIONS[actions.WIN_BACK_SEGMENT][1]
    at = _app("lookup")
    for row, action in ((lapsed.iloc[0], win_back),
                        (steady, segments.ACTIONS[steady["segment"]][1])):
        at.text_input(key="lookup_id").input(row["customer_id"]).run()
        _ok(at)
        advice = next(i.value for i in at.info if "Their action" in i.value)
        assert action in advice
        assert _metric(at, "Lapsed") == ("yes" if row["lapsed"] else "no")
        if row["lapsed"]:
            assert row["action_reason"] in advice and "win them back" in advice


def test_unknown_id_offers_an_id_of_this_data(demo_rfm: pd.DataFrame) -> None:
    at = _app("lookup")
    at.text_input(key="lookup_id").input("no-such-customer").run()
    example = demo_rfm.loc[demo_rfm["monetary"].idxmax(), "customer_id"]
    assert f"e.g. {example}" in at.warning[0].value
    assert example in set(demo_rfm["customer_id"])


def test_overview_says_which_countries_are_kept(demo_frame: pd.DataFrame) -> None:
    at = _app()
    at.sidebar.multiselect(key="countries-" + state.demo_source(DEMO).digest) \
        .set_value(["United Kingdom"]).run()
    _ok(at)
    rules = custseg.CleaningConfig(countries=("United Kingdom",))
    left_out = int((expected_drops(demo_frame, rules) == "country").sum())
    others = demo_frame.loc[demo_frame["Country"] != "United Kingdom", "Country"].nunique()
    scope = next(m.value for m in at.markdown if m.value.startswith("**Countries.**"))
    assert "United Kingdom" in scope
    assert f"{left_out:,} lines" in scope and f"{others} other countries" in scope


@pytest.mark.parametrize(("name", "data", "says"), [
    ("empty.csv", b"", "empty"),
    ("header_only.csv", b"InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\n", "no data rows"),
    ("broken.xlsx", b"PK\x03\x04 not really a workbook", "cannot be opened"),
])
def test_empty_or_broken_file_keeps_the_page_and_says_why(name: str, data: bytes,
                                                           says: str) -> None:
    """The page keeps its title, the sidebar every setting, and the message says what is
    wrong with the file (no mapping form with invented columns)."""
    at = _app()
    _upload(at, name, data)
    assert not at.exception
    assert [t.value for t in at.title] == ["Customer segments at a glance"]
    assert not at.warning  # no mapping form
    assert at.error and name in at.error[0].value and says in at.error[0].value
    assert "Reading the settings" not in at.error[0].value
    # The settings below Cleaning are all there.
    keys = {w.key for kind in ("date_input", "selectbox", "radio", "slider", "number_input")
            for w in at.sidebar.get(kind)}
    assert {"as_of", "transform", "k_mode", "contamination", "detector", "seed"} <= keys


def test_customer_lookup_unknown_id_says_so() -> None:
    at = _app("lookup")
    at.text_input(key="lookup_id").input("no-such-customer").run()
    assert not at.exception and not at.error
    assert "no customer" in at.warning[0].value


def test_path_seam_loads_a_file(tmp_path: Path, demo_frame: pd.DataFrame,
                                demo_model: pipeline.Model) -> None:
    path = tmp_path / "log.parquet"
    demo_frame.to_parquet(path, index=False)
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.session_state[state.SOURCE_PATH_KEY] = str(path)
    at.run()
    _ok(at)
    assert _segment_names(at) == _names(demo_model)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_XLSX.exists(), reason="real data (../shared/data) is absent")
def test_upload_of_the_real_workbook() -> None:
    import fastexcel

    # A bare calamine read, and the rules applied to it with pandas.
    frame = fastexcel.read_excel(str(REAL_XLSX)).load_sheet(
        0, dtypes={"InvoiceNo": "string", "StockCode": "string"}).to_pandas()
    at = _app()
    _upload(at, REAL_XLSX.name, REAL_XLSX.read_bytes())
    _ok(at)
    assert _segment_names(at)
    at.switch_page("views/data.py").run()
    _ok(at)
    assert _metric(at, "Rows") == f"{len(frame):,}"
    at.switch_page("views/cleaning.py").run()
    assert _metric(at, "Rows kept") == f"{len(reference.kept_lines(frame)):,}"


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_XLSX.exists(), reason="real data (../shared/data) is absent")
def test_customer_17850_of_the_workbook_is_lapsed_with_the_win_back_action() -> None:
    """17850 bought often in a short span, then not for over a year: their own action is the
    win-back one, whatever their segment's centroid says."""
    import fastexcel

    frame = fastexcel.read_excel(str(REAL_XLSX)).load_sheet(
        0, dtypes={"InvoiceNo": "string", "StockCode": "string"}).to_pandas()
    table = reference_rfm(frame).set_index("customer_id").loc["17850"]
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.session_state[state.SOURCE_PATH_KEY] = str(REAL_XLSX)
    at.run()
    at.switch_page("views/lookup.py").run()
    at.text_input(key="lookup_id").input("17850").run()
    _ok(at)
    assert _metric(at, "Recency") == f"{int(table['recency']):,} days"
    assert _metric(at, "Lapsed") == "yes"
    advice = next(i.value for i in at.info if "Their action" in i.value)
    assert segments.ACTIONS[actions.WIN_BACK_SEGMENT][1] in advice
    assert f"{int(table['recency'])} days ago" in advice  # the reason gives their own recency


@pytest.mark.parametrize(("headless", "passed"), [(None, None), (True, "true"),
                                                  (False, "false")])
def test_launch_passes_headless_only_when_given(headless: bool | None,
                                                passed: str | None) -> None:
    """Without --headless/--no-headless the user's own Streamlit settings decide; the e-mail
    prompt is always off (the server never waits for input)."""
    cmd = command(port=8765, headless=headless)
    options = {key: value for key, value in itertools.pairwise(cmd) if key.startswith("--")}
    assert options.get("--server.headless") == passed
    assert options["--server.showEmailPrompt"] == "false"
    assert options["--server.port"] == "8765"


def test_a_selected_flagged_customer_is_shown_in_full(demo_model: pipeline.Model) -> None:
    """Long reasons are cut inside table cells: the selected row's are written out below."""
    from types import SimpleNamespace

    flagged = demo_model.customers[demo_model.customers["is_anomaly"]]
    picked = ui.selected_row(SimpleNamespace(selection=SimpleNamespace(rows=[1])), flagged)
    assert picked is not None and picked["customer_id"] == flagged["customer_id"].iloc[1]
    assert ui.selected_row(SimpleNamespace(selection=SimpleNamespace(rows=[])), flagged) is None
    assert ui.selected_row(None, flagged) is None
    at = _app("anomalies")
    _ok(at)
    assert any("in full" in c.value for c in at.caption)

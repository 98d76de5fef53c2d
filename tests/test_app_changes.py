"""The dashboard's "Changes over time" page, driven by Streamlit's AppTest: the comparison of
two dates, a second file, a saved model, and the cohorts, against the core computed apart."""

from __future__ import annotations

from datetime import date

import pandas as pd

import custseg
from custseg import assign, cohorts, compare
from custseg.app import state
from tests import reference
from tests import test_app as app_tests
from tests.test_app import DEMO, _app, _csv_bytes, _ok

# The fixtures of the dashboard's tests: fresh caches for each test, the demo transactions.
_fresh_caches = app_tests._fresh_caches
demo_frame = app_tests.demo_frame


def _frame(at, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_two_dates_show_the_migration_and_cohorts(demo_frame: pd.DataFrame) -> None:
    at = _app("changes")
    _ok(at)
    assert at.title[0].value == "Changes over time"
    # The default dates: the first of the month halfway through, and the day after the last.
    assert at.date_input(key="changes_from").value == date(2011, 6, 1)
    last = pd.to_datetime(reference.kept_lines(demo_frame)["invoice_date"]).max().date()
    assert at.date_input(key="changes_to").value == last + pd.Timedelta(days=1)
    expected = compare.compare_dates(demo_frame, [date(2011, 6, 1),
                                                  last + pd.Timedelta(days=1)])
    assert any(expected.headline in m.value for m in at.markdown)
    matrix = _frame(at, "from \\ to").set_index("from \\ to")
    assert matrix.loc["total", "total"] == len(expected.after)
    movers = _frame(at, "to_segment")
    assert movers["customer_id"].tolist() == expected.movers["customer_id"].tolist()
    shown = _frame(at, "month_1")
    table = cohorts.cohort_table(custseg.load(demo_frame))
    assert shown["customers"].sum() == reference.kept_lines(demo_frame)["customer_id"].nunique()
    assert len(shown) == table["cohort"].nunique()
    # Month by month: one more snapshot per month start between the dates.
    at.toggle(key="changes_monthly").set_value(True).run()
    _ok(at)
    monthly = compare.compare_dates(demo_frame, [date(2011, 6, 1), last + pd.Timedelta(days=1)],
                                    every="month")
    assert monthly.over_time["when"].nunique() == 8  # 1 June to 1 December, and the end
    assert any("Segments month by month" in h.value for h in at.subheader)


def test_dates_in_the_wrong_order_say_so() -> None:
    at = _app("changes")
    at.date_input(key="changes_from").set_value(date(2011, 9, 1)).run()
    at.date_input(key="changes_to").set_value(date(2011, 3, 1)).run()
    assert not at.exception
    assert any("increasing order" in e.value for e in at.error)


def test_second_file_and_saved_model(demo_frame: pd.DataFrame, tmp_path) -> None:
    stamp = pd.to_datetime(demo_frame["InvoiceDate"])
    later = demo_frame[stamp >= "2011-06-01"]
    at = _app("changes")
    at.radio(key="changes_mode").set_value("This data with a second file").run()
    _ok(at)
    model = assign.fit(custseg.pipeline.compute_rfm(custseg.load(demo_frame)))
    saved = model.save(tmp_path / "model.json")
    at.file_uploader(key="changes_model").upload("model.json", saved.read_bytes())
    at.file_uploader(key="changes_second").upload("later.csv", _csv_bytes(later)).run()
    _ok(at)
    names = ", ".join(assign.segment_order(model))
    assert any(f"Using the saved model's {len(model.segment_names_)} segments: {names}." in c.value
               for c in at.caption)
    path = tmp_path / "later.csv"
    later.to_csv(path, index=False)
    one = custseg.load(demo_frame)
    expected = compare.compare_datasets(one, custseg.load(path), model=model)
    movers = _frame(at, "to_segment")
    assert movers["customer_id"].tolist() == expected.movers["customer_id"].tolist()
    gone = expected.migration.loc[expected.migration["to_segment"] == "(gone)", "customers"]
    matrix = _frame(at, "from \\ to").set_index("from \\ to")
    assert matrix.loc["total", "(gone)"] == gone.sum()
    # Other columns: a message, not a traceback.
    at.file_uploader(key="changes_second").upload(
        "other.csv", _csv_bytes(later.drop(columns="Country"))).run()
    assert not at.exception
    assert any("do not have the same columns" in e.value for e in at.error)


def test_downloaded_model_segments_as_the_run_did(demo_frame: pd.DataFrame, tmp_path) -> None:
    at = _app("downloads")
    _ok(at)
    button = next(b for b in at.get("download_button")
                  if "Segmentation model" in str(b.proto.label))
    assert button is not None
    data = state.Context(state.demo_source(DEMO), custseg.Config()).result()
    from custseg.app.timeline_state import model_json

    path = tmp_path / "model.json"
    path.write_bytes(model_json(data))
    model = assign.load(path)
    expected = data.rfm["segment"].to_numpy()
    assert (assign.assign(model, data.rfm) == expected).all()

"""The dashboard's Future value page and the look-up's lifetime value, driven by AppTest on
the demo data; expectations come from the core run of the same transactions (the app's job is
to pass them through and say what the model cannot tell)."""

from __future__ import annotations

import pandas as pd
import pytest

import custseg
from custseg import money, synth
from custseg.app import state
from custseg.config import CLVConfig

# _fresh_caches is autouse: imported, it clears the stage caches before each test here too.
from tests.test_app import DEMO, _app, _fresh_caches, _metric, _ok  # noqa: F401


@pytest.fixture(scope="module")
def demo_result() -> custseg.Result:
    frame = synth.generate_frame(DEMO, state.DEMO_SEED)[0]
    return custseg.run(frame)


def test_future_value_page_shows_the_run_s_figures(demo_result: custseg.Result) -> None:
    assert demo_result.clv is not None
    at = _app("future_value")
    _ok(at)
    currency = demo_result.config.currency
    assert _metric(at, "Lifetime value, 12 months") == money.money(
        demo_result.rfm["clv"].sum(), currency)
    share = (demo_result.rfm["p_alive"] > 0.9).mean()
    assert _metric(at, "P(alive) above 90%") == f"{share:.1%}"
    warnings = " ".join(w.value for w in at.warning)
    for sentence in demo_result.clv.verdict.warnings:
        assert sentence in warnings
    # Who to call first: the first segment's members in contact order, highest value first.
    table = next(d.value for d in at.dataframe if "clv_rank" in d.value.columns)
    assert table["clv_rank"].tolist() == list(range(1, len(table) + 1))
    assert table["clv"].is_monotonic_decreasing


def test_lookup_shows_the_customer_s_value(demo_result: custseg.Result) -> None:
    customers = demo_result.rfm
    row = customers.loc[customers["clv"].idxmax()]
    at = _app("lookup")
    at.text_input(key="lookup_id").input(str(row["customer_id"])).run()
    _ok(at)
    assert _metric(at, "P(alive)") == f"{row['p_alive']:.1%}"
    assert _metric(at, "Lifetime value, 12 months") == money.money(
        row["clv"], demo_result.config.currency)
    assert _metric(at, "Expected purchases, next 90 days") == f"{row['expected_purchases']:.2f}"


def test_a_log_too_short_for_the_holdout_says_why(tmp_path) -> None:
    frame = synth.generate_frame(DEMO, state.DEMO_SEED)[0]
    dates = pd.to_datetime(frame["InvoiceDate"])
    short = frame[dates < dates.min() + pd.Timedelta(days=40)]
    path = tmp_path / "short.csv"
    short.to_csv(path, index=False)
    result = custseg.run(path)
    assert result.clv is None
    note = next(n for n in result.summary["notes"] if n.startswith("Lifetime value"))
    assert "fewer than the 14 days needed" in note
    at = _app()
    at.session_state[state.SOURCE_PATH_KEY] = str(path)
    at.switch_page("views/future_value.py").run()
    _ok(at)
    assert note in " ".join(w.value for w in at.warning)


def test_sidebar_settings_reach_the_future_value_page() -> None:
    frame = synth.generate_frame(DEMO, state.DEMO_SEED)[0]
    config = custseg.Config(clv=CLVConfig(months=6, discount_rate=0.0))
    expected = custseg.run(frame, config)
    at = _app("future_value")
    at.number_input(key="clv_months").set_value(6).run()
    at.number_input(key="clv_discount").set_value(0.0).run()
    _ok(at)
    assert _metric(at, "Lifetime value, 6 months") == money.money(
        expected.rfm["clv"].sum(), expected.config.currency)
    at.checkbox(key="clv_enabled").uncheck().run()
    _ok(at)
    assert "Lifetime value is switched off." in " ".join(w.value for w in at.warning)

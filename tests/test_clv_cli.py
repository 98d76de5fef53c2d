"""The CLI's lifetime-value switches: --no-clv leaves CLV out, the settings reach the run,
and a setting out of range exits 2 with a message naming it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg import synth
from custseg.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("clvcli") / "log.csv"
    synth.generate_frame(300, 5)[0].to_csv(path, index=False)
    return path


def test_no_clv_leaves_lifetime_value_out(log_csv, tmp_path):
    result = runner.invoke(app, ["run", str(log_csv), "--out", str(tmp_path), "-q", "--no-clv"])
    assert result.exit_code == 0, result.output
    customers = pd.read_csv(tmp_path / "customers.csv")
    assert "clv" not in customers and "p_alive" not in customers
    assert not (tmp_path / "clv.csv").exists()
    assert "clv" not in json.loads((tmp_path / "summary.json").read_text())


def test_settings_reach_the_run(log_csv, tmp_path):
    result = runner.invoke(app, ["run", str(log_csv), "--out", str(tmp_path), "-q",
                                 "--horizon-days", "30", "--clv-months", "6",
                                 "--discount-rate", "0", "--holdout-days", "60"])
    assert result.exit_code == 0, result.output
    clv = json.loads((tmp_path / "summary.json").read_text())["clv"]
    assert (clv["horizon_days"], clv["months"], clv["discount_rate"]) == (30, 6, 0.0)
    assert clv["holdout"]["days"] == 60
    params = pd.read_csv(tmp_path / "clv.csv")
    assert params["parameter"].tolist() == ["r", "alpha", "a", "b", "p", "q", "v"]
    assert (params["standard_error"].dropna() >= 0).all()
    customers = pd.read_csv(tmp_path / "customers.csv", dtype={"customer_id": str})
    assert (customers["expected_purchases"] >= 0).all()
    ranks = customers.sort_values(["segment", "clv_rank"])
    for _, members in ranks.groupby("segment"):
        assert members["clv_rank"].tolist() == list(range(1, len(members) + 1))
        assert members["clv"].is_monotonic_decreasing


@pytest.mark.parametrize(("args", "needle"), [
    (["--discount-rate", "1.5"], "--discount-rate: 1.5 must be a monthly rate"),
    (["--horizon-days", "0"], "--horizon-days: 0 must be a whole number of at least 1"),
])
def test_bad_settings_exit_2_with_a_message(args, needle, log_csv, tmp_path):
    result = runner.invoke(app, ["run", str(log_csv), "--out", str(tmp_path), "-q", *args])
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output

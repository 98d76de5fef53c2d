"""The lifetime-value figures: valid Plotly figures whose numbers are the data's, checked
against pandas computations of the same table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from custseg import clv_charts


def _customers() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 500
    return pd.DataFrame({
        "segment": rng.choice(["Champions", "At Risk", "New"], n),
        "clv": rng.lognormal(6, 1, n), "recency": rng.integers(0, 370, n),
        "frequency": 1 + rng.geometric(0.3, n), "expected_purchases": rng.gamma(1, 1, n)})


def test_clv_by_segment_one_box_per_segment_by_total_value():
    customers = _customers()
    fig = clv_charts.clv_by_segment(customers, currency="£")
    go.Figure(fig)  # validates every property
    order = customers.groupby("segment")["clv"].sum().sort_values(ascending=False).index
    assert [t["name"] for t in fig["data"]] == list(order)
    for trace in fig["data"]:
        expected = customers.loc[customers["segment"] == trace["name"], "clv"].to_numpy()
        np.testing.assert_array_equal(trace["x"], expected)
    assert fig["layout"]["xaxis"]["type"] == "log"
    assert "£" in fig["layout"]["xaxis"]["title"]["text"]


def test_purchases_heatmap_cells_are_band_means():
    customers = _customers()
    fig = clv_charts.purchases_heatmap(customers, horizon_days=90)
    go.Figure(fig)
    trace = fig["data"][0]
    rec = pd.cut(customers["recency"], [*clv_charts.RECENCY_EDGES, np.inf], right=False,
                 labels=False)
    freq = pd.cut(customers["frequency"], [*clv_charts.FREQUENCY_EDGES, np.inf], right=False,
                  labels=False)
    means = customers.groupby([rec, freq])["expected_purchases"].mean()
    for (r, f), value in means.items():
        assert trace["z"][r][f] == value
    assert trace["y"][0] == "0–14 days" and trace["x"][-1] == "21+ orders"
    assert "90 days" in fig["layout"]["title"]["text"]


def test_calibration_plot_draws_the_table():
    table = pd.DataFrame({"purchases": [0, 1, 2], "customers": [10, 5, 2],
                          "actual": [0.5, 1.0, 2.0], "predicted": [0.4, 1.1, 1.8],
                          "baseline": [0.0, 0.9, 2.2]})
    fig = clv_charts.calibration_plot(table, holdout_days=60)
    go.Figure(fig)
    assert [t["name"] for t in fig["data"]] == ["actual", "model (BG/NBD)",
                                                "same rate as before"]
    assert fig["data"][0]["x"] == ["0", "1", "2+"]
    np.testing.assert_array_equal(fig["data"][1]["y"], table["predicted"])
    assert "60 days" in fig["layout"]["yaxis"]["title"]["text"]

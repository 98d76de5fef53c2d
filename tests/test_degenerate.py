"""Customers too alike to segment: RFM outputs and a note, exit 0, no library warning.

Expectations are built from the generated logs themselves (how many customers share a
profile, the log1p spread of each feature), not from custseg's own helpers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import custseg
from custseg import cluster, pipeline
from custseg.app import MAIN, state
from custseg.config import ClusterConfig
from custseg.errors import NoSegmentsError

N = 500
DAY = pd.Timestamp("2011-06-01 10:00")


def one_visit_log(prices: list[float], days: list[int] | None = None) -> pd.DataFrame:
    """One invoice of two items per customer, at ``prices[i]`` each, ``days[i]`` after DAY."""
    n = len(prices)
    days = days or [0] * n
    return pd.DataFrame({
        "InvoiceNo": np.arange(1000, 1000 + n), "StockCode": "A1", "Description": "THING",
        "Quantity": 2, "InvoiceDate": [DAY + pd.Timedelta(days=d) for d in days],
        "UnitPrice": prices, "CustomerID": np.arange(10000, 10000 + n), "Country": "UK"})


def varied_log(n_same: int, n_varied: int, seed: int = 0) -> pd.DataFrame:
    """``n_same`` identical one-visit customers, then ``n_varied`` with 1–7 visits at random
    dates and lognormal prices."""
    rng = np.random.default_rng(seed)
    frames = [one_visit_log([5.0] * n_same)]
    for i in range(n_varied):
        visits = int(rng.integers(1, 8))
        frame = one_visit_log(list(np.round(rng.lognormal(2, 1, visits), 2)),
                              list(rng.integers(-330, 0, visits)))
        frames.append(frame.assign(CustomerID=10000 + n_same + i))
    log = pd.concat(frames, ignore_index=True)
    return log.assign(InvoiceNo=np.arange(1000, 1000 + len(log)))


rng = np.random.default_rng(7)
#: name -> (log, words the note must contain)
DEGENERATE = {
    "identical": (one_visit_log([5.0] * N),
                  [f"All {N} customers have the same recency, frequency and spend",
                   "spend 10.00", "nothing to cluster"]),
    "two profiles": (one_visit_log([5.0, 50.0] * (N // 2)),
                     ["take just 2 distinct R/F/M profiles", "spend 10.00–100.00"]),
    # A cent or two either way on the same spend: a 0.1% spread, not a difference.
    "near-identical": (one_visit_log(list(5.0 + rng.integers(-2, 3, N) / 100)),
                       [f"All {N} customers have nearly the same", "nothing to cluster"]),
    # 97% identical: any split leaves a segment of under 5% of customers.
    "one dominant profile": (varied_log(485, 15),
                             [f"485 of {N} customers (97%) have the same R/F/M profile",
                              "under 5% of customers"]),
}


def rfm_of(log: pd.DataFrame) -> pd.DataFrame:
    return custseg.compute_rfm(custseg.load(log))


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_the_note_says_why(name: str) -> None:
    log, words = DEGENERATE[name]
    note = pipeline.why_no_segments(rfm_of(log))
    assert note is not None
    for word in words:
        assert word in note
    assert note.endswith("only the RFM table and grid were produced.")


def test_the_spread_threshold_is_relative_and_counts_each_feature() -> None:
    """Spend spread of ~0.5% (log1p std < 0.01) is flat, ~5% is a real difference."""
    for scale, flat in ((0.005, True), (0.05, False)):
        prices = list(np.round(50.0 * (1 + scale * np.linspace(-1.7, 1.7, N)), 2))
        table = rfm_of(one_visit_log(prices))
        spread = np.log1p(table["monetary"]).std(ddof=0)
        assert bool(spread < cluster.FLAT_SPREAD) is flat
        note = cluster.why_unclusterable(table, ClusterConfig())
        assert (note is not None and "nearly the same" in note) is flat


def test_one_varying_feature_is_enough_to_cluster() -> None:
    """Everyone bought once for the same amount, on many different days: recency alone
    separates them, so they are segmented."""
    days = list(np.random.default_rng(1).integers(-300, 0, N))
    table = rfm_of(one_visit_log([5.0] * N, days))
    assert table["recency"].nunique() > 100 and table["monetary"].nunique() == 1
    assert pipeline.why_no_segments(table) is None
    assert pipeline.model(table).clustering.k >= 2


def test_the_dominant_share_follows_the_settings() -> None:
    """485 of 500 alike leaves 3% for the other segments: too little at a 5% minimum share,
    enough at 2%."""
    table = rfm_of(varied_log(485, 15))
    counts = table.groupby(["recency", "frequency", "monetary"]).size()
    assert counts.max() == 485
    assert cluster.why_unclusterable(table, ClusterConfig(min_cluster_share=0.05))
    assert cluster.why_unclusterable(table, ClusterConfig(min_cluster_share=0.02)) is None


def test_model_and_k_search_refuse_with_the_same_note() -> None:
    table = rfm_of(DEGENERATE["identical"][0])
    note = pipeline.why_no_segments(table)
    for stage in (pipeline.model, pipeline.search_k):
        with pytest.raises(NoSegmentsError) as caught:
            stage(table)
        assert str(caught.value) == note


def test_run_gives_the_rfm_table_and_grid_with_the_note(tmp_path: Path) -> None:
    log = DEGENERATE["two profiles"][0]
    result = custseg.run(log)
    assert result.clustering is None and result.segments is None
    # After what the reader noticed (here: the Online Retail column names), the note.
    assert result.summary["notes"][-1] == pipeline.why_no_segments(result.rfm)
    assert len(result.rfm) == N and result.rfm["rfm_segment"].notna().all()
    assert sum(result.summary["rfm_segments"].values()) == N


# --------------------------------------------------------------------------- the CLI


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real command in a fresh process, so that warnings reach its stderr as they would
    a user's terminal (pytest would otherwise record them)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run([sys.executable, "-c", "from custseg.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", ["identical", "two profiles", "near-identical"])
def test_cli_exits_0_with_rfm_outputs_and_the_note(name: str, tmp_path: Path) -> None:
    log, words = DEGENERATE[name]
    log.to_csv(tmp_path / "log.csv", index=False)
    done = _cli("run", "log.csv", "--out", "out", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and done.stderr == "" and done.stdout == ""
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    note = summary["notes"][-1]
    assert all(word in note for word in words)
    assert "k" not in summary and summary["customers"] == N
    customers = pd.read_csv(out / "customers.csv")
    assert len(customers) == N and customers["rfm_segment"].notna().all()
    assert "segment" not in customers and "cluster" not in customers
    assert note in (out / "summary.md").read_text()
    page = (out / "report.html").read_text()
    for part in ("Row account", "RFM grid", note):
        assert part in page
    assert not (out / "segments.csv").exists()


def test_cli_on_healthy_data_with_many_alike_still_segments_without_warnings(
        tmp_path: Path) -> None:
    """300 of 500 customers identical: LOF warns about duplicates, which is expected and
    silenced where it arises; the rest still form segments."""
    varied_log(300, 200).to_csv(tmp_path / "log.csv", index=False)
    done = _cli("run", "log.csv", "--out", "out", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["k"] >= 2
    assert not any("RFM table and grid" in note for note in summary["notes"])
    assert (tmp_path / "out" / "segments.csv").exists()


# --------------------------------------------------------------------------- the dashboard


@pytest.fixture()
def _fresh_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.mark.usefixtures("_fresh_caches")
def test_dashboard_shows_the_note_instead_of_an_error(tmp_path: Path) -> None:
    log = DEGENERATE["identical"][0]
    path = tmp_path / "same.csv"
    log.to_csv(path, index=False)
    note = pipeline.why_no_segments(rfm_of(log))
    at = AppTest.from_file(str(MAIN), default_timeout=180)
    at.session_state[state.SOURCE_PATH_KEY] = str(path)
    at.run()
    for page in (None, "segments", "choosing_k", "rfm", "downloads"):
        if page:
            at.switch_page(f"views/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        if page == "rfm":  # the RFM table and grid, whole
            assert any(len(d.value) == N for d in at.dataframe)
        else:
            assert note in [i.value for i in at.info], page

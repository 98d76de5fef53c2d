"""Planted movers (custseg generate --movers): the generator plants them where it says, and
custseg compare recovers them with recall and precision of at least 0.9."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg import compare, synth
from custseg.cli import app
from custseg.errors import ConfigError
from tests import reference

MOVE = date(2011, 6, 1)


def recovered(result: compare.Comparison, truth: pd.DataFrame) -> tuple[float, float]:
    """Recall and precision of the planted moves among the movers of the two transitions they
    make: out of the model's top segment (a slip), and into it from the segment of the fewest
    orders (a rise: a newcomer at the first date)."""
    truth = truth.assign(customer_id=truth["customer_id"].astype(int).astype(str))
    moved = result.movers.merge(truth, on="customer_id", how="left")
    segments = result.model.segments_
    top = result.order[0]
    fewest = segments.sort_values(["frequency_median", "recency_median"]).iloc[0]["segment"]
    slip = (moved["from_segment"] == top) & (moved["direction"] == "down")
    rise = (moved["to_segment"] == top) & (moved["from_segment"] == fewest)
    said = np.select([slip, rise], ["slip", "rise"], "")
    hits = int(((said != "") & (moved["planted_move"] == said)).sum())
    planted = int((truth["planted_move"] != "").sum())
    return hits / planted, hits / int((said != "").sum())


@pytest.mark.parametrize("seed", [42, 7])
def test_planted_movers_are_recovered(seed: int) -> None:
    log, truth, _ = synth.generate_frame(2000, seed, movers=synth.Movers.at(0.2, MOVE))
    result = compare.compare_dates(log, [MOVE, date(2011, 12, 10)])
    recall, precision = recovered(result, truth)
    assert recall >= 0.9 and precision >= 0.9, (recall, precision)


def test_movers_are_planted_as_said() -> None:
    log, truth, _ = synth.generate_frame(600, 5, movers=synth.Movers.at(0.2, MOVE))
    kinds = truth["planted_move"]
    assert set(kinds) == {"", "slip", "rise"}
    assert not (truth["is_anomaly"] & (kinds != "")).any()
    assert 0.1 < (kinds != "").mean() < 0.3
    kept = reference.kept_lines(log)
    kept["customer_id"] = kept["customer_id"].astype(float).astype(int)
    stamp = pd.to_datetime(kept["invoice_date"])
    per = kept.assign(before=stamp < pd.Timestamp(MOVE)).groupby("customer_id")
    last = per["invoice_date"].max()
    slips = truth.loc[kinds == "slip", "customer_id"]
    # A slip buys up to ten days before the date and never after it.
    assert (pd.to_datetime(last[slips]) < pd.Timestamp(MOVE)).all()
    assert (pd.to_datetime(last[slips]) >= pd.Timestamp(MOVE) - pd.Timedelta(days=11)).all()
    rises = truth.loc[kinds == "rise", "customer_id"]
    first = pd.to_datetime(per["invoice_date"].min()[rises])
    # A rise's first order falls in the week before the date; most of their orders after it.
    assert first.between(pd.Timestamp(MOVE) - pd.Timedelta(days=7), pd.Timestamp(MOVE)).all()
    orders = kept.drop_duplicates(["customer_id", "invoice"])
    after = pd.to_datetime(orders["invoice_date"]) >= pd.Timestamp(MOVE)
    share_after = after.groupby(orders["customer_id"]).mean()[rises]
    assert (share_after > 0.6).all()


def test_generate_option_and_refusals(tmp_path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["generate", "--out", str(tmp_path), "--customers", "300",
                             "--movers", "0.2", "--format", "csv", "-q"])
    assert ok.exit_code == 0, ok.output
    truth = pd.read_csv(tmp_path / "truth_customers.csv", keep_default_na=False)
    assert set(truth["planted_move"]) == {"", "slip", "rise"}
    bad = runner.invoke(app, ["generate", "--out", str(tmp_path), "--movers", "0.2",
                              "--move-date", "2011-11-30"])
    assert bad.exit_code == 2 and "--move-date" in bad.output
    with pytest.raises(ConfigError, match="--movers"):
        synth.Movers.at(0.9, MOVE)

"""Planted movers (custseg generate --movers): the generator plants them where it says, and
custseg compare recovers them with recall and precision of at least 0.9."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg import compare, synth
from custseg.cli import app
from custseg.errors import ConfigError
from custseg.synth.movers import recovery
from tests import reference

MOVE = date(2011, 6, 1)


@pytest.mark.parametrize("seed", [42, 7])
def test_planted_movers_are_recovered(seed: int) -> None:
    log, truth, _ = synth.generate_frame(2000, seed, movers=synth.Movers.at(0.2, MOVE))
    result = compare.compare_dates(log, [MOVE, date(2011, 12, 10)])
    recall, precision = recovery(result.movers, result.model.segments_, truth)
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


def test_recovery_by_hand() -> None:
    segments = pd.DataFrame({"segment": ["Top", "Mid", "Newbies"],
                             "frequency_median": [9.0, 3.0, 1.0],
                             "recency_median": [5.0, 40.0, 3.0]})
    movers = pd.DataFrame({"customer_id": ["1", "2", "3", "4", "5"],
                           "from_segment": ["Top", "Newbies", "Mid", "Top", "Newbies"],
                           "to_segment": ["Mid", "Top", "Top", "Newbies", "Top"],
                           "direction": ["down", "up", "up", "down", "up"]})
    truth = pd.DataFrame({"customer_id": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                          "planted_move": ["slip", "rise", "rise", "", "slip", "rise"]})
    # Read as slips: 1 (planted slip), 4 (not planted); as rises: 2 (planted), 5 (planted as
    # a slip: wrong kind). Customer 3 rises from Mid: not read. Planted: 1, 2, 3, 5, 6.
    assert recovery(movers, segments, truth) == (2 / 5, 2 / 4)

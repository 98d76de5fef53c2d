"""custseg compare: one model over two snapshots (one file at two dates, or two files), the
files it writes, its refusals, and on the real data the exact reconciliation of the migration
with both snapshots' segment sizes."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg import assign, compare, migration, snapshots, synth
from custseg.cli import app
from custseg.errors import InputError, NoSegmentsError
from tests import reference
from tests.test_migration import reconciles

runner = CliRunner()


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return synth.generate_frame(customers=400, seed=21)[0]


def test_one_file_at_two_dates(log: pd.DataFrame) -> None:
    result = compare.compare_dates(log, [date(2011, 6, 1), date(2011, 12, 1)])
    kept = reference.kept_lines(log)
    when = pd.to_datetime(kept["invoice_date"])
    # Independently: who had bought before each date.
    early = set(kept.loc[when < datetime(2011, 6, 1), "customer_id"].astype(str))
    late = set(kept.loc[when < datetime(2011, 12, 1), "customer_id"].astype(str))
    assert set(result.before["customer_id"]) == early
    assert set(result.after["customer_id"]) == late
    reconciles(result.migration, result.before, result.after)
    assert migration.GONE not in set(result.migration["to_segment"])
    # One model: the first snapshot's own fit assigns its customers as it labelled them.
    model = assign.fit(result.before.drop(columns="segment"))
    assert (assign.assign(model, result.before) == result.before["segment"]).all()
    assert set(result.after["segment"]) <= set(result.order)
    moved = result.movers
    assert (moved["from_segment"] != moved["to_segment"]).all()
    both = result.paired[(result.paired["from_segment"] != migration.NEW)]
    assert len(moved) == int((both["from_segment"] != both["to_segment"]).sum())
    assert moved["action"].str.len().gt(0).all()


def test_two_files_have_new_and_gone(log: pd.DataFrame, tmp_path) -> None:
    stamp = pd.to_datetime(log["InvoiceDate"])
    first, second = tmp_path / "h1.csv", tmp_path / "h2.csv"
    log[stamp < "2011-06-01"].to_csv(first, index=False)
    log[stamp >= "2011-06-01"].to_csv(second, index=False)
    result = compare.compare_files(first, second)
    one = reference.kept_lines(log[stamp < "2011-06-01"])["customer_id"].astype(str)
    two = reference.kept_lines(log[stamp >= "2011-06-01"])["customer_id"].astype(str)
    table = result.migration
    assert table.loc[table["to_segment"] == migration.GONE, "customers"].sum() == len(
        set(one) - set(two))
    assert table.loc[table["from_segment"] == migration.NEW, "customers"].sum() == len(
        set(two) - set(one))
    reconciles(table, result.before, result.after)
    assert result.dates[0].startswith("h1.csv (")


def test_second_file_with_other_columns_is_refused(log: pd.DataFrame, tmp_path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    log.to_csv(first, index=False)
    log.drop(columns=["Country"]).to_csv(second, index=False)
    with pytest.raises(InputError, match=r"b\.csv has no country column \(in .*a\.csv: "
                                         r"Country\)"):
        compare.compare_files(first, second)


def test_every_quarter_gives_segments_over_time(log: pd.DataFrame) -> None:
    result = compare.compare_dates(log, None, every="quarter")
    over = result.over_time
    assert over is not None
    dataset = custseg.load(log)
    whens = snapshots.period_starts(dataset, "quarter")
    assert sorted(over["when"].unique()) == [pd.Timestamp(w) for w in whens]
    # At each date the sizes are those of the snapshot, and the period's revenue adds up to
    # the kept revenue between the dates.
    kept = reference.kept_lines(log)
    stamp = pd.to_datetime(kept["invoice_date"])
    previous = datetime.min
    for when in whens:
        at = over[over["when"] == pd.Timestamp(when)]
        assert at["customers"].sum() == kept.loc[stamp < when, "customer_id"].nunique()
        spent = kept.loc[(stamp < when) & (stamp >= previous), "amount"].sum()
        assert at["revenue"].sum() == pytest.approx(spent, rel=1e-9)
        assert at["customer_share"].sum() == pytest.approx(1.0)
        previous = when


def test_cli_compare_writes_files_and_refuses_bad_dates(log: pd.DataFrame, tmp_path) -> None:
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    out = tmp_path / "out"
    ok = runner.invoke(app, ["compare", str(path), "--as-of", "2011-06-01", "--as-of",
                             "2011-12-01", "--out", str(out), "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert {p.name for p in out.iterdir()} == {"migration.csv", "movers.csv", "compare.html"}
    table = pd.read_csv(out / "migration.csv")
    assert list(table.columns) == list(migration.COLUMNS)
    html = (out / "compare.html").read_text()
    assert "Where each segment" in html and "Cohorts" in html
    wrong = runner.invoke(app, ["compare", str(path), "--as-of", "2011-12-01", "--as-of",
                                "2011-06-01", "--out", str(out)])
    assert wrong.exit_code == 2 and "increasing order" in wrong.output
    outside = runner.invoke(app, ["compare", str(path), "--as-of", "2009-01-01", "--as-of",
                                  "2011-06-01", "--out", str(out)])
    assert outside.exit_code == 2 and "outside the data" in outside.output
    one = runner.invoke(app, ["compare", str(path), "--as-of", "2011-06-01", "--out", str(out)])
    assert one.exit_code == 2 and "two --as-of dates" in one.output
    both = runner.invoke(app, ["compare", str(path), str(path), "--as-of", "2011-06-01",
                               "--out", str(out)])
    assert both.exit_code == 2 and "not both" in both.output


def test_real_data_half_years_reconcile(real_csv) -> None:
    result = compare.compare_dates(real_csv, [date(2011, 6, 1), date(2011, 12, 9)])
    reconciles(result.migration, result.before, result.after)
    # The rows also add up to the segment sizes the fit itself counted at 2011-06-01.
    rows = result.migration.groupby("from_segment")["customers"].sum()
    fitted = result.model.segments_.set_index("segment")["customers"]
    assert rows.drop(migration.NEW).sort_index().to_dict() == fitted.sort_index().to_dict()
    # The second snapshot is the table of a run as of 2011-12-09.
    run_rfm = custseg.pipeline.compute_rfm(custseg.load(
        real_csv, custseg.Config().replace(rfm=custseg.config.RFMConfig(as_of=date(2011, 12, 9)))))
    pd.testing.assert_frame_equal(result.after[run_rfm.columns], run_rfm)
    matrix = migration.migration_matrix(result.migration, result.order)
    assert matrix.loc["total", "total"] == len(result.after)
    assert matrix.loc[migration.NEW, "total"] == len(result.after) - len(result.before)
    assert result.headline.startswith(tuple(f"{n:,} " for n in result.migration["customers"]))


def test_cli_compare_with_a_saved_model(log: pd.DataFrame, tmp_path) -> None:
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    # A model of other customers (the year's end), saved and loaded: it assigns both dates.
    whole = custseg.pipeline.compute_rfm(custseg.load(log))
    saved = assign.fit(whole).save(tmp_path / "model.json")
    model = assign.load(saved)
    out = tmp_path / "out"
    ok = runner.invoke(app, ["compare", str(path), "--as-of", "2011-06-01", "--as-of",
                             "2011-12-01", "--model", str(saved), "--out", str(out), "-q"])
    assert ok.exit_code == 0, ok.output
    movers = pd.read_csv(out / "movers.csv", dtype={"customer_id": str})
    direct = compare.compare_dates(log, [date(2011, 6, 1), date(2011, 12, 1)], model=model)
    assert movers["customer_id"].tolist() == direct.movers["customer_id"].tolist()
    expected = assign.assign(model, direct.before)
    assert (direct.before["segment"].to_numpy() == expected).all()
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    bad = runner.invoke(app, ["compare", str(path), "--as-of", "2011-06-01", "--as-of",
                              "2011-12-01", "--model", str(broken), "--out", str(out)])
    assert bad.exit_code == 2 and "broken.json" in bad.output


def test_a_first_date_with_too_few_customers_says_what_to_do() -> None:
    from tests.test_migration import LOG

    # Two customers bought before 1 March: too few to segment.
    with pytest.raises(NoSegmentsError, match=r"first snapshot \(2011-03-01\).*Only 2 "
                                              r"customers.*--model"):
        compare.compare_dates(LOG, [date(2011, 3, 1), date(2011, 4, 2)])


def test_cli_every_month_between_two_dates(log: pd.DataFrame, tmp_path) -> None:
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    out = tmp_path / "out"
    ok = runner.invoke(app, ["compare", str(path), "--as-of", "2011-09-15", "--as-of",
                             "2011-12-01", "--every", "month", "--out", str(out), "-q"])
    assert ok.exit_code == 0, ok.output
    over = pd.read_csv(out / "segments_over_time.csv")
    # The two dates and the month starts strictly between them.
    assert sorted(over["when"].str[:10].unique()) == ["2011-09-15", "2011-10-01", "2011-11-01",
                                                      "2011-12-01"]
    bad = runner.invoke(app, ["compare", str(path), "--every", "fortnight", "--out", str(out)])
    assert bad.exit_code == 2 and "--every" in bad.output

"""The command line: outputs, messages and exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from custseg import synth
from custseg.cli import app
from tests import reference
from tests.logs import edge_log

runner = CliRunner()


@pytest.fixture()
def edge_csv(tmp_path):
    path = tmp_path / "edge.csv"
    edge_log().to_csv(path, index=False)
    return path


def test_run_writes_the_report_and_customers(edge_csv, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(edge_csv), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    report = json.loads((out / "cleaning_report.json").read_text())
    assert {"rows_in", "rows_kept", "customers_kept", "dropped"} <= set(report)
    assert report["rows_in"] == len(edge_log()) == report["rows_kept"] + sum(
        report["dropped"].values())
    customers = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    for col in ("customer_id", "recency", "frequency", "monetary", "r_score", "f_score",
                "m_score", "rfm_segment"):
        assert col in customers.columns
    # Every country is kept by default (France's 12348, Germany's 12349).
    assert customers["customer_id"].tolist() == ["12345", "12346", "12347", "12348", "12349"]
    parquet = pd.read_parquet(out / "customers.parquet")
    assert parquet["monetary"].tolist() == pytest.approx(customers["monetary"].tolist())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["customers"] == 5


def test_rule_options_change_the_account(edge_csv, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(edge_csv), "--out", str(out), "-q", "--rules",
                                 "seed", "--country", "all", "--max-quantity", "off"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "cleaning_report.json").read_text())
    assert "country" not in report["dropped"] and "max_quantity" not in report["dropped"]
    assert report["skipped"]["country"] == "Not applied: every country is kept."


@pytest.mark.parametrize("args,needle", [
    (["run", "missing.csv"], "no such file"),
    (["run", "{edge}", "--rules", "strict"], "Unknown rule preset"),
    (["run", "{edge}", "--off", "everything"], "unknown rule(s) everything"),
    (["run", "{edge}", "--map", "client=Kunde"], "unknown key 'client'"),
    (["run", "{edge}", "--country", "Narnia"], "--country all"),
    (["run", "{edge}", "--as-of", "yesterday"], "is not a date"),
    (["run", "{edge}", "--max-line-total", "lots"], "not a number"),
    (["run", "{edge}", "--contamination", "0.9"], "between 0 and 0.5"),
])
def test_bad_input_exits_2_with_a_message_not_a_traceback(args, needle, edge_csv, tmp_path):
    args = [a.replace("{edge}", str(edge_csv)) for a in args] + ["--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert needle in text.replace("│", "").replace("  ", " ") or needle in result.output
    assert "Traceback" not in result.output


def test_inspect_shows_format_mapping_rows_and_dates(edge_csv):
    result = runner.invoke(app, ["inspect", str(edge_csv)])
    assert result.exit_code == 0, result.output
    for needle in ("csv", "InvoiceNo", "customer_id", "21", "2010-12-01 08:26:00",
                   "2011-12-09 12:50:00"):
        assert needle in result.output


def test_inspect_reports_an_unmappable_file_without_failing(tmp_path):
    path = tmp_path / "odd.csv"
    edge_log().rename(columns={"CustomerID": "Kunde"}).to_csv(path, index=False)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0
    assert "customer_id" in result.output and "--map" in result.output


def test_generate_writes_the_data_and_its_truth(tmp_path):
    result = runner.invoke(app, ["generate", "--customers", "40", "--seed", "2", "--out",
                                 str(tmp_path), "--format", "csv", "-q"])
    assert result.exit_code == 0, result.output
    data = pd.read_csv(tmp_path / "transactions.csv", dtype={"InvoiceNo": str})
    truth = pd.read_csv(tmp_path / "truth_customers.csv", dtype={"customer_id": str})
    assert list(data.columns) == ["InvoiceNo", "StockCode", "Description", "Quantity",
                                  "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
    ids = set(data["CustomerID"].dropna().astype(int).astype(str))
    assert ids <= set(truth["customer_id"]) and len(truth) == 40


def test_generate_rejects_a_bad_format(tmp_path):
    result = runner.invoke(app, ["generate", "--out", str(tmp_path), "--format", "json"])
    assert result.exit_code == 2 and "use parquet, csv or xlsx" in result.output


def test_demo_runs_the_whole_analysis(tmp_path):
    result = runner.invoke(app, ["demo", "--customers", "300", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    # The demo analyses the generator's data for the seed, as written beside the results.
    generated = synth.generate_frame(300, 42)[0]
    data = pd.read_parquet(tmp_path / "data" / "transactions.parquet")
    pd.testing.assert_frame_equal(data, generated, check_dtype=False)
    # Each customer's RFM is what pandas computes from that data under the default rules.
    expected = reference.rfm(generated)
    customers = pd.read_csv(tmp_path / "customers.csv", dtype={"customer_id": str})
    assert customers["customer_id"].tolist() == expected["customer_id"].tolist()
    assert customers["recency"].tolist() == expected["recency"].tolist()
    assert customers["frequency"].tolist() == expected["frequency"].tolist()
    assert customers["monetary"].tolist() == pytest.approx(expected["monetary"].tolist())
    # The segment table, the summary and the report agree with the customers' segments.
    sizes = customers["segment"].value_counts()
    segments = pd.read_csv(tmp_path / "segments.csv")
    assert dict(zip(segments["segment"], segments["customers"], strict=True)) == sizes.to_dict()
    summary = (tmp_path / "summary.md").read_text()
    kept = len(reference.kept_lines(generated))
    assert f"{kept:,} of {len(generated):,} transaction lines were kept" in summary
    assert f"{len(expected):,} customers" in summary
    report = (tmp_path / "report.html").read_text()
    for name, n in sizes.items():
        assert f"**{name}**: {n:,} customers" in summary
        assert name in report


@pytest.mark.parametrize("flag,parallel", [([], True), (["--no-parallel-excel"], False)])
def test_the_parallel_excel_reader_follows_the_flag(flag, parallel, tmp_path, monkeypatch):
    from custseg import xlsx

    path = tmp_path / "edge.xlsx"
    edge_log().to_excel(path, index=False)
    monkeypatch.setattr(xlsx, "SPLIT_ABOVE", 0)  # split even this small sheet
    monkeypatch.setattr(xlsx, "workers", lambda: 2)
    planned: list[str] = []
    real_plan = xlsx.plan
    monkeypatch.setattr(xlsx, "plan", lambda *a: planned.append(a[1]) or real_plan(*a))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "-q", *flag])
    assert result.exit_code == 0, result.output
    assert planned == (["Sheet1"] if parallel else [])
    customers = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    assert customers["customer_id"].tolist() == ["12345", "12346", "12347", "12348", "12349"]

"""What the reader decided reaches the user: cleaning_report.json, the summary and `inspect`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.errors import InputError
from tests.logs import edge_log

runner = CliRunner()


def _european_csv(path):
    """The edge log as a German-style export: ';' between fields, decimal commas."""
    frame = edge_log()
    frame.to_csv(path, index=False, sep=";", decimal=",")
    return path


def test_decimal_comma_is_read_and_reported(tmp_path):
    path = _european_csv(tmp_path / "de.csv")
    assert "2,55" in path.read_text()
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "cleaning_report.json").read_text())
    assert report["reading"]["decimal"] == ","
    assert report["reading"]["delimiter"] == ";"
    summary = json.loads((out / "summary.json").read_text())
    assert any("decimal comma" in note for note in summary["notes"])
    # The same numbers as the clean frame: prices were not multiplied by 100.
    got = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    want = custseg.compute_rfm(custseg.load(edge_log()))
    assert got["monetary"].round(2).tolist() == want["monetary"].round(2).tolist()
    assert report["revenue_kept"] == round(float(want["monetary"].sum()), 2)


def test_inspect_names_the_separator_and_the_preset(tmp_path):
    path = _european_csv(tmp_path / "de.csv")
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "decimal separator" in text and "','" in text
    assert "online_retail" in text


def test_forcing_the_point_refuses_values_that_can_only_be_decimal_commas(tmp_path):
    """--decimal . on '2,55' is a contradiction the rows themselves show: named, not obeyed
    into prices a hundred times too high."""
    path = tmp_path / "points.csv"
    path.write_text("InvoiceNo;InvoiceDate;Quantity;UnitPrice;CustomerID\n"
                    "1;2011-01-01 10:00;1;2,55;A\n2;2011-01-02 10:00;1;1,50;B\n")
    detected = custseg.compute_rfm(custseg.load(path))
    assert detected["monetary"].tolist() == [2.55, 1.5]
    with pytest.raises(InputError, match=r"row 2 \('2,55'\).*--decimal"):
        custseg.load(path, custseg.Config(read=custseg.config.ReadConfig(decimal=".")))


def test_a_workbook_with_an_empty_column_prints_nothing_under_quiet(tmp_path):
    """fastexcel logs a warning for an all-empty column; the reading it falls back to is the
    one wanted, so the command stays silent."""
    import os
    import subprocess
    import sys

    import xlsxwriter

    path = tmp_path / "empty_column.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Data")
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(0, 0, ["InvoiceNo", "InvoiceDate", "Quantity", "UnitPrice", "CustomerID",
                           "Notes"])
    for i in range(1, 40):
        sheet.write_row(i, 0, [i])
        sheet.write_datetime(i, 1, pd.Timestamp(2011, 1, 1 + i % 28).to_pydatetime(), when)
        sheet.write_row(i, 2, [1, 2.5 + i, 1000 + i % 25])
    book.close()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run([sys.executable, "-c", "from custseg.cli import main; main()", "run",
                           str(path), "--out", str(tmp_path / "out"), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == ""
    assert (tmp_path / "out" / "customers.csv").exists()


def test_text_ids_with_any_number_of_zero_decimals_are_one_customer(tmp_path):
    """'17850', '17850.0' and '17850.00' in a text id column are the same customer; '17850.50'
    is another id, kept as written."""
    path = tmp_path / "ids.csv"
    path.write_text("InvoiceNo,InvoiceDate,Quantity,UnitPrice,CustomerID\n"
                    "1,2011-01-01 10:00,1,10,17850\n2,2011-01-02 10:00,1,10,17850.0\n"
                    "3,2011-01-03 10:00,1,10,17850.00\n4,2011-01-04 10:00,1,10,A17\n"
                    "5,2011-01-05 10:00,1,10,17850.50\n")
    table = custseg.compute_rfm(custseg.load(path)).set_index("customer_id")
    assert sorted(table.index) == ["17850", "17850.50", "A17"]
    assert table.loc["17850", "frequency"] == 3

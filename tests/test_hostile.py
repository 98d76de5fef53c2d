"""Hostile and unusual exports, each built here from the edge log: each one gives exactly the
clean file's RFM and row account, or is refused with a message naming the real cause.

The clean file's RFM is checked once against a reference computed with pandas from the
lines the edge log's comments say are kept; every other case is compared with the clean file.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.config import CleaningConfig, ReadConfig
from custseg.errors import EmptyResultError, InputError, MappingError
from tests.logs import COLUMNS, edge_log, rfm_reference
from tests.test_readers import write_xlsx

RFM_COLS = ["customer_id", "recency", "frequency", "monetary"]
#: The edge log has Online Retail's columns; cases that change the header keep its preset.
#: "Today" is fixed so that the future_date rule does not depend on the day the tests run.
CONFIG = custseg.Config(preset="online_retail", cleaning=CleaningConfig(today=date(2024, 1, 1)))
#: The row account of the edge log, from its comments: one line per rule, ten kept.
CLEAN_ACCOUNT = {
    "rows_in": 21,
    "rows_kept": 10,
    "dropped": {"missing_customer": 1, "missing_values": 1, "duplicate": 1, "cancellation": 2,
                "adjustment": 1, "non_positive": 1, "non_product": 1, "max_line_total": 2,
                "max_quantity": 1},
}
#: Edge-log rows the cleaning keeps (the purchases of 12345–12349, see tests/logs.py).
KEPT_ROWS = [0, 1, 2, 3, 4, 6, 8, 9, 19, 20]


def text_log() -> pd.DataFrame:
    """The edge log as an export writes it: invoices, dates and customer ids as text."""
    frame = edge_log()
    return frame.assign(
        InvoiceNo=frame["InvoiceNo"].astype(str),
        InvoiceDate=frame["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        CustomerID=frame["CustomerID"].map(lambda v: "" if v is None else str(v)),
    )


def write(frame: pd.DataFrame, path: Path, **options) -> Path:
    frame.to_csv(path, index=False, **options)
    return path


def load(source, config: custseg.Config = CONFIG, **kwargs) -> custseg.Dataset:
    return custseg.load(source, config, **kwargs)


def rfm(dataset: custseg.Dataset) -> pd.DataFrame:
    return custseg.compute_rfm(dataset)[RFM_COLS]


def account(dataset: custseg.Dataset) -> dict:
    report = dataset.cleaning
    assert report.rows_in == report.rows_kept + sum(report.dropped.values())
    return {"rows_in": report.rows_in, "rows_kept": report.rows_kept,
            "dropped": {k: v for k, v in report.dropped.items() if v}}


def notes(dataset: custseg.Dataset) -> str:
    return " | ".join(dataset.source.notes)


def plus(extra: dict[str, int], rows: int) -> dict:
    """The clean account with ``rows`` more lines, dropped under the rules in ``extra``."""
    dropped = dict(CLEAN_ACCOUNT["dropped"])
    for rule, n in extra.items():
        dropped[rule] = dropped.get(rule, 0) + n
    return {"rows_in": 21 + rows, "rows_kept": 10 + rows - sum(extra.values()),
            "dropped": dropped}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> custseg.Dataset:
    return load(write(text_log(), tmp_path_factory.mktemp("clean") / "clean.csv"))


def assert_same(dataset: custseg.Dataset, clean: custseg.Dataset, expected: dict | None = None):
    pd.testing.assert_frame_equal(rfm(dataset), rfm(clean), check_dtype=False)
    assert account(dataset) == (expected or CLEAN_ACCOUNT)
    assert dataset.snapshot == clean.snapshot


def test_the_clean_file_matches_a_pandas_reference(clean):
    frame = edge_log().iloc[KEPT_ROWS]
    lines = pd.DataFrame({
        "invoice": frame["InvoiceNo"].astype(str),
        "invoice_date": frame["InvoiceDate"],
        "amount": frame["Quantity"] * frame["UnitPrice"],
        "customer_id": frame["CustomerID"].map(lambda v: str(v).strip().removesuffix(".0")),
    })
    pd.testing.assert_frame_equal(rfm(clean), rfm_reference(lines)[RFM_COLS],
                                  check_dtype=False)
    assert account(clean) == CLEAN_ACCOUNT
    assert clean.snapshot == datetime(2011, 12, 10, 12, 50)


# --- numbers ---------------------------------------------------------------------------------

def comma(value: float, places: int = 2) -> str:
    """A number as a decimal-comma export writes it, with thousands dots: 11.062,06."""
    return f"{value:,.{places}f}".translate(str.maketrans(",.", ".,"))


def test_semicolons_with_decimal_commas(tmp_path, clean):
    frame = text_log().assign(UnitPrice=lambda f: f["UnitPrice"].map(comma))
    path = write(frame, tmp_path / "eu.csv", sep=";")
    assert "2,55" in path.read_text() and "11.062,06" in path.read_text()
    dataset = load(path)
    assert_same(dataset, clean)
    assert dataset.source.decimal == ","
    assert "decimal comma" in notes(dataset)


def test_decimal_commas_with_thousands_dots_in_every_number(tmp_path, clean):
    frame = text_log().assign(UnitPrice=lambda f: f["UnitPrice"].map(comma),
                              Quantity=lambda f: (f["Quantity"] * 1.0).map(comma))
    path = write(frame, tmp_path / "eu.csv", sep=";")
    assert "-74.215,00" in path.read_text()
    assert_same(load(path), clean)


def test_quoted_decimal_commas_in_a_comma_delimited_file(tmp_path, clean):
    frame = text_log().assign(UnitPrice=lambda f: f["UnitPrice"].map(comma))
    path = write(frame, tmp_path / "quoted.csv")
    assert '"2,55"' in path.read_text()
    assert_same(load(path), clean)


def test_no_break_spaces_between_thousands(tmp_path, clean):
    for space in ("\u00a0", "\u202f"):  # Excel's, and French exports' narrow one
        frame = text_log().assign(UnitPrice=lambda f, s=space: f["UnitPrice"].map(
            lambda v: comma(v).replace(".", s)))
        path = write(frame, tmp_path / "eu.csv", sep=";")
        assert f"11{space}062,06" in path.read_text()
        assert_same(load(path), clean)


def after_the_sample(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` below 25,000 lines of one more customer (99999) that show nothing unusual:
    DuckDB's sniffer and custseg's decimal check look at the first 20,000 only."""
    filler = text_log().iloc[[19] * 25_000].assign(CustomerID="99999", UnitPrice="2.95")
    return pd.concat([filler, frame])


def test_decimal_commas_after_the_first_rows_are_refused_not_multiplied(tmp_path):
    frame = after_the_sample(text_log().assign(UnitPrice=lambda f: f["UnitPrice"].map(comma)))
    with pytest.raises(InputError) as info:
        load(write(frame, tmp_path / "merged.csv"))
    assert ("column 'UnitPrice' (unit_price) mixes decimal separators: it is read with a "
            "decimal point, but row 25002 ('2,55')") in str(info.value)


def test_quoted_fields_first_seen_after_the_sniffers_sample(tmp_path, clean):
    frame = after_the_sample(text_log().assign(Description=lambda f: f["Description"].str.replace(
        "LANTERN", "LANTERN, GLASS")))
    path = write(frame, tmp_path / "late_quotes.csv")
    assert '"WHITE METAL LANTERN, GLASS"' in path.read_text()
    dataset = load(path)
    got = rfm(dataset)
    pd.testing.assert_frame_equal(got[got["customer_id"] != "99999"].reset_index(drop=True),
                                  rfm(clean), check_dtype=False)
    # The 25,000 filler lines are one line and 24,999 exact copies of it.
    assert account(dataset) == plus({"duplicate": 24_999}, rows=25_000)


@pytest.fixture()
def ambiguous(tmp_path) -> Path:
    """Prices written with three decimals and a decimal comma (2,550) and nothing else in the
    file that shows the separator: 2,550 is two and 55/100 or two thousand five hundred."""
    frame = text_log().assign(
        UnitPrice=lambda f: f["UnitPrice"].map(lambda v: f"{v:.3f}".replace(".", ",")),
        CustomerID=lambda f: f["CustomerID"].str.strip().str.removesuffix(".0"))
    return write(frame, tmp_path / "ambiguous.csv", sep=";")


def test_numbers_readable_both_ways_are_refused_naming_decimal(ambiguous):
    with pytest.raises(InputError) as info:
        load(ambiguous)
    message = str(info.value)
    assert "'UnitPrice'" in message and "--decimal ," in message and "--decimal ." in message
    # Three different examples, not one value three times.
    assert "'2,550', '3,390', '7,650'" in message


def test_numbers_readable_both_ways_follow_the_decimal_setting(ambiguous, clean):
    as_comma = load(ambiguous, CONFIG.replace(read=ReadConfig(decimal=",")))
    assert_same(as_comma, clean)
    # Read with a decimal point, 2,550 is 2550: no line limit, so that the lines stay.
    as_point = load(ambiguous, CONFIG.replace(
        read=ReadConfig(decimal="."),
        cleaning=dataclasses.replace(CONFIG.cleaning, max_line_total=None)))
    price = as_point.con.execute("SELECT unit_price FROM lines WHERE row_id = 0").fetchone()[0]
    assert price == 2550.0


def extra_lines(values: dict, count: int = 1) -> pd.DataFrame:
    """``count`` purchase lines of customer 12345 on a day of the clean log, with ``values``."""
    line = text_log().iloc[[0] * count].assign(InvoiceNo=[f"9{i}" for i in range(count)])
    return line.assign(**values)


@pytest.mark.parametrize("column,value", [
    ("Quantity", "inf"), ("Quantity", "NaN"), ("Quantity", "1e30"),
    ("UnitPrice", "-inf"), ("UnitPrice", "NaN"), ("UnitPrice", "1e30"),
])
def test_non_finite_or_absurd_numbers_are_dropped_as_invalid(tmp_path, clean, column, value):
    frame = pd.concat([text_log(), extra_lines({column: value})])
    dataset = load(write(frame, tmp_path / "bad.csv"))
    assert_same(dataset, clean, plus({"invalid_number": 1}, rows=1))


def test_non_finite_numbers_in_a_parquet_file_are_dropped_as_invalid(tmp_path, clean):
    frame = pd.concat([text_log(), extra_lines({"UnitPrice": float("inf")}),
                       extra_lines({"Quantity": 1e30})])
    frame = frame.astype({"Quantity": float, "UnitPrice": float})
    frame.to_parquet(tmp_path / "bad.parquet")
    dataset = load(tmp_path / "bad.parquet")
    assert_same(dataset, clean, plus({"invalid_number": 2}, rows=2))


# --- dates -----------------------------------------------------------------------------------

def test_month_first_dates_with_a_day_above_12_are_detected(tmp_path, clean):
    frame = text_log().assign(InvoiceDate=edge_log()["InvoiceDate"].dt.strftime("%m/%d/%Y %H:%M"))
    dataset = load(write(frame, tmp_path / "us.csv"))
    assert dataset.source.date_format == "%m/%d/%Y %H:%M"
    assert_same(dataset, clean)


def test_dotted_day_first_dates_are_detected(tmp_path, clean):
    frame = text_log().assign(InvoiceDate=edge_log()["InvoiceDate"].dt.strftime("%d.%m.%Y %H:%M"))
    assert_same(load(write(frame, tmp_path / "de.csv")), clean)


@pytest.fixture()
def early_days() -> pd.Series:
    """The edge log's timestamps moved to day 12 or earlier: both date orders read them."""
    stamps = edge_log()["InvoiceDate"]
    return stamps.map(lambda t: t.replace(day=min(t.day, 12)))


def test_dates_both_orders_read_are_refused_showing_both_readings(tmp_path, early_days):
    frame = text_log().assign(InvoiceDate=early_days.dt.strftime("%m/%d/%Y %H:%M"))
    with pytest.raises(InputError) as info:
        load(write(frame, tmp_path / "us.csv"))
    message = str(info.value)
    assert "--date-format '%d/%m/%Y %H:%M'" in message
    assert "--date-format '%m/%d/%Y %H:%M'" in message
    # Two different values, each read both ways (2011-01-10 09:00 is written 01/10/2011).
    assert ("'01/10/2011 09:00' is 01 October 2011 as %d/%m/%Y %H:%M but 10 January 2011 as "
            "%m/%d/%Y %H:%M") in message
    assert message.count(" as %d/%m/%Y %H:%M but ") == 2


def test_dates_both_orders_read_follow_the_date_format_setting(tmp_path, early_days):
    us = text_log().assign(InvoiceDate=early_days.dt.strftime("%m/%d/%Y %H:%M"))
    iso = text_log().assign(InvoiceDate=early_days.dt.strftime("%Y-%m-%d %H:%M:%S"))
    got = load(write(us, tmp_path / "us.csv"),
               CONFIG.replace(read=ReadConfig(date_format="%m/%d/%Y %H:%M")))
    want = load(write(iso, tmp_path / "iso.csv"))
    assert_same(got, want)
    assert got.snapshot == early_days.max() + pd.Timedelta(days=1)


def test_lines_dated_in_2099_are_dropped_and_move_nothing(tmp_path, clean):
    frame = pd.concat([text_log(), extra_lines({"InvoiceDate": "2099-01-01 10:00:00"}, 3)])
    dataset = load(write(frame, tmp_path / "future.csv"))
    assert_same(dataset, clean, plus({"future_date": 3}, rows=3))
    assert dataset.snapshot == datetime(2011, 12, 10, 12, 50)


def zoned(zone: str) -> pd.Series:
    """The edge log's UTC timestamps as local times of ``zone``."""
    return edge_log()["InvoiceDate"].dt.tz_localize("UTC").dt.tz_convert(zone)


def test_iso_dates_with_offsets_are_converted_to_utc(tmp_path, clean):
    # Mixed offsets in one column: Tokyo, New York (winter and summer) and UTC.
    zones = ["Asia/Tokyo", "America/New_York", "UTC"]
    stamps = [zoned(zones[i % 3]).iloc[i].isoformat() for i in range(len(edge_log()))]
    assert "+09:00" in stamps[0] and "-05:00" in stamps[1] and "-04:00" in stamps[7]
    dataset = load(write(text_log().assign(InvoiceDate=stamps), tmp_path / "iso.csv"))
    assert_same(dataset, clean)
    got = dataset.con.execute("SELECT invoice_date FROM lines ORDER BY row_id").df()
    want = pd.to_datetime(pd.Series(stamps), utc=True).dt.tz_localize(None)
    assert got["invoice_date"].tolist() == want.tolist()
    assert "converted to UTC" in notes(dataset)


def test_zone_aware_frames_are_converted_to_utc(clean):
    frame = text_log().assign(InvoiceDate=zoned("America/New_York"))
    dataset = load(frame)
    assert_same(dataset, clean)
    got = dataset.con.execute("SELECT invoice_date FROM lines ORDER BY row_id").df()
    assert got["invoice_date"].tolist() == edge_log()["InvoiceDate"].tolist()


#: Reads three zone-aware inputs and prints their RFM and snapshot, with the zone in force.
TZ_SCRIPT = """
import json, sys, time
import pandas as pd
import custseg
from custseg.config import CleaningConfig
from datetime import date
config = custseg.Config(preset="online_retail", cleaning=CleaningConfig(today=date(2024, 1, 1)))
folder = sys.argv[1]
sources = {"csv": folder + "/offsets.csv", "parquet": folder + "/zoned.parquet",
           "frame": pd.read_parquet(folder + "/zoned.parquet")}
out = {"offset": time.strftime("%z", time.localtime(1291192000))}
for name, source in sources.items():
    dataset = custseg.load(source, config)
    table = custseg.compute_rfm(dataset)[["customer_id", "recency", "frequency", "monetary"]]
    out[name] = {"snapshot": str(dataset.snapshot), "rfm": table.values.tolist()}
print(json.dumps(out))
"""


def test_zone_aware_inputs_give_the_same_result_in_every_machine_zone(tmp_path, clean):
    offsets = text_log().assign(InvoiceDate=zoned("Asia/Tokyo").map(lambda t: t.isoformat()))
    write(offsets, tmp_path / "offsets.csv")
    text_log().assign(InvoiceDate=zoned("America/New_York")).to_parquet(
        tmp_path / "zoned.parquet")
    runs = {}
    for zone in ("UTC", "America/New_York", "Asia/Tokyo"):
        env = {**os.environ, "TZ": zone, "PYTHONPATH": str(Path(__file__).parents[1])}
        done = subprocess.run([sys.executable, "-c", TZ_SCRIPT, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=120, check=True)
        runs[zone] = json.loads(done.stdout.strip().splitlines()[-1])
    # The zone really differed between the runs (else the test proves nothing).
    assert [runs[z]["offset"] for z in runs] == ["+0000", "-0500", "+0900"]
    want = {"snapshot": str(clean.snapshot), "rfm": rfm(clean).values.tolist()}
    for zone, run in runs.items():
        for name in ("csv", "parquet", "frame"):
            assert run[name] == want, (zone, name)


def test_excel_serial_dates_in_a_csv_are_converted(tmp_path, clean):
    days = (edge_log()["InvoiceDate"] - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
    dataset = load(write(text_log().assign(InvoiceDate=days.round(8)), tmp_path / "serial.csv"))
    assert "40513.35138889" in (tmp_path / "serial.csv").read_text()
    assert_same(dataset, clean)
    assert "Excel serial" in notes(dataset)


def test_dates_as_yyyymmdd_numbers_are_converted(tmp_path):
    days = edge_log()["InvoiceDate"].dt.normalize()
    frame = text_log().assign(InvoiceDate=days.dt.strftime("%Y%m%d").astype(int))
    got = load(write(frame, tmp_path / "ymd.csv"))
    want = load(write(text_log().assign(InvoiceDate=days.dt.strftime("%Y-%m-%d")),
                      tmp_path / "iso.csv"))
    assert_same(got, want)
    assert got.snapshot == datetime(2011, 12, 10)
    assert "yyyymmdd" in notes(got)


def test_day_first_digits_are_read_with_the_date_format_setting(tmp_path):
    days = edge_log()["InvoiceDate"].dt.normalize()
    frame = text_log().assign(InvoiceDate=days.dt.strftime("%d%m%Y").astype(int))
    path = write(frame, tmp_path / "dmy.csv")
    with pytest.raises(InputError) as info:
        load(path)
    # 01/06/2011 to 30/11/2011, written as numbers (so without their leading zero).
    assert "holds numbers from 1062011 to 30112011" in str(info.value)
    assert "--date-format" in str(info.value) and "yyyymmdd" in str(info.value)
    got = load(path, CONFIG.replace(read=ReadConfig(date_format="%d%m%Y")))
    want = load(write(text_log().assign(InvoiceDate=days.dt.strftime("%Y-%m-%d")),
                      tmp_path / "iso.csv"))
    assert_same(got, want)


def test_a_date_format_that_does_not_read_some_numbers_names_their_rows(tmp_path):
    days = edge_log()["InvoiceDate"].dt.normalize()
    frame = text_log().assign(InvoiceDate=days.dt.strftime("%Y%m%d").astype(int))
    path = write(frame, tmp_path / "ymd.csv")
    # Month-first digits: 20101201 has no month 20 (that row is line 2 of the file).
    with pytest.raises(InputError, match=r"'InvoiceDate' \(invoice_date\) has values that are "
                                         r"not dates .*row 2 \(20101201\)"):
        load(path, CONFIG.replace(read=ReadConfig(date_format="%m%d%Y")))


def test_twelve_hour_times_are_read(tmp_path, clean):
    stamps = edge_log()["InvoiceDate"].dt.strftime("%m/%d/%Y %I:%M %p")
    assert "03:45 PM" in stamps.iloc[3]
    assert_same(load(write(text_log().assign(InvoiceDate=stamps), tmp_path / "us.csv")), clean)


def test_an_empty_date_column_is_called_empty(tmp_path):
    with pytest.raises(InputError, match=r"date column 'InvoiceDate' \(invoice_date\) is empty"):
        load(write(text_log().assign(InvoiceDate=""), tmp_path / "nodates.csv"))
    table = pa.Table.from_pandas(text_log(), preserve_index=False)
    table = table.set_column(4, "InvoiceDate", pa.nulls(len(table)))  # Arrow's null type
    with pytest.raises(InputError, match=r"date column 'InvoiceDate' \(invoice_date\) is empty"):
        load(table)


# --- amounts ---------------------------------------------------------------------------------

@pytest.fixture()
def with_total(tmp_path) -> Path:
    """Quantity, unit price and the order's total repeated on each of its lines."""
    frame = text_log()
    line = frame["Quantity"] * frame["UnitPrice"]
    frame["Total"] = line.groupby(frame["InvoiceNo"]).transform("sum").round(2)
    return write(frame, tmp_path / "total.csv")


def test_an_order_total_column_is_not_taken_as_the_line_amount(with_total, clean):
    dataset = load(with_total)
    assert_same(dataset, clean)
    assert dataset.source.total_column == "Total"
    # Invoices 536365 and 536403 have two lines each: their 4 lines disagree.
    assert "disagree on 4 of 21 lines (19.0%)" in notes(dataset)
    assert "--map amount=Total" in notes(dataset)


def test_an_order_total_column_mapped_explicitly_is_the_amount(with_total):
    dataset = load(with_total, mapping={"amount": "Total"})
    frame = text_log()
    line = frame["Quantity"] * frame["UnitPrice"]
    total = line.groupby(frame["InvoiceNo"]).transform("sum").round(2)
    kept = frame.iloc[KEPT_ROWS].assign(amount=total.iloc[KEPT_ROWS])
    kept["customer_id"] = kept["CustomerID"].str.strip().str.removesuffix(".0")
    want = kept.groupby("customer_id")["amount"].sum()
    got = rfm(dataset).set_index("customer_id")["monetary"]
    assert got.to_dict() == pytest.approx(want.to_dict())
    assert got["12345"] == pytest.approx(2 * (6 * 2.55 + 6 * 3.39) + 2 * 7.65 + 4 * 4.25
                                         + 6 * 4.25)


# --- encodings -------------------------------------------------------------------------------

def accented() -> pd.DataFrame:
    return text_log().assign(Description=lambda f: f["Description"].where(
        f.index != 0, "CAFÉ CRÈME £5 MUG"))


def description0(dataset: custseg.Dataset) -> str:
    return dataset.con.execute("SELECT description FROM lines WHERE row_id = 0").fetchone()[0]


@pytest.mark.parametrize("encoding,bom,named", [
    ("cp1252", b"", "Windows-1252"),
    ("latin-1", b"", "Windows-1252"),  # the same bytes for these letters: read as cp1252
    ("utf-16-le", b"\xff\xfe", "UTF-16"),
    ("utf-16-be", b"\xfe\xff", "UTF-16"),
    ("utf-16-le", b"", "UTF-16 (little-endian, without a byte-order mark)"),
    ("utf-8", b"\xef\xbb\xbf", None),
])
def test_other_encodings_are_read_and_named(tmp_path, clean, encoding, bom, named):
    path = tmp_path / "encoded.csv"
    path.write_bytes(bom + accented().to_csv(index=False).encode(encoding))
    dataset = load(path)
    assert_same(dataset, clean)
    assert description0(dataset) == "CAFÉ CRÈME £5 MUG"
    if named:
        assert f"the text is {named}" in notes(dataset)
    assert dataset.source.columns[0] == "InvoiceNo"  # no byte-order mark in the name


def test_latin1_bytes_undefined_in_cp1252_are_read_as_latin1(tmp_path, clean):
    frame = text_log().assign(Description=lambda f: f["Description"].where(
        f.index != 0, "NAÏVE\x81"))
    path = tmp_path / "latin1.csv"
    path.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    dataset = load(path)
    assert_same(dataset, clean)
    assert description0(dataset) == "NAÏVE\x81"
    assert "the text is Latin-1" in notes(dataset)


def test_a_cp1252_byte_after_the_first_megabyte_is_read_as_cp1252(tmp_path):
    filler = text_log().iloc[[19] * 30_000].assign(CustomerID="99999")
    frame = pd.concat([filler, accented()])
    path = tmp_path / "late.csv"
    path.write_bytes(frame.to_csv(index=False).encode("cp1252"))
    assert path.read_bytes().index(b"\xc9") > 1 << 20
    dataset = load(path)
    assert dataset.cleaning.rows_in == 30_021
    row = dataset.con.execute("SELECT description FROM lines WHERE row_id = 30000").fetchone()
    assert row[0] == "CAFÉ CRÈME £5 MUG"
    assert "Windows-1252" in notes(dataset)


# --- file structure --------------------------------------------------------------------------

def test_a_3_mb_cell_is_read(tmp_path, clean):
    frame = text_log().assign(Description=lambda f: f["Description"].where(
        f.index != 0, "X" * 3_000_000))
    dataset = load(write(frame, tmp_path / "long.csv"))
    assert_same(dataset, clean)
    assert len(description0(dataset)) == 3_000_000


def test_a_line_longer_than_the_reader_takes_says_so(tmp_path):
    frame = text_log().assign(Description=lambda f: f["Description"].where(
        f.index != 0, "X" * 17_000_000))
    with pytest.raises(InputError) as info:
        load(write(frame, tmp_path / "huge.csv"))
    assert "a line is 17,000,065 bytes long, above the 16,777,216 bytes" in str(info.value)
    assert len(info.value.detail) < 3000  # the reader's cause, not the 17 MB line


def test_line_breaks_delimiters_and_quotes_inside_quoted_fields(tmp_path, clean):
    odd = ['A\rB', 'C\nD', 'E, "F"; G|H\tI', 'J\r\nK']
    frame = text_log().assign(Description=lambda f: f["Description"].where(
        ~f.index.isin([0, 1, 2, 3]), pd.Series(odd + [None] * (len(f) - 4))))
    path = write(frame, tmp_path / "quoted.csv", quoting=csv.QUOTE_NONNUMERIC)
    assert b'"A\rB"' in path.read_bytes() and path.read_bytes().count(b"\r") == 2  # LF ends
    dataset = load(path)
    assert_same(dataset, clean)
    got = dataset.con.execute("SELECT description FROM lines WHERE row_id < 4 ORDER BY row_id")
    assert [r[0] for r in got.fetchall()] == odd


def test_a_bare_cr_in_an_unquoted_field_names_its_line(tmp_path):
    path = write(text_log(), tmp_path / "cr.csv")
    lines = path.read_text().split("\n")
    lines[6] = lines[6].replace("HAND WARMER", "HAND\rWARMER")  # row 6 is on line 7
    path.write_text("\n".join(lines))
    with pytest.raises(InputError) as info:
        load(path)
    assert "line 7 has a carriage return (CR) inside a field that is not quoted" in str(info.value)
    assert "'C536402,22633,HAND'" in str(info.value)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_line_ends(tmp_path, clean, newline):
    assert_same(load(write(text_log(), tmp_path / "ends.csv", lineterminator=newline)), clean)


@pytest.mark.parametrize("delimiter", ["\t", "|", ";"])
def test_other_delimiters(tmp_path, clean, delimiter):
    assert_same(load(write(text_log(), tmp_path / "delim.txt", sep=delimiter)), clean)


@pytest.mark.parametrize("change,fields", [(lambda line: line + ",extra", 9),
                                           (lambda line: line.rsplit(",", 2)[0], 6)])
def test_ragged_rows_name_their_line(tmp_path, change, fields):
    path = write(text_log(), tmp_path / "ragged.csv")
    lines = path.read_text().split("\n")
    lines[5] = change(lines[5])
    path.write_text("\n".join(lines))
    with pytest.raises(InputError, match=f"line 6 has {fields} fields where the header has 8 "
                                         f"\\(delimiter ','\\)"):
        load(path)


def test_blank_lines_are_skipped(tmp_path, clean):
    path = write(text_log(), tmp_path / "blank.csv")
    lines = path.read_text().split("\n")
    path.write_text("\n".join([*lines[:5], "", *lines[5:]]) + "\n\n\n")
    assert_same(load(path), clean)


def test_a_line_of_spaces_names_its_line(tmp_path):
    path = write(text_log(), tmp_path / "spaces.csv")
    lines = path.read_text().split("\n")
    path.write_text("\n".join([*lines[:9], "   ", *lines[9:]]))
    with pytest.raises(InputError, match="line 10 is blank but for spaces"):
        load(path)


def test_title_rows_above_the_header_are_skipped(tmp_path, clean):
    path = write(text_log(), tmp_path / "titled.csv")
    path.write_text("Sales export\nShop: Example Ltd\n\n" + path.read_text())
    assert_same(load(path), clean)


@pytest.mark.parametrize("content,cause", [
    (b"", "the file is empty (0 bytes)"),
    (b"\xef\xbb\xbf\r\n  \n", "the file is empty: it holds no text"),
    (b"\xff\xfe" + "\r\n".encode("utf-16-le"), "the file is empty: it holds no text"),
    (",".join(COLUMNS).encode() + b"\n",
     "has a header (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, "
     "CustomerID, Country) but no data rows"),
    (b'[{"InvoiceNo": 1}]', "JSON data, not a table"),
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "an HTML or XML document"),
    (bytes(range(256)) * 20, "binary data, not a table"),
])
def test_files_that_hold_no_table_say_what_they_hold(tmp_path, content, cause):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load(path)
    assert cause in str(info.value)


@pytest.mark.parametrize("copies", [200, 3_000])  # damaged within the first megabyte, after it
def test_a_truncated_gzip_file_is_called_damaged(tmp_path, copies):
    text = write(text_log(), tmp_path / "t.csv").read_bytes()
    data = gzip.compress(text.split(b"\n", 1)[0] + b"\n" + text.split(b"\n", 1)[1] * copies)
    (tmp_path / "t.csv.gz").write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(InputError, match=r"t\.csv\.gz: a damaged gzip file"):
        load(tmp_path / "t.csv.gz")


def test_a_corrupted_gzip_stream_is_called_damaged(tmp_path):
    """Garbage in the compressed data raises zlib's own error (was a crash)."""
    data = bytearray(gzip.compress(write(text_log(), tmp_path / "t.csv").read_bytes()))
    data[12:40] = b"\xff" * 28
    (tmp_path / "t.csv.gz").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"a damaged gzip file \(Error -3 while decompressing"):
        load(tmp_path / "t.csv.gz")


def renamed_xlsx(tmp_path: Path) -> Path:
    book = write_xlsx(edge_log(), tmp_path / "book.xlsx")
    return Path(shutil.copy(book, tmp_path / "export.csv"))


def renamed_csv(suffix: str):
    def build(tmp_path: Path) -> Path:
        return Path(shutil.move(write(text_log(), tmp_path / "t.csv"), tmp_path / f"t{suffix}"))
    return build


def gzip_without_gz(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    path.write_bytes(gzip.compress(write(text_log(), tmp_path / "t.csv").read_bytes()))
    return path


def zip_of_one_csv(tmp_path: Path) -> Path:
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as archive:
        archive.write(write(text_log(), tmp_path / "t.csv"), "data/orders.csv")
    return tmp_path / "export.zip"


@pytest.mark.parametrize("build,said", [
    (renamed_xlsx, "(.csv) does not match its content: it is an Excel workbook"),
    (renamed_csv(".parquet"), "(.parquet) does not match its content: it is delimited text"),
    (renamed_csv(".xlsx"), "(.xlsx) does not match its content: it is delimited text"),
    (renamed_csv(".csv.gz"), "(.gz) does not match its content: it is delimited text"),
    (gzip_without_gz, "(.csv) does not match its content: it is gzip-compressed text"),
    (zip_of_one_csv, "read 'data/orders.csv' from inside the zip archive"),
], ids=["xlsx-as-csv", "csv-as-parquet", "csv-as-xlsx", "csv-as-gz", "gzip-as-csv", "zip"])
def test_files_are_read_by_content_and_say_so(tmp_path, clean, build, said):
    dataset = load(build(tmp_path))
    assert_same(dataset, clean)
    assert said in notes(dataset)


def test_a_zip_of_two_files_is_refused_naming_them(tmp_path):
    csv_path = write(text_log(), tmp_path / "t.csv")
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.write(csv_path, "2010.csv")
        archive.write(csv_path, "2011.csv")
    with pytest.raises(InputError, match=r"a zip archive holding 2 file\(s\) \(2010.csv, "
                                         r"2011.csv\), not one table"):
        load(tmp_path / "two.zip")


def test_an_empty_zip_is_called_empty(tmp_path):
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    with pytest.raises(InputError, match="an empty zip archive"):
        load(tmp_path / "empty.zip")


# --- identifiers and headers -----------------------------------------------------------------

def test_customer_ids_written_three_ways_are_one_customer(tmp_path, clean):
    ids = text_log()["CustomerID"].str.strip().str.removesuffix(".0")
    spelled = [v if not v else (v, f"{v}.0", f" {v} ")[i % 3] for i, v in enumerate(ids)]
    assert {"12345", "12345.0", " 12345 "} <= set(spelled)
    assert_same(load(write(text_log().assign(CustomerID=spelled), tmp_path / "ids.csv")), clean)


@pytest.fixture()
def repeated_header(tmp_path) -> Path:
    frame = text_log()
    frame.insert(4, "Quantity ", frame["Quantity"] * 12)  # a pack count under the same name
    return write(frame.rename(columns={"Quantity ": "Quantity"}), tmp_path / "twice.csv")


def test_a_repeated_header_is_refused_naming_both_columns(repeated_header):
    assert "Quantity,Quantity" in repeated_header.read_text().split("\n")[0]
    with pytest.raises(MappingError) as info:
        load(repeated_header)
    assert "'Quantity', 'Quantity_1'" in str(info.value)
    assert "--map quantity=Quantity" in str(info.value)
    assert info.value.missing == ["quantity"]


def test_a_repeated_header_is_read_once_mapped(repeated_header, clean):
    assert_same(load(repeated_header, mapping={"quantity": "Quantity"}), clean)


def test_a_frame_with_repeated_column_names_is_refused_not_crashed():
    frame = edge_log()
    frame.insert(4, "dup", frame["Quantity"] * 12)
    frame.columns = [*COLUMNS[:4], "Quantity", *COLUMNS[4:]]
    with pytest.raises(MappingError, match="'Quantity', 'Quantity_1'"):
        load(frame)


def test_a_frame_without_rows_is_called_that():
    with pytest.raises(InputError, match=r"the input frame has columns \(InvoiceNo, .*\) but "
                                         r"no rows"):
        load(edge_log().iloc[:0])


def test_a_headerless_file_is_told_to_add_a_header(tmp_path):
    path = write(text_log(), tmp_path / "noheader.csv", header=False)
    with pytest.raises(MappingError, match="not a header: add a header row naming the columns, "
                                           "then name them with --map"):
        load(path)


def test_a_missing_required_column_lists_the_columns(tmp_path):
    path = write(text_log().drop(columns="CustomerID"), tmp_path / "nocust.csv")
    with pytest.raises(MappingError) as info:
        load(path)
    assert info.value.missing == ["customer_id"]
    assert ("Columns are: InvoiceNo, StockCode, Description, Quantity, InvoiceDate, "
            "UnitPrice, Country") in str(info.value)
    assert "--map customer_id=<column>" in str(info.value)


def test_an_arrow_table_with_an_absurd_price_is_dropped_as_invalid(clean):
    frame = pd.concat([text_log(), extra_lines({"UnitPrice": 1e13})])
    table = pa.Table.from_pandas(frame.astype({"UnitPrice": float}), preserve_index=False)
    assert_same(load(table), clean, plus({"invalid_number": 1}, rows=1))


# --- the command line ------------------------------------------------------------------------

@pytest.mark.parametrize("content,cause", [
    (b"", "empty"),
    (",".join(COLUMNS).encode() + b"\n", "no data rows"),
    (b'{"a": 1}', "JSON"),
])
def test_the_cli_exits_2_naming_the_cause(tmp_path, content, cause):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    # The CLI imports the modelling modules in a thread while it reads; let it finish, or
    # the interpreter may shut down under it at the end of the test session.
    for thread in threading.enumerate():
        if thread.name == "custseg-imports":
            thread.join(60)
    assert result.exit_code == 2, result.output
    assert cause in result.output
    assert "Traceback" not in result.output


def test_a_file_dated_wholly_in_the_future_names_the_rule(tmp_path):
    """A cleaning that drops every line says which rule did, not a reader problem."""
    # 2 of the 21 lines are dropped first, by missing_customer and missing_values.
    with pytest.raises(EmptyResultError, match="the rule 'future_date' removed 19"):
        load(write(text_log().assign(InvoiceDate="2099-01-01 10:00:00"), tmp_path / "f.csv"))


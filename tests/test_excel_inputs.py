"""Unusual workbooks: too large once inflated, data on another sheet, title rows above the
header, a wrong extension, dates as serial numbers. Each gives the clean workbook's RFM, or a
refusal that names the real cause and the fix."""

from __future__ import annotations

import shutil
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xlsxwriter

import custseg
from custseg import describe
from custseg.config import Config, ReadConfig
from custseg.errors import InputError, MappingError
from tests.logs import edge_log

RFM_COLS = ["customer_id", "recency", "frequency", "monetary"]


def write_book(path: Path, sheets: dict[str, list[list[Any]]], serial_dates: bool = False,
               ) -> Path:
    """Sheets of rows as they appear top to bottom; dates get a date format unless
    ``serial_dates``, which writes them as bare numbers (what Excel shows as 40513.35)."""
    book = xlsxwriter.Workbook(str(path))
    dates = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, datetime) and serial_dates:
                    sheet.write_number(r, c, (value - datetime(1899, 12, 30)).total_seconds()
                                       / 86400)
                elif isinstance(value, datetime):
                    sheet.write_datetime(r, c, value, dates)
                else:
                    sheet.write(r, c, value)
    book.close()
    return path


def log_rows(frame: pd.DataFrame | None = None) -> list[list[Any]]:
    """The edge log as rows, header first (missing values as empty cells)."""
    frame = edge_log() if frame is None else frame
    body = [[None if pd.isna(v) else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
             for v in row] for row in frame.itertuples(index=False)]
    return [list(frame.columns), *body]


TITLE = [["Sales by line, all shops"], ["Exported 2012-01-02"], []]
COVER = [["Quarterly report"], ["Prepared by", "Finance"], ["See the next sheet."]]


def rfm(path: Path, **kwargs: Any) -> pd.DataFrame:
    return custseg.compute_rfm(custseg.load(path, **kwargs))[RFM_COLS]


@pytest.fixture
def clean_rfm(tmp_path) -> pd.DataFrame:
    return rfm(write_book(tmp_path / "clean.xlsx", {"Sheet1": log_rows()}))


def test_the_clean_workbook_rfm_is_the_edge_log_rfm(clean_rfm):
    # The reference the other tests compare with is the one the same log gives as a frame
    # (tests/test_readers.py checks that one against an independent pandas computation).
    assert len(clean_rfm) == 5
    pd.testing.assert_frame_equal(clean_rfm, custseg.compute_rfm(custseg.load(edge_log()))
                                  [RFM_COLS], check_dtype=False)


# ---------------------------------------------------------------------------- size guard

def declared(path: Path, member: str) -> int:
    with zipfile.ZipFile(path) as book:
        return book.getinfo(member).file_size


def test_a_sheet_that_inflates_past_the_limit_is_refused_with_sizes_and_fix(tmp_path):
    path = write_book(tmp_path / "big.xlsx", {"Orders": log_rows() * 20})
    sheet = declared(path, "xl/worksheets/sheet1.xml")
    strings = declared(path, "xl/sharedStrings.xml")
    limit = strings + sheet // 2  # the strings alone fit, the sheet does not
    with pytest.raises(InputError) as caught:
        custseg.load(path, Config(read=ReadConfig(max_excel_bytes=limit)))
    message = str(caught.value)
    assert str(path) in message and "sheet 'Orders'" in message
    for size in (sheet, strings, path.stat().st_size, limit):
        assert f"{size:,} bytes" in message
    assert "Config.read.max_excel_bytes" in message and "--max-excel-size" in message
    assert "CSV" in message


def test_shared_strings_past_the_limit_are_refused_before_the_workbook_is_opened(
        tmp_path, monkeypatch):
    path = write_book(tmp_path / "strings.xlsx", {"Orders": log_rows()})
    strings = declared(path, "xl/sharedStrings.xml")
    import fastexcel

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("calamine opened a workbook over the limit")

    monkeypatch.setattr(fastexcel, "read_excel", never)
    with pytest.raises(InputError, match=rf"shared strings .* to {strings:,} bytes"):
        custseg.load(path, Config(read=ReadConfig(max_excel_bytes=strings - 1)))


def test_a_workbook_at_the_limit_is_read(tmp_path, clean_rfm):
    path = write_book(tmp_path / "t.xlsx", {"Sheet1": log_rows()})
    limit = declared(path, "xl/worksheets/sheet1.xml") + declared(path, "xl/sharedStrings.xml")
    got = rfm(path, config=Config(read=ReadConfig(max_excel_bytes=limit)))
    pd.testing.assert_frame_equal(got, clean_rfm)


# ---------------------------------------------------------------------------- which sheet

def test_data_on_the_second_sheet_is_read_and_the_note_says_so(tmp_path, clean_rfm):
    path = write_book(tmp_path / "t.xlsx", {"Cover": COVER, "Data": log_rows()})
    dataset = custseg.load(path)
    assert dataset.source.sheets == ("Data",)
    assert ("sheet 'Data' was read: the first sheet, 'Cover', has no transaction columns"
            in dataset.source.notes)
    pd.testing.assert_frame_equal(custseg.compute_rfm(dataset)[RFM_COLS], clean_rfm)


def test_a_named_sheet_is_read_even_without_transaction_columns(tmp_path):
    path = write_book(tmp_path / "t.xlsx", {"Cover": COVER, "Data": log_rows()})
    with pytest.raises(MappingError, match="could not find the column"):
        custseg.load(path, sheet="Cover")


def test_the_mapping_picks_the_sheet_that_has_the_mapped_columns(tmp_path, clean_rfm):
    rows = log_rows()
    rows[0] = ["Order", "Item", "Text", "Units", "When", "Each", "Client", "Land"]
    path = write_book(tmp_path / "t.xlsx", {"Cover": COVER, "Orders": rows})
    mapping = {"customer_id": "Client", "invoice_date": "When", "quantity": "Units",
               "unit_price": "Each", "invoice": "Order", "stock_code": "Item",
               "description": "Text", "country": "Land"}
    # Renamed columns are not the Online Retail export: its preset is asked for by name.
    got = rfm(path, mapping=mapping, config=Config(preset="online_retail"))
    pd.testing.assert_frame_equal(got, clean_rfm)


def test_no_sheet_with_transaction_columns_names_every_sheet_and_sheet_option(tmp_path):
    path = write_book(tmp_path / "t.xlsx", {"Cover": COVER, "Notes": [["a", "b"], [1, 2]],
                                            "Summary": [["Shop", "Revenue"], ["x", 3.5]]})
    with pytest.raises(MappingError) as caught:
        custseg.load(path)
    message = str(caught.value)
    assert "sheet 'Cover'" in message and "could not find the column(s) for customer_id" in message
    assert "'Notes', 'Summary'" in message and "--sheet NAME" in message
    assert caught.value.columns  # the first sheet's columns, for the dashboard's mapping form


def test_a_single_unrecognisable_sheet_gets_the_plain_mapping_error(tmp_path):
    path = write_book(tmp_path / "t.xlsx", {"Only": [["Shop", "Revenue"], ["x", 3.5]]})
    with pytest.raises(MappingError, match="Columns are: Shop, Revenue") as caught:
        custseg.load(path)
    assert "--sheet" not in str(caught.value)


# ---------------------------------------------------------------------------- title rows

def test_title_rows_above_the_header_are_skipped_with_a_note(tmp_path, clean_rfm):
    path = write_book(tmp_path / "t.xlsx", {"Report": TITLE + log_rows()})
    dataset = custseg.load(path)
    assert "the header is on row 4; rows 1–3 were skipped" in dataset.source.notes
    pd.testing.assert_frame_equal(custseg.compute_rfm(dataset)[RFM_COLS], clean_rfm)


def test_title_rows_on_the_second_sheet(tmp_path, clean_rfm):
    path = write_book(tmp_path / "t.xlsx", {"Cover": COVER, "Data": TITLE[:1] + log_rows()})
    dataset = custseg.load(path)
    assert dataset.source.sheets == ("Data",)
    assert "the header is on row 2; row 1 was skipped" in dataset.source.notes
    pd.testing.assert_frame_equal(custseg.compute_rfm(dataset)[RFM_COLS], clean_rfm)


def test_title_rows_found_through_calamine_when_the_xml_cannot_be_peeked(tmp_path, clean_rfm,
                                                                        monkeypatch):
    # .xls, .xlsb and .ods have no sheet XML to peek at: calamine's first rows are used, with
    # leading empty rows kept so that row numbers match fastexcel's header_row.
    from custseg import xlsx

    monkeypatch.setattr(xlsx, "head", lambda *_: None)
    path = write_book(tmp_path / "t.xlsx", {"Report": [[], *TITLE, *log_rows()]})
    dataset = custseg.load(path)
    assert "the header is on row 5; rows 1–4 were skipped" in dataset.source.notes
    pd.testing.assert_frame_equal(custseg.compute_rfm(dataset)[RFM_COLS], clean_rfm)


def test_every_sheet_finds_its_own_header_with_sheet_all(tmp_path, clean_rfm):
    rows = log_rows()
    half = [rows[0], *rows[1::2]], [rows[0], *rows[2::2]]
    path = write_book(tmp_path / "t.xlsx", {"North": TITLE + half[0], "South": half[1]})
    dataset = custseg.load(path, sheet="all")
    assert dataset.source.sheets == ("North", "South")
    assert ("the header is on row 4 of sheet 'North'; rows 1–3 were skipped"
            in dataset.source.notes)
    pd.testing.assert_frame_equal(custseg.compute_rfm(dataset)[RFM_COLS], clean_rfm)


def test_unknown_headers_under_title_rows_are_listed_in_the_mapping_error(tmp_path):
    rows = log_rows()
    rows[0] = ["Order", "Item", "Text", "Units", "When", "Each", "Client", "Land"]
    path = write_book(tmp_path / "t.xlsx", {"Report": TITLE + rows})
    with pytest.raises(MappingError, match="Columns are: Order, Item, Text, Units, When"):
        custseg.load(path)


# ---------------------------------------------------------------------------- content

def test_a_workbook_named_csv_is_read_as_a_workbook(tmp_path, clean_rfm):
    book = write_book(tmp_path / "t.xlsx", {"Sheet1": log_rows()})
    renamed = tmp_path / "export.csv"
    shutil.copy(book, renamed)
    dataset = custseg.load(renamed)
    assert dataset.source.format == "excel"
    assert any("does not match its content" in note for note in dataset.source.notes)
    pd.testing.assert_frame_equal(custseg.compute_rfm(dataset)[RFM_COLS], clean_rfm)


def test_serial_dates_without_a_date_format_give_the_same_rfm(tmp_path, clean_rfm):
    path = write_book(tmp_path / "t.xlsx", {"Sheet1": log_rows()}, serial_dates=True)
    with zipfile.ZipFile(path) as book:  # the dates really are bare numbers in the file
        assert "yyyy" not in book.read("xl/styles.xml").decode()
    pd.testing.assert_frame_equal(rfm(path), clean_rfm)


# ---------------------------------------------------------------------------- inspect

def test_inspect_lists_every_sheet_and_the_one_read(tmp_path):
    rows = TITLE + log_rows()
    path = write_book(tmp_path / "t.xlsx", {"Cover": COVER, "Data": rows})
    facts = dict(describe.describe_source(path).rows())
    assert facts["sheets"] == f"Cover (3 rows), Data ({len(rows)} rows, read)"
    assert facts["rows"] == f"{len(rows) - len(TITLE) - 1:,}"


def test_inspect_reports_a_workbook_without_transaction_columns(tmp_path):
    path = write_book(tmp_path / "t.xlsx", {"Cover": COVER, "Notes": [["a", "b"], [1, 2]]})
    facts = describe.describe_source(path)
    shown = dict(facts.rows())
    assert shown["sheets"] == "Cover (3 rows, read), Notes (2 rows)"
    assert "--sheet NAME" in shown["mapping"]

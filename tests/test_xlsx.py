"""A large sheet read in parallel parts gives exactly the table a single calamine read gives."""

from __future__ import annotations

import struct
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import fastexcel
import pyarrow as pa
import pytest
import xlsxwriter

from custseg import xlsx
from custseg.io import excel


@pytest.fixture
def small_parts(monkeypatch):
    """Split even small test sheets, into three parts whatever the machine's cores, inflating
    them in small blocks so that pieces span several blocks."""
    monkeypatch.setattr(xlsx, "SPLIT_ABOVE", 0)
    monkeypatch.setattr(xlsx, "_HEAD", 4096)
    monkeypatch.setattr(xlsx, "_LOOKAHEAD", 2048)
    monkeypatch.setattr(xlsx, "PART_BYTES", 1)
    monkeypatch.setattr(xlsx, "MAX_PARTS", 3)
    monkeypatch.setattr(xlsx, "workers", lambda: 3)


def read_both_ways(path: Path, sheet: str, monkeypatch) -> tuple[pa.Table, pa.Table, list[bool]]:
    """The sheet read whole and read in parts, and whether each parts read was used."""
    reader = fastexcel.read_excel(str(path))
    with monkeypatch.context() as patch:
        patch.setattr(xlsx, "plan", lambda *_: None)
        whole = excel._read_sheet(reader, path, sheet, None)
    used: list[bool] = []
    real_read = xlsx.read

    def spy(*args, **kwargs):
        table = real_read(*args, **kwargs)
        used.append(table is not None)
        return table

    monkeypatch.setattr(xlsx, "read", spy)
    parts = excel._read_sheet(reader, path, sheet, None)
    return whole, parts, used


def assert_same(whole: pa.Table, parts: pa.Table) -> None:
    assert parts.column_names == whole.column_names
    assert parts.schema.types == whole.schema.types
    assert parts.to_pylist() == whole.to_pylist()


def write_book(path: Path, rows: list[list], sheets: int = 1, gaps: set[int] = frozenset(),
               **options) -> Path:
    """Rows (header first) on ``sheets`` sheets; sheet s holds the rows times s; row numbers
    in ``gaps`` are left empty."""
    book = xlsxwriter.Workbook(str(path), options)
    dates = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for s in range(1, sheets + 1):
        sheet = book.add_worksheet(f"Sheet{s}")
        r = 0
        for i, row in enumerate(rows):
            while r in gaps:
                r += 1
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, datetime):
                    sheet.write_datetime(r, c, value, dates)
                elif isinstance(value, float | int) and i:
                    sheet.write_number(r, c, value * s)
                else:
                    sheet.write(r, c, value)
            r += 1
    book.close()
    return path


def sample_rows(n: int = 3000) -> list[list]:
    start = datetime(2011, 1, 1, 9, 0)
    rows: list[list] = [["Invoice", "Code", "Item", "Qty", "When", "Price", "Note"]]
    for i in range(n):
        rows.append([
            536365 + i // 4,
            # numbers at first, text codes only in the last third: one type per part
            f"X{i}" if i > 2 * n // 3 else 10_000 + i,
            f"ITEM {i % 37}",
            (i % 11) - 2,
            start + timedelta(hours=i),
            round(0.5 + (i % 13) * 1.25, 2),
            "first rows only" if i < 50 else None,
        ])
    return rows


@pytest.mark.parametrize("options", [{}, {"constant_memory": True}],
                         ids=["shared-strings", "streamed"])
def test_parts_read_equals_single_read(tmp_path, monkeypatch, small_parts, options):
    path = write_book(tmp_path / "t.xlsx", sample_rows(), **options)
    whole, parts, used = read_both_ways(path, "Sheet1", monkeypatch)
    assert used and all(used)
    assert whole.num_rows == 3000
    # the mixed column became text both ways; the column empty after row 50 kept its rows
    assert whole.schema.field("Code").type == pa.string()
    assert_same(whole, parts)


def test_empty_rows_near_the_cuts_are_kept(tmp_path, monkeypatch, small_parts):
    rows = sample_rows(900)
    # every third row number is empty around a third and two thirds of the sheet
    gaps = {r for r in range(250, 700) if r % 3 == 0}
    path = write_book(tmp_path / "t.xlsx", rows, gaps=gaps)
    whole, parts, used = read_both_ways(path, "Sheet1", monkeypatch)
    assert all(used)
    assert whole.num_rows == 900 + len(gaps)
    assert_same(whole, parts)


def test_the_named_sheet_is_read(tmp_path, monkeypatch, small_parts):
    path = write_book(tmp_path / "t.xlsx", sample_rows(600), sheets=3)
    whole, parts, used = read_both_ways(path, "Sheet2", monkeypatch)
    assert all(used)
    assert parts.column("Qty").to_pylist()[:3] == [-4.0, -2.0, 0.0]  # sheet 2 doubles numbers
    assert_same(whole, parts)


def test_a_part_with_other_columns_falls_back_to_a_single_read(tmp_path, monkeypatch,
                                                               small_parts):
    rows = sample_rows(900)
    rows[-1] = rows[-1] + ["a cell right of the header"]
    path = write_book(tmp_path / "t.xlsx", rows)
    whole, parts, used = read_both_ways(path, "Sheet1", monkeypatch)
    assert used == [False]
    assert whole.num_columns == 8
    assert_same(whole, parts)


def add_members(path: Path, members: dict[str, bytes]) -> None:
    """Append members to a package (what Excel keeps beside the cells: pivot caches, printer
    settings, media)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as book:
        for name, data in members.items():
            book.writestr(name, data)


def test_parts_copy_only_what_calamine_reads_cells_from(tmp_path, monkeypatch, small_parts):
    """Images, charts, comments, pivot caches, printer settings and the other sheets stay out
    of the parts; the parts still read exactly as the whole sheet."""
    path = tmp_path / "t.xlsx"
    book = xlsxwriter.Workbook(str(path))
    dates = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for s in (1, 2):
        sheet = book.add_worksheet(f"Sheet{s}")
        for r, row in enumerate(sample_rows(900)):
            for c, value in enumerate(row):
                if isinstance(value, datetime):
                    sheet.write_datetime(r, c, value, dates)
                elif value is not None:
                    sheet.write(r, c, value)
        sheet.write_comment("A2", "a comment")
        chart = book.add_chart({"type": "line"})
        chart.add_series({"values": f"=Sheet{s}!$D$2:$D$900"})
        sheet.insert_chart("J2", chart)
    book.close()
    add_members(path, {"xl/pivotCache/pivotCacheRecords1.xml": b"<pivotCacheRecords/>" * 5000,
                       "xl/printerSettings/printerSettings1.bin": bytes(4000),
                       "xl/media/image1.png": bytes(8000)})
    in_parts: list[set[str]] = []
    real_load = xlsx._load

    def spy(file, *args):
        with zipfile.ZipFile(file) as part:
            in_parts.append(set(part.namelist()))
        return real_load(file, *args)

    monkeypatch.setattr(xlsx, "_load", spy)
    whole, parts, used = read_both_ways(path, "Sheet2", monkeypatch)
    assert used == [True] and in_parts  # read twice: the mixed Code column is retried as text
    with zipfile.ZipFile(path) as book:
        wanted = {n for n in book.namelist() if n.lower() in {
            "[content_types].xml", "_rels/.rels", "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels", "xl/styles.xml", "xl/sharedstrings.xml"}}
    assert len(wanted) == 6
    assert all(names == wanted | {"xl/worksheets/sheet2.xml"} for names in in_parts)
    assert_same(whole, parts)


def test_parts_parse_on_at_most_one_thread_per_core(tmp_path, monkeypatch, small_parts):
    """However many parts, no more of them parse at once than there are cores (and never
    more than MAX_THREADS)."""
    import threading
    import time

    monkeypatch.setattr(xlsx, "MAX_PARTS", 12)
    path = write_book(tmp_path / "t.xlsx", sample_rows(3000))
    running, most, lock = 0, 0, threading.Lock()
    real_load = xlsx._load

    def counting(*args):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)  # long enough for every free thread to pick a part up
        try:
            return real_load(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(xlsx, "_load", counting)
    for cores, bound in ((3, 3), (64, xlsx.MAX_THREADS)):
        monkeypatch.setattr(xlsx, "workers", lambda cores=cores: cores)
        split = xlsx.plan(path, "Sheet1")
        assert split is not None and split.parts == 12
        most = 0
        table = xlsx.read(split, {"Code": "string"}, "strict")
        assert table is not None and table.num_rows == 3000
        assert 1 < most <= bound


def test_the_parallel_reader_can_be_switched_off(tmp_path, monkeypatch, small_parts):
    import custseg
    from custseg.config import Config, ReadConfig

    rows = [["InvoiceNo", "CustomerID", "InvoiceDate", "Quantity", "UnitPrice"]] + [
        [f"N{i // 3}", 17000 + i % 7, datetime(2011, 1, 1) + timedelta(hours=i), 1 + i % 5,
         2.5] for i in range(3000)]
    path = write_book(tmp_path / "t.xlsx", rows)
    calls: list[bool] = []
    real_read = xlsx.read
    monkeypatch.setattr(xlsx, "read", lambda *a: calls.append(True) or real_read(*a))
    on = custseg.load(path)
    assert calls == [True]
    off = custseg.load(path, Config(read=ReadConfig(parallel_excel=False)))
    assert calls == [True]  # not called again
    lines = "SELECT * EXCLUDE (row_id) FROM lines ORDER BY row_id"
    assert on.con.sql(lines).fetchall() == off.con.sql(lines).fetchall()
    assert off.cleaning.rows_in == 3000


def test_small_sheets_and_single_cores_are_not_split(tmp_path, monkeypatch):
    path = write_book(tmp_path / "t.xlsx", sample_rows(100))
    assert xlsx.plan(path, "Sheet1") is None  # far below SPLIT_ABOVE
    monkeypatch.setattr(xlsx, "SPLIT_ABOVE", 0)
    monkeypatch.setattr(xlsx, "workers", lambda: 1)
    assert xlsx.plan(path, "Sheet1") is None
    monkeypatch.setattr(xlsx, "workers", lambda: 2)
    split = xlsx.plan(path, "Sheet1")
    assert split is not None and split.member.filename == "xl/worksheets/sheet1.xml"
    assert xlsx.plan(path, "NoSuchSheet") is None


def test_parts_are_fewer_when_the_shared_strings_are_large(tmp_path, monkeypatch):
    rows = [["Id", "Text"]] + [[i, f"a long and unique comment number {i}"] for i in range(2000)]
    path = write_book(tmp_path / "t.xlsx", rows)
    with zipfile.ZipFile(path) as book:
        sheet = book.getinfo("xl/worksheets/sheet1.xml").file_size
        strings = book.getinfo("xl/sharedStrings.xml").file_size
    assert strings > sheet / 4  # most of the text sits in the strings table
    monkeypatch.setattr(xlsx, "SPLIT_ABOVE", 0)
    monkeypatch.setattr(xlsx, "PART_BYTES", 1024)
    monkeypatch.setattr(xlsx, "workers", lambda: 2)
    split = xlsx.plan(path, "Sheet1")
    assert split is not None
    assert split.parts == max(2, sheet // (2 * strings)) < -(-sheet // 1024)


def test_real_workbook_parts_equal_the_single_read(real_xlsx, monkeypatch):
    monkeypatch.setattr(xlsx, "workers", lambda: 2)
    whole, parts, used = read_both_ways(real_xlsx, "Online Retail", monkeypatch)
    assert used == [True]
    assert whole.num_rows == 541_909
    assert parts.equals(whole.cast(parts.schema))


def understate(path: Path, member: str, size: int) -> None:
    """Make the zip declare ``size`` bytes for ``member`` (local header and directory), as a
    crafted file can: the compressed data still inflates to its real size."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as book:
        offset = book.getinfo(member).header_offset
    struct.pack_into("<I", data, offset + 22, size)
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:
        name_len = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46:entry + 46 + name_len] == member.encode():
            struct.pack_into("<I", data, entry + 24, size)
        entry = data.find(b"PK\x01\x02", entry + 4)
    path.write_bytes(bytes(data))


def test_the_parts_stop_inflating_at_the_limit_whatever_the_size_declared(tmp_path,
                                                                          small_parts):
    path = write_book(tmp_path / "t.xlsx", sample_rows(3000))
    real = zipfile.ZipFile(path).getinfo("xl/worksheets/sheet1.xml").file_size
    understate(path, "xl/worksheets/sheet1.xml", real // 3)  # cuts land in the first third
    split = xlsx.plan(path, "Sheet1", limit=real // 2)
    assert split is not None and split.member.file_size == real // 3
    with pytest.raises(xlsx.TooLargeError) as caught:
        xlsx.read(split, {}, "strict")
    assert caught.value.limit == real // 2
    # with room for the real size, the same parts read every row
    assert xlsx.read(xlsx.plan(path, "Sheet1", limit=real), {"Code": "string"},
                     "strict").num_rows == 3000


@pytest.mark.parametrize("split", [False, True], ids=["plain-read", "parts"])
def test_a_sheet_larger_than_declared_is_refused_before_calamine_parses_it(
        tmp_path, monkeypatch, split):
    import custseg
    from custseg.config import Config, ReadConfig
    from custseg.errors import InputError

    if split:
        monkeypatch.setattr(xlsx, "SPLIT_ABOVE", 0)
        monkeypatch.setattr(xlsx, "workers", lambda: 2)
    rows = [["Invoice", "Customer", "Date", "Amount"]] + [
        [f"N{i}", 17000 + i % 5, datetime(2011, 1, 1) + timedelta(hours=i), 2.5]
        for i in range(3000)]
    path = write_book(tmp_path / "t.xlsx", rows)
    real = zipfile.ZipFile(path).getinfo("xl/worksheets/sheet1.xml").file_size
    understate(path, "xl/worksheets/sheet1.xml", 5000)
    limit = real // 2
    with pytest.raises(InputError, match=rf"sheet 'Sheet1'.*more than .*{limit:,} bytes.*"
                                         r"declares less.*--max-excel-size"):
        custseg.load(path, Config(read=ReadConfig(max_excel_bytes=limit)))
    assert custseg.load(path, Config(read=ReadConfig(max_excel_bytes=real))).source.rows == 3000


@pytest.mark.parametrize("options", [{}, {"constant_memory": True}],
                         ids=["shared-strings", "inline-strings"])
def test_head_reads_the_first_rows_as_calamine_numbers_them(tmp_path, options):
    path = tmp_path / "t.xlsx"
    book = xlsxwriter.Workbook(str(path), options)
    sheet = book.add_worksheet("Data")
    sheet.write(1, 1, "Report")  # rows 1 and 3 stay empty, column A of row 2 too
    sheet.write_row(3, 0, ["Id", "When", "Paid"])
    sheet.write_row(4, 0, [7, 40513.5, True])
    sheet.write_row(5, 0, ["x8", None, False])
    sheet.write_row(40, 0, ["far below"])
    book.close()
    head = xlsx.head(path, "Data", 6)
    assert head is not None and head.height == 41 - 1  # rows 2 to 41
    calamine = fastexcel.read_excel(str(path)).load_sheet(
        "Data", header_row=None, skip_rows=0, n_rows=6, eager=True).to_pylist()
    assert len(head.rows) == len(calamine) == 6
    for ours, theirs in zip(head.rows, calamine, strict=True):
        theirs = list(theirs.values())
        ours = ours + [None] * (len(theirs) - len(ours))
        # the same cells are empty, and text is the same text (calamine gives text for every
        # cell of a column that holds some text, so numbers are compared apart)
        assert [v is None for v in ours] == [v is None for v in theirs]
        assert [v for v in ours if isinstance(v, str)] == \
            [t for v, t in zip(ours, theirs, strict=True) if isinstance(v, str)]
    assert head.rows[1] == [None, "Report"]
    assert head.rows[3] == ["Id", "When", "Paid"]
    assert head.rows[4] == [7.0, 40513.5, True]
    assert head.rows[5] == ["x8", None, False]

"""Readers: any supported export becomes the DuckDB view ``source`` with its original columns.

The file's content decides how it is read (:mod:`custseg.io.sniff`); workbooks go through
calamine (:mod:`custseg.io.excel`); delimited text and Parquet are scanned by DuckDB, so they
are never held in Python memory; frames are registered as they are (:mod:`custseg.io.frames`).
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from custseg.config import ReadConfig
from custseg.errors import InputError
from custseg.io import excel, frames, numbers, sniff
from custseg.io.mapping import text_headers
from custseg.io.sql import literal, reader_cause

#: DuckDB's default longest line (2 MB) refuses exports with long description cells; lines up
#: to this many bytes are read. DuckDB sizes its read buffers from it (16 times by default, a
#: gigabyte here), so the buffer is set to twice the line instead.
MAX_LINE_BYTES = 1 << 24


@dataclass(frozen=True)
class SourceInfo:
    """What was read: format, sheets, columns, mapping and size, and how it was read."""

    path: str | None
    format: str
    columns: tuple[str, ...]
    mapping: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    sheets: tuple[str, ...] = ()
    delimiter: str | None = None
    date_format: str | None = None
    #: Decimal separator of text numbers ("." or ","), when the input has any.
    decimal: str | None = None
    encoding: str | None = None
    #: The data preset applied ("online_retail", …) or None.
    preset: str | None = None
    #: A total column found by name but not used, because quantity × unit price is per line.
    total_column: str | None = None
    #: Things the reader decided that a user should know (a wrong extension, an encoding, …).
    notes: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """How messages name the input."""
        return self.path or "the input frame"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "path": self.path,
            "format": self.format,
            "columns": list(self.columns),
            "mapping": self.mapping,
            "rows": self.rows,
            "sheets": list(self.sheets),
            "delimiter": self.delimiter,
            "date_format": self.date_format,
            "decimal": self.decimal,
            "encoding": self.encoding,
            "preset": self.preset,
            "total_column": self.total_column,
            "notes": list(self.notes),
        }


def register_source(con: duckdb.DuckDBPyConnection, source: Any, *, sheet: str | None = None,
                    overrides: Mapping[str, str] | None = None,
                    read: ReadConfig | None = None) -> SourceInfo:
    """Make ``source`` available as the DuckDB view ``source`` with its original columns.

    Parameters
    ----------
    source:
        A path (str or Path) or a pandas/polars/Arrow frame.
    sheet:
        Excel only: a sheet name, ``"all"`` to stack every sheet with the same header, or None
        for the first sheet with recognisable columns.
    overrides:
        Explicit ``key -> column`` choices (from ``--map``); they also force id columns to text.
    read:
        Decimal separator and workbook size limit.

    Returns
    -------
    SourceInfo, with ``mapping`` still empty (see :func:`custseg.io.map_columns`).
    """
    read = read or ReadConfig()
    if not isinstance(source, str | Path):
        frames.arrow_to_table(con, frames.to_arrow(_unique_columns(source)))
        info = _table_source(con, None, "frame")
        if info.rows == 0:
            raise InputError(f"the input frame has columns ({', '.join(info.columns)}) but no "
                             f"rows. Pass the frame with its transactions.")
        return info
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file. Check the path and try again.")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the transaction file inside it.")
    found = sniff.sniff(path, _temp_dir(con))
    try:
        if found.format == "excel":
            sheets, notes = excel.register_workbook(con, found.path, sheet, overrides, read,
                                                    shown=path)
            return _table_source(con, path, "excel", sheets=sheets,
                                 notes=tuple(found.notes) + notes)
        if found.format == "parquet":
            return _register_parquet(con, path, found)
        return _register_csv(con, path, found, overrides, read)
    finally:
        found.cleanup()


def _unique_columns(frame: Any) -> Any:
    """A pandas frame whose repeated column names are numbered as the file readers number
    them ("Quantity", "Quantity_1"), so that each column can be named."""
    names = getattr(frame, "columns", None)
    if names is None or not hasattr(names, "duplicated") or not names.duplicated().any():
        return frame
    unique: list[str] = []
    for name in map(str, names):
        new, n = name, 0
        while new.lower() in {u.lower() for u in unique}:
            n += 1
            new = f"{name}_{n}"
        unique.append(new)
    return frame.set_axis(unique, axis=1)


def _temp_dir(con: duckdb.DuckDBPyConnection) -> str | None:
    """DuckDB's spill directory, which the user chose with --temp-dir (created if needed)."""
    try:
        folder = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)
    except (duckdb.Error, OSError, IndexError):
        return None


def _register_csv(con: duckdb.DuckDBPyConnection, shown: Path, found: sniff.Sniffed,
                  overrides: Mapping[str, str] | None, read: ReadConfig) -> SourceInfo:
    """Read delimited text once into a table; a column whose type guess fails further down the
    file (numbers first, text later) is read again as text."""
    notes = list(found.notes)
    options = [f"header = true, max_line_size = {MAX_LINE_BYTES}, "
               f"buffer_size = {2 * MAX_LINE_BYTES}"]
    # Explicit: DuckDB would otherwise decide from the extension, and the content decides.
    options.append(f"compression = '{found.compression or 'none'}'")
    if read.delimiter is not None:
        options.append(f"delim = {literal(read.delimiter)}")
    dialect = _dialect(con, found, options, shown)
    decimal = read.decimal or numbers.sniff_decimal(dialect["samples"], shown)
    if decimal == "," and dialect["delimiter"] != ",":
        # DuckDB then types "2,55" as 2.55; a column it cannot type ("1.234,5") stays text
        # and is converted in SQL with the same separator.
        options.append("decimal_separator = ','")
    text = text_headers(overrides)
    for _ in range(32):
        types = (", types = {" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in text) + "}"
                 if text else "")
        try:
            con.execute(f"CREATE OR REPLACE TABLE source_table AS SELECT * FROM "
                        f"read_csv({literal(str(found.path))}, {', '.join(options)}{types})")
            break
        except duckdb.ConversionException as exc:
            column = re.search(r'column "(.+?)"', str(exc))
            if column is None or column.group(1) in text:
                raise _csv_error(shown, exc, found) from exc
            text.add(column.group(1))
        except duckdb.InvalidInputException as exc:
            if "unicode" in str(exc).lower() and found.encoding == "utf-8":
                # The first megabyte was UTF-8, a later line is not: read it as Windows text.
                try:
                    retry = sniff.transcode(found, "cp1252", _temp_dir(con))
                except InputError:  # a byte cp1252 leaves undefined: latin-1 defines all
                    retry = sniff.transcode(found, "latin-1", _temp_dir(con))
                try:
                    return _register_csv(con, shown, retry, overrides, read)
                finally:
                    retry.cleanup()
            raise _csv_error(shown, exc, found) from exc
        except duckdb.Error as exc:
            raise _csv_error(shown, exc, found) from exc
    info = _table_source(con, shown, "csv", delimiter=dialect["delimiter"], decimal=decimal,
                         encoding=found.encoding, notes=tuple(notes))
    _check_shape(con, info, found)
    con.execute("CREATE OR REPLACE VIEW source AS SELECT rowid AS __row_id, * "
                "FROM source_table")
    return info


def _dialect(con: duckdb.DuckDBPyConnection, found: sniff.Sniffed, options: list[str],
             shown: Path) -> dict[str, Any]:
    """The delimiter DuckDB's sniffer finds, and a sample of fields for the decimal check.

    Only a file whose delimiter is not a comma can use decimal commas unquoted, which DuckDB
    must be told before it types the columns; in a comma-delimited file a decimal comma sits
    in quoted text, which :mod:`custseg.io.types` decides column by column. So the sample
    (0.2 s on the real 540k-line file, and the check 0.7 s) is only taken when it can matter.
    """
    try:
        row = con.execute(f"SELECT Delimiter, Quote FROM sniff_csv({literal(str(found.path))}, "
                          f"{', '.join(options)})").fetchall()[0]
        if row[1] in ("", "(empty)", "\x00", None):
            # No quote in the sniffer's sample does not mean none further down: a quoted
            # "2,55" on line 25,000 would otherwise split into two fields. Quotes inside
            # unquoted fields (12" VINYL) still read as they are.
            options.append("quote = '\"', escape = '\"'")
        samples = [] if row[0] == "," else con.execute(
            f"SELECT * FROM read_csv({literal(str(found.path))}, {', '.join(options)}, "
            f"all_varchar = true) LIMIT 20000").fetchall()
    except duckdb.Error as exc:
        raise _csv_error(shown, exc, found) from exc
    return {"delimiter": row[0], "samples": samples}


def _check_shape(con: duckdb.DuckDBPyConnection, info: SourceInfo, found: sniff.Sniffed) -> None:
    """Name the real cause when the text did not come out as a table of rows."""
    said = "".join(f" ({note})" for note in found.notes[:1])
    if info.rows == 0:
        raise InputError(f"{info.where}: the file has a header ({', '.join(info.columns)}) "
                         f"but no data rows{said}. Export the data again with its rows.")
    if len(info.columns) == 1:
        cause = _diagnose(found)
        if cause is not None:
            raise InputError(f"{info.where}: {cause}{said}, so the file is not one table. "
                             f"{FIX_LINES}")


#: What to do about a line that breaks the table.
FIX_LINES = ("Fix or remove that line (quote fields that contain the delimiter or a line "
             "break) and try again.")
#: Lines looked at when a reader failure is explained.
DIAGNOSE_LINES = 1_000_000


def _diagnose(found: sniff.Sniffed) -> str | None:
    """The first line that breaks the table, in words (None when none is found): a carriage
    return inside a field that is not quoted, or a field count that differs from the header's.
    DuckDB's sniffer falls back to one column, or fails, on such files without saying why."""
    opener = gzip.open if found.compression == "gzip" else open
    try:
        with opener(found.path, "rb") as handle:
            cause = _bare_cr(handle)
        if cause is None:
            # Python's csv module refuses fields above 128 kB; DuckDB reads longer ones.
            limit = csv.field_size_limit(MAX_LINE_BYTES)
            try:
                with opener(found.path, "rt", encoding="utf-8", errors="replace",
                            newline="") as handle:
                    cause = _ragged_line(handle)
            finally:
                csv.field_size_limit(limit)
    except (*sniff.GZIP_ERRORS, csv.Error):
        return None  # the reader's own message stands
    return cause


def _bare_cr(handle: Any) -> str | None:
    """A carriage return (CR) outside quotes that is not part of a CRLF line end splits a row
    in two; the line that holds it (lines counted by line feeds, as in an editor)."""
    quoted = False
    for number, line in enumerate(handle, start=1):
        body = line.removesuffix(b"\n").removesuffix(b"\r")
        if b"\r" in body:
            parts = body.split(b'"')
            if any(b"\r" in part for part in parts[(1 if quoted else 0)::2]):
                if number == 1:
                    return None  # CR line ends (old Mac files): DuckDB reads those
                start = body.split(b"\r")[0][-40:].decode("utf-8", "replace")
                return (f"line {number} has a carriage return (CR) inside a field that is not "
                        f"quoted (right after {start!r}), which splits its row in two")
        quoted ^= body.count(b'"') % 2 == 1
        if number > DIAGNOSE_LINES:
            break
    return None


def _ragged_line(handle: Any) -> str | None:
    """The first line whose field count differs from the header's, for the most likely
    delimiter (the one the header holds most often)."""
    head = handle.readline()
    counts = {d: head.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d])
    if not counts[delimiter]:
        return None
    handle.seek(0)
    reader = csv.reader(handle, delimiter=delimiter)
    expected = len(next(reader))
    line = reader.line_num
    for row in reader:
        number, line = line + 1, reader.line_num  # a quoted line break spans lines
        if row and len(row) != expected:
            if not "".join(row).strip():
                return f"line {number} is blank but for spaces"
            return (f"line {number} has {len(row)} field{'s' * (len(row) != 1)} where the "
                    f"header has {expected} (delimiter {delimiter!r})")
        if line > DIAGNOSE_LINES:
            break
    return None


def _csv_error(path: Path, exc: Exception, found: sniff.Sniffed) -> InputError:
    said = "".join(f" ({note})" for note in found.notes[:1])
    # The reader names the file it opened: a temporary UTF-8 copy is the user's file.
    cause = reader_cause(exc, 400).replace(str(found.path), str(path))
    # The raw message quotes the offending line, which can be megabytes long.
    detail = reader_cause(exc, 2000).replace(str(found.path), str(path))
    if found.compression == "gzip" and "gzip" in str(exc).lower():
        return sniff.damaged_gzip(path, exc)  # the start was fine, a later part is not
    too_long = re.search(r"Maximum line size of (\d+) bytes exceeded\. Actual Size:\s*(\d+)",
                         str(exc))
    if too_long:
        limit, size = (int(n) for n in too_long.groups())
        return InputError(
            f"{path}: a line is {size:,} bytes long, above the {limit:,} bytes custseg reads in "
            f"one line{said}. Shorten or remove the cell that holds so much text (a whole "
            f"document or image pasted into a cell?) and try again.", detail=detail)
    line = _diagnose(found)
    if line is not None:
        return InputError(f"{path}: cannot be read as one table{said}: {line}. {FIX_LINES}",
                          detail=detail)
    return InputError(
        f"{path}: cannot be read as delimited text{said}. The reader says: {cause} Check that "
        f"every line has the same number of fields, that the first line is a header, and that "
        f"numbers use one format.", detail=detail)


def _table_source(con: duckdb.DuckDBPyConnection, path: Path | None, fmt: str,
                  **extra: Any) -> SourceInfo:
    """Describe ``source_table``."""
    names = [r[0] for r in con.execute("DESCRIBE source_table").fetchall()]
    rows = int(con.execute("SELECT count(*) FROM source_table").fetchall()[0][0])
    return SourceInfo(path=str(path) if path else None, format=fmt, columns=tuple(names),
                      rows=rows, **extra)


def _register_parquet(con: duckdb.DuckDBPyConnection, shown: Path,
                      found: sniff.Sniffed) -> SourceInfo:
    scan = f"read_parquet({literal(str(found.path))}, file_row_number = true)"
    # A Parquet file taken out of a zip archive is a temporary copy: keep its rows.
    kind = "TABLE" if found.temporary else "VIEW"
    try:
        con.execute(f"CREATE OR REPLACE {kind} source AS SELECT file_row_number AS __row_id, "
                    f"* EXCLUDE (file_row_number) FROM {scan}")
        names = [r[0] for r in con.execute("DESCRIBE source").fetchall()][1:]
        rows = int(con.execute("SELECT count(*) FROM source").fetchall()[0][0])
    except duckdb.Error as exc:
        raise InputError(f"{shown}: not a readable Parquet file ({reader_cause(exc)}).",
                         detail=str(exc)) from exc
    if rows == 0:
        raise InputError(f"{shown}: the Parquet file has columns ({', '.join(names)}) but no "
                         f"rows. Export the data again with its rows.")
    return SourceInfo(path=str(shown), format="parquet", columns=tuple(names), rows=rows,
                      notes=tuple(found.notes))

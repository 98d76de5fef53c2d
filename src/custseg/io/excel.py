"""Workbooks through calamine (fastexcel): a size check before anything is parsed, which sheet
and which row hold the transactions, cell types, and large sheets read on every core
(:mod:`custseg.xlsx`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from custseg import xlsx
from custseg.config import ReadConfig
from custseg.errors import InputError, MappingError
from custseg.io.frames import arrow_to_table, to_arrow
from custseg.io.mapping import detect_mapping, text_headers

#: The header is looked for in this many rows at the top of a sheet (report titles, dates
#: and blank rows above it).
HEAD_ROWS = 30


@dataclass(frozen=True)
class _Layout:
    """Where a sheet's header is, and whether it names the transaction columns."""

    header: int  # 0-based sheet row, as fastexcel's ``header_row`` counts
    recognised: bool


def register_workbook(con: duckdb.DuckDBPyConnection, path: Path, sheet: str | None,
                      overrides: Mapping[str, str] | None, read: ReadConfig,
                      shown: Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Read the chosen sheet(s) of the workbook at ``path`` into ``source_table``.

    ``shown`` is the path messages name (``path`` may be a temporary copy). With no ``sheet``,
    the first sheet whose header names the transaction columns is read (the first sheet when
    none does); in every sheet read, the header may sit below title rows.

    Returns
    -------
    The names of the sheets read, and notes for the user.

    Raises
    ------
    InputError
        When the sheet or the shared strings would inflate past ``read.max_excel_bytes``, or
        the workbook cannot be read.
    MappingError
        When the workbook has several sheets and none has the transaction columns.
    """
    import fastexcel

    shown = shown or path
    names_in_package = xlsx.sheet_names(path) or [None]
    # calamine parses the shared strings as it opens the workbook: check them first.
    _check_size(path, shown, sheet if sheet not in (None, "all") else names_in_package[0],
                read.max_excel_bytes, strings_only=True)
    _check_inflated(path, shown, None, read.max_excel_bytes)
    try:
        # calamine picks its parser from the file name; a workbook under another name (found
        # by its content, see :mod:`custseg.io.sniff`) is handed over as bytes instead.
        named = path.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
        reader = fastexcel.read_excel(str(path) if named else path.read_bytes())
    except Exception as exc:  # calamine raises several types for corrupt files
        raise InputError(
            f"{shown}: not a readable Excel workbook ({exc}). Open it in Excel and save it "
            f"again as .xlsx, or export it as CSV.", detail=str(exc)
        ) from exc
    names = list(reader.sheet_names)
    notes: list[str] = []
    if sheet is None:
        chosen, layouts, note = _default_sheet(reader, path, shown, names, overrides, read)
        notes += [note] if note else []
    elif sheet == "all" or sheet in names:
        chosen = names if sheet == "all" else [sheet]
        layouts = {name: _layout(reader, path, shown, name, overrides, read) for name in chosen}
    else:
        raise InputError(
            f"{shown}: there is no sheet {sheet!r}. Sheets are: {', '.join(names)}. "
            f"Use --sheet NAME or --sheet all."
        )
    tables = [_read_sheet(reader, path, name, overrides, header=layouts[name].header,
                          limit=read.max_excel_bytes, shown=shown,
                          parallel=read.parallel_excel) for name in chosen]
    if sheet is None and not layouts[chosen[0]].recognised and len(names) > 1:
        _refuse_unrecognised(shown, names, tables[0].column_names, overrides)
    notes += [_header_note(name, layouts[name].header, len(chosen))
              for name in chosen if layouts[name].header]
    tables = [t for t in tables if t.num_rows or len(chosen) == 1]
    header = tables[0].column_names
    for name, table in zip(chosen, tables, strict=False):
        if table.column_names != header:
            raise InputError(
                f"{shown}: sheet {name!r} has columns {table.column_names}, unlike the first "
                f"sheet's {header}. --sheet all needs every sheet to have the same header; "
                f"pick one with --sheet NAME."
            )
    table = tables[0] if len(tables) == 1 else _stack(tables)
    arrow_to_table(con, table)
    return tuple(chosen), tuple(notes)


def sheet_rows(path: Path) -> list[tuple[str, int | None]]:
    """Every sheet of the workbook at ``path`` with the rows it spans, where the package says
    so without parsing the sheet (an .xlsx's ``<dimension>``; None otherwise)."""
    names = xlsx.sheet_names(path)
    if names is None:
        import fastexcel

        try:
            return [(name, None) for name in fastexcel.read_excel(path.read_bytes()).sheet_names]
        except Exception:  # calamine raises several types; the reader reports them
            return []
    heads = [xlsx.head(path, name, 1) for name in names]
    return [(name, head.height if head else None) for name, head in zip(names, heads,
                                                                         strict=True)]


def _default_sheet(reader: Any, path: Path, shown: Path, names: list[str],
                   overrides: Mapping[str, str] | None,
                   read: ReadConfig) -> tuple[list[str], dict[str, _Layout], str | None]:
    """The sheet to read when none is named: the first one whose header names the
    transaction columns, else the first; its layout, and a note when it is not the first."""
    first = _layout(reader, path, shown, names[0], overrides, read)
    if not first.recognised:
        for name in names[1:]:
            found = _layout(reader, path, shown, name, overrides, read)
            if found.recognised:
                return [name], {name: found}, (f"sheet {name!r} was read: the first sheet, "
                                               f"{names[0]!r}, has no transaction columns")
    return names[:1], {names[0]: first}, None


def _refuse_unrecognised(shown: Path, names: list[str], columns: list[str],
                         overrides: Mapping[str, str] | None) -> None:
    """The first sheet's mapping error, naming the other sheets and ``--sheet``, when no
    sheet of the workbook has the transaction columns."""
    try:
        detect_mapping(columns, overrides, f"{shown}, sheet {names[0]!r} (the first)")
    except MappingError as exc:
        others = ", ".join(repr(n) for n in names[1:])
        raise MappingError(
            f"{exc} The other sheets ({others}) do not have these columns either: if the "
            f"transactions are on one of them, choose it with --sheet NAME.",
            columns=exc.columns, missing=exc.missing) from exc


def _header_note(name: str, header: int, sheets: int) -> str:
    skipped = "row 1 was" if header == 1 else f"rows 1–{header} were"
    where = f" of sheet {name!r}" if sheets > 1 else ""
    return f"the header is on row {header + 1}{where}; {skipped} skipped"


def _layout(reader: Any, path: Path, shown: Path, name: str,
            overrides: Mapping[str, str] | None, read: ReadConfig) -> _Layout:
    """Find the header in the first rows of sheet ``name``: an .xlsx's are read from the start
    of its XML; other workbooks ask calamine, which parses the whole sheet (after the size
    check)."""
    head = xlsx.head(path, name, HEAD_ROWS)
    if head is not None:
        return _find_header(head.rows, overrides)
    _check_size(path, shown, name, read.max_excel_bytes)
    _check_inflated(path, shown, name, read.max_excel_bytes)
    import fastexcel

    try:
        # header_row=None with skip_rows=0 numbers rows from the sheet's row 1, as
        # header_row does; without skip_rows, leading empty rows would be dropped.
        batch = reader.load_sheet(name, header_row=None, skip_rows=0, n_rows=HEAD_ROWS,
                                  eager=True)
    except fastexcel.FastExcelError:
        return _Layout(0, False)  # the read proper reports the sheet's problem
    return _find_header([list(row.values()) for row in batch.to_pylist()], overrides)


def _find_header(rows: list[list[Any]], overrides: Mapping[str, str] | None) -> _Layout:
    """The first row whose labels name the required columns (or the ``--map`` ones); else
    the first row that looks like a header, so that the mapping error lists real names."""
    for i, row in enumerate(rows):
        labels = [v.strip() for v in row if _is_label(v)]
        if len(labels) >= 2 and _names_columns(labels, overrides):
            return _Layout(i, True)
    return _Layout(_header_like(rows), False)


def _names_columns(labels: list[str], overrides: Mapping[str, str] | None) -> bool:
    try:
        detect_mapping(labels, overrides)
    except MappingError:
        return False
    return True


def _header_like(rows: list[list[Any]]) -> int:
    """The first row whose cells are all labels, about as many as the widest row has, with a
    row at least half as wide below it; 0 (the sheet's first row) when there is none."""
    filled = [sum(v is not None and v != "" for v in row) for row in rows]
    width = max(filled, default=0)
    for i, row in enumerate(rows):
        labels = sum(_is_label(v) for v in row)
        if labels < max(2, 0.8 * width) or labels < filled[i]:
            continue
        below = next((n for n in filled[i + 1:] if n), 0)
        if below >= width / 2:
            return i
    return 0


def _is_label(value: Any) -> bool:
    """Text that is not a number or a date written as text."""
    return (isinstance(value, str) and bool(value.strip())
            and re.fullmatch(r"[\d\s.,:/\-+]+", value.strip()) is None)


def _check_size(path: Path, shown: Path, sheet: str | None, limit: int,
                strings_only: bool = False) -> None:
    """Refuse a workbook whose sheet XML and shared strings would inflate past ``limit``,
    from the sizes its zip directory declares (nothing is inflated)."""
    sizes = xlsx.declared_sizes(path, sheet)
    if sizes is None:
        return  # not a zip: nothing is inflated, and the file's size is what is read
    data, strings = sizes
    if (strings if strings_only else data + strings) <= limit:
        return
    what = (f"sheet {sheet!r} inflates to {_size(data)} of XML and its shared strings (the "
            f"text of every sheet) to {_size(strings)}" if sheet is not None else
            f"its shared strings (the text of every sheet) inflate to {_size(strings)}")
    raise InputError(
        f"{shown}: {what}, from a file of {_size(path.stat().st_size)}. That is more than the "
        f"workbook size limit (Config.read.max_excel_bytes) of {_size(limit)}, so the "
        f"workbook was not read: reading it would take several times that much memory, and a "
        f"small file that inflates this much may be a decompression bomb. Export the sheet as "
        f"CSV (custseg reads CSV of any size without holding it in memory), or, if you trust "
        f"the file, raise the limit with --max-excel-size.")


def _check_inflated(path: Path, shown: Path, sheet: str | None, limit: int) -> None:
    """Refuse a sheet (the shared strings when None) that really inflates past ``limit``
    whatever size its package declares: calamine would parse all of it."""
    try:
        xlsx.check_inflated(path, sheet, limit)
    except xlsx.TooLargeError as exc:
        raise _understated(shown, sheet, exc) from exc


def _understated(shown: Path, sheet: str | None, exc: xlsx.TooLargeError) -> InputError:
    what = f"the XML of sheet {sheet!r}" if sheet is not None else "the shared strings"
    return InputError(
        f"{shown}: {what} inflates to more than the workbook size limit "
        f"(Config.read.max_excel_bytes) of {_size(exc.limit)}, though the file declares less: "
        f"the workbook is damaged or built to exhaust memory, and reading stopped at the "
        f"limit. Export the sheet as CSV from a program you trust, or raise the limit with "
        f"--max-excel-size.", detail=str(exc))


def _size(count: int) -> str:
    """A byte count, exact and in round units."""
    unit = next(((div, name) for div, name in ((10**9, "GB"), (10**6, "MB")) if count >= div),
                None)
    return f"{count:,} bytes" + (f" ({count / unit[0]:,.1f} {unit[1]})" if unit else "")


def _stack(tables: list[pa.Table]) -> pa.Table:
    """Concatenate sheets; a column typed differently across sheets becomes text in all."""
    names = tables[0].column_names
    mixed = {n for n in names if len({t.schema.field(n).type for t in tables}) > 1}
    if mixed:
        tables = [t.select(names).cast(pa.schema(
            pa.field(f.name, pa.string() if f.name in mixed else f.type) for f in t.schema))
            for t in tables]
    return pa.concat_tables(tables, promote_options="permissive")


def _read_sheet(reader: Any, path: Path, name: str, overrides: Mapping[str, str] | None, *,
                header: int = 0, limit: int | None = None, shown: Path | None = None,
                parallel: bool = True) -> pa.Table:
    """Read one sheet to Arrow, ids as text; a column mixing numbers and text is read as text.

    ``header`` is the 0-based row of the header (rows above it are skipped); ``limit`` the
    most bytes its XML and the shared strings may inflate to; ``parallel`` lets a large sheet
    be read in parts on every core (:mod:`custseg.xlsx`).
    """
    import fastexcel

    shown = shown or path
    if limit is not None:
        _check_size(path, shown, name, limit)
    # The parts repeat the sheet's first row as their header: only for a header on row 1.
    split = xlsx.plan(path, name, limit) if parallel and header == 0 else None
    if split is None and limit is not None:
        _check_inflated(path, shown, name, limit)  # the parts count as they inflate
    text_columns: set[str] = set()
    for _ in range(64):
        dtypes = dict.fromkeys(text_columns | _known_text_spellings(overrides), "string")
        try:
            table = _read_split(split, dtypes)
            if table is None:
                if split is not None and limit is not None:
                    _check_inflated(path, shown, name, limit)  # the parts stopped early
                split = None
                # eager=True builds the Arrow batch directly: ~15% faster than via ExcelSheet.
                # Types come from every row (schema_sample_rows=None): with fastexcel's default
                # of 1,000 rows, text after row 1,000 of a number column became NULL silently.
                table = to_arrow(reader.load_sheet(name, header_row=header, dtypes=dtypes,
                                                    dtype_coercion="strict",
                                                    schema_sample_rows=None, eager=True))
        except (fastexcel.UnsupportedColumnTypeCombinationError, xlsx.MixedTypesError) as exc:
            column = exc.column if isinstance(exc, xlsx.MixedTypesError) else \
                _column_from_error(str(exc))
            if column is None or column in text_columns:
                raise InputError(
                    f"{shown}, sheet {name!r}: cannot read a column with mixed cell types "
                    f"({exc}). Format that column as text in Excel, or export as CSV.",
                    detail=str(exc)) from exc
            text_columns.add(column)
            continue
        except xlsx.TooLargeError as exc:
            raise _understated(shown, name, exc) from exc
        except fastexcel.FastExcelError as exc:
            raise InputError(f"{shown}, sheet {name!r}: cannot be read ({exc}).",
                             detail=str(exc)) from exc
        return table
    raise InputError(f"{shown}, sheet {name!r}: too many mixed-type columns to read.")


def _read_split(split: xlsx.Plan | None, dtypes: dict[str, str]) -> pa.Table | None:
    """A large sheet read in parallel parts (:mod:`custseg.xlsx`); None means read it whole."""
    if split is None:
        return None
    try:
        return xlsx.read(split, dtypes, "strict")
    except OSError:  # e.g. no room for the parts in the temporary directory
        return None


def _known_text_spellings(overrides: Mapping[str, str] | None) -> set[str]:
    """Exact header spellings of invoice and stock-code columns, which mix numbers and text
    ("536365", "C536379"), forced to text before the header is known (fastexcel ignores names
    it does not find). Numeric customer ids stay numeric: SQL turns 17850.0 into "17850"."""
    spellings = {"InvoiceNo", "Invoice", "StockCode", "invoice", "stock_code", "invoice_no"}
    return spellings | text_headers(overrides)


def _column_from_error(message: str) -> str | None:
    match = re.search(r"column\s+(.+?)\s*$", message.strip().splitlines()[-1])
    return match.group(1).strip("'\"") if match else None


"""Workbooks through calamine (fastexcel): sheet choice, cell types, and large sheets read on
every core (:mod:`custseg.xlsx`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from custseg import xlsx
from custseg.config import ReadConfig
from custseg.errors import InputError
from custseg.io.frames import arrow_to_table, to_arrow
from custseg.io.mapping import text_headers


def register_workbook(con: duckdb.DuckDBPyConnection, path: Path, sheet: str | None,
                      overrides: Mapping[str, str] | None, read: ReadConfig,
                      shown: Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Read the chosen sheet(s) of the workbook at ``path`` into ``source_table``.

    ``shown`` is the path messages name (``path`` may be a temporary copy).

    Returns
    -------
    The names of the sheets read, and notes for the user.
    """
    import fastexcel

    try:
        # calamine picks its parser from the file name; a workbook under another name (found
        # by its content, see :mod:`custseg.io.sniff`) is handed over as bytes instead.
        named = path.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
        reader = fastexcel.read_excel(str(path) if named else path.read_bytes())
    except Exception as exc:  # calamine raises several types for corrupt files
        raise InputError(
            f"{path}: not a readable Excel workbook ({exc}). Open it in Excel and save it "
            f"again as .xlsx, or export it as CSV."
        ) from exc
    names = list(reader.sheet_names)
    if sheet is None:
        chosen = names[:1]
    elif sheet == "all":
        chosen = names
    elif sheet in names:
        chosen = [sheet]
    else:
        raise InputError(
            f"{path}: there is no sheet {sheet!r}. Sheets are: {', '.join(names)}. "
            f"Use --sheet NAME or --sheet all."
        )
    tables = [_read_sheet(reader, path, name, overrides) for name in chosen]
    tables = [t for t in tables if t.num_rows or len(chosen) == 1]
    header = tables[0].column_names
    for name, table in zip(chosen, tables, strict=False):
        if table.column_names != header:
            raise InputError(
                f"{path}: sheet {name!r} has columns {table.column_names}, unlike the first "
                f"sheet's {header}. --sheet all needs every sheet to have the same header; "
                f"pick one with --sheet NAME."
            )
    table = tables[0] if len(tables) == 1 else _stack(tables)
    arrow_to_table(con, table)
    return tuple(chosen), ()


def _stack(tables: list[pa.Table]) -> pa.Table:
    """Concatenate sheets; a column typed differently across sheets becomes text in all."""
    names = tables[0].column_names
    mixed = {n for n in names if len({t.schema.field(n).type for t in tables}) > 1}
    if mixed:
        tables = [t.select(names).cast(pa.schema(
            pa.field(f.name, pa.string() if f.name in mixed else f.type) for f in t.schema))
            for t in tables]
    return pa.concat_tables(tables, promote_options="permissive")


def _read_sheet(reader: Any, path: Path, name: str,
                overrides: Mapping[str, str] | None) -> pa.Table:
    """Read one sheet to Arrow, ids as text; a column mixing numbers and text is read as text."""
    import fastexcel

    split = xlsx.plan(path, name)
    text_columns: set[str] = set()
    for _ in range(64):
        dtypes = dict.fromkeys(text_columns | _known_text_spellings(overrides), "string")
        try:
            table = _read_split(split, dtypes)
            if table is None:
                split = None
                # eager=True builds the Arrow batch directly: ~15% faster than via ExcelSheet.
                # Types come from every row (schema_sample_rows=None): with fastexcel's default
                # of 1,000 rows, text after row 1,000 of a number column became NULL silently.
                table = to_arrow(reader.load_sheet(name, dtypes=dtypes, dtype_coercion="strict",
                                                    schema_sample_rows=None, eager=True))
        except (fastexcel.UnsupportedColumnTypeCombinationError, xlsx.MixedTypesError) as exc:
            column = exc.column if isinstance(exc, xlsx.MixedTypesError) else \
                _column_from_error(str(exc))
            if column is None or column in text_columns:
                raise InputError(
                    f"{path}, sheet {name!r}: cannot read a column with mixed cell types "
                    f"({exc}). Format that column as text in Excel, or export as CSV."
                ) from exc
            text_columns.add(column)
            continue
        except fastexcel.FastExcelError as exc:
            raise InputError(f"{path}, sheet {name!r}: cannot be read ({exc}).") from exc
        return table
    raise InputError(f"{path}, sheet {name!r}: too many mixed-type columns to read.")


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


"""Readers and column mapping: any supported export becomes a DuckDB view ``source``.

Excel goes through calamine (fastexcel) into Arrow; CSV, TSV, TXT (optionally gzipped) and
Parquet are scanned by DuckDB directly, so they are never held in Python memory; pandas,
polars and Arrow frames are registered as they are.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from custseg import xlsx
from custseg.errors import InputError, MappingError

#: Canonical column keys, in the order of the ``lines`` table.
CANONICAL: tuple[str, ...] = (
    "invoice",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "amount",
    "customer_id",
    "country",
)

#: Header spellings recognised per key, after lower-casing and removing spaces, "_" and "-".
ALIASES: dict[str, tuple[str, ...]] = {
    "invoice": ("invoiceno", "invoice", "invoicenumber", "invoiceid", "orderid", "orderno",
                "ordernumber", "order", "transactionid"),
    "stock_code": ("stockcode", "sku", "productid", "productcode", "itemcode", "itemid"),
    "description": ("description", "productname", "productdescription", "itemname",
                    "itemdescription"),
    "quantity": ("quantity", "qty", "units"),
    "invoice_date": ("invoicedate", "orderdate", "transactiondate", "date", "datetime",
                     "timestamp"),
    "unit_price": ("unitprice", "price", "priceeach", "unitcost"),
    "amount": ("amount", "linetotal", "totalcost", "totalprice", "total", "revenue", "sales"),
    "customer_id": ("customerid", "customer", "customerno", "customernumber", "clientid",
                    "userid"),
    "country": ("country", "countryname"),
}

#: Columns read as text whatever their cells look like (ids are labels, not numbers).
TEXT_KEYS: tuple[str, ...] = ("invoice", "stock_code", "customer_id")

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")

# Date formats tried, in order, when a text date column is not recognised by the CSV sniffer.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
)


def normalise_header(name: str) -> str:
    """Lower-case a header and remove spaces, underscores and dashes."""
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def parse_mapping(text: str | None) -> dict[str, str]:
    """Parse ``"key=Column,key=Column"`` into a dict, checking the keys.

    Raises
    ------
    MappingError
        When a pair is malformed or a key is not a canonical key.
    """
    if not text:
        return {}
    result: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, sep, column = pair.partition("=")
        key = key.strip()
        if not sep or not column.strip():
            raise MappingError(
                f"--map: {pair.strip()!r} is not of the form key=Column. "
                f"Example: --map customer_id=Client,invoice_date=Date."
            )
        if key not in CANONICAL:
            raise MappingError(
                f"--map: unknown key {key!r}. Keys are: {', '.join(CANONICAL)}."
            )
        result[key] = column.strip()
    return result


def detect_mapping(columns: list[str], overrides: Mapping[str, str] | None = None,
                   where: str = "the input") -> dict[str, str]:
    """Map canonical keys to the input's columns.

    Explicit ``overrides`` win; other keys are matched by :data:`ALIASES`, case- and
    space-insensitively. Each input column is used at most once.

    Raises
    ------
    MappingError
        When an override names a missing column, or a required key cannot be found.
    """
    overrides = dict(overrides or {})
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise_header(col), col)
    mapping: dict[str, str] = {}
    for key, col in overrides.items():
        if col not in columns:
            match = by_norm.get(normalise_header(col))
            if match is None:
                raise MappingError(
                    f"{where}: --map {key}={col}: there is no column {col!r}. "
                    f"Columns are: {', '.join(map(str, columns))}.",
                    columns=list(columns), missing=[key],
                )
            col = match
        mapping[key] = col
    used = set(mapping.values())
    for key in CANONICAL:
        if key in mapping:
            continue
        for alias in ALIASES[key]:
            col = by_norm.get(alias)
            if col is not None and col not in used:
                mapping[key] = col
                used.add(col)
                break
    missing = missing_required(mapping)
    if missing:
        raise MappingError(
            f"{where}: could not find the column(s) for {', '.join(missing)}. "
            f"Columns are: {', '.join(map(str, columns))}. "
            + _headerless_hint(columns)
            + "Name them with --map, e.g. --map "
            + ",".join(f"{k}=<column>" for k in missing) + ".",
            columns=list(columns), missing=missing,
        )
    return {key: mapping[key] for key in CANONICAL if key in mapping}


def _headerless_hint(columns: list[str]) -> str:
    """A hint when the 'header' is really a data row (most names are numbers or dates)."""
    data_like = [c for c in columns if re.fullmatch(r"[\d\s.,:/\-]+", str(c))]
    if columns and len(data_like) >= len(columns) / 2:
        return ("The first row looks like data, not a header: add a header row naming the "
                "columns, then ")
    return ""


def missing_required(mapping: Mapping[str, str]) -> list[str]:
    """Required keys absent from ``mapping``: customer_id, invoice_date, and amount or
    quantity + unit_price."""
    missing = [k for k in ("customer_id", "invoice_date") if k not in mapping]
    if "amount" not in mapping:
        missing += [k for k in ("quantity", "unit_price") if k not in mapping]
    return missing


@dataclass(frozen=True)
class SourceInfo:
    """What was read: format, sheets, columns, mapping and size."""

    path: str | None
    format: str
    columns: tuple[str, ...]
    mapping: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    sheets: tuple[str, ...] = ()
    delimiter: str | None = None
    date_format: str | None = None
    notes: tuple[str, ...] = ()

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
            "notes": list(self.notes),
        }


def detect_format(path: Path) -> str:
    """Return ``excel``, ``csv`` or ``parquet`` from the file name (``.gz`` allowed for text)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
        if name.endswith(CSV_SUFFIXES):
            return "csv"
    elif name.endswith(EXCEL_SUFFIXES):
        return "excel"
    elif name.endswith(CSV_SUFFIXES):
        return "csv"
    elif name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise InputError(
        f"{path}: unsupported file type. custseg reads .xlsx/.xlsm/.xls, .csv/.tsv/.txt "
        f"(optionally .gz) and .parquet; export the data to one of these."
    )


def register_source(con: duckdb.DuckDBPyConnection, source: Any, *, sheet: str | None = None,
                    overrides: Mapping[str, str] | None = None) -> SourceInfo:
    """Make ``source`` available as the DuckDB view ``source`` with its original columns.

    Parameters
    ----------
    source:
        A path (str or Path) or a pandas/polars/Arrow frame.
    sheet:
        Excel only: a sheet name, ``"all"`` to stack every sheet with the same header, or None
        for the first sheet.
    overrides:
        Explicit ``key -> column`` choices (from ``--map``); they also force id columns to text.

    Returns
    -------
    SourceInfo, with ``mapping`` still empty (see :func:`detect_mapping`).
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: no such file. Check the path and try again.")
        if path.is_dir():
            raise InputError(f"{path} is a folder; give the transaction file inside it.")
        fmt = detect_format(path)
        if fmt == "excel":
            return _register_excel(con, path, sheet, overrides)
        if fmt == "csv":
            return _register_csv(con, path, overrides)
        return _register_parquet(con, path)
    return _register_frame(con, source)


def _text_headers(overrides: Mapping[str, str] | None) -> set[str]:
    """Columns the user mapped (--map) to an id key: always read as text."""
    return {col for key, col in (overrides or {}).items() if key in TEXT_KEYS}


def _register_excel(con: duckdb.DuckDBPyConnection, path: Path, sheet: str | None,
                    overrides: Mapping[str, str] | None) -> SourceInfo:
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
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
    _arrow_to_table(con, table)
    return _table_source(con, path, "excel", sheets=tuple(chosen))


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
                table = _to_arrow(reader.load_sheet(name, dtypes=dtypes, dtype_coercion="strict",
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
    return spellings | _text_headers(overrides)


def _column_from_error(message: str) -> str | None:
    match = re.search(r"column\s+(.+?)\s*$", message.strip().splitlines()[-1])
    return match.group(1).strip("'\"") if match else None


def _register_csv(con: duckdb.DuckDBPyConnection, path: Path,
                  overrides: Mapping[str, str] | None) -> SourceInfo:
    """Read delimited text once into a table; a column whose type guess fails further down the
    file (numbers first, text later) is read again as text."""
    text = _text_headers(overrides)
    for _ in range(32):
        options = "header = true"
        if text:
            options += ", types = {" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in text) + "}"
        try:
            con.execute(f"CREATE OR REPLACE TABLE source_table AS SELECT * FROM "
                        f"read_csv({literal(str(path))}, {options})")
            break
        except duckdb.ConversionException as exc:
            column = re.search(r'column "(.+?)"', str(exc))
            if column is None or column.group(1) in text:
                raise _csv_error(path, exc) from exc
            text.add(column.group(1))
        except duckdb.Error as exc:
            raise _csv_error(path, exc) from exc
    return _table_source(con, path, "csv")


def _csv_error(path: Path, exc: Exception) -> InputError:
    return InputError(
        f"{path}: cannot be parsed as delimited text ({_first_line(exc)}). Check that every "
        f"line has the same number of fields, that the first line is a header, and that "
        f"numbers use one format."
    )


def sniff_text(con: duckdb.DuckDBPyConnection, path: str | Path) -> dict[str, Any]:
    """The delimiter, header and column types DuckDB's sniffer finds in a text file."""
    row = con.execute("SELECT Delimiter, HasHeader, DateFormat, TimestampFormat "
                      f"FROM sniff_csv({literal(str(path))})").fetchall()[0]
    return {"delimiter": row[0], "has_header": row[1], "date_format": row[2] or row[3]}


def _table_source(con: duckdb.DuckDBPyConnection, path: Path | None, fmt: str,
                  **extra: Any) -> SourceInfo:
    """Describe ``source_table``; unless already defined, expose it as the view ``source``
    with its insertion order as ``__row_id``."""
    if fmt == "csv":
        con.execute("CREATE OR REPLACE VIEW source AS SELECT rowid AS __row_id, * "
                    "FROM source_table")
    names = [r[0] for r in con.execute("DESCRIBE source_table").fetchall()]
    rows = int(con.execute("SELECT count(*) FROM source_table").fetchall()[0][0])
    return SourceInfo(path=str(path) if path else None, format=fmt, columns=tuple(names),
                      rows=rows, **extra)


def _register_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> SourceInfo:
    scan = f"read_parquet({literal(str(path))}, file_row_number = true)"
    try:
        con.execute(f"CREATE OR REPLACE VIEW source AS SELECT file_row_number AS __row_id, "
                    f"* EXCLUDE (file_row_number) FROM {scan}")
        names = [r[0] for r in con.execute("DESCRIBE source").fetchall()][1:]
        rows = int(con.execute(f"SELECT count(*) FROM read_parquet({literal(str(path))})")
                   .fetchall()[0][0])
    except duckdb.Error as exc:
        raise InputError(f"{path}: not a readable Parquet file ({_first_line(exc)}).") from exc
    return SourceInfo(path=str(path), format="parquet", columns=tuple(names), rows=rows)


def _register_frame(con: duckdb.DuckDBPyConnection, frame: Any) -> SourceInfo:
    _arrow_to_table(con, _to_arrow(frame))
    return _table_source(con, None, "frame")


def _arrow_to_table(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Register an Arrow table (no copy) with its row positions as ``source_table``."""
    import numpy as np

    ids = pa.array(np.arange(table.num_rows, dtype=np.int64))
    con.register("source_arrow", table.append_column("__row_id", ids))
    con.execute("CREATE OR REPLACE VIEW source_table AS SELECT * EXCLUDE (__row_id) "
                "FROM source_arrow")
    con.execute("CREATE OR REPLACE VIEW source AS SELECT * FROM source_arrow")


def _to_arrow(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if hasattr(frame, "to_arrow"):  # polars
        return frame.to_arrow()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(frame, pd.DataFrame):
        # Object columns mixing numbers and text become text, as in Excel.
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        if mixed:
            frame = frame.astype(dict.fromkeys(mixed, "string"))
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise InputError(
        f"Cannot read a {type(frame).__name__}: pass a file path or a pandas, polars or "
        f"Arrow table."
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _column_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute("DESCRIBE source").fetchall() if r[0] != "__row_id"}


def literal(text: str) -> str:
    """Quote a string literal for SQL."""
    return "'" + str(text).replace("'", "''") + "'"


def quote(name: str) -> str:
    """Quote an identifier for SQL."""
    return '"' + str(name).replace('"', '""') + '"'


def _text_expr(col: str, ctype: str) -> str:
    """Normalised text for an id: trimmed, empty as NULL, and numbers without ".0"."""
    q = quote(col)
    if ctype.upper().startswith(("DOUBLE", "FLOAT", "DECIMAL", "REAL")):
        # Whole numbers (ids stored as floats, e.g. 17850.0) print without decimals.
        return (f"CASE WHEN {q} = trunc({q}) THEN CAST(CAST({q} AS HUGEINT) AS VARCHAR) "
                f"ELSE CAST({q} AS VARCHAR) END")
    text = f"trim(CAST({q} AS VARCHAR))"
    # LIKE guards the costly regexp: only text such as "17850.0" needs it.
    return (f"NULLIF(CASE WHEN {text} LIKE '%.0' THEN regexp_replace({text}, '\\.0+$', '') "
            f"ELSE {text} END, '')")


def _number_expr(col: str, ctype: str) -> str:
    if ctype.upper().startswith(("VARCHAR", "STRING")):
        return (f"TRY_CAST(regexp_replace({quote(col)}, '[£$€,\\s]', '', 'g') AS DOUBLE)")
    return f"CAST({quote(col)} AS DOUBLE)"


def _date_expr(con: duckdb.DuckDBPyConnection, info: SourceInfo, col: str,
               ctype: str) -> tuple[str, str | None]:
    """SQL for the invoice timestamp, and the text date format used (None if typed)."""
    upper = ctype.upper()
    if upper.startswith(("TIMESTAMP", "DATE")):
        return f"CAST({quote(col)} AS TIMESTAMP)", None
    if not upper.startswith("VARCHAR"):
        raise InputError(
            f"{info.path or 'the input'}: column {col!r} (invoice_date) holds {ctype} values, "
            f"not dates. Map the date column with --map invoice_date=<column>."
        )
    sample = f"(SELECT {quote(col)} AS v FROM source WHERE {quote(col)} IS NOT NULL LIMIT 20000)"
    # The format that parses the most sampled values wins (ties: the earlier, day-first one);
    # the few values it cannot parse are then reported row by row by _check_conversions.
    counts = con.execute(
        "SELECT " + ", ".join(f"count(try_strptime(trim(v), '{fmt}'))" for fmt in DATE_FORMATS)
        + f", count(*) FROM {sample}").fetchall()[0]
    total = counts[-1]
    best = max(range(len(DATE_FORMATS)), key=lambda i: (counts[i], -i))
    if total and counts[best] >= 0.5 * total:
        fmt = DATE_FORMATS[best]
        return f"try_strptime(trim({quote(col)}), '{fmt}')", fmt
    examples = [r[0] for r in con.execute(f"SELECT v FROM {sample} LIMIT 3").fetchall()]
    raise InputError(
        f"{info.path or 'the input'}: cannot recognise the dates in column {col!r} "
        f"(e.g. {examples}). Use a format such as 2011-12-09 12:50:00 or 09/12/2011 12:50."
    )


def canonical_select(con: duckdb.DuckDBPyConnection, info: SourceInfo) -> tuple[str, SourceInfo]:
    """SQL selecting the canonical columns (and ``row_id``) from the view ``source``.

    Absent optional columns become typed NULLs. Text numbers and text dates are converted;
    values that cannot be converted raise :class:`InputError` naming the rows.

    Returns
    -------
    The SELECT statement and ``info`` updated with the detected date format.
    """
    mapping = info.mapping
    types = _column_types(con)
    exprs: dict[str, str] = {}
    date_format = None
    for key in ("invoice", "stock_code", "customer_id"):
        exprs[key] = (_text_expr(mapping[key], types[mapping[key]]) if key in mapping
                      else "CAST(NULL AS VARCHAR)")
    for key in ("description", "country"):
        exprs[key] = (f"NULLIF(trim(CAST({quote(mapping[key])} AS VARCHAR)), '')"
                      if key in mapping else "CAST(NULL AS VARCHAR)")
    for key in ("quantity", "unit_price", "amount"):
        exprs[key] = (_number_expr(mapping[key], types[mapping[key]]) if key in mapping
                      else "CAST(NULL AS DOUBLE)")
    exprs["invoice_date"], date_format = _date_expr(
        con, info, mapping["invoice_date"], types[mapping["invoice_date"]])
    _check_conversions(con, info, exprs, types)
    if "amount" not in mapping:
        exprs["amount"] = f"({exprs['quantity']}) * ({exprs['unit_price']})"
    # Exact decimals (to 1/100 of a penny): sums of doubles depend on the order in which
    # parallel threads add them, and results must be identical run to run.
    exprs["amount"] = f"CAST(({exprs['amount']}) AS DECIMAL(18, 4))"
    if "invoice" not in mapping:
        # Without invoice numbers an order is a distinct (customer, timestamp).
        exprs["invoice"] = (f"({exprs['customer_id']}) || '@' || "
                            f"CAST(({exprs['invoice_date']}) AS VARCHAR)")
    select = ",\n  ".join(f"{exprs[k]} AS {k}" for k in CANONICAL)
    sql = f"SELECT CAST(__row_id AS BIGINT) AS row_id,\n  {select}\nFROM source"
    return sql, dataclasses.replace(info, date_format=date_format)


def _check_conversions(con: duckdb.DuckDBPyConnection, info: SourceInfo, exprs: dict[str, str],
                       types: dict[str, str]) -> None:
    """Raise when a text number or text date does not convert, naming the first rows."""
    checks = []
    for key in ("quantity", "unit_price", "amount", "invoice_date"):
        col = info.mapping.get(key)
        if col is None or not types[col].upper().startswith("VARCHAR"):
            continue
        checks.append((key, col, f"{quote(col)} IS NOT NULL AND trim({quote(col)}) <> '' "
                                 f"AND ({exprs[key]}) IS NULL"))
    for key, col, bad in checks:
        rows = con.execute(
            f"SELECT __row_id, {quote(col)} FROM source WHERE {bad} ORDER BY 1 LIMIT 5").fetchall()
        if rows:
            # Row numbers as a spreadsheet shows them: the header is row 1.
            where = ", ".join(f"row {rn + 2} ({v!r})" for rn, v in rows)
            raise InputError(
                f"{info.path or 'the input'}: column {col!r} ({key}) has values that are not "
                f"{'dates' if key == 'invoice_date' else 'numbers'}: {where}. "
                f"Fix or remove those rows and try again."
            )

"""Canonical types: the SQL that turns the input's columns into the ``lines`` columns — ids as
normalised text, numbers as DOUBLE (with the right decimal separator), dates as UTC timestamps.

Anything the data cannot settle with certainty (two date orders that both read every value, a
decimal separator) is refused with the setting that settles it; values that cannot be
converted are reported row by row.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import duckdb

from custseg.config import ReadConfig
from custseg.errors import InputError, ReadingChoiceError
from custseg.io import numbers
from custseg.io.mapping import CANONICAL
from custseg.io.readers import SourceInfo
from custseg.io.sql import literal, quote

#: Date formats tried on text dates. Zone-aware forms (%z) are converted to UTC.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%d/%m/%Y %I:%M:%S %p",
    "%d/%m/%Y %I:%M %p",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%m-%d-%Y %H:%M",
    "%m-%d-%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
)

#: Excel serial day numbers accepted as dates: 1901-01-01 to 2099-12-31.
SERIAL_RANGE = (367, 73415)
#: Whole numbers accepted as dates written yyyymmdd (20111209).
YMD_RANGE = (19000101, 21001231)
#: Numbers beyond this (or infinite, or NaN) are not amounts but corrupted cells.
MAX_ABS_NUMBER = 1e12

_SAMPLE = 20_000

SERIAL_NOTE = "the dates were Excel serial day numbers (days since 1899-12-30) and were converted"


def checked_amount(quantity: str, unit_price: str, amount: str | None = None) -> tuple[str, str]:
    """SQL of ``valid_numbers`` and ``amount`` from the expressions of the three numbers
    (``amount`` None: quantity × unit price).

    ``valid_numbers`` is true when each number is NULL or finite and within
    :data:`MAX_ABS_NUMBER`; ``amount`` is the exact decimal amount of a line whose numbers are
    valid, else NULL. Also how the stored lines give back an amount they do not keep
    (:func:`custseg.clean.build_lines`).
    """
    raw = amount if amount is not None else f"({quantity}) * ({unit_price})"
    valid = " AND ".join(
        f"(({e}) IS NULL OR (isfinite({e}) AND abs({e}) <= {MAX_ABS_NUMBER:.0f}))"
        for e in (quantity, unit_price, raw))
    # Exact decimals (to 1/100 of a penny): sums of doubles depend on the order in which
    # parallel threads add them, and results must be identical run to run.
    return valid, f"CASE WHEN {valid} THEN CAST(({raw}) AS DECIMAL(18, 4)) END"


def canonical_select(con: duckdb.DuckDBPyConnection, info: SourceInfo,
                     read: ReadConfig | None = None) -> tuple[str, SourceInfo]:
    """SQL selecting the canonical columns (and ``row_id``, ``valid_numbers``) from the view
    ``source``.

    Absent optional columns become typed NULLs. Text numbers and text dates are converted;
    values that cannot be converted raise :class:`InputError` naming the rows. Numbers that
    are not finite or beyond :data:`MAX_ABS_NUMBER` make ``valid_numbers`` false (the
    cleaning rule ``invalid_number`` drops those lines) and ``amount`` NULL.

    Returns
    -------
    The SELECT statement and ``info`` updated with the date format and decimal separator.
    """
    read = read or ReadConfig()
    mapping = info.mapping
    types = _column_types(con)
    exprs: dict[str, str] = {}
    for key in ("invoice", "stock_code", "customer_id"):
        exprs[key] = (_text_expr(mapping[key], types[mapping[key]]) if key in mapping
                      else "CAST(NULL AS VARCHAR)")
    for key in ("description", "country"):
        exprs[key] = (f"NULLIF(trim(CAST({quote(mapping[key])} AS VARCHAR)), '')"
                      if key in mapping else "CAST(NULL AS VARCHAR)")
    decimals: dict[str, str] = {}
    for key in ("quantity", "unit_price", "amount"):
        if key not in mapping:
            exprs[key] = "CAST(NULL AS DOUBLE)"
            continue
        column = mapping[key]
        if _is_text(types[column]):
            decimals[key] = _column_decimal(con, info, column, read)
            _check_separator(con, info, key, column, decimals[key])
            exprs[key] = numbers.number_sql(column, decimals[key])
        else:
            exprs[key] = f"CAST({quote(column)} AS DOUBLE)"
    date_col = mapping["invoice_date"]
    exprs["invoice_date"], date_format, date_note = _date_expr(
        con, info, date_col, types[date_col], read.date_format)
    _check_conversions(con, info, exprs, types, parsed_date=date_format is not None)
    exprs["valid_numbers"], exprs["amount"] = checked_amount(
        exprs["quantity"], exprs["unit_price"], exprs["amount"] if "amount" in mapping else None)
    if "invoice" not in mapping:
        # Without invoice numbers an order is a distinct (customer, timestamp).
        exprs["invoice"] = (f"({exprs['customer_id']}) || '@' || "
                            f"CAST(({exprs['invoice_date']}) AS VARCHAR)")
    notes = info.notes + ((date_note,) if date_note else ())
    if info.total_column:
        notes += (_total_note(con, info, types, exprs, read),)
    select = ",\n  ".join(f"{exprs[k]} AS {k}" for k in (*CANONICAL, "valid_numbers"))
    sql = f"SELECT CAST(__row_id AS BIGINT) AS row_id,\n  {select}\nFROM source"
    used = set(decimals.values())
    decimal = used.pop() if len(used) == 1 else info.decimal
    if decimal == "," and not read.decimal:
        notes += ("numbers use a decimal comma (2,55 is two and 55 hundredths); say "
                  "--decimal . if that is wrong",)
    return sql, dataclasses.replace(info, date_format=date_format, decimal=decimal,
                                    notes=notes)


def _column_decimal(con: duckdb.DuckDBPyConnection, info: SourceInfo, column: str,
                    read: ReadConfig) -> str:
    """The decimal separator of a text number column, from its first values."""
    values = [r[0] for r in con.execute(
        f"SELECT {quote(column)} FROM source WHERE {quote(column)} IS NOT NULL "
        f"LIMIT {_SAMPLE}").fetchall()]
    return numbers.decide(values, column, info.where, info.decimal, read.decimal)


def _total_note(con: duckdb.DuckDBPyConnection, info: SourceInfo, types: dict[str, str],
                exprs: dict[str, str], read: ReadConfig) -> str:
    """How often the unused total column disagrees with quantity × unit price."""
    column = info.total_column or ""
    unused = (f"the column {column!r} was not used as the line amount: quantity × unit price "
              f"was")
    if _is_text(types[column]):
        try:
            decimal = _column_decimal(con, info, column, read)
        except InputError:  # a column that is not used does not stop the run
            return f"{unused} (its numbers cannot be read with certainty, so not compared)"
        total = numbers.number_sql(column, decimal)
    elif _is_number(types[column]):
        total = f"CAST({quote(column)} AS DOUBLE)"
    else:
        return unused
    line = f"({exprs['quantity']}) * ({exprs['unit_price']})"
    differ, compared = con.execute(
        f"SELECT count(*) FILTER (WHERE abs({line} - {total}) > 0.005 + 1e-9 * abs({total})), "
        f"count(*) FROM source WHERE {line} IS NOT NULL AND {total} IS NOT NULL").fetchall()[0]
    share = f" ({differ / compared:.1%})" if compared else ""
    return (f"{unused}, as it is per line; the two disagree on {differ:,} of {compared:,} lines"
            f"{share}. If {column!r} is the line amount, say --map amount={column}")


def _check_separator(con: duckdb.DuckDBPyConnection, info: SourceInfo, key: str, column: str,
                     decimal: str) -> None:
    """Refuse values anywhere in the column that only the other decimal separator reads (the
    separator was decided from the first rows, or set by the user)."""
    rows = con.execute(
        f"SELECT __row_id, {quote(column)} FROM source WHERE "
        f"{numbers.contradicts_sql(column, decimal)} ORDER BY 1 LIMIT 5").fetchall()
    if rows:
        names = {".": "point", ",": "comma"}
        other = "," if decimal == "." else "."
        where = ", ".join(f"row {rn + 2} ({v!r})" for rn, v in rows)
        raise InputError(
            f"{info.where}: column {column!r} ({key}) mixes decimal separators: it is read "
            f"with a decimal {names[decimal]}, but {where} can only mean a decimal "
            f"{names[other]}. Fix those rows (a file put together from two exports?); if "
            f"every value uses one separator, say which with --decimal.")


def _column_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute("DESCRIBE source").fetchall() if r[0] != "__row_id"}


def _is_text(ctype: str) -> bool:
    return ctype.upper().startswith(("VARCHAR", "STRING"))


def _is_number(ctype: str) -> bool:
    return ctype.upper().startswith(("DOUBLE", "FLOAT", "DECIMAL", "REAL", "BIGINT", "INTEGER",
                                     "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"))


def _text_expr(col: str, ctype: str) -> str:
    """Normalised text for an id: trimmed, empty as NULL, and numbers without ".0"."""
    q = quote(col)
    if ctype.upper().startswith(("DOUBLE", "FLOAT", "DECIMAL", "REAL")):
        # Whole numbers (ids stored as floats, e.g. 17850.0) print without decimals.
        return (f"CASE WHEN {q} = trunc({q}) THEN CAST(CAST({q} AS HUGEINT) AS VARCHAR) "
                f"ELSE CAST({q} AS VARCHAR) END")
    text = f"trim(CAST({q} AS VARCHAR))"
    # LIKE guards the costly regexp: only text such as "17850.0" or "17850.00" needs it.
    return (f"NULLIF(CASE WHEN {text} LIKE '%.%0' THEN regexp_replace({text}, '\\.0+$', '') "
            f"ELSE {text} END, '')")


def normalise_id(text: str) -> str | None:
    """An id typed by a user as the ``lines`` table holds it: the SQL of a text id column
    (:func:`_text_expr`) run on ``text``, so the two cannot disagree."""
    with duckdb.connect() as con:
        row = con.execute(f"SELECT {_text_expr('id', 'VARCHAR')} "
                          f"FROM (SELECT CAST(? AS VARCHAR) AS id)", [text]).fetchone()
    return row[0] if row else None


def _date_expr(con: duckdb.DuckDBPyConnection, info: SourceInfo, col: str, ctype: str,
               forced: str | None) -> tuple[str, str | None, str | None]:
    """SQL for the invoice timestamp (UTC, without zone), the text date format used (None if
    typed), and a note for the user (None if nothing to say)."""
    upper = ctype.upper()
    q = quote(col)
    if upper.startswith("TIMESTAMP WITH TIME ZONE") or upper == "TIMESTAMPTZ":
        # Explicit: a plain CAST would use the session's zone, i.e. the machine's.
        return f"timezone('UTC', {q})", None, "zone-aware timestamps were converted to UTC"
    if upper.startswith(("TIMESTAMP", "DATE")):
        return f"CAST({q} AS TIMESTAMP)", None, None
    if _is_number(upper):
        return _numeric_date(con, info, col, forced)
    if upper.strip('"') == "NULL":  # a frame column with no value at all
        raise _empty_dates(info, col)
    if not _is_text(upper):
        raise InputError(
            f"{info.where}: column {col!r} (invoice_date) holds {ctype} values, not dates. "
            f"Map the date column with --map invoice_date=<column>.")
    sample = (f"(SELECT trim({q}) AS v FROM source WHERE {q} IS NOT NULL AND trim({q}) <> '' "
              f"LIMIT {_SAMPLE})")
    if forced:
        return _parse(q, forced), forced, None
    counts = con.execute(
        "SELECT " + ", ".join(f"count(try_strptime(v, {literal(f)}))" for f in DATE_FORMATS)
        + f", count(*) FROM {sample}").fetchall()[0]
    total = counts[-1]
    if not total:
        raise _empty_dates(info, col)
    best = max(counts[:-1])
    if best < 0.5 * total:
        examples = [r[0] for r in con.execute(
            f"SELECT DISTINCT v FROM {sample} ORDER BY v LIMIT 3").fetchall()]
        raise InputError(
            f"{info.where}: cannot recognise the dates in column {col!r} (e.g. "
            f"{', '.join(map(repr, examples))}). Give the format with --date-format, e.g. "
            f"--date-format '%d/%m/%Y %H:%M', or export dates like 2011-12-09 12:50:00.")
    candidates = [f for f, n in zip(DATE_FORMATS, counts, strict=False) if n == best]
    fmt = _settle_order(con, info, col, candidates, sample)
    return _parse(q, fmt), fmt, None


def _empty_dates(info: SourceInfo, col: str) -> InputError:
    return InputError(
        f"{info.where}: the date column {col!r} (invoice_date) is empty: no row has a date. "
        f"Fill it, or map another column with --map invoice_date=<column>.")


def _parse(q: str, fmt: str) -> str:
    parsed = f"try_strptime(trim({q}), {literal(fmt)})"
    return f"timezone('UTC', {parsed})" if "%z" in fmt else parsed


def _settle_order(con: duckdb.DuckDBPyConnection, info: SourceInfo, col: str,
                  candidates: list[str], sample: str) -> str:
    """Among formats that read the same number of sampled values, the one that reads the whole
    column; refused when two of them read every value but differently (01/02 as 1 February and
    as 2 January)."""
    rivals = [f for f in candidates[1:] if _differ(con, candidates[0], f, sample)]
    if not rivals:
        return candidates[0]
    formats = [candidates[0], *rivals]
    q = quote(col)
    counts = con.execute(
        "SELECT " + ", ".join(f"count(try_strptime(trim({q}), {literal(f)}))" for f in formats)
        + f" FROM source WHERE {q} IS NOT NULL").fetchall()[0]
    best = max(counts)
    winners = [f for f, n in zip(formats, counts, strict=False) if n == best]
    if len(winners) == 1:
        return winners[0]
    first, second = winners[:2]
    examples = con.execute(
        f"SELECT v, try_strptime(v, {literal(first)}), try_strptime(v, {literal(second)}) "
        f"FROM (SELECT DISTINCT v FROM {sample}) WHERE try_strptime(v, {literal(first)}) <> "
        f"try_strptime(v, {literal(second)}) ORDER BY v LIMIT 2").fetchall()
    shown = "; ".join(f"{v!r} is {a:%d %B %Y} as {first} but {b:%d %B %Y} as {second}"
                      for v, a, b in examples)
    raise ReadingChoiceError(
        f"{info.where}: the dates in column {col!r} read correctly in two orders, and no "
        f"value settles which: {shown}. Say which is right with --date-format, e.g. "
        f"--date-format '{first}' or --date-format '{second}'.",
        setting="date_format", choices=[first, second])


def _differ(con: duckdb.DuckDBPyConnection, a: str, b: str, sample: str) -> bool:
    return bool(con.execute(
        f"SELECT count(*) FROM {sample} WHERE try_strptime(v, {literal(a)}) <> "
        f"try_strptime(v, {literal(b)})").fetchall()[0][0])


def _numeric_date(con: duckdb.DuckDBPyConnection, info: SourceInfo, col: str,
                  forced: str | None) -> tuple[str, str | None, str | None]:
    """Dates stored as numbers: Excel serial day numbers (days since 1899-12-30, the fraction
    the time of day), as written by a workbook whose date cells lost their format or a CSV
    saved from one; or whole numbers written yyyymmdd. With ``forced``, the digits are read
    with that format."""
    q = quote(col)
    digits = f"CAST(TRY_CAST({q} AS BIGINT) AS VARCHAR)"
    if forced:
        # A number loses its leading zero (01122011 is 1122011): pad to the format's width.
        width = datetime(2011, 12, 9, 12, 50, 59).strftime(forced)
        if width.isdigit():
            digits = f"lpad({digits}, {len(width)}, '0')"
        return _parse(digits, forced), forced, None
    low, high, count, ymd = con.execute(
        f"SELECT min({q}), max({q}), count({q}), count(*) FILTER (WHERE {q} = trunc({q}) AND "
        f"try_strptime({digits}, '%Y%m%d') IS NOT NULL) FROM source").fetchall()[0]
    if not count:
        raise _empty_dates(info, col)
    if ymd == count and YMD_RANGE[0] <= float(low) and float(high) <= YMD_RANGE[1]:
        return (_parse(digits, "%Y%m%d"), "%Y%m%d",
                "the dates were numbers written yyyymmdd (20111209) and were converted")
    if not (SERIAL_RANGE[0] <= float(low) and float(high) <= SERIAL_RANGE[1]):
        raise InputError(
            f"{info.where}: column {col!r} (invoice_date) holds numbers from {low:.15g} to "
            f"{high:.15g}, which are neither dates, nor Excel serial dates (1901–2099), nor "
            f"dates written yyyymmdd. If it is the date column, give the format of its digits "
            f"with --date-format (e.g. --date-format '%d%m%Y'); else map the date column with "
            f"--map invoice_date=<column>.")
    seconds = f"CAST(round(CAST({q} AS DOUBLE) * 86400) AS BIGINT)"
    return f"(TIMESTAMP '1899-12-30' + to_seconds({seconds}))", None, SERIAL_NOTE


def _check_conversions(con: duckdb.DuckDBPyConnection, info: SourceInfo, exprs: dict[str, str],
                       types: dict[str, str], parsed_date: bool) -> None:
    """Raise when a text number or a date read with a format does not convert, naming the
    first rows."""
    for key in ("quantity", "unit_price", "amount", "invoice_date"):
        col = info.mapping.get(key)
        parsed = parsed_date if key == "invoice_date" else _is_text(types.get(col or "", ""))
        if col is None or not parsed:
            continue
        text = f"trim(CAST({quote(col)} AS VARCHAR))"
        bad = f"{quote(col)} IS NOT NULL AND {text} <> '' AND ({exprs[key]}) IS NULL"
        rows = con.execute(
            f"SELECT __row_id, {quote(col)} FROM source WHERE {bad} ORDER BY 1 LIMIT 5"
        ).fetchall()
        if rows:
            raise conversion_error(info, col, key, rows)


def conversion_error(info: SourceInfo, col: str, key: str,
                     rows: list[tuple[Any, ...]]) -> InputError:
    """The error for values of ``col`` that do not convert: ``rows`` are (row id, value)."""
    # Row numbers as a spreadsheet shows them: the header is row 1.
    where = ", ".join(f"row {rn + 2} ({v!r})" for rn, v in rows)
    what = "dates in the detected format" if key == "invoice_date" else "numbers"
    return InputError(
        f"{info.where}: column {col!r} ({key}) has values that are not {what}: "
        f"{where}. Fix or remove those rows and try again."
        + (" If the format is wrong, give it with --date-format."
           if key == "invoice_date" else ""))


def preview(con: duckdb.DuckDBPyConnection, select_sql: str) -> dict[str, Any]:
    """First and last date and the number of customers, for ``custseg inspect``."""
    first, last, customers = con.execute(
        f"SELECT min(invoice_date), max(invoice_date), count(DISTINCT customer_id) "
        f"FROM ({select_sql})").fetchall()[0]
    return {"first": first, "last": last, "customers": int(customers)}

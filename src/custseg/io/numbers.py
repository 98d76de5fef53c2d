"""Text numbers: the decimal separator, decided from the data with certainty or refused, and
the SQL that converts them.

"2,55" is 2.55 in a European export and "1,500" is 1500 in an American one; stripping the
comma, as a naive reader does, multiplies prices by 100. A separator is decided only from
values that cannot be read the other way; when a column holds only values that can ("1,500",
"1.500"), or both kinds, the user is asked to say (``--decimal``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from custseg.errors import ReadingChoiceError
from custseg.io.sql import literal, quote

_SYMBOLS = re.compile(r"[£$€¥\s\u00a0]")
#: The same characters for DuckDB's regular expressions, whose \s is ASCII only: no-break
#: spaces (U+00A0, and U+202F in French exports) separate thousands.
_STRIP = "£$€¥\\s\u00a0\u202f"
#: Values that can only mean a decimal comma: "2,55", "0,1234", "1.234,56".
_COMMA = re.compile(r"^[-+]?(\d+,\d{1,2}|\d+,\d{4,}|\d{1,3}(\.\d{3})+,\d+)$")
#: Values that can only mean a decimal point: "2.55", "0.1234", "1,234.56".
_POINT = re.compile(r"^[-+]?(\d+\.\d{1,2}|\d+\.\d{4,}|\d{1,3}(,\d{3})+\.\d+)$")
#: Values readable both ways: "1,500" and "1.500" (a thousand and a half, or one and a half).
_EITHER = re.compile(r"^[-+]?\d{1,3}([.,]\d{3})+$")


def evidence(values: Iterable[object]) -> tuple[int, int, list[str]]:
    """Counts of values that can only be decimal-comma and only decimal-point, and up to
    three values readable either way."""
    comma = point = 0
    either: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        text = _SYMBOLS.sub("", value)
        if _COMMA.match(text):
            comma += 1
        elif _POINT.match(text):
            point += 1
        elif len(either) < 3 and value not in either and _EITHER.match(text):
            either.append(value)
    return comma, point, either


def sniff_decimal(rows: list[tuple[object, ...]], path: Path) -> str | None:
    """The decimal separator of a delimited file from a sample of its fields: "," or "." when
    the sample shows one and not the other, else None (each column is then decided alone)."""
    comma, point, _ = evidence(v for row in rows for v in row)
    if comma and not point:
        return ","
    if point and not comma:
        return "."
    return None


def decide(values: list[object], column: str, where: str, file_decimal: str | None,
           forced: str | None) -> str:
    """The separator for one text column: the user's, else the column's own evidence, else
    the file's; refused when the column contradicts itself or cannot be read either way."""
    if forced:
        return forced
    comma, point, either = evidence(values)
    if comma and point:
        raise ReadingChoiceError(
            f"{where}: column {column!r} mixes decimal commas and decimal points "
            f"({comma:,} values like 2,55 and {point:,} like 2.55 in the first rows), so its "
            f"numbers cannot be read with certainty. Say which is right with --decimal , or "
            f"--decimal . (the other values are then reported row by row).",
            setting="decimal", choices=[",", "."] if comma >= point else [".", ","])
    if comma:
        return ","
    if point:
        return "."
    if either and file_decimal is None:
        raise ReadingChoiceError(
            f"{where}: column {column!r} has numbers such as {', '.join(map(repr, either))} "
            f"that read as thousands with one decimal separator and as fractions with the "
            f"other. Say which separator the file uses: --decimal . (1,500 is fifteen "
            f"hundred) or --decimal , (1,500 is one and a half).",
            setting="decimal", choices=[".", ","])
    return file_decimal or "."


def contradicts_sql(column: str, decimal: str) -> str:
    """SQL true for a value that can only be read with the other decimal separator ("2,55"
    in a column read with a decimal point): converted anyway, it would be 255."""
    other = _COMMA if decimal == "." else _POINT
    stripped = f"regexp_replace({quote(column)}, '[{_STRIP}]', '', 'g')"
    return f"regexp_full_match({stripped}, {literal(other.pattern)})"


def number_sql(column: str, decimal: str) -> str:
    """SQL turning a text column into DOUBLE with the given decimal separator; currency
    symbols, spaces and thousands separators are removed; unreadable text becomes NULL."""
    q = quote(column)
    if decimal == ",":
        stripped = f"regexp_replace({q}, '[{_STRIP}.]', '', 'g')"
        return f"TRY_CAST(replace({stripped}, ',', '.') AS DOUBLE)"
    return f"TRY_CAST(regexp_replace({q}, '[{_STRIP},]', '', 'g') AS DOUBLE)"

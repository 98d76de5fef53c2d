"""Tables made safe to open in a spreadsheet: the one filter every CSV custseg writes passes.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and some
strip a leading tab or carriage return first), so a product description
``=HYPERLINK("http://x","y")`` or a customer id ``@17841`` copied from the input into a CSV
would run when the file is opened (CSV or formula injection). Following OWASP, such a text cell
gets a leading ``'``, which spreadsheets show as text. Numbers are left alone, and so is text
that is a plain number (``-5``, ``-1.25``): a spreadsheet reads it as that number and nothing
runs.

Only files are filtered: results in memory and the Parquet output keep the raw values (a
program reading them gets the data as it was).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: First characters that make a spreadsheet read a cell as a formula.
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
#: A plain decimal number (optionally negative, with an exponent): safe as it is.
_PLAIN_NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_STARTS_DANGEROUS = r"[=+\-@\t\r]"  # one of DANGEROUS


def neutralise(values: pd.Series) -> pd.Series:
    """``values`` with each text cell a spreadsheet would run prefixed by ``'``.

    Non-text cells (numbers, dates, missing values) and text that is a plain number are
    unchanged; a Series without such a cell is returned as it is.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    try:
        text = values.str
    except AttributeError:  # an object column without any text
        return values
    # Non-text cells give NA here, which counts as "not dangerous".
    risky = text.match(_STARTS_DANGEROUS).fillna(False).astype(bool)
    risky &= ~text.fullmatch(_PLAIN_NUMBER).fillna(False).astype(bool)
    if not risky.any():
        return values
    return values.mask(risky, "'" + values[risky].astype(str))


def safe_for_spreadsheets(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot run in a spreadsheet
    (see :func:`neutralise`); ``frame`` itself is not changed."""
    safe = frame.copy(deep=False)
    for i in range(frame.shape[1]):
        # By position: column names may repeat in a file's own columns.
        safe.isetitem(i, neutralise(frame.iloc[:, i]))
    names = pd.Series([str(c) for c in frame.columns], dtype=object)
    safe.columns = neutralise(names).tolist()
    return safe


def to_csv(frame: pd.DataFrame, path: str | Path | None = None) -> str | None:
    """Write ``frame`` (without its index) as CSV, made safe by :func:`safe_for_spreadsheets`.

    Lines end with CRLF (RFC 4180). Python's CSV writer quotes a field only for the characters
    of its line ending, so with "\n" alone a carriage return inside a description was written
    bare: readers split the row there, and text after it (``"ok\r=cmd"``) began a new row
    with a formula.

    Returns
    -------
    The CSV text when ``path`` is None (for a download button), else None.
    """
    return safe_for_spreadsheets(frame).to_csv(path, index=False, lineterminator="\r\n")

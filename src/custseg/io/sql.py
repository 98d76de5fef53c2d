"""SQL text helpers shared by the readers and the type conversions: quoting and error text."""

from __future__ import annotations


def literal(text: str) -> str:
    """Quote a string literal for SQL."""
    return "'" + str(text).replace("'", "''") + "'"


def quote(name: str) -> str:
    """Quote an identifier for SQL."""
    return '"' + str(name).replace('"', '""') + '"'


def reader_cause(exc: BaseException, limit: int = 800) -> str:
    """The reader's own explanation of a failure, without DuckDB's generic advice.

    DuckDB's CSV errors run to dozens of lines ("Possible fixes: …" and the options used);
    the cause is in the first few, which must not be cut to the first line only: "CSV Error
    on Line: 26" alone does not say what is wrong with line 26.
    """
    lines = []
    for line in str(exc).strip().splitlines():
        if line.strip().lower().startswith(("possible fix", "possible solution",
                                            "the csv reader", "  file =", "line 1:")):
            # "LINE 1: …" quotes custseg's own SQL, which says nothing about the file.
            break
        if line.strip().startswith("Original Line:") and len(line.strip()) > 120:
            # The offending line itself can be megabytes long: the cause comes after it.
            line = line.strip()[:100] + "…"
        if line.strip():
            lines.append(line.strip())
    text = " ".join(lines) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"

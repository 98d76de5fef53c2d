"""What a file looks like to custseg — format, mapping, size, dates — without running anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custseg import io
from custseg.config import Config
from custseg.engine import connect
from custseg.errors import MappingError
from custseg.io import excel, sniff


@dataclass(frozen=True)
class SourceFacts:
    """The facts ``custseg inspect`` shows."""

    source: io.SourceInfo
    mapping_problem: str | None
    first_date: Any
    last_date: Any
    customers: int | None
    #: Every sheet of a workbook with the rows it spans (None when that is not cheap to know).
    workbook_sheets: tuple[tuple[str, int | None], ...] = ()

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for display."""
        info = self.source
        pairs = [("format", info.format + (f" (delimiter {info.delimiter!r})"
                                           if info.delimiter else ""))]
        if self.workbook_sheets:
            pairs.append(("sheets", _sheet_list(self.workbook_sheets, info.sheets)))
        elif info.sheets:
            pairs.append(("sheets", ", ".join(info.sheets)))
        pairs.append(("rows", f"{info.rows:,}"))
        pairs.append(("columns", ", ".join(info.columns)))
        if self.mapping_problem:
            pairs.append(("mapping", self.mapping_problem))
        else:
            pairs += [(f"  {key}", col) for key, col in info.mapping.items()]
            absent = [k for k in io.CANONICAL if k not in info.mapping]
            if absent:
                pairs.append(("not found", ", ".join(absent) + " (optional; rules that need "
                              "them are switched off)"))
        if info.preset:
            pairs.append(("data preset", info.preset))
        if info.encoding and info.encoding != "utf-8":
            pairs.append(("encoding", info.encoding))
        if info.decimal:
            pairs.append(("decimal separator", repr(info.decimal)))
        if info.date_format:
            pairs.append(("date format", info.date_format))
        if self.first_date is not None:
            pairs.append(("date range", f"{self.first_date} → {self.last_date}"))
        if self.customers is not None:
            pairs.append(("customers", f"{self.customers:,}"))
        pairs += [("note", note) for note in info.notes]
        return pairs


def describe_source(path: str | Path, *, sheet: str | None = None,
                    mapping: str | dict[str, str] | None = None,
                    config: Config | None = None) -> SourceFacts:
    """Read ``path`` and describe it. A mapping problem is reported, not raised."""
    config = config or Config()
    overrides = io.parse_mapping(mapping) if isinstance(mapping, str) else dict(mapping or {})
    con = connect(config)
    try:
        info = io.register_source(con, path, sheet=sheet, overrides=overrides, read=config.read)
    except MappingError as exc:
        # No sheet of the workbook has transaction columns: describe its first sheet, as it is,
        # beside the message that names the others.
        sheets = _workbook_sheets(path)
        if not sheets:
            raise
        info = io.register_source(con, path, sheet=sheets[0][0], overrides=overrides,
                                  read=config.read)
        return SourceFacts(info, str(exc), None, None, None, sheets)
    sheets = _workbook_sheets(path) if info.format == "excel" else ()
    try:
        info = io.map_columns(info, overrides, config.preset)
    except MappingError as exc:
        return SourceFacts(info, str(exc), None, None, None, sheets)
    select_sql, info = io.canonical_select(con, info, config.read)
    first, last, customers = con.execute(
        f"SELECT min(invoice_date), max(invoice_date), count(DISTINCT customer_id) "
        f"FROM ({select_sql})").fetchall()[0]
    return SourceFacts(info, None, first, last, int(customers), sheets)


def _workbook_sheets(path: str | Path) -> tuple[tuple[str, int | None], ...]:
    """Every sheet of the workbook at ``path`` (found by content, as the reader finds it)."""
    found = sniff.sniff(Path(path))
    try:
        return tuple(excel.sheet_rows(found.path)) if found.format == "excel" else ()
    finally:
        found.cleanup()


def _sheet_list(sheets: tuple[tuple[str, int | None], ...], read: tuple[str, ...]) -> str:
    """"Cover (3 rows), Data (1,204 rows, read)"."""
    shown = []
    for name, rows in sheets:
        facts = ([f"{rows:,} rows"] if rows is not None else []) + (["read"] if name in read
                                                                     else [])
        shown.append(f"{name} ({', '.join(facts)})" if facts else name)
    return ", ".join(shown)

"""What a file looks like to custseg — format, mapping, size, dates — without running anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custseg import io
from custseg.config import Config
from custseg.engine import connect
from custseg.errors import MappingError


@dataclass(frozen=True)
class SourceFacts:
    """The facts ``custseg inspect`` shows."""

    source: io.SourceInfo
    mapping_problem: str | None
    first_date: Any
    last_date: Any
    customers: int | None

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for display."""
        info = self.source
        pairs = [("format", info.format + (f" (delimiter {info.delimiter!r})"
                                           if info.delimiter else ""))]
        if info.sheets:
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
    info = io.register_source(con, path, sheet=sheet, overrides=overrides, read=config.read)
    try:
        info = io.map_columns(info, overrides, config.preset)
    except MappingError as exc:
        return SourceFacts(info, str(exc), None, None, None)
    select_sql, info = io.canonical_select(con, info, config.read)
    first, last, customers = con.execute(
        f"SELECT min(invoice_date), max(invoice_date), count(DISTINCT customer_id) "
        f"FROM ({select_sql})").fetchall()[0]
    return SourceFacts(info, None, first, last, int(customers))

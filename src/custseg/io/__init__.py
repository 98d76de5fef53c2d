"""Reading any export: what the file is (``sniff``), the readers that make it the DuckDB view
``source`` (``readers``, ``excel``, ``frames``), which column is which (``mapping``), and the
SQL that gives every column its canonical type (``types``, ``numbers``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from custseg.errors import MappingError
from custseg.io.mapping import (
    ALIASES,
    CANONICAL,
    detect_mapping,
    missing_required,
    normalise_header,
    parse_mapping,
    prefer_line_amount,
    recognise,
)
from custseg.io.readers import SourceInfo, register_source
from custseg.io.sql import literal, quote
from custseg.io.types import DATE_FORMATS, canonical_select, checked_amount, normalise_id

__all__ = [
    "ALIASES",
    "CANONICAL",
    "DATE_FORMATS",
    "SourceInfo",
    "canonical_select",
    "checked_amount",
    "detect_mapping",
    "literal",
    "map_columns",
    "missing_required",
    "normalise_header",
    "normalise_id",
    "parse_mapping",
    "quote",
    "recognise",
    "register_source",
]


def map_columns(info: SourceInfo, overrides: Mapping[str, str] | None = None,
                preset: str = "auto") -> SourceInfo:
    """``info`` with its column mapping, the total column set aside (if any), the data preset
    recognised from the header (with ``preset="auto"``), and notes on absent columns.

    Raises
    ------
    MappingError
        When a required column cannot be found or an override names a missing column.
    """
    try:
        mapping = detect_mapping(list(info.columns), overrides, info.where)
    except MappingError as exc:
        if info.delimiter is None:
            raise
        # Columns that cannot be found are often fields split at the wrong character.
        raise MappingError(f"{exc} The fields were split at {info.delimiter!r}; if that is "
                           f"wrong, name the delimiter with --delimiter (e.g. --delimiter "
                           f"';').", columns=exc.columns, missing=exc.missing) from exc
    mapping, total = prefer_line_amount(mapping, overrides)
    found = recognise(list(info.columns)) if preset == "auto" else (
        None if preset == "none" else preset)
    absent = [k for k in CANONICAL if k not in mapping and k != "amount"]
    notes = info.notes + tuple(f"no {k} column" for k in absent)
    return dataclasses.replace(info, mapping=mapping, total_column=total, preset=found,
                               notes=notes)

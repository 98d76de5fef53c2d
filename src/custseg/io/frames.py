"""Frames from Python (pandas, polars, Arrow) and Arrow tables from the workbook reader,
registered in DuckDB without a copy.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from custseg.errors import InputError


def arrow_to_table(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Register an Arrow table (no copy) with its row positions as ``source_table``."""
    import numpy as np

    ids = pa.array(np.arange(table.num_rows, dtype=np.int64))
    con.register("source_arrow", table.append_column("__row_id", ids))
    con.execute("CREATE OR REPLACE VIEW source_table AS SELECT * EXCLUDE (__row_id) "
                "FROM source_arrow")
    con.execute("CREATE OR REPLACE VIEW source AS SELECT * FROM source_arrow")


def to_arrow(frame: Any) -> pa.Table:
    """A pandas, polars or Arrow frame as an Arrow table."""
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

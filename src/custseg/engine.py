"""The transaction engine: an embedded DuckDB connection, multi-threaded and spilling to disk."""

from __future__ import annotations

import tempfile

import duckdb

from custseg.config import Config


def connect(config: Config | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection set up for transaction-scale work.

    Parameters
    ----------
    config:
        Supplies ``threads`` and ``memory_limit``; defaults leave DuckDB's own choices.

    Returns
    -------
    A fresh connection. Tables created on it live in memory and spill to a temporary
    directory when the memory limit is reached.
    """
    config = config or Config()
    con = duckdb.connect(":memory:")
    if config.threads:
        con.execute(f"SET threads = {int(config.threads)}")
    if config.memory_limit:
        con.execute("SET memory_limit = ?", [config.memory_limit])
    con.execute("SET temp_directory = ?", [tempfile.gettempdir() + "/custseg-duckdb"])
    # Zone-aware timestamps become UTC explicitly (custseg.io.types); this makes sure no
    # implicit conversion ever uses the machine's zone either.
    con.execute("SET TimeZone = 'UTC'")
    # Scans must keep file order: row_id is the position of a line in the input.
    con.execute("SET preserve_insertion_order = true")
    return con

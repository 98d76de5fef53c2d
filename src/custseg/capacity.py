"""Will a run fit? An estimate of the memory and temporary disk a run needs, from its number of
lines, checked against DuckDB's memory limit and the room in its temporary directory before
the lines are cleaned — so that an input too large for the settings stops at once with the
figures and the setting to change, not after minutes of work with a full disk.

The figures per line are measured (docs/scale.md, ``benchmarks/bench_scale.py``); they are an
estimate, rounded up, not a promise.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from custseg import clean
from custseg.config import Config
from custseg.engine import free_disk, parse_size, temp_dir
from custseg.errors import ResourceError

#: The lines' Parquet file, in the temporary directory for the whole run (engine.StoreFile;
#: 7.0 bytes a line for 10.4M and 104M generated lines, 6.9 for the real Online Retail
#: export), rounded up for exports with more varied text or an amount column of their own.
STORE_BYTES_PER_LINE = 10
#: One entry of the duplicate search's hash table (clean.DUPLICATE_PASS_LINES at a time:
#: passes of 20.9M lines spilled nothing under the 1 GB limit, of 34.8M 359 MB).
DUPLICATE_BYTES_PER_LINE = 36
#: What the Python side holds besides DuckDB, per line (the RFM table, the customers' frames
#: and models grow with customers, about one per 100 lines in retail logs), and at least.
PROCESS_BYTES_PER_LINE = 10
PROCESS_BYTES_MIN = 400_000_000
#: DuckDB cannot use all of its limit for data: some of it is its own bookkeeping.
USABLE_SHARE = 0.8


@dataclass(frozen=True)
class Needs:
    """What a run of ``lines`` lines needs, in bytes."""

    lines: int
    #: DuckDB's working data at the peak, beside the lines it caches from their file (before
    #: what does not fit is spilled).
    engine: int
    #: Peak memory of the process with the limit in force: DuckDB up to its limit plus the
    #: Python side.
    memory: int
    #: Temporary disk: the lines' file, and what DuckDB's working data holds beyond its
    #: usable limit (spilled).
    disk: int
    #: Of ``disk``, the lines' file.
    store: int = 0


def estimate(lines: int, memory_limit: int) -> Needs:
    """The memory and temporary disk of a run of ``lines`` lines under ``memory_limit`` bytes."""
    # The lines stream to their file; DuckDB's largest working set is then one pass of the
    # duplicate search. The file's blocks are cached in memory when there is room and
    # dropped (not spilled) when there is not: they count on disk, not in the peak.
    store = lines * STORE_BYTES_PER_LINE
    engine = min(lines, clean.DUPLICATE_PASS_LINES) * DUPLICATE_BYTES_PER_LINE
    usable = int(memory_limit * USABLE_SHARE)
    python = max(PROCESS_BYTES_MIN, lines * PROCESS_BYTES_PER_LINE)
    return Needs(lines=lines, engine=engine,
                 memory=min(engine + store, memory_limit) + python,
                 disk=store + max(0, engine - usable), store=store)


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    row = con.execute("SELECT current_setting(?)", [name]).fetchone()
    return str(row[0]) if row else ""


def room(con: duckdb.DuckDBPyConnection, folder: str) -> int | None:
    """The temporary disk DuckDB may use: its ``max_temp_directory_size``, which by default is
    90% of the free space of the disk holding ``folder``; None when it cannot be told."""
    cap = _setting(con, "max_temp_directory_size")
    free = free_disk(folder)
    if "available disk space" in cap:
        return None if free is None else int(free * 0.9)
    size = parse_size(cap)
    return size if free is None or size is None else min(size, free)


def check(con: duckdb.DuckDBPyConnection, lines: int, config: Config | None = None) -> Needs:
    """Stop before the heavy work when ``lines`` lines need more temporary disk than there is.

    Raises
    ------
    ResourceError
        ``resource="disk"``, with the estimated memory and disk, the temporary directory and
        its room, and the settings that change them (``--memory-limit``, ``--temp-dir``).
    """
    config = config or Config()
    limit = parse_size(_setting(con, "memory_limit")) or 0
    needs = estimate(lines, limit)
    folder = _setting(con, "temp_directory") or temp_dir(config)
    available = room(con, folder)
    if available is None or needs.disk <= available:
        return needs
    raise ResourceError(_message(needs, limit, folder, available), "disk", folder,
                        config.memory_limit)


def _message(needs: Needs, limit: int, folder: str, available: int) -> str:
    text = (f"Not started: {needs.lines:,} lines need an estimated {_gb(needs.memory)} of "
            f"memory and {_gb(needs.disk)} of temporary disk with the memory limit of "
            f"{_gb(limit)}, and the temporary directory {folder} has room for "
            f"{_gb(available)}. Point --temp-dir (Config(temp_dir=...) from Python) at a disk "
            f"with {_gb(needs.disk)} free, or split the input. The compressed lines take "
            f"{_gb(needs.store)} of it whatever the memory limit")
    spilled = needs.disk - needs.store
    if spilled <= 0:
        return text + "."
    # Enough memory to hold the working data without spilling, rounded up to a whole GB.
    enough = -(-int(needs.engine / USABLE_SHARE) // 1_000_000_000)
    return (text + f"; raising --memory-limit (Config(memory_limit=...)) to about {enough}GB "
            f"saves the other {_gb(spilled)}, which DuckDB would spill.")


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"

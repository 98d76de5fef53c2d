"""The transaction engine: an embedded DuckDB connection, multi-threaded and spilling to disk,
and the translation of its out-of-memory and out-of-disk failures into messages a user can
act on."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from custseg.config import Config
from custseg.errors import CustsegError, ResourceError

#: The database, attached by :func:`attach_store`, beside which the lines are kept: a folder of
#: its own in the temporary directory (:class:`StoreFile`) holds the lines as one zstd Parquet
#: file and, in this small database, the row ids of the duplicates and the view of the lines.
#: Parquet takes less than half of what DuckDB's own compressed table took (10.4M generated
#: lines: 73 MB against 180 MB, against 1.27 GB uncompressed), so the lines take about as much
#: disk as the input they came from, and are read about as fast; they never pass through
#: memory or the spill folder; and a run's result keeps the folder, not a connection
#: (docs/scale.md).
STORE = "custseg_store"

#: Every store file some object still holds, by path: :func:`store_file` finds a connection's.
_HELD: weakref.WeakValueDictionary[str, StoreFile] = weakref.WeakValueDictionary()


class StoreFile:
    """The lines' Parquet file and the database file of :data:`STORE`, alone in a fresh
    folder under the temporary directory. Whoever holds this object keeps the files: a
    connection that attached or opened it (:func:`attach_store`, :func:`open_store`), a
    run's stored dataset. The folder is removed when the last holder is gone, or when Python
    exits."""

    def __init__(self, parent: str) -> None:
        os.makedirs(parent, exist_ok=True)
        self.folder = tempfile.mkdtemp(prefix="custseg-lines-", dir=parent)
        self.path = os.path.join(self.folder, "lines.duckdb")
        self.lines = os.path.join(self.folder, "lines.parquet")
        weakref.finalize(self, shutil.rmtree, self.folder, True)
        _HELD[self.path] = self

    def bytes(self) -> int:
        """What the folder holds now (the lines, the database and its write-ahead log)."""
        return sum(entry.stat().st_size for entry in os.scandir(self.folder)
                   if entry.is_file())


def _hold(*_: object) -> None:
    """Nothing: a finalizer's arguments stay alive as long as the object it watches."""


def attach_store(con: duckdb.DuckDBPyConnection) -> StoreFile:
    """Attach a new :class:`StoreFile` as :data:`STORE`, in the connection's temporary
    directory; the file lives at least as long as the connection."""
    folder = con.execute("SELECT current_setting('temp_directory')").fetchone()
    store = StoreFile(str(folder[0]) if folder and folder[0] else tempfile.gettempdir())
    con.execute(f"ATTACH '{_quoted(store.path)}' AS {STORE}")
    weakref.finalize(con, _hold, store)
    return store


def open_store(store: StoreFile, config: Config | None = None) -> duckdb.DuckDBPyConnection:
    """A new connection (:func:`connect`) with ``store`` attached read-only as :data:`STORE`
    and the views ``lines`` (the store's own, :func:`custseg.clean.build_lines`) and
    ``clean``: how a run's lines are read after the run's own connection is closed."""
    con = connect(config)
    con.execute(f"ATTACH '{_quoted(store.path)}' AS {STORE} (READ_ONLY)")
    weakref.finalize(con, _hold, store)
    con.execute(f"CREATE VIEW lines AS SELECT * FROM {LINES}")
    con.execute("CREATE VIEW clean AS SELECT * FROM lines WHERE drop_rule IS NULL")
    return con


#: How the lines are written (:func:`custseg.clean.build_lines`). Version 2 of the format
#: stores the row ids as deltas (0.02 MB for 10M lines instead of 11 MB).
LINES_FORMAT = "FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V2"
#: The table of :data:`STORE` holding the row ids of the lines dropped as duplicates.
COPIES = f"{STORE}.main.copies"
#: The view of :data:`STORE` that reads the lines from their file: kept in the store, a
#: connection that opens it later reads them the same way.
LINES = f"{STORE}.main.lines"


def _quoted(path: str) -> str:
    return path.replace("'", "''")


def store_file(con: duckdb.DuckDBPyConnection) -> StoreFile | None:
    """The :class:`StoreFile` attached to ``con``, or None."""
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = ?",
                      [STORE]).fetchone()
    return _HELD.get(str(row[0])) if row and row[0] else None


def store(con: duckdb.DuckDBPyConnection) -> str | None:
    """:data:`STORE` when ``con`` has it attached (:func:`attach_store`), else None (a plain
    connection: tables stay in its default database)."""
    found = con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?",
                        [STORE]).fetchone()
    return STORE if found and found[0] else None


def temp_dir(config: Config | None = None) -> str:
    """The folder DuckDB spills to: ``config.temp_dir``, else ``custseg-duckdb`` in the
    system's temporary directory."""
    config = config or Config()
    return str(config.temp_dir or os.path.join(tempfile.gettempdir(), "custseg-duckdb"))


def connect(config: Config | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection set up for transaction-scale work.

    Parameters
    ----------
    config:
        Supplies ``threads``, ``memory_limit`` and ``temp_dir``; unset values leave DuckDB's
        own choices (every core, 80% of memory) and the system's temporary directory.

    Returns
    -------
    A fresh connection. Tables created on it live in memory and spill to the temporary
    directory when the memory limit is reached.
    """
    config = config or Config()
    con = duckdb.connect(":memory:")
    if config.threads:
        con.execute(f"SET threads = {int(config.threads)}")
    if config.memory_limit:
        con.execute("SET memory_limit = ?", [config.memory_limit])
    # Several processes (or dashboard sessions) may share the folder: DuckDB names its spill
    # files by process and instance, and removes only its own.
    con.execute("SET temp_directory = ?", [temp_dir(config)])
    # Zone-aware timestamps become UTC explicitly (custseg.io.types); this makes sure no
    # implicit conversion ever uses the machine's zone either.
    con.execute("SET TimeZone = 'UTC'")
    # Scans must keep file order: row_id is the position of a line in the input.
    con.execute("SET preserve_insertion_order = true")
    return con


@contextmanager
def resource_errors(config: Config | None = None, stage: str | None = None) -> Iterator[None]:
    """Turn running out of memory or temporary disk inside the block into a
    :class:`~custseg.errors.ResourceError` naming what ran out, the temporary directory and
    the settings to change — instead of an engine error that reads like a bug.

    Also catches a custseg error raised *because of* such a failure (a reader that wraps
    every DuckDB error as "cannot read the file" must not blame the file for a full disk).

    Parameters
    ----------
    config:
        The run's settings, for the memory limit and temporary directory in force.
    stage:
        What was being done, for the message ("reading and cleaning").
    """
    try:
        yield
    except ResourceError:
        raise
    except CustsegError as exc:
        cause = _resource_cause(exc)
        if cause is None:
            raise
        raise resource_error(cause, config, stage) from exc
    except (duckdb.Error, MemoryError, OSError) as exc:
        if _kind(exc) is None:
            raise
        raise resource_error(exc, config, stage) from exc


def resource_error(exc: BaseException, config: Config | None = None,
                   stage: str | None = None) -> ResourceError:
    """The :class:`~custseg.errors.ResourceError` for ``exc``, an engine (or Python) failure
    of running out of memory or disk space (:func:`_kind` tells which)."""
    config = config or Config()
    folder = temp_dir(config)
    limit = config.memory_limit
    during = f" while {stage}" if stage else ""
    limit_text = (f"its memory limit of {limit}" if limit
                  else "its default memory limit (80% of this machine's memory)")
    if _kind(exc) == "disk":
        message = (f"Ran out of temporary disk space{during}. DuckDB writes what does not "
                   f"fit in {limit_text} to the temporary directory {folder}"
                   f"{_free_space(folder)}, and that disk, or the max_temp_directory_size "
                   f"limit, is full. Point --temp-dir (Config(temp_dir=...) from Python) at "
                   f"a disk with more free space, or raise --memory-limit "
                   f"(Config(memory_limit=...)) so that less is written to disk.")
        resource = "disk"
    else:
        message = (f"Ran out of memory{during}: DuckDB needed more than {limit_text}"
                   f"{_machine_memory()} and could not move the rest to the temporary "
                   f"directory {folder}. Raise the limit with --memory-limit, e.g. "
                   f"{_suggested_limit(limit)} (Config(memory_limit=...) from Python), or "
                   f"split the input; --temp-dir (Config(temp_dir=...)) chooses where DuckDB "
                   f"spills.")
        resource = "memory"
    # DuckDB's first line says what failed to allocate; its further lines suggest SQL
    # settings (SET threads …) that a custseg user does not type.
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ResourceError(message, resource, folder, limit, detail=detail)


def _kind(exc: BaseException) -> str | None:
    """``"memory"``, ``"disk"`` or None (not a resource failure)."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk"
    if isinstance(exc, MemoryError):
        return "memory"
    if not isinstance(exc, duckdb.Error):
        return None
    disk_full = ("No space left on device" in text or "Disk quota exceeded" in text
                 # DuckDB caps its spill files at the disk's free space by default, and
                 # reports reaching that cap as an out-of-memory error naming the setting.
                 or "max_temp_directory_size" in text)
    if disk_full and isinstance(exc, (duckdb.OutOfMemoryException, duckdb.IOException)):
        return "disk"
    if isinstance(exc, duckdb.OutOfMemoryException):
        return "memory"
    return None


def _resource_cause(exc: BaseException) -> BaseException | None:
    """The resource failure in ``exc``'s chain of causes, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        if _kind(current) is not None:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def free_disk(folder: str) -> int | None:
    """Free bytes on the disk that holds ``folder`` (or its nearest existing parent: DuckDB
    creates the folder only when it first spills), or None when it cannot be told."""
    path = folder
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    try:
        return shutil.disk_usage(path or ".").free
    except OSError:
        return None


def _free_space(folder: str) -> str:
    """' (N GB free now)' for the disk holding ``folder``, or '' when it cannot be told."""
    free = free_disk(folder)
    return "" if free is None else f" ({_size(free)} free now)"


def _machine_memory() -> str:
    """' (this machine has N GB)', or '' where the system does not say."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return ""
    return f" (this machine has {_size(total)})" if total > 0 else ""


def _suggested_limit(limit: str | None) -> str:
    """Four times the current limit when it can be read, else 4GB."""
    size = parse_size(limit) if limit else None
    return _size(4 * size).replace(" ", "") if size else "4GB"


def parse_size(text: str) -> int | None:
    """Bytes in a DuckDB-style size ('1GB', '500MB', '1.5GiB', '2G', or plain bytes), or None
    if unreadable."""
    import re

    match = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if match is None:
        return None
    try:
        number = float(match.group(1))
    except ValueError:
        return None
    base = 1024 if match.group(3) else 1000
    return int(number * base ** " kmgt".index(match.group(2) or " "))


def _size(n: float) -> str:
    """Bytes as '1.5 GB' / '300 MB' (decimal units, as DuckDB's settings take them)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n / 1e3:.3g} KB"

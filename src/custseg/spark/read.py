"""Spark's readers: Parquet, CSV and Delta files or folders (local or cloud paths) become the
temporary view ``source`` with the input's own columns and ``__row_id``, the line's position
in the input (files in name order), exactly as DuckDB numbers the lines of one file.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custseg.errors import InputError
from custseg.io import SourceInfo

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Extensions read as delimited text, and as Parquet.
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
#: Extensions Spark cannot read (the DuckDB engine can).
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".zip", ".json")
_DELIMITERS = (",", ";", "\t", "|")


#: A URL scheme followed by one slash: what pathlib leaves of ``s3://bucket`` (the CLI's path
#: argument); one letter is a Windows drive, and ``dbfs:/`` is written with one slash.
_COLLAPSED_URL = re.compile(r"^(?!dbfs:)([A-Za-z][A-Za-z0-9+.-]+):/(?!/)")


def normalise_path(source: str | Path) -> str:
    """``source`` as a path or URL Spark reads (``s3:/bucket`` back to ``s3://bucket``)."""
    return _COLLAPSED_URL.sub(r"\1://", str(source), count=1)


def _is_remote(path: str) -> bool:
    return "://" in path or path.startswith("dbfs:")


def _local_format(path: Path) -> str:
    """parquet, csv or delta for a local file or folder; InputError when Spark cannot read it."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder. Check the path and try again.")
    if path.is_dir():
        if (path / "_delta_log").is_dir():
            return "delta"
        names = [p.name.lower() for p in path.rglob("*") if p.is_file()
                 and not p.name.startswith(("_", "."))]
        if any(n.endswith(PARQUET_SUFFIXES) for n in names):
            return "parquet"
        if any(n.endswith(CSV_SUFFIXES) for n in names):
            return "csv"
        raise InputError(f"{path}: the folder holds no Parquet, CSV or Delta files. Give a "
                         f"folder of .parquet or .csv files, or a Delta table.")
    name = path.name.lower()
    if name.endswith(WORKBOOK_SUFFIXES):
        raise InputError(f"{path}: the Spark engine reads Parquet, CSV and Delta, not "
                         f"{path.suffix} files. Save it as Parquet or CSV, or use "
                         f"--engine duckdb, which reads it as it is.")
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    with path.open("rb") as f:
        return "parquet" if f.read(4) == b"PAR1" else "csv"


def _remote_format(path: str) -> str:
    name = path.lower().rstrip("/")
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return "delta-or-parquet"


def _delimiter(path: str) -> str:
    """The delimiter of a local delimited file, from its header line; ',' otherwise."""
    if path.lower().endswith((".tsv", ".tsv.gz")):
        return "\t"
    local = Path(path)
    if _is_remote(path) or not local.is_file():
        return ","
    opener: Any = gzip.open if path.lower().endswith(".gz") else open
    with opener(local, "rt", encoding="utf-8", errors="replace") as f:
        header = f.readline()
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _reader_error(where: str, fmt: str, exc: BaseException) -> InputError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if fmt == "delta" and "DATA_SOURCE_NOT_FOUND" in str(exc):
        return InputError(f"{where} is a Delta table, and this Spark session has no Delta "
                          f"reader. Start Spark with the delta-spark package (Databricks has "
                          f"it), or give the table's Parquet files.", detail=str(exc))
    return InputError(f"{where}: Spark cannot read it as {fmt} ({text}). Check the path, the "
                      f"format and the cluster's access to it.", detail=str(exc))


def read_frame(spark: SparkSession, source: str | Path) -> tuple[DataFrame, str, str | None]:
    """The input as a Spark DataFrame with its own columns, its format, and the CSV delimiter."""
    path = normalise_path(source)
    fmt = _remote_format(path) if _is_remote(path) else _local_format(Path(path))
    delimiter = None
    try:
        if fmt == "delta-or-parquet":
            try:
                return spark.read.format("delta").load(path), "delta", None
            except Exception:  # not a Delta table (or no Delta reader): a Parquet folder
                fmt = "parquet"
        if fmt == "csv":
            delimiter = _delimiter(path)
            # Every column as text: custseg's own rules type it, as for the DuckDB engine.
            frame = (spark.read.option("header", True).option("inferSchema", False)
                     .option("sep", delimiter).option("multiLine", False).csv(path))
        else:
            frame = spark.read.format(fmt).load(path)
    except Exception as exc:  # Spark's AnalysisException and Py4J errors alike
        raise _reader_error(path, fmt, exc) from exc
    return frame, fmt, delimiter


def with_row_ids(spark: SparkSession, frame: DataFrame) -> tuple[DataFrame, int]:
    """``frame`` with ``__row_id`` (the line's position in the input, 0 first), and its
    number of lines.

    Each file split is read in order by one task, so a line's position is the number of lines
    in the splits before its own (files by name, splits by offset) plus its position in its
    split; only the split counts come to the driver.
    """
    from pyspark.sql import functions as F

    tagged = frame.select("*", F.col("_metadata.file_path").alias("__file"),
                          F.col("_metadata.file_block_start").alias("__block"),
                          F.monotonically_increasing_id().alias("__mono"))
    splits = sorted(tagged.groupBy("__file", "__block")
                    .agg(F.count(F.lit(1)).alias("n"), F.min("__mono").alias("first"))
                    .toArrow().to_pylist(), key=lambda r: (r["__file"], r["__block"]))
    bases, before = [], 0
    for split in splits:
        bases.append((split["__file"], split["__block"], before - split["first"]))
        before += split["n"]
    if not bases:
        return frame.select(F.lit(0).cast("bigint").alias("__row_id"), "*").limit(0), 0
    base = spark.createDataFrame(bases, "__file string, __block bigint, __base bigint")
    return (tagged.join(F.broadcast(base), ["__file", "__block"])
            .select((F.col("__mono") + F.col("__base")).alias("__row_id"),
                    *[F.col(f"`{c}`") for c in frame.columns])), before


def register_source(spark: SparkSession, source: str | Path) -> SourceInfo:
    """Read ``source`` as the temporary view ``source`` (``__row_id`` and the input's columns).

    Returns
    -------
    SourceInfo, with ``mapping`` still empty (see :func:`custseg.io.map_columns`).

    Raises
    ------
    InputError
        When the path does not exist, the format is not one Spark reads, or it has no rows.
    """
    frame, fmt, delimiter = read_frame(spark, source)
    where = normalise_path(source)
    numbered, rows = with_row_ids(spark, frame)
    numbered.createOrReplaceTempView("source")
    if rows == 0:
        raise InputError(f"{where}: it has columns ({', '.join(frame.columns)}) but no rows. "
                         f"Export the data again with its rows.")
    return SourceInfo(path=where, format=fmt, columns=tuple(frame.columns), rows=rows,
                      delimiter=delimiter)

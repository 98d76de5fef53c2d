"""Reading and cleaning on Spark: the input's columns typed by custseg's own rules, and the table
``lines`` (every row with its first dropping rule) with its row account.

The typing decisions (date format, decimal separator, ids stored as floats) are taken by
:func:`custseg.io.canonical_select` itself, on the first lines brought to a local DuckDB; the
SELECT it writes then runs on Spark over every line, followed by the cleaning statement of
:func:`custseg.clean.lines_sql` and the row account of :func:`custseg.clean.account`. Values
that do not convert anywhere in the input are reported by row, as the DuckDB engine does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from pathlib import PurePath
from typing import TYPE_CHECKING

import duckdb
import sqlglot
from sqlglot import exp

from custseg import clean, io, rfm
from custseg.config import CleaningConfig, Config, ReadConfig
from custseg.errors import ConfigError
from custseg.io import SourceInfo, quote
from custseg.io.types import conversion_error
from custseg.spark.read import register_source
from custseg.spark.session import get_session
from custseg.spark.sql import SparkConnection, spark_sql, to_spark

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

    from custseg.pipeline import Dataset

#: Lines brought to the driver to decide how text columns are read (DuckDB's sample size).
SAMPLE_LINES = 20_000


def _sample_select(con: SparkConnection, info: SourceInfo,
                   read: ReadConfig) -> tuple[str, SourceInfo]:
    """:func:`custseg.io.canonical_select` decided on the first lines, as DuckDB SQL over
    ``source``."""
    sample = con.session.sql(f"SELECT * FROM source WHERE __row_id < {SAMPLE_LINES}").toArrow()
    with duckdb.connect() as local:
        local.execute("SET TimeZone = 'UTC'")
        local.register("source_sample", sample)
        local.execute("CREATE VIEW source AS SELECT * FROM source_sample")
        return io.canonical_select(local, info, read)


def _converted(select_sql: str) -> dict[str, str]:
    """Each canonical column's DuckDB expression in ``select_sql``."""
    tree = sqlglot.parse_one(select_sql, read="duckdb")
    return {e.alias: e.this.sql(dialect="duckdb") for e in tree.selects
            if isinstance(e, exp.Alias)}


def _check_conversions(con: SparkConnection, info: SourceInfo, select_sql: str,
                       text_columns: set[str]) -> None:
    """Refuse text numbers and text dates that do not convert anywhere in the input (the
    sample only showed the first lines), naming the first rows as the DuckDB engine does."""
    exprs = _converted(select_sql)
    checks = []
    for key in ("quantity", "unit_price", "amount", "invoice_date"):
        col = info.mapping.get(key)
        if col is None or col not in text_columns or key not in exprs:
            continue
        checks.append((key, col, f"{quote(col)} IS NOT NULL AND trim({quote(col)}) <> '' "
                                 f"AND ({exprs[key]}) IS NULL"))
    if not checks:
        return
    any_bad = " OR ".join(f"({bad})" for _, _, bad in checks)
    found = con.execute(f"SELECT count(*) FROM source WHERE {any_bad}").fetchone()
    if not found or not found[0]:
        return
    for key, col, bad in checks:
        rows = con.execute(f"SELECT __row_id, {quote(col)} FROM source WHERE {bad} "
                           f"ORDER BY 1 LIMIT 5").fetchall()
        if rows:
            raise conversion_error(info, col, key, rows)


def load_lines(con: SparkConnection, source: str | Path, *, read: ReadConfig,
               overrides: Mapping[str, str] | None, preset: str
               ) -> tuple[SourceInfo, str]:
    """Read ``source`` into the view ``source`` and type its columns.

    Returns
    -------
    The :class:`SourceInfo` (mapping, preset, date format, decimal separator) and the DuckDB
    SELECT of the canonical columns, to be run on Spark by :func:`build_lines`.
    """
    info = register_source(con.session, source)
    info = io.map_columns(info, overrides, preset)
    text_columns = {f.name for f in con.session.table("source").schema.fields
                    if f.dataType.typeName() == "string"}
    select_sql, info = _sample_select(con, info, read)
    _check_conversions(con, info, select_sql, text_columns)
    return info, select_sql


def build_lines(con: SparkConnection, select_sql: str, mapping: dict[str, str],
                cfg: CleaningConfig, as_of: date | None = None) -> clean.CleaningReport:
    """The table ``lines`` and the view ``clean`` on Spark, and their row account: what
    :func:`custseg.clean.build_lines` does on DuckDB, with the same statement."""
    active, skipped = clean.active_rules(cfg, mapping, as_of)
    # The typed lines are kept once: the cleaning statement reads them three times (the
    # duplicate search), and Spark would otherwise read and type the input three times.
    con.keep("typed_source", con.session.sql(spark_sql(select_sql)))
    query = to_spark(clean.lines_sql("SELECT * FROM typed_source", mapping, active))
    # DuckDB finds the duplicates after writing the lines (clean.copies_sql) and marks them
    # in its view of them; on Spark the same rank is computed in the statement itself,
    # where the rule list already tests it in its place.
    rank = sqlglot.parse_one(f"row_number() OVER (PARTITION BY "
                             f"{', '.join(clean.DUPLICATE_KEY)} ORDER BY row_id)",
                             read="duckdb")
    for alias in query.find_all(exp.Alias):
        if alias.alias == "dup_rank":
            alias.set("this", rank)
    lines = con.keep("lines", con.session.sql(query.sql(dialect="spark")))
    lines.count()
    con.drop("typed_source")
    con.execute("CREATE OR REPLACE VIEW clean AS SELECT * FROM lines WHERE drop_rule IS NULL")
    return clean.account(con, active, skipped, mapping, cfg, as_of)  # type: ignore[arg-type]



def load_dataset(source: object, config: Config, *, sheet: str | None = None,
                 mapping: Mapping[str, str] | None = None,
                 session: SparkSession | None = None) -> Dataset:
    """:func:`custseg.pipeline.load` on Spark: the returned dataset's ``con`` is a
    :class:`~custseg.spark.sql.SparkConnection`, on which every later stage runs unchanged.

    Raises
    ------
    ConfigError
        For an engine name other than duckdb or spark, a sheet (Spark reads no workbooks), a
        frame instead of a path, or a Spark that cannot start.
    """
    from custseg.pipeline import Dataset, _preset_note

    if config.engine != "spark":
        raise ConfigError(f"Unknown engine {config.engine!r}: use duckdb or spark.")
    if sheet is not None:
        raise ConfigError("--sheet: the Spark engine reads Parquet, CSV and Delta, which have "
                          "no sheets. Leave it out, or use --engine duckdb for workbooks.")
    if not isinstance(source, str | PurePath):
        raise ConfigError("The Spark engine reads files and folders (a path or a cloud URL), "
                          "not frames in memory. Write the frame to Parquet, or use the "
                          "duckdb engine.")
    con = SparkConnection(get_session(config.spark_master, session))
    info, select_sql = load_lines(con, source, read=config.read, overrides=mapping,
                                  preset=config.preset)
    config = config.with_preset(info.preset)
    if info.preset:
        info = dataclasses.replace(info, notes=(_preset_note(config, info.preset),
                                                *info.notes))
    report = build_lines(con, select_sql, info.mapping, config.cleaning, config.rfm.as_of)
    snapshot = rfm.snapshot_for(con, config.rfm.as_of)  # type: ignore[arg-type]
    return Dataset(con=con, source=info, cleaning=report,  # type: ignore[arg-type]
                   snapshot=snapshot, config=config)

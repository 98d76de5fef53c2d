"""The transaction-scale SQL stays portable: every statement transpiles to Spark SQL."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from custseg import clean, io, rfm
from custseg.config import CleaningConfig
from tests.logs import edge_log

sqlglot = pytest.importorskip("sqlglot")


def statements() -> dict[str, str]:
    con = duckdb.connect()
    info = io.register_source(con, edge_log())
    info = dataclasses.replace(info, mapping=io.detect_mapping(list(info.columns)))
    select_sql, info = io.canonical_select(con, info)
    active, _ = clean.active_rules(CleaningConfig(), info.mapping)
    return {"lines": clean.lines_sql(select_sql, info.mapping, active), "rfm": rfm.RFM_SQL}


@pytest.mark.parametrize("name", ["lines", "rfm"])
def test_statement_transpiles_to_spark(name):
    sql = statements()[name]
    spark = sqlglot.transpile(sql, read="duckdb", write="spark",
                              unsupported_level=sqlglot.ErrorLevel.RAISE)
    assert len(spark) == 1 and spark[0].strip()
    # And the DuckDB statement itself parses back to the same tree (no dialect-only syntax lost).
    assert sqlglot.parse_one(sql, read="duckdb") is not None

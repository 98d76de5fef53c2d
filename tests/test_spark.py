"""The Spark engine gives the DuckDB engine's answers: the same row account, RFM table,
segments, flagged transactions and product mix, file by file, on the real data and on
generated logs; and it refuses what it cannot read with a message that says what to do.

Skipped when PySpark or Java is absent (CI installs both: scripts/test.sh).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from custseg import engine, io, pipeline
from custseg.config import Config
from custseg.errors import ConfigError, InputError
from custseg.outputs import write_outputs

pyspark = pytest.importorskip("pyspark")
pytest.importorskip("sqlglot")
if shutil.which("java") is None:
    pytest.skip("Java is absent: the Spark engine needs a JVM", allow_module_level=True)

from custseg.spark.sql import SparkConnection, java_date_pattern  # noqa: E402

#: Columns whose values are robust z-scores: a logarithm in the JVM and in C may differ in the
#: last bit, so they are compared to 1e-9 relative; every other value is compared exactly.
SCORE_COLUMNS = ("score",)


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for every Spark test (starting one takes ~10 s)."""
    from custseg.spark.session import get_session

    session = get_session("local[2]", conf={"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


#: How each engine read a CSV: DuckDB sniffs typed columns, Spark reads text and parses it
#: (with the date format and decimal separator it then reports). The lines are the same.
READING_KEYS = ("date_format", "decimal", "encoding")


def _comparable(data: dict) -> dict:
    """A JSON output without what is each engine's own: stage timings, how a CSV was read."""
    data = {k: v for k, v in data.items() if k != "timings"}
    for part in ("reading", "source"):
        if isinstance(data.get(part), dict):
            data[part] = {k: v for k, v in data[part].items() if k not in READING_KEYS}
    return data


def assert_same_outputs(duck: Path, spark_dir: Path) -> list[str]:
    """Every output file of the DuckDB run equals the Spark run's; the files compared."""
    compared = []
    for path in sorted(duck.iterdir()):
        other = spark_dir / path.name
        assert other.exists(), f"the Spark run did not write {path.name}"
        if path.suffix == ".csv":
            a = pd.read_csv(path, keep_default_na=False, dtype=str)
            b = pd.read_csv(other, keep_default_na=False, dtype=str)
            assert list(a.columns) == list(b.columns), path.name
            for col in a.columns:
                if col in SCORE_COLUMNS:
                    np.testing.assert_allclose(a[col].astype(float), b[col].astype(float),
                                               rtol=1e-9, err_msg=f"{path.name}:{col}")
                else:
                    assert a[col].tolist() == b[col].tolist(), f"{path.name}: column {col}"
        elif path.suffix == ".json":
            a, b = (_comparable(json.loads(p.read_text())) for p in (path, other))
            assert a == b, path.name
        elif path.suffix == ".md":
            assert path.read_text() == other.read_text(), path.name
        else:
            continue
        compared.append(path.name)
    return compared


def run_both(source: Path, out: Path, spark, config: Config | None = None) -> list[str]:
    config = config or Config()
    duck = pipeline.run(source, config)
    write_outputs(duck, out / "duckdb")
    sparked = pipeline.run(source, config.replace(engine="spark"), spark=spark)
    write_outputs(sparked, out / "spark")
    pd.testing.assert_frame_equal(duck.rfm, sparked.rfm, check_exact=True)
    assert duck.cleaning == sparked.cleaning
    assert duck.snapshot == sparked.snapshot
    return assert_same_outputs(out / "duckdb", out / "spark")


# --------------------------------------------------------------------------- translation


def test_date_formats_become_spark_patterns():
    assert java_date_pattern("%d/%m/%Y %H:%M") == "d/M/yyyy H:m"
    assert java_date_pattern("%Y-%m-%dT%H:%M:%SZ") == "yyyy-M-d'T'H:m:s'Z'"
    # Fields that touch need fixed widths, or 20111209 cannot be split.
    assert java_date_pattern("%Y%m%d") == "yyyyMMdd"
    assert java_date_pattern("%m/%d/%Y %I:%M %p") == "M/d/yyyy h:m a"


#: Statements whose meaning differs between the engines unless translated with care.
PARITY = [
    ("SELECT CAST(7 AS DECIMAL(18, 4)) / 3 AS v", ()),  # DuckDB divides as floating point
    ("SELECT epoch(TIMESTAMP '2011-12-09 12:50:00.25') AS v", ()),  # fractions kept
    ("SELECT isfinite(CAST('inf' AS DOUBLE)) AS a, isfinite(1.5) AS b", ()),
    ("SELECT regexp_full_match('2,55', '\\d+,\\d{1,2}') AS a, "
     "regexp_full_match('12,555x', '\\d+,\\d{1,2}') AS b", ()),
    ("SELECT try_strptime('9/12/2011 7:05', '%d/%m/%Y %H:%M') AS a, "
     "try_strptime('09/12/2011 17:05', '%d/%m/%Y %H:%M') AS b, "
     "try_strptime('junk', '%d/%m/%Y %H:%M') AS c", ()),
    ("SELECT list_contains(?, 'b') AS a, CAST(? AS TIMESTAMP) AS t", (["a", "b"],
                                                                      "2011-12-10 00:00:00")),
    ("SELECT (TIMESTAMP '1899-12-30' + to_seconds(CAST(round(40886.5 * 86400) AS BIGINT)))"
     " AS v", ()),
    ("SELECT timezone('UTC', TIMESTAMPTZ '2011-12-09 12:50:00+02:00') AS v", ()),
    # Money averages: the exact decimal sum over the count, rounded once.
    ("SELECT avg(v) FILTER (WHERE v > 1) AS a, avg(v) AS b FROM (SELECT CAST(x AS "
     "DECIMAL(18, 4)) AS v FROM (VALUES (1.1), (2.2), (3.3001), (0.7)) AS t(x))", ()),
]


@pytest.mark.parametrize(("sql", "params"), PARITY)
def test_statements_mean_the_same_on_both_engines(spark, sql, params):
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        expected = con.execute(sql, list(params)).fetchall()
    assert SparkConnection(spark).execute(sql, params).fetchall() == expected


# --------------------------------------------------------------------------- reading


def test_row_ids_follow_the_files_in_name_order(spark, tmp_path, small_log):
    folder = tmp_path / "parts"
    folder.mkdir()
    parts = np.array_split(np.arange(len(small_log)), 3)
    for i, rows in enumerate(parts):
        small_log.iloc[rows].to_parquet(folder / f"part-{i}.parquet", index=False)
    from custseg.spark.read import register_source

    info = register_source(spark, folder)
    assert info.rows == len(small_log) and info.format == "parquet"
    got = spark.sql("SELECT __row_id, InvoiceNo, StockCode FROM source").toPandas()
    got = got.sort_values("__row_id").reset_index(drop=True)
    assert got["__row_id"].tolist() == list(range(len(small_log)))
    assert got["InvoiceNo"].astype(str).tolist() == small_log["InvoiceNo"].astype(str).tolist()
    assert got["StockCode"].astype(str).tolist() == small_log["StockCode"].astype(str).tolist()


def test_a_bad_number_after_the_sample_is_reported_by_row(spark, tmp_path):
    n = 20_050
    frame = pd.DataFrame({
        "InvoiceNo": [str(536365 + i // 4) for i in range(n)],
        "CustomerID": [str(12000 + i % 300) for i in range(n)],
        "InvoiceDate": ["2011-03-01 10:00:00"] * n,
        "Quantity": ["2"] * n,
        "UnitPrice": ["1.25"] * n,
    })
    frame.loc[20_040, "Quantity"] = "two"
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as error:
        pipeline.load(path, Config(engine="spark"), spark=spark)
    # Row 20,042 as a spreadsheet shows it: the header is row 1.
    assert "column 'Quantity' (quantity)" in str(error.value)
    assert "row 20042 ('two')" in str(error.value)
    with pytest.raises(InputError):  # DuckDB refuses it too
        pipeline.load(path, Config())


def test_what_spark_cannot_read_is_refused_with_what_to_do(spark, tmp_path, small_log):
    book = tmp_path / "log.xlsx"
    book.write_bytes(b"PK\x03\x04")
    config = Config(engine="spark")
    with pytest.raises(InputError, match="--engine duckdb"):
        pipeline.load(book, config, spark=spark)
    with pytest.raises(InputError, match="no such file"):
        pipeline.load(tmp_path / "absent.parquet", config, spark=spark)
    with pytest.raises(ConfigError, match="not frames"):
        pipeline.load(small_log, config, spark=spark)
    with pytest.raises(ConfigError, match="sheets"):
        pipeline.load(tmp_path / "absent.parquet", config, sheet="Sheet1", spark=spark)
    with pytest.raises(ConfigError, match="Unknown engine"):
        pipeline.load(tmp_path / "absent.parquet", Config(engine="flink"))  # type: ignore


def test_a_passed_session_is_set_to_utc(spark):
    from custseg.spark.session import get_session

    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    assert get_session(session=spark).conf.get("spark.sql.session.timeZone") == "UTC"


# --------------------------------------------------------------------------- same answers


@pytest.fixture(scope="session")
def real_parquet(real_csv, tmp_path_factory) -> Path:
    """The real lines, with their own columns and types, as Parquet (which both engines read)."""
    path = tmp_path_factory.mktemp("real") / "online_retail.parquet"
    con = engine.connect()
    io.register_source(con, real_csv)
    con.execute(f"COPY (SELECT * EXCLUDE (__row_id) FROM source ORDER BY __row_id) "
                f"TO '{path}' (FORMAT parquet)")
    return path


@pytest.mark.realdata
def test_real_data_gives_the_same_files(spark, real_parquet, tmp_path):
    compared = run_both(real_parquet, tmp_path, spark)
    assert {"cleaning_report.json", "customers.csv", "segments.csv",
            "flagged_transactions.csv", "segment_products.csv", "stock_priorities.csv",
            "summary.json"} <= set(compared)


@pytest.mark.realdata
def test_real_csv_read_as_text_gives_the_same_lines(spark, real_csv):
    """Spark reads every CSV column as text, DuckDB sniffs types: the lines still agree."""
    duck = pipeline.load(real_csv, Config())
    sparked = pipeline.load(real_csv, Config(engine="spark"), spark=spark)
    assert duck.cleaning == sparked.cleaning
    assert duck.snapshot == sparked.snapshot
    pd.testing.assert_frame_equal(pipeline.compute_rfm(duck), pipeline.compute_rfm(sparked),
                                  check_exact=True)


def test_generated_log_gives_the_same_files(spark, tmp_path):
    """A generated CSV (text numbers and dates, planted anomalies) through both engines."""
    from custseg import synth

    generated = synth.generate(tmp_path / "data", customers=1500, seed=3, fmt="csv")
    compared = run_both(generated.transactions, tmp_path, spark)
    assert "flagged_transactions.csv" in compared and "segments.csv" in compared


def test_cli_runs_on_spark_and_refuses_an_unknown_engine(spark, tmp_path, small_log):
    from typer.testing import CliRunner

    from custseg.cli import app

    path = tmp_path / "log.parquet"
    small_log.to_parquet(path, index=False)
    runner = CliRunner()
    for name in ("duckdb", "spark"):
        result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / name), "-q",
                                     "--engine", name, "--spark-master", "local[2]"])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "duckdb" / "customers.csv").read_text() == \
        (tmp_path / "spark" / "customers.csv").read_text()
    result = runner.invoke(app, ["run", str(path), "-q", "--engine", "flink"])
    assert result.exit_code == 2 and "use duckdb or spark" in result.output


def test_product_totals_in_passes_are_the_same_on_spark(spark, monkeypatch, small_log,
                                                        tmp_path):
    """Above products.BUYERS_PASS_LINES the totals are built in passes (each its own table,
    then added up): Spark gives DuckDB's one-statement totals."""
    from custseg import products

    path = tmp_path / "log.parquet"
    small_log.to_parquet(path, index=False)
    duck = pipeline.load(path, Config())
    sparked = pipeline.load(path, Config(engine="spark"), spark=spark)
    rfm = pipeline.compute_rfm(duck)
    customers = rfm.assign(segment=[f"s{i % 3}" for i in range(len(rfm))])
    every = f"SELECT * FROM {products.TOTALS_TABLE} ORDER BY segment, stock_code"
    with products._totals(duck.con, customers, duck.config.cleaning) as cursor:
        want = cursor.execute(every).df()
    monkeypatch.setattr(products, "BUYERS_PASS_LINES", max(1, duck.cleaning.rows_kept // 3))
    with products._totals(sparked.con, customers, sparked.config.cleaning) as cursor:
        got = cursor.execute(every).df()
    assert len(got) == len(want) > 50
    for column in ("segment", "stock_code"):
        assert got[column].astype(str).tolist() == want[column].astype(str).tolist()
    assert got["customers"].astype(int).tolist() == want["customers"].astype(int).tolist()
    for column in ("revenue", "first_half", "second_half"):  # exact DECIMAL sums
        assert got[column].astype(float).tolist() == want[column].astype(float).tolist()

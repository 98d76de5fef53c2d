"""Transaction-scale SQL rewritten to stream gives exactly what the direct SQL gave.

The reference here is the former statement (per-product ``MEDIAN`` over every line, a
materialised table of all judged lines and a join back to ``lines``), which is correct but ran
a 1 GB limit out of memory at 10M lines. The streaming statement must return the same rows
with the same values, bit for bit, on the real data and on generated data.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from custseg import Config, anomalies, pipeline, synth
from custseg.anomalies import _judged, _line_tests, _median_ctes, _prefixed
from custseg.config import AnomalyConfig, CleaningConfig

LINE_COLUMNS = ", ".join(anomalies.TRANSACTION_COLUMNS[:10])
TIE = anomalies.TIE_TOLERANCE


def direct_product_lines_sql(cfg: AnomalyConfig) -> str:
    """The former statement, with holistic MEDIANs over the lines themselves (and the
    engines' shared rule that a score within TIE of its threshold reaches it)."""
    tests, min_lines = _line_tests(cfg), cfg.min_product_lines
    cols = [t.column for t in tests]
    fallback = [t.column for t in tests if t.fallback]
    xs = ", ".join(f"CASE WHEN {c} > 0 THEN LN({c}) END AS x_{c}" for c in cols)
    centers = ", ".join(f"COUNT(x_{c}) AS n_{c}, MEDIAN(x_{c}) AS c_{c}" for c in cols)
    center_cols = ", ".join(f"c.n_{c}, c.c_{c}" for c in cols)
    mads = ", ".join(f"MEDIAN(ABS(j.x_{c} - c.c_{c})) AS m_{c}" for c in cols)
    overall = "".join(f""", overall_{c} AS (SELECT MEDIAN(x_{c}) AS c_{c} FROM judged
), spread_{c} AS (SELECT oc.c_{c}, MEDIAN(ABS(j.x_{c} - oc.c_{c})) AS m_{c}
  FROM judged j CROSS JOIN overall_{c} oc GROUP BY oc.c_{c})""" for c in fallback)
    o_from = " CROSS JOIN ".join(f"spread_{c}" for c in fallback)
    o_cols = ", ".join(f"spread_{c}.c_{c}, spread_{c}.m_{c}" for c in fallback)
    overall += f", overall AS (SELECT {o_cols} FROM {o_from})" if fallback else ""
    scores, branches = [], []
    for t in tests:
        c = t.column
        by_product = f"(p.n_{c} >= {int(min_lines)})"
        center, mad = f"p.c_{c}", f"p.m_{c}"
        if t.fallback:
            center = f"CASE WHEN {by_product} THEN p.c_{c} ELSE o.c_{c} END"
            mad = f"CASE WHEN {by_product} THEN p.m_{c} ELSE o.m_{c} END"
        dev = f"j.x_{c} - {center}"
        dev = f"ABS({dev})" if t.two_sided else f"({dev})"
        score = f"{dev} / GREATEST({mad}, {float(t.floor)})"
        if not t.fallback:
            score = f"CASE WHEN {by_product} THEN {score} END"
        scores.append(f"{score} AS s_{c}, EXP({center}) AS u_{c}, {by_product} AS b_{c}")
        branches.append(f"SELECT {LINE_COLUMNS}, '{t.kind}' AS kind, s_{c} AS score, "
                        f"u_{c} AS usual, CAST(NULL AS BIGINT) AS n_lines, "
                        f"b_{c} AS by_product FROM hits WHERE s_{c} >= {float(t.z) - TIE}")
    hit = " OR ".join(f"s.s_{t.column} >= {float(t.z) - TIE}" for t in tests)
    carried = ", ".join(f"s.s_{c}, s.u_{c}, s.b_{c}" for c in cols)
    join_o = " CROSS JOIN overall o" if fallback else ""
    return f"""
WITH judged AS (
  SELECT row_id, stock_code, {xs} FROM lines WHERE {_judged("stock_code IS NOT NULL")}
), center AS (SELECT stock_code, {centers} FROM judged GROUP BY stock_code
), product AS (
  SELECT c.stock_code, {center_cols}, {mads}
  FROM judged j JOIN center c ON c.stock_code = j.stock_code GROUP BY c.stock_code, {center_cols}
){overall}, scored AS (
  SELECT j.row_id, {", ".join(scores)}
  FROM judged j JOIN product p ON p.stock_code = j.stock_code{join_o}
), hits AS (
  SELECT {_prefixed("l")}, {carried} FROM scored s JOIN lines l ON l.row_id = s.row_id
  WHERE {hit}
)
{" UNION ALL ".join(branches)}"""


def _both(con: duckdb.DuckDBPyConnection, cfg: AnomalyConfig) -> tuple[pd.DataFrame,
                                                                        pd.DataFrame]:
    key = ["kind", "row_id"]
    direct = con.execute(direct_product_lines_sql(cfg)).df()
    streamed = con.execute(anomalies.transaction_statements(cfg)["price_and_quantity"]).df()
    return (direct.sort_values(key).reset_index(drop=True),
            streamed.sort_values(key).reset_index(drop=True))


@pytest.fixture(scope="module")
def real_default(real_csv):
    return pipeline.load(real_csv)


@pytest.fixture(scope="module")
def generated():
    transactions, _, _ = synth.generate_frame(customers=3000, seed=11)
    return pipeline.load(transactions)


@pytest.mark.parametrize("cfg", [AnomalyConfig(), AnomalyConfig(min_product_lines=1),
                                 AnomalyConfig(min_product_lines=200, price_z=4.0,
                                               quantity_z=3.0)])
def test_product_lines_equal_the_direct_medians_on_the_real_data(real_default, cfg):
    direct, streamed = _both(real_default.con, cfg)
    assert len(direct) > 100
    pd.testing.assert_frame_equal(streamed, direct, check_exact=True)


@pytest.mark.parametrize("cfg", [AnomalyConfig(), AnomalyConfig(min_product_lines=100, price_z=3.0,
                                                                quantity_z=2.0)])
def test_product_lines_equal_the_direct_medians_on_generated_data(generated, cfg):
    direct, streamed = _both(generated.con, cfg)
    assert len(direct) > 50
    pd.testing.assert_frame_equal(streamed, direct, check_exact=True)


def test_the_seed_rules_flag_the_same_lines(real_lines_con):
    direct, streamed = _both(real_lines_con, AnomalyConfig())
    pd.testing.assert_frame_equal(streamed, direct, check_exact=True)


def test_medians_from_counts_equal_median_over_values():
    """Groups of 1 to 60 values (odd and even counts, ties, negatives, one NULL-only group
    left out): the median from distinct-value counts equals MEDIAN bit for bit."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 61, 3000)
    group = np.repeat(np.arange(len(sizes)), sizes)
    pool = np.log(rng.uniform(0.001, 5000, 400)) * rng.choice([-1.0, 1.0], 400)
    frame = pd.DataFrame({"g": group, "x": rng.choice(pool, len(group))})
    con = duckdb.connect()
    con.register("frame", frame)
    sql = f"""WITH counts AS (SELECT g, x, COUNT(*) AS k FROM frame GROUP BY g, x),
{_median_ctes("med", "counts", ("g",))}, {_median_ctes("whole", "counts")}
SELECT (SELECT count(*) FROM med m JOIN (SELECT g, MEDIAN(x) AS v, COUNT(*) AS n FROM frame
        GROUP BY g) d ON d.g = m.g AND d.v = m.v AND d.n = m.n),
       (SELECT v FROM whole) = (SELECT MEDIAN(x) FROM frame)"""
    same, whole = con.execute(sql).fetchone()
    assert same == len(sizes) and whole


def test_the_whole_transaction_stage_is_unchanged_on_the_real_data(real_default):
    flagged = pipeline.transaction_anomalies(real_default)
    direct = real_default.con.execute(direct_product_lines_sql(AnomalyConfig())).df()
    lines = flagged[flagged["kind"].isin(["price_outlier", "quantity_outlier"])]
    assert sorted(zip(lines["kind"], lines["row_id"], strict=True)) == sorted(
        zip(direct["kind"], direct["row_id"], strict=True))


def test_a_small_memory_limit_gives_the_same_flags(generated, tmp_path):
    # Under a limit far below what the lines take, the statement spills and still agrees.
    transactions, _, _ = synth.generate_frame(customers=3000, seed=11)
    small = pipeline.load(transactions, Config(memory_limit="64MB", threads=1,
                                               temp_dir=str(tmp_path)))
    got = pipeline.transaction_anomalies(small)
    want = pipeline.transaction_anomalies(generated)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_lines_are_a_parquet_file_of_the_store_with_the_copies_marked_in_its_view(tmp_path):
    """The lines are written once, as Parquet in the store's folder; the duplicates found
    afterwards are marked by the view ``lines`` over that file, which equals a table of the
    same lines and takes far less than that table's memory."""
    from custseg import engine

    transactions, _, _ = synth.generate_frame(customers=1500, seed=8)
    copies = transactions.sample(200, random_state=3)
    stored = pipeline.load(pd.concat([transactions, copies], ignore_index=True))
    con = stored.con
    kind = con.execute("SELECT table_type FROM information_schema.tables WHERE "
                       "table_name = 'lines' AND table_catalog = 'memory'").fetchone()
    assert kind == ("VIEW",)
    store = engine.store_file(con)
    assert store is not None and Path(store.lines).is_file()
    assert stored.cleaning.dropped["duplicate"] >= 200
    marked = con.execute(f"SELECT count(*) FROM {engine.COPIES}").fetchone()[0]
    assert marked == stored.cleaning.dropped["duplicate"]
    # In the file every line is as the rules before the search left it; the view differs
    # exactly on the copies.
    written = con.execute(f"SELECT * FROM read_parquet('{store.lines}') ORDER BY row_id").df()
    every = con.execute("SELECT * FROM lines ORDER BY row_id").df()
    changed = written["drop_rule"].fillna("") != every["drop_rule"].fillna("")
    assert set(every.loc[changed, "drop_rule"]) == {"duplicate"}
    assert int(changed.sum()) == marked
    # The amount, quantity × price here, is not written: the view computes it again.
    assert "amount" not in written.columns
    pd.testing.assert_frame_equal(written.drop(columns="drop_rule"),
                                  every.drop(columns=["drop_rule", "amount"]))
    np.testing.assert_allclose(every["amount"].astype(float),
                               (every["quantity"] * every["unit_price"]).round(4), rtol=1e-12)
    con.execute("CREATE TABLE plain AS SELECT * FROM lines")
    plain_bytes = con.execute(
        "SELECT sum(memory_usage_bytes + temporary_storage_bytes) FROM duckdb_memory() "
        "WHERE tag = 'IN_MEMORY_TABLE'").fetchone()[0]
    assert store.bytes() * 3 < plain_bytes


def _shared_profiles(n: int, seed: int) -> np.ndarray:
    """Scaled-looking features where 60% of the rows take one of five identical profiles."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    same = rng.random(n) < 0.6
    x[same] = rng.normal(size=(5, 3))[rng.integers(0, 5, int(same.sum()))]
    return x


@pytest.mark.parametrize("max_fit", [10_000, 400])
def test_scores_once_per_profile_equal_scores_per_row(max_fit):
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor

    x = _shared_profiles(3_000, seed=3)
    cfg = AnomalyConfig(lof_max_fit=max_fit)
    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=5).fit(x)
    np.testing.assert_array_equal(anomalies._isolation_forest(x, cfg, 5), -forest.score_samples(x))
    if max_fit >= len(x):
        lof = -LocalOutlierFactor(n_neighbors=20).fit(x).negative_outlier_factor_
    else:  # the sampled fit, every other row scored as a new point, one by one
        sample = np.sort(np.random.default_rng(5).choice(len(x), max_fit, replace=False))
        model = LocalOutlierFactor(n_neighbors=20, novelty=True).fit(x[sample])
        lof = np.array([-model.score_samples(row[None])[0] for row in x])
        lof[sample] = -model.negative_outlier_factor_
    np.testing.assert_array_equal(anomalies._lof(x, cfg, 5), lof)


def direct_lines_sql(select_sql: str, mapping: dict[str, str], active: list) -> str:
    """The lines in one statement, each duplicate ranked by a window over every line: the
    plain definition the build with its hashed search in passes must reproduce."""
    from custseg.clean import DUPLICATE_KEY
    from custseg.io import CANONICAL

    presence = ", ".join(f"{'true' if c in mapping else 'false'} AS present_{c}"
                         for c in CANONICAL)
    cases = " ".join(f"WHEN ({sql}) THEN '{rule.name}'" for rule, sql in active)
    case = f"CASE {cases} END" if active else "CAST(NULL AS VARCHAR)"
    return f"""
SELECT row_id, {", ".join(CANONICAL)}, {case} AS drop_rule FROM (
  SELECT *, row_number() OVER (PARTITION BY {", ".join(DUPLICATE_KEY)} ORDER BY row_id)
         AS dup_rank, {presence}
  FROM ({select_sql})
) ORDER BY row_id"""


def _lines_and_reference(source, config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    from custseg import clean, io

    dataset = pipeline.load(source, config)
    con = dataset.con
    info = io.map_columns(io.register_source(con, source, read=config.read), None, "auto")
    cfg = config.with_preset(info.preset)
    select_sql, info = io.canonical_select(con, info, cfg.read)
    active, _ = clean.active_rules(cfg.cleaning, info.mapping, cfg.rfm.as_of)
    got = con.execute("SELECT * FROM lines ORDER BY row_id").df()
    return got, con.execute(direct_lines_sql(select_sql, info.mapping, active)).df()


@pytest.mark.parametrize("config", [
    Config(), Config(cleaning=CleaningConfig.preset("seed")),
    # The country rule comes before the duplicate rule: its lines keep their first rule.
    Config(cleaning=CleaningConfig(countries=("United Kingdom",)))])
def test_lines_equal_one_window_over_every_line_on_the_real_data(real_csv, config):
    got, want = _lines_and_reference(real_csv, config)
    if config.cleaning.duplicates:  # the seed's rules keep exact copies
        assert (got["drop_rule"] == "duplicate").sum() > 1000
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_lines_with_the_duplicates_searched_in_many_passes_are_the_same(monkeypatch,
                                                                       tmp_path):
    from custseg import clean

    transactions, _, _ = synth.generate_frame(customers=400, seed=5)
    # Exact copies of earlier lines, some far apart: they must be found across passes.
    copies = transactions.sample(300, random_state=1)
    frame = pd.concat([transactions, copies, copies.head(50)], ignore_index=True)
    monkeypatch.setattr(clean, "DUPLICATE_PASS_LINES", 2_000)
    got, want = _lines_and_reference(frame, Config())
    assert len(got) > 4 * 2_000 and (got["drop_rule"] == "duplicate").sum() >= 300
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def direct_totals_sql(cleaning) -> str:
    """The former product totals, buyers counted with count(DISTINCT) (out of memory at 100M
    lines under the 1 GB limit)."""
    from custseg.products import ASSIGNMENT_TABLE, TOTALS_TABLE, product_filter

    return f"""
WITH assigned AS (
  SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(segment AS VARCHAR) AS segment
  FROM {ASSIGNMENT_TABLE}
), bounds AS (
  SELECT (epoch(min(invoice_date)) + epoch(max(invoice_date))) / 2 AS mid FROM clean
)
SELECT a.segment, c.stock_code, sum(c.amount) AS revenue,
       count(DISTINCT c.customer_id) AS customers,
       sum(CASE WHEN epoch(c.invoice_date) < b.mid THEN c.amount ELSE 0 END) AS first_half,
       sum(CASE WHEN epoch(c.invoice_date) >= b.mid THEN c.amount ELSE 0 END) AS second_half
FROM clean c
JOIN assigned a ON a.customer_id = c.customer_id
CROSS JOIN bounds b
WHERE {product_filter(cleaning)}
GROUP BY a.segment, c.stock_code
ORDER BY 1, 2""", TOTALS_TABLE


def test_product_totals_equal_the_distinct_count_on_the_real_data(real_default):
    from custseg import products

    rfm = pipeline.compute_rfm(real_default)
    customers = rfm.assign(segment=[f"s{i % 5}" for i in range(len(rfm))])
    cleaning = real_default.config.cleaning
    direct_sql, table = direct_totals_sql(cleaning)
    with products._totals(real_default.con, customers, cleaning) as cursor:
        got = cursor.execute(f"SELECT * FROM {table} ORDER BY 1, 2").df()
        want = cursor.execute(direct_sql).df()
    assert len(got) > 10_000
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_product_totals_in_passes_equal_one_statement_on_the_real_data(real_default,
                                                                       monkeypatch):
    """Buyers counted over shares of the customers (as above 12M kept lines): the same totals."""
    from custseg import products

    rfm = pipeline.compute_rfm(real_default)
    customers = rfm.assign(segment=[f"s{i % 5}" for i in range(len(rfm))])
    cleaning = real_default.config.cleaning
    every = f"SELECT * FROM {products.TOTALS_TABLE} ORDER BY 1, 2"
    with products._totals(real_default.con, customers, cleaning) as cursor:
        want = cursor.execute(every).df()
    monkeypatch.setattr(products, "BUYERS_PASS_LINES", 150_000)  # 3 passes of ~400k lines
    with products._totals(real_default.con, customers, cleaning) as cursor:
        passes = cursor.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with("
                                "table_name, ?)", [products.BUYERS_TABLE]).fetchone()[0]
        assert passes == 3
        got = cursor.execute(every).df()
    assert len(got) > 10_000
    pd.testing.assert_frame_equal(got, want, check_exact=True)

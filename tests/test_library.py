"""The library API: custseg.rfm_table on plain frames, a Result without a live connection,
and the walk-through of docs/library.md run as written."""

from __future__ import annotations

import filecmp
import gc
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import custseg
from custseg.errors import ConfigError, MappingError
from custseg.stored import StoredDataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    """Lines of a shop with its own column names: seeded, a few customers with several
    orders of several lines, totals well under the default line limits."""
    rng = np.random.default_rng(4)
    rows = []
    for customer in range(40):
        for order in range(int(rng.integers(1, 6))):
            when = pd.Timestamp("2024-01-01") + pd.Timedelta(
                minutes=int(rng.integers(0, 60 * 24 * 300)))
            for _ in range(int(rng.integers(1, 4))):
                qty = int(rng.integers(1, 10))
                price = round(float(rng.uniform(0.5, 30)), 2)
                rows.append({"client": f"K{customer:03d}", "ordered_at": when,
                             "order_no": f"O{customer}-{order}", "qty": qty, "price": price,
                             "total": round(qty * price, 2)})
    return pd.DataFrame(rows)


def _reference(orders: pd.DataFrame, snapshot: pd.Timestamp) -> pd.DataFrame:
    """RFM by hand with pandas: whole days since the last order, distinct orders, spend."""
    grouped = orders.groupby("client")
    return pd.DataFrame({
        "recency": (snapshot - grouped["ordered_at"].max()).dt.days,
        "frequency": grouped["order_no"].nunique(),
        "monetary": grouped["total"].sum(),
    }).sort_index()


def test_rfm_table_matches_a_hand_computation(orders: pd.DataFrame) -> None:
    table = custseg.rfm_table(orders, customer_id="client", invoice_date="ordered_at",
                              amount="total", invoice="order_no")
    expected = _reference(orders, orders["ordered_at"].max() + pd.Timedelta(days=1))
    got = table.set_index("customer_id")[["recency", "frequency", "monetary"]]
    assert list(got.index) == list(expected.index)
    np.testing.assert_array_equal(got["recency"], expected["recency"])
    np.testing.assert_array_equal(got["frequency"], expected["frequency"])
    np.testing.assert_allclose(got["monetary"], expected["monetary"], rtol=1e-12)
    assert table.attrs["cleaning"]["rows_in"] == len(orders)
    assert {"r_score", "f_score", "m_score", "rfm_segment"} <= set(table.columns)


def test_rfm_table_from_quantity_and_price_polars_and_arrow(orders: pd.DataFrame) -> None:
    import polars as pl
    import pyarrow as pa

    by_amount = custseg.rfm_table(orders, customer_id="client", invoice_date="ordered_at",
                                  amount="total", invoice="order_no")
    for frame in (orders, pl.from_pandas(orders), pa.Table.from_pandas(orders)):
        table = custseg.rfm_table(frame, customer_id="client", invoice_date="ordered_at",
                                  quantity="qty", unit_price="price", invoice="order_no")
        pd.testing.assert_frame_equal(table[["customer_id", "recency", "frequency"]],
                                      by_amount[["customer_id", "recency", "frequency"]])
        np.testing.assert_allclose(table["monetary"], by_amount["monetary"], rtol=1e-9)


def test_rfm_table_as_of_and_without_invoice(orders: pd.DataFrame) -> None:
    cut = pd.Timestamp("2024-06-01")
    table = custseg.rfm_table(orders, customer_id="client", invoice_date="ordered_at",
                              amount="total", as_of="2024-06-01")
    before = orders[orders["ordered_at"] < cut]
    expected = _reference(before.assign(order_no=before["ordered_at"].astype(str)), cut)
    got = table.set_index("customer_id")[["recency", "frequency", "monetary"]]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_names=False)
    assert table.attrs["snapshot"] == cut


def test_rfm_table_refuses_unclear_arguments(orders: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="either amount"):
        custseg.rfm_table(orders, customer_id="client", invoice_date="ordered_at",
                          amount="total", quantity="qty")
    with pytest.raises(ConfigError, match="needs amount"):
        custseg.rfm_table(orders, customer_id="client", invoice_date="ordered_at",
                          quantity="qty")
    with pytest.raises(MappingError, match="no column 'when'"):
        custseg.rfm_table(orders, customer_id="client", invoice_date="when", amount="total")
    with pytest.raises(ConfigError, match="not a date"):
        custseg.rfm_table(orders, customer_id="client", invoice_date="ordered_at",
                          amount="total", as_of="June")


# --------------------------------------------------------------------------- Result


@pytest.fixture(scope="module")
def result(small_log: pd.DataFrame) -> custseg.Result:
    return custseg.run(small_log)


def _outputs_equal(a: custseg.Result, b: custseg.Result, tmp_path: Path) -> None:
    custseg.write_outputs(a, tmp_path / "a")
    custseg.write_outputs(b, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names,
                                               shallow=False)
    assert mismatch == [] and errors == []


def _reachable_connections(root: object) -> list[object]:
    """Every DuckDB connection reachable from ``root`` through objects' attributes and
    containers (not through modules or classes)."""
    import duckdb

    seen: set[int] = set()
    found: list[object] = []
    todo = [root]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, (type, type(gc))):
            continue
        seen.add(id(item))
        if isinstance(item, duckdb.DuckDBPyConnection):
            found.append(item)
            continue
        todo.extend(gc.get_referents(item))
    return found


def test_a_run_result_holds_the_lines_file_and_no_connection(small_log: pd.DataFrame,
                                                              tmp_path: Path) -> None:
    result = custseg.run(small_log)
    assert isinstance(result.dataset, StoredDataset)
    assert _reachable_connections(result) == []
    folder = Path(result.dataset.store.folder)
    assert (folder / "lines.parquet").is_file() and (folder / "lines.duckdb").is_file()
    lines = result.lines()
    # Every input line, in input order, read without keeping a connection.
    assert len(lines) == len(small_log) == result.cleaning.rows_in
    assert lines["row_id"].tolist() == list(range(len(small_log)))
    assert int(lines["drop_rule"].isna().sum()) == result.cleaning.rows_kept
    custseg.write_outputs(result, tmp_path / "out")
    assert _reachable_connections(result) == []
    assert (tmp_path / "out" / "flagged_transactions.csv").is_file()
    # Freed with the result: nothing is left in the temporary directory.
    del result
    gc.collect()
    assert not folder.exists()


def test_a_result_pickles_without_its_connection(result: custseg.Result,
                                                 tmp_path: Path) -> None:
    data = pickle.dumps(result)
    restored = pickle.loads(data)
    assert isinstance(restored.dataset, StoredDataset)
    assert restored.dataset._con is None  # no connection until one is needed
    pd.testing.assert_frame_equal(restored.lines(), result.lines())
    kept = restored.lines(kept_only=True)
    assert len(kept) == result.cleaning.rows_kept and kept["drop_rule"].isna().all()
    pd.testing.assert_frame_equal(restored.rfm, result.rfm)
    np.testing.assert_array_equal(restored.segmenter.predict(result.rfm),
                                  result.rfm["cluster"].to_numpy())
    _outputs_equal(result, restored, tmp_path)


def test_detach_closes_the_connection_and_keeps_everything(small_log: pd.DataFrame,
                                                           tmp_path: Path) -> None:
    live = custseg.run(small_log)
    reference = pickle.loads(pickle.dumps(live))
    con = live.dataset.con
    live.detach()
    with pytest.raises(Exception, match=r"(?i)closed"):
        con.execute("SELECT 1")
    assert isinstance(live.dataset, StoredDataset)
    pd.testing.assert_frame_equal(live.lines(), reference.lines())
    _outputs_equal(live, reference, tmp_path)
    live.dataset.close()
    assert live.dataset._con is None
    del live, reference
    gc.collect()


def test_stored_tables_come_back_in_input_order() -> None:
    import pyarrow as pa

    from custseg.stored import _in_order

    shuffled = pa.table({"row_id": [2, 0, 3, 1], "x": ["c", "a", "d", "b"]})
    assert _in_order(shuffled, "row_id")["x"].to_pylist() == ["a", "b", "c", "d"]
    ordered = pa.table({"row_id": [0, 1, 2], "x": ["a", "b", "c"]})
    assert _in_order(ordered, "row_id") is ordered


# --------------------------------------------------------------------------- docs


def _walkthrough() -> str:
    text = (REPO / "docs" / "library.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 5
    return "\n".join(blocks)


def test_the_library_walkthrough_runs(tmp_path: Path, monkeypatch) -> None:
    """Every ```python block of docs/library.md, in order, in one namespace."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(_walkthrough(), "docs/library.md", "exec"), namespace)
    # What the page says it shows: the saved model scores its own customers as fitted.
    assert (namespace["scored"].customers["cluster"].to_numpy()
            == namespace["seg"].predict(namespace["scored"].customers)).all()
    assert Path("model.json").exists()

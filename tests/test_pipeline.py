"""The whole run: outputs, determinism, small inputs."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import custseg
from custseg import synth
from tests.logs import edge_log

OUTPUTS = {"cleaning_report.json", "customers.csv", "customers.parquet", "segments.csv",
           "k_selection.csv", "importances.csv", "rules.md", "flagged_transactions.csv",
           "segment_products.csv", "stock_priorities.csv", "summary.json", "summary.md",
           "report.html", "cohorts.csv", "clv.csv", "clv_holdout.csv", "clv_calibration.csv"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return synth.generate(tmp_path_factory.mktemp("planted"), customers=600, seed=11)


def _without_timings(path) -> bytes:
    """A file's bytes with the run's stage timings (the only thing allowed to vary) removed."""
    if path.name == "summary.json":
        data = json.loads(path.read_text())
        data.pop("timings")
        return json.dumps(data, sort_keys=True).encode()
    if path.name == "report.html":
        return re.sub(r"Stage timings: [^<]*", "", path.read_text()).encode()
    return path.read_bytes()


def test_same_input_and_seed_give_identical_outputs(planted, tmp_path):
    config = custseg.Config(seed=3)
    first = custseg.write_outputs(custseg.run(planted.transactions, config), tmp_path / "a")
    second = custseg.write_outputs(custseg.run(planted.transactions, config), tmp_path / "b")
    assert {p.name for p in first} == OUTPUTS
    for a, b in zip(first, second, strict=True):
        assert _without_timings(a) == _without_timings(b), a.name


def test_run_outputs_hold_the_promised_columns(planted, tmp_path):
    result = custseg.run(planted.transactions, custseg.Config(seed=3))
    custseg.write_outputs(result, tmp_path)
    customers = pd.read_csv(tmp_path / "customers.csv", dtype={"customer_id": str})
    for col in ("cluster", "segment", "anomaly_score", "is_anomaly", "anomaly_reason"):
        assert col in customers.columns
    assert customers["segment"].isin(result.segments["segment"]).all()
    k_table = pd.read_csv(tmp_path / "k_selection.csv")
    assert k_table["chosen"].sum() == 1
    assert int(k_table.loc[k_table["chosen"], "k"].iloc[0]) == result.clustering.k
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["k"] == result.clustering.k and summary["k_reason"]
    assert summary["customer_anomalies"]["flagged"] == int(customers["is_anomaly"].sum())
    flagged = pd.read_csv(tmp_path / "flagged_transactions.csv", dtype=str)
    # The input's own columns, then kind, reason and score.
    assert list(flagged.columns[:8]) == list(synth.COLUMNS)
    assert list(flagged.columns[-3:]) == ["kind", "reason", "score"]
    assert summary["transaction_anomalies"]["flagged"] == len(flagged)
    # Each line-level flag points at the real input line (invoice and stock code agree).
    raw = pd.read_parquet(planted.transactions).astype({"InvoiceNo": str, "StockCode": str})
    lines = flagged[flagged["kind"] != "invoice_total_outlier"]
    pairs = set(zip(raw["InvoiceNo"], raw["StockCode"], strict=True))
    assert all((i, s) in pairs for i, s in zip(lines["InvoiceNo"], lines["StockCode"],
                                               strict=True))


def test_too_few_customers_still_gives_rfm_with_a_note(tmp_path):
    result = custseg.run(edge_log())
    assert result.segments is None
    note = result.summary["notes"][-1]  # after what the reader noticed
    assert "segmenting needs at least" in note
    # Lifetime value says why it is missing too, before.
    assert result.summary["notes"][-2].startswith("Lifetime value was not estimated: Only")
    written = {p.name for p in custseg.write_outputs(result, tmp_path)}
    assert {"cleaning_report.json", "customers.csv", "summary.json", "report.html"} <= written
    assert "segments.csv" not in written
    assert note in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_progress_names_every_stage_in_order(planted):
    seen: list[str] = []
    custseg.run(planted.transactions, progress=lambda stage, i, n: seen.append(stage))
    assert seen == custseg.pipeline.STAGES


def test_fixed_k_model_matches_the_cached_search_and_leaves_thread_limits(planted):
    """A fixed k fitted before the rest of the k search gives the labels a cached search gives
    (the dashboard's path), and the native thread limits are restored afterwards."""
    import dataclasses

    from threadpoolctl import threadpool_info

    from custseg import pipeline

    config = custseg.Config(seed=4)
    config = config.replace(cluster=dataclasses.replace(config.cluster, k=3))
    table = custseg.compute_rfm(custseg.load(planted.transactions, config))
    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    seen: list[str] = []
    direct = pipeline.model(table, config, progress=seen.append)
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before
    assert seen == ["Clustering", "Naming segments", "Explaining segments", "Customer anomalies"]
    assert list(direct.timings) == seen and all(s > 0 for s in direct.timings.values())
    cached = pipeline.model(table, config, search=pipeline.search_k(table, config),
                            scored=pipeline.customer_anomalies(table, config))
    assert "Customer anomalies" not in cached.timings  # reused, not recomputed
    pd.testing.assert_frame_equal(direct.customers, cached.customers)
    pd.testing.assert_frame_equal(direct.segments, cached.segments)
    pd.testing.assert_frame_equal(direct.explanation.importances,
                                  cached.explanation.importances)
    pd.testing.assert_frame_equal(direct.explanation.rules, cached.explanation.rules)
    assert direct.explanation.accuracy == cached.explanation.accuracy


def test_run_leaves_scikit_learn_checking_its_inputs(planted, monkeypatch):
    """No switch-off of scikit-learn's input validation: the models train with it on, and a
    run leaves scikit-learn's config as it was."""
    import sklearn

    from custseg import explain

    before = sklearn.get_config()
    seen: list[dict] = []
    original = explain.explain_segments

    def spy(*args, **kwargs):
        seen.append(sklearn.get_config())
        return original(*args, **kwargs)

    monkeypatch.setattr(explain, "explain_segments", spy)
    custseg.run(planted.transactions, custseg.Config(seed=3))
    assert len(seen) == 1
    assert not seen[0]["skip_parameter_validation"] and not seen[0]["assume_finite"]
    assert sklearn.get_config() == before


@pytest.mark.parametrize("ids", [
    [" 17850 ", "17850.0", "17850.00", "A-12.0", "c 7", "12346"],  # a text column
    [17850.0, 12346.0, 1.5, 17850.25, 3.0, 99.0],  # a number column
], ids=["text", "numbers"])
def test_an_id_as_typed_is_the_id_load_stores(ids):
    """The customer look-up normalises a typed id with io.normalise_id: typed as the file
    shows it, it is the id in the ``lines`` table."""
    from custseg import io

    frame = pd.DataFrame({"InvoiceNo": range(len(ids)), "CustomerID": ids,
                          "InvoiceDate": pd.Timestamp("2011-01-03 10:00"),
                          "Quantity": 1, "UnitPrice": 2.5})
    dataset = custseg.load(frame)
    stored = [r[0] for r in dataset.con.execute(
        "SELECT customer_id FROM lines ORDER BY row_id").fetchall()]
    assert stored == [io.normalise_id(str(v)) for v in ids]
    assert stored[:2] == (["17850", "17850"] if isinstance(ids[0], str) else ["17850", "12346"])


def _flagged_csv(dataset) -> pd.DataFrame:
    """flagged_transactions.csv of a loaded dataset, read back as text."""
    from custseg import outputs, pipeline
    from custseg.safe_cells import to_csv

    text = to_csv(outputs.original_columns(pipeline.transaction_anomalies(dataset),
                                           dataset.source, dataset.con))
    import io

    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_flagged_lines_keep_whole_numbers_and_the_customers_csv_id():
    """Numbers typed as whole numbers but held as floats (as a workbook holds every number),
    and ids written "12345.0 ": the file shows 60 and 12345, which join customers.csv."""
    frame = edge_log()
    frame["Quantity"] = frame["Quantity"].astype(float)
    # An extreme line (kept out of the analysis by the quantity limit, flagged as unusual).
    big = frame.iloc[[0]].assign(InvoiceNo=536999, Quantity=100000.0, UnitPrice=2.55,
                                 CustomerID=" 12345.0")
    frame = pd.concat([frame, big], ignore_index=True)
    dataset = custseg.load(frame)
    flagged = _flagged_csv(dataset)
    assert len(flagged) > 0
    ids = set(custseg.compute_rfm(dataset)["customer_id"])
    assert set(flagged["CustomerID"]) - {""} <= ids
    line = flagged[flagged["InvoiceNo"] == "536999"].iloc[0]
    assert (line["CustomerID"], line["Quantity"], line["UnitPrice"]) == ("12345", "100000",
                                                                         "2.55")
    # Every quantity in the file is written as the input showed it: no "60.0".
    assert not flagged["Quantity"].str.endswith(".0").any()


def test_whole_numbers_as_integers():
    from custseg.outputs import whole_numbers_as_integers

    all_whole = whole_numbers_as_integers(pd.Series([60.0, None, -3.0]))
    assert str(all_whole.dtype) == "Int64" and all_whole.tolist()[::2] == [60, -3]
    mixed = whole_numbers_as_integers(pd.Series([60.0, 2.5, None]))
    assert [type(v) for v in mixed[:2]] == [int, float] and mixed.tolist()[:2] == [60, 2.5]
    assert pd.isna(mixed[2])
    for unchanged in (pd.Series([2.5, 0.1]), pd.Series(["60.0"]), pd.Series([2.0**60])):
        assert whole_numbers_as_integers(unchanged) is unchanged


@pytest.mark.realdata
def test_flagged_lines_of_the_workbook_join_customers_csv(real_xlsx):
    dataset = custseg.load(real_xlsx)
    flagged = _flagged_csv(dataset)
    ids = set(custseg.compute_rfm(dataset)["customer_id"])
    lines = dataset.con.execute("SELECT DISTINCT customer_id FROM lines").df()["customer_id"]
    assert set(flagged["CustomerID"]) - {""} <= set(lines.dropna())
    assert len(set(flagged["CustomerID"]) & ids) > 100
    # The first price outlier: 60 picnic baskets at £649.50 for customer 15098.
    basket = flagged[(flagged["InvoiceNo"] == "556444") & (flagged["StockCode"] == "22502")]
    assert "price_outlier" in set(basket["kind"])
    assert {tuple(r) for r in basket[["Quantity", "UnitPrice", "CustomerID"]].values} == {
        ("60", "649.5", "15098")}
    assert not flagged["CustomerID"].str.contains(r"\.").any()
    assert not flagged["Quantity"].str.endswith(".0").any()

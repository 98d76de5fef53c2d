"""Saved segmentations: `run --save-model`, then `score` on the same, re-ordered, re-encoded
and shifted data, from Python and from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg import modelfile, scoring
from custseg.cli import app
from custseg.rfm import FEATURES

runner = CliRunner()


def _write_csv(frame: pd.DataFrame, path: Path, **options) -> Path:
    """The log as a shop's CSV export: whole-number ids, minute dates, ``options`` for
    the delimiter, decimal separator and encoding."""
    out = frame.copy()
    out["CustomerID"] = out["CustomerID"].astype("Int64")
    out["InvoiceDate"] = out["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M")
    out.to_csv(path, index=False, **options)
    return path


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    from custseg import synth

    transactions, _, _ = synth.generate_frame(customers=800, seed=5)
    return transactions


@pytest.fixture(scope="module")
def trained(log: pd.DataFrame, tmp_path_factory) -> tuple[Path, custseg.Result, Path]:
    folder = tmp_path_factory.mktemp("trained")
    path = _write_csv(log, folder / "log.csv")
    result = custseg.run(path)
    model = result.segmenter.save(folder / "model.json",
                                  context=modelfile.run_context(result))
    return path, result, model


def _labels(customers: pd.DataFrame) -> pd.Series:
    return customers.set_index("customer_id")["cluster"].sort_index()


def test_scoring_the_training_data_gives_the_fitted_labels(trained) -> None:
    path, result, model = trained
    scored = scoring.score(path, model)
    pd.testing.assert_series_equal(_labels(scored.customers), _labels(result.rfm))
    fitted = result.rfm.set_index("customer_id").sort_index()
    again = scored.customers.set_index("customer_id").sort_index()
    assert (again["segment"] == fitted["segment"]).all()
    assert (again["action"] == fitted["action"]).all()
    assert any("the customers the model was fitted on" in n for n in scored.notes)
    assert scored.warnings == []
    assert (scored.outside["outside_range"] == 0).all()
    sizes = scored.segments.set_index("segment")["customers"]
    assert sizes.to_dict() == result.segments.set_index("segment")["customers"].to_dict()


@pytest.mark.parametrize("options", [
    {"encoding": "utf-16"},
    {"sep": ";", "decimal": ","},
    {"sep": "\t", "encoding": "utf-16", "decimal": ","},
], ids=["utf-16", "semicolon-decimal-comma", "tab-utf-16-decimal-comma"])
def test_re_encoded_copies_give_the_same_labels(trained, log: pd.DataFrame, tmp_path: Path,
                                                 options) -> None:
    _, result, model = trained
    copy = _write_csv(log, tmp_path / "copy.csv", **options)
    scored = scoring.score(copy, model)
    pd.testing.assert_series_equal(_labels(scored.customers), _labels(result.rfm))


def test_shuffled_rows_give_the_same_labels(trained, log: pd.DataFrame, tmp_path: Path) -> None:
    _, result, model = trained
    shuffled = log.sample(frac=1, random_state=1).reset_index(drop=True)
    scored = scoring.score(_write_csv(shuffled, tmp_path / "shuffled.csv"), model)
    pd.testing.assert_series_equal(_labels(scored.customers), _labels(result.rfm))


def test_new_customers_are_assigned_to_the_nearest_saved_centre(trained, log, tmp_path) -> None:
    """Half the customers' lines only: new R/F/M values, the saved centres, no refit."""
    _, result, model = trained
    ids = np.sort(log["CustomerID"].dropna().unique())[::2]
    part = log[log["CustomerID"].isin(ids)]
    scored = scoring.score(_write_csv(part, tmp_path / "part.csv"), model)
    seg = result.segmenter
    values = np.log1p(np.clip(scored.customers[list(FEATURES)].to_numpy(float), 0, None))
    scaled = (values - seg.scaler_mean_) / seg.scaler_scale_
    dist = np.linalg.norm(scaled[:, None] - seg.cluster_centers_[None], axis=2)
    np.testing.assert_array_equal(scored.customers["cluster"], dist.argmin(axis=1))
    np.testing.assert_allclose(scored.customers["distance"], dist.min(axis=1))
    assert list(scored.segments["segment"]) == list(result.segments["segment"])


def test_as_of_sets_the_snapshot_of_the_new_data(trained) -> None:
    from datetime import date, datetime

    path, result, model = trained
    scored = scoring.score(path, model, as_of=date(2011, 9, 1))
    assert scored.dataset.snapshot == datetime(2011, 9, 1)
    assert scored.customers["last_purchase"].max() < pd.Timestamp("2011-09-01")
    assert len(scored.customers) < len(result.rfm)
    assert not any("fitted on" in n for n in scored.notes)  # other R/F/M values


def test_data_outside_the_training_range_is_warned_about(trained, log, tmp_path) -> None:
    _, result, model = trained
    dearer = log.assign(UnitPrice=log["UnitPrice"] * 50)
    scored = scoring.score(_write_csv(dearer, tmp_path / "dearer.csv"), model)
    ranges = result.segmenter.feature_ranges_
    expected = float(np.mean(scored.customers["monetary"] > ranges.loc["monetary", "max"]))
    row = scored.outside.set_index("feature").loc["monetary"]
    assert row["above_max"] == pytest.approx(expected)
    assert expected > scoring.OUTSIDE_RANGE_WARN
    assert any("monetary outside the range the model was fitted on" in w
               for w in scored.warnings)
    assert not any("recency" in w or "frequency" in w for w in scored.warnings)
    flagged = scored.customers["outside_training"].str.contains("monetary above")
    assert flagged.mean() == pytest.approx(expected)


def test_model_without_run_context_scores_with_default_rules(trained, tmp_path) -> None:
    path, result, _ = trained
    bare = result.segmenter.save(tmp_path / "bare.json")
    scored = scoring.score(path, bare)
    pd.testing.assert_series_equal(_labels(scored.customers), _labels(result.rfm))
    assert any("no cleaning rules" in n for n in scored.notes)


def test_the_run_context_round_trips(trained) -> None:
    _, result, model = trained
    saved = modelfile.read(model)
    assert saved.data is not None
    assert saved.data.cleaning == result.config.cleaning
    assert saved.data.snapshot == result.snapshot
    assert saved.data.fingerprint["customers"] == len(result.rfm)
    assert saved.data.fingerprint["rows"] == result.cleaning.rows_in
    assert saved.data.fingerprint["rfm_sha256"] == modelfile.rfm_fingerprint(result.rfm)


def test_an_edited_cleaning_rule_is_refused(trained, tmp_path) -> None:
    _, _, model = trained
    content = json.loads(model.read_text(encoding="utf-8"))
    content["data"]["cleaning"]["exec"] = "__import__('os').system('echo hi')"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(custseg.errors.ModelFileError, match="unknown rule setting 'exec'"):
        modelfile.read(edited)


# --------------------------------------------------------------------------- command line


def test_cli_run_save_model_then_score(trained, log, tmp_path) -> None:
    path, _, _ = trained
    model = tmp_path / "model.json"
    ran = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-q",
                              "--save-model", str(model)])
    assert ran.exit_code == 0, ran.output
    dearer = _write_csv(log.assign(UnitPrice=log["UnitPrice"] * 50), tmp_path / "dearer.csv")
    scored = runner.invoke(app, ["score", str(dearer), "--model", str(model), "--out",
                                 str(tmp_path / "scored")])
    assert scored.exit_code == 0, scored.output
    assert "outside what the model saw" in scored.output
    out = tmp_path / "scored"
    for name in ("customers.csv", "customers.parquet", "segments.csv", "cleaning_report.json",
                 "outside_training.csv", "score_summary.json", "flagged_transactions.csv"):
        assert (out / name).exists(), name
    summary = json.loads((out / "score_summary.json").read_text(encoding="utf-8"))
    assert summary["warnings"] and "monetary" in summary["warnings"][0]
    customers = pd.read_parquet(out / "customers.parquet")
    assert {"cluster", "segment", "distance", "confidence", "action"} <= set(customers)
    before = pd.read_parquet(tmp_path / "run" / "customers.parquet")
    same = runner.invoke(app, ["score", str(path), "--model", str(model), "--out",
                               str(tmp_path / "same"), "-q"])
    assert same.exit_code == 0 and same.output == ""
    again = pd.read_parquet(tmp_path / "same" / "customers.parquet")
    pd.testing.assert_series_equal(_labels(again), _labels(before))


def test_cli_refuses_an_edited_model_without_a_traceback(trained, tmp_path) -> None:
    path, _, model = trained
    content = json.loads(model.read_text(encoding="utf-8"))
    content["transform"] = "__import__('os').system('touch pwned')"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(content), encoding="utf-8")
    result = runner.invoke(app, ["score", str(path), "--model", str(edited), "--out",
                                 str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "Cannot read the model file" in result.output
    assert "'transform' must be one of" in result.output
    assert "Traceback" not in result.output


def test_cli_save_model_without_segments_says_why(tmp_path) -> None:
    from tests.logs import edge_log

    path = tmp_path / "edge.csv"
    edge_log().to_csv(path, index=False)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q",
                                 "--save-model", str(tmp_path / "m.json")])
    assert result.exit_code == 2
    assert "No model was saved" in result.output and "segmenting needs at least" in \
        result.output
    assert not (tmp_path / "m.json").exists()


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_fit(real_csv, tmp_path_factory):
    """The real export run with the seed's rules, and its model saved: (result, model path)."""
    config = custseg.Config(cleaning=custseg.CleaningConfig.preset("seed"))
    result = custseg.run(real_csv, config)
    model = result.segmenter.save(tmp_path_factory.mktemp("real_model") / "model.json",
                                  context=modelfile.run_context(result))
    return result, model


@pytest.mark.realdata
def test_real_data_scores_to_its_fitted_labels(real_csv, real_fit) -> None:
    result, model = real_fit
    scored = scoring.score(real_csv, model)
    pd.testing.assert_series_equal(_labels(scored.customers), _labels(result.rfm))
    assert (scored.customers["segment"].to_numpy()
            == result.rfm.set_index("customer_id").loc[
                scored.customers["customer_id"], "segment"].to_numpy()).all()


@pytest.mark.realdata
def test_real_data_shuffled_and_re_encoded_gives_the_same_labels(real_csv, real_fit,
                                                                 tmp_path) -> None:
    """The real export, rows shuffled, written as UTF-16 with ';' and decimal commas."""
    result, model = real_fit
    raw = pd.read_csv(real_csv, dtype={"InvoiceNo": str, "StockCode": str},
                      parse_dates=["InvoiceDate"])
    copy = _write_csv(raw.sample(frac=1, random_state=2), tmp_path / "copy.csv", sep=";",
                      decimal=",", encoding="utf-16")
    scored = scoring.score(copy, model)
    pd.testing.assert_series_equal(_labels(scored.customers), _labels(result.rfm))


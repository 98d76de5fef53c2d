"""custseg.Segmenter: the same segments as the pipeline, assignment without refitting, JSON
files, and scikit-learn's estimator checks."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import custseg
from custseg import cluster, segments
from custseg.config import ClusterConfig, Config
from custseg.errors import FeatureError, FeatureTypeError, ModelFileError
from custseg.rfm import FEATURES
from custseg.segmenter import Segmenter

#: scikit-learn checks that do not apply, and why (docs/library.md lists the same).
NOT_APPLICABLE = {
    **dict.fromkeys(
        ["check_estimators_overwrite_params", "check_estimators_fit_returns_self",
         "check_readonly_memmap_input", "check_n_features_in_after_fitting",
         "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
         "check_clustering", "check_fit_idempotent", "check_fit_check_is_fitted",
         "check_n_features_in"],
        "feeds data of 2, 4, 5 or 10 columns; a Segmenter reads exactly recency, frequency "
        "and monetary (the same properties are tested on three columns in this file)"),
    **dict.fromkeys(
        ["check_dont_overwrite_parameters", "check_methods_subset_invariance",
         "check_fit2d_predict1d"],
        "sets n_clusters=1; a segmentation has at least 2 segments (the same properties are "
        "tested with 2 in this file)"),
}


@parametrize_with_checks([Segmenter()], expected_failed_checks=lambda _: NOT_APPLICABLE,
                         xfail_strict=True)
def test_sklearn_checks(estimator, check) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def synth_rfm() -> pd.DataFrame:
    from custseg import synth

    transactions, _, _ = synth.generate_frame(customers=1500, seed=11)
    return custseg.compute_rfm(custseg.load(transactions))


@pytest.fixture(scope="module")
def fitted(synth_rfm: pd.DataFrame) -> Segmenter:
    return Segmenter(random_state=42).fit(synth_rfm)


def _blobs(n: int = 300, seed: int = 0) -> np.ndarray:
    """Three well-separated groups of R/F/M-like values (positive, skewed)."""
    centres = np.array([[5.0, 20.0, 5000.0], [60.0, 5.0, 800.0], [300.0, 1.0, 60.0]])
    logs, truth = make_blobs(n_samples=n, centers=np.log1p(centres), cluster_std=0.15,
                             random_state=seed)
    return np.expm1(logs), truth


# --------------------------------------------------------------------------- one code path


def test_fit_is_the_pipeline_clustering(synth_rfm: pd.DataFrame, fitted: Segmenter) -> None:
    """The same k, labels, names and actions as cluster.py + segments.py called directly."""
    expected = cluster.fit_clusters(synth_rfm, ClusterConfig(), 42)
    profile = segments.name_segments(synth_rfm, expected.labels)
    assert fitted.n_clusters_ == expected.k
    np.testing.assert_array_equal(fitted.labels_, expected.labels)
    names = dict(zip(profile["cluster"], profile["segment"], strict=True))
    assert fitted.segment_names_ == [names[c] for c in range(expected.k)]
    actions = dict(zip(profile["cluster"], profile["action"], strict=True))
    assert fitted.actions_ == [actions[c] for c in range(expected.k)]
    pd.testing.assert_frame_equal(fitted.k_table_, expected.k_table)
    model = custseg.pipeline.model(synth_rfm, Config())
    assert model.segmenter is not None
    assert list(model.customers["segment"]) == list(fitted.segment_of(fitted.labels_))


def test_settings_mirror_cluster_config() -> None:
    cfg = ClusterConfig(k=4, transform="none", k_max=7, n_init=5, min_cluster_share=0.1)
    seg = Segmenter.from_config(cfg, 7)
    assert seg.n_clusters == 4 and seg.random_state == 7 and seg.feature_transform == "none"
    assert seg.cluster_config() == cfg


# --------------------------------------------------------------------------- assigning


def test_predict_on_the_training_customers_gives_the_fitted_labels(
        synth_rfm: pd.DataFrame, fitted: Segmenter) -> None:
    np.testing.assert_array_equal(fitted.predict(synth_rfm), fitted.labels_)
    shuffled = synth_rfm.sample(frac=1, random_state=3)
    np.testing.assert_array_equal(fitted.predict(shuffled),
                                  fitted.labels_[shuffled.index.to_numpy()])


def test_predict_gives_the_fitted_labels_after_a_sampled_search(synth_rfm: pd.DataFrame) -> None:
    """The k search on a sample and the refit on everyone (the path of large data)."""
    seg = Segmenter(k_search_max=400, minibatch_above=300, search_sample=200).fit(synth_rfm)
    assert "sample" in seg.reason_
    np.testing.assert_array_equal(seg.predict(synth_rfm), seg.labels_)


@pytest.mark.realdata
@pytest.mark.parametrize("k", ["auto", 3, 6])
def test_predict_reproduces_the_labels_on_real_data(seed_rfm: pd.DataFrame, k) -> None:
    seg = Segmenter(k).fit(seed_rfm)
    np.testing.assert_array_equal(seg.predict(seed_rfm), seg.labels_)


@pytest.mark.realdata
def test_predict_reproduces_the_labels_on_real_data_default_rules(
        default_rfm: pd.DataFrame) -> None:
    seg = Segmenter().fit(default_rfm)
    np.testing.assert_array_equal(seg.predict(default_rfm), seg.labels_)


def test_predict_is_the_nearest_centre(synth_rfm: pd.DataFrame, fitted: Segmenter) -> None:
    """Labels, distances and confidences computed independently from the fitted parameters."""
    logged = np.log1p(np.clip(synth_rfm[list(FEATURES)].to_numpy(float), 0, None))
    mean, std = logged.mean(axis=0), logged.std(axis=0)
    scaled = (logged - mean) / std
    dist = np.linalg.norm(scaled[:, None, :] - fitted.cluster_centers_[None], axis=2)
    labels, distance, confidence = fitted.assign(synth_rfm)
    np.testing.assert_array_equal(labels, dist.argmin(axis=1))
    np.testing.assert_allclose(distance, dist.min(axis=1), rtol=1e-9)
    two = np.sort(dist, axis=1)[:, :2]
    np.testing.assert_allclose(confidence, 1 - two[:, 0] / two[:, 1], rtol=1e-9, atol=1e-12)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    np.testing.assert_allclose(fitted.transform_distance(synth_rfm), distance)


def test_arrays_and_frames_agree(synth_rfm: pd.DataFrame, fitted: Segmenter) -> None:
    values = synth_rfm[list(FEATURES)].to_numpy()
    on_array = Segmenter(random_state=42).fit(values)
    np.testing.assert_array_equal(on_array.labels_, fitted.labels_)
    assert on_array.segment_names_ == fitted.segment_names_
    with pytest.warns(UserWarning, match="feature names"):
        np.testing.assert_array_equal(fitted.predict(values), fitted.labels_)


def test_polars_and_arrow_frames(synth_rfm: pd.DataFrame, fitted: Segmenter) -> None:
    import polars as pl
    import pyarrow as pa

    for frame in (pl.from_pandas(synth_rfm), pa.Table.from_pandas(synth_rfm)):
        np.testing.assert_array_equal(fitted.predict(frame), fitted.labels_)


# ------------------------------------------- estimator properties on three columns
# (the scikit-learn checks that feed other widths or n_clusters=1: NOT_APPLICABLE)


def test_clusters_three_separated_groups() -> None:
    values, truth = _blobs()
    labels = Segmenter(3).fit_predict(values)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert Segmenter().fit(values).n_clusters_ == 3


def test_fit_returns_self_is_idempotent_and_leaves_parameters() -> None:
    values, _ = _blobs()
    seg = Segmenter(2, n_init=3)
    before = seg.get_params()
    assert seg.fit(values) is seg
    assert seg.get_params() == before
    first = seg.predict(values)
    np.testing.assert_array_equal(seg.fit(values).predict(values), first)
    np.testing.assert_array_equal(clone(seg).fit(values).labels_, seg.labels_)
    public = {k for k in vars(seg) if not k.startswith("_") and not k.endswith("_")}
    assert public == set(before)


def test_subsets_predict_as_the_whole() -> None:
    values, _ = _blobs()
    seg = Segmenter(2).fit(values)
    whole = seg.predict(values)
    for start in range(0, len(values), 37):
        np.testing.assert_array_equal(seg.predict(values[start:start + 37]),
                                      whole[start:start + 37])


def test_dtypes_and_read_only_input(tmp_path: Path) -> None:
    values, _ = _blobs()
    expected = Segmenter(3).fit(values).labels_
    as_int = np.rint(values).astype(np.int64)
    for data in (values.astype(np.float32), as_int):
        labels = Segmenter(3).fit_predict(data)
        assert adjusted_rand_score(expected, labels) > 0.99
    mapped = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=float,
                                       shape=values.shape)
    mapped[:] = values
    mapped.flush()
    read_only = np.load(tmp_path / "x.npy", mmap_mode="r")
    np.testing.assert_array_equal(Segmenter(3).fit_predict(read_only), expected)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_bad_input_is_refused_clearly(fitted: Segmenter) -> None:
    values, _ = _blobs()
    with pytest.raises(NotFittedError):
        Segmenter().predict(values)
    with pytest.raises(FeatureError, match="2 feature"):
        Segmenter().fit(values[:, :2])
    with pytest.raises(FeatureError, match="3 features"):
        fitted.predict(np.ones((4, 4)))
    with pytest.raises(FeatureError, match="1D array"):
        fitted.predict(values[:, 0])
    broken = values.copy()
    broken[3, 1] = np.nan
    with pytest.raises(FeatureError, match="NaN") as info:
        Segmenter().fit(broken)
    assert isinstance(info.value, ValueError)  # scikit-learn's idiom, and custseg's class
    with pytest.raises(FeatureTypeError):
        Segmenter().fit(np.array([[{"a": 1}, 1, 1]] * 5, dtype=object))
    with pytest.raises(custseg.ConfigError, match="n_clusters"):
        Segmenter("three").fit(values)


# --------------------------------------------------------------------------- files


def test_save_and_load_predict_identically(tmp_path: Path, synth_rfm: pd.DataFrame,
                                           fitted: Segmenter) -> None:
    path = fitted.save(tmp_path / "model.json")
    content = json.loads(path.read_text(encoding="utf-8"))
    assert content["format"] == "custseg-segmentation" and content["version"] == 1
    assert content["transform"] == "log1p"
    assert len(content["centroids"]) == fitted.n_clusters_
    loaded = Segmenter.load(path)
    for got, want in zip(loaded.assign(synth_rfm), fitted.assign(synth_rfm), strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.segment_names_ == fitted.segment_names_
    assert loaded.actions_ == fitted.actions_
    assert loaded.get_params() == fitted.get_params()
    pd.testing.assert_frame_equal(loaded.feature_ranges_, fitted.feature_ranges_)
    pd.testing.assert_frame_equal(loaded.k_table_.reset_index(drop=True),
                                  fitted.k_table_.reset_index(drop=True), check_dtype=False)
    # The loaded estimator is an ordinary one: it pickles, and refits from its parameters.
    assert pickle.loads(pickle.dumps(loaded)).predict(synth_rfm).tolist() == \
        fitted.labels_.tolist()


def _edited(tmp_path: Path, fitted: Segmenter, change) -> Path:
    path = fitted.save(tmp_path / "model.json")
    content = json.loads(path.read_text(encoding="utf-8"))
    change(content)
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(version=2), "version 2.*upgrade custseg"),
    (lambda c: c.update(format="something-else"), "not a custseg model file"),
    (lambda c: c.update(transform="__import__('os').system('touch pwned')"),
     "'transform' must be one of"),
    (lambda c: c.update(py_reduce=["os.system", ["touch pwned"]]), "unexpected field 'py_reduce'"),
    (lambda c: c["segments"][0].update({"py/object": "os.system"}), "unexpected field"),
    (lambda c: c["centroids"][0].append(1.0), r"'centroids\[0\]' must be a list of 3"),
    (lambda c: c["centroids"][1].__setitem__(0, "1e3"), r"'centroids\[1\]\[0\]' must be a number"),
    (lambda c: c["scaler"].update(scale=[1.0, 0.0, 1.0]), "positive"),
    (lambda c: c["segments"][0].update(name=["Champions"]), "segments\\[0\\].name"),
    (lambda c: c.pop("scaler"), "lacks the field 'scaler'"),
    (lambda c: c["settings"].update(n_init=True), "settings.n_init"),
    (lambda c: c["segments"][1].update(name=c["segments"][0]["name"]), "different"),
])
def test_edited_model_files_are_refused(tmp_path: Path, fitted: Segmenter, change,
                                        message: str, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _edited(tmp_path, fitted, change)
    with pytest.raises(ModelFileError, match=message) as info:
        Segmenter.load(path)
    assert str(path) in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_files_that_are_not_json_models_are_refused(tmp_path: Path, fitted: Segmenter) -> None:
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(fitted))
    with pytest.raises(ModelFileError, match="not plain JSON"):
        Segmenter.load(pickled)
    text = fitted.save(tmp_path / "m.json").read_text(encoding="utf-8")
    for bad in (text.replace('"inertia": ', '"inertia": NaN, "x": ', 1),
                text.replace('"version": 1', '"version": 1, "version": 1')):
        (tmp_path / "bad.json").write_text(bad, encoding="utf-8")
        with pytest.raises(ModelFileError, match="not plain JSON"):
            Segmenter.load(tmp_path / "bad.json")
    with pytest.raises(ModelFileError, match="does not exist"):
        Segmenter.load(tmp_path / "missing.json")

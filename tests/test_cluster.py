"""Clustering: k choice on planted blobs, determinism, silhouette and stability, real data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from custseg.cluster import adjusted_rand, fit_clusters, transform_features
from custseg.config import ClusterConfig
from custseg.errors import ConfigError
from custseg.rfm import FEATURES


def _blobs(k: int, per: int = 150, seed: int = 0) -> pd.DataFrame:
    """RFM-shaped customers in ``k`` well separated log-space blobs."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1.0, 3.5, 8.5], [5.5, 0.3, 5.0], [3.0, 1.8, 6.8], [5.0, 2.8, 9.0],
                        [1.5, 0.5, 4.2], [3.2, 3.6, 5.2]])[:k]
    logs = np.vstack([c + rng.normal(0, 0.18, size=(per, 3)) for c in centres])
    values = np.expm1(logs)
    return pd.DataFrame({
        "customer_id": [f"c{i:05d}" for i in range(len(values))],
        "recency": np.maximum(np.round(values[:, 0]), 0).astype(int),
        "frequency": np.maximum(np.round(values[:, 1]), 1).astype(int),
        "monetary": values[:, 2].round(2),
    }), np.repeat(np.arange(k), per)


@pytest.mark.parametrize("k", [3, 4, 5])
def test_auto_k_finds_planted_blobs(k: int) -> None:
    rfm, truth = _blobs(k)
    result = fit_clusters(rfm, ClusterConfig(k_min=2, k_max=8), seed=1)
    assert result.k == k
    assert adjusted_rand_score(truth, result.labels) > 0.95
    chosen = result.k_table[result.k_table["chosen"]]
    assert chosen["k"].tolist() == [k] and bool(chosen["eligible"].iloc[0])
    assert f"k={k}" in result.reason


def test_same_seed_same_result_and_table_shape() -> None:
    rfm, _ = _blobs(4, seed=3)
    cfg = ClusterConfig(k_max=6, n_init=6)
    a = fit_clusters(rfm, cfg, seed=7)
    b = fit_clusters(rfm, cfg, seed=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.k_table, b.k_table)
    assert list(a.k_table.columns) == ["k", "inertia", "silhouette", "calinski_harabasz",
                                       "davies_bouldin", "min_share", "stability", "eligible",
                                       "chosen", "note"]
    assert a.k_table["k"].tolist() == list(range(2, 7))
    assert a.labels.min() == 0 and a.labels.max() == a.k - 1 and len(a.labels) == len(rfm)
    assert list(a.pca.columns) == ["customer_id", "pc1", "pc2"]
    assert list(a.pca_loadings.index) == list(FEATURES)


def test_k_table_metrics_match_sklearn() -> None:
    rfm, _ = _blobs(3, per=80, seed=5)
    result = fit_clusters(rfm, ClusterConfig(k_min=2, k_max=5), seed=0)
    scaled = StandardScaler().fit_transform(np.log1p(rfm[list(FEATURES)].to_numpy(float)))
    for row in result.k_table.itertuples():
        fit = fit_clusters(rfm, ClusterConfig(k=row.k, k_min=row.k, k_max=row.k), seed=0)
        labels = fit.labels
        assert row.silhouette == pytest.approx(silhouette_score(scaled, labels), abs=1e-9)
        assert row.min_share == pytest.approx(np.bincount(labels).min() / len(labels))
        centres = np.vstack([scaled[labels == c].mean(0) for c in range(row.k)])
        # K-Means stops at its tolerance, so its inertia is within 0.1% of the centroid one.
        assert row.inertia == pytest.approx(((scaled - centres[labels]) ** 2).sum(), rel=1e-3)


def test_user_k_overrides_and_is_explained() -> None:
    rfm, _ = _blobs(4)
    result = fit_clusters(rfm, ClusterConfig(k=6), seed=0)
    assert result.k == 6 and len(np.unique(result.labels)) == 6
    assert "set by the user" in result.reason
    assert result.k_table.loc[result.k_table["chosen"], "k"].tolist() == [6]
    # The user passed over the smaller k, not the rule: no sentence about them.
    assert "Smaller k" not in result.reason and "lump together" not in result.reason
    assert result.k_table.loc[result.k_table["chosen"], "note"].tolist() == [
        "chosen: set by the user"]


def _pairs_of_blobs() -> pd.DataFrame:
    """Four log-space blobs of 10%, 20%, 30% and 40% of 450 customers: the 10% and 20% blobs
    near each other (low value), the 30% and 40% blobs near each other (high value)."""
    rng = np.random.default_rng(0)
    sizes = [45, 90, 135, 180]
    centres = np.array([[1.0, 0.5, 4.0], [1.5, 2.5, 5.5], [4.5, 3.0, 8.5], [4.5, 0.8, 6.5]])
    logs = np.vstack([c + rng.normal(0, 0.12, size=(n, 3))
                      for c, n in zip(centres, sizes, strict=True)])
    values = np.expm1(logs)
    return pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(len(values))],
                         "recency": values[:, 0], "frequency": values[:, 1],
                         "monetary": values[:, 2]})


def test_reason_says_why_the_smaller_k_were_passed_over() -> None:
    result = fit_clusters(_pairs_of_blobs(), ClusterConfig(k_min=2, k_max=7), seed=0)
    assert result.k == 4
    table = result.k_table.set_index("k")
    # k=2 puts the two pairs apart: 10% + 20% against 30% + 40%. k=3 merges the pair nearest
    # to each other, the 10% and 20% blobs. The spread is the inertia ratio of the two fits.
    ratio = table.loc[2, "inertia"] / table.loc[4, "inertia"]
    assert (f"Smaller k lump together customers that k=4 tells apart: k=2 splits them "
            f"30% / 70% with {ratio:.1f} times the spread within segments; k=3 puts most of "
            f"k=4's segments of 20% and 10% of customers together.") in result.reason
    assert result.reason.startswith("k=4: the elbow of inertia;")
    notes = table["note"]
    # The chosen row carries the reason's sentence about the smaller k, word for word.
    sentence = result.reason[result.reason.index("Smaller k"):]
    assert notes[4] == "chosen: the elbow of inertia. " + sentence
    assert notes[2] == ("passed over: splits the customers 30% / 70% and puts most of k=4's "
                        "segments of 40% and 30% of customers together (and of 20% and 10%)")
    assert notes[3].startswith("passed over: splits the customers 30% / 30% / 40% and")
    gain = 1 - table.loc[5, "inertia"] / table.loc[4, "inertia"]
    assert notes[5].startswith("passed over: ")
    assert notes[5].endswith(f"1 more segment cuts the spread within segments by {gain:.0%} "
                             "against k=4")
    assert all(n.startswith("passed over: ") for k, n in notes.items() if k != 4)


def test_shares_as_whole_percentages_add_up_to_100() -> None:
    from custseg.cluster import _percents

    assert _percents(np.array([1, 1, 1])) == [34, 33, 33]
    assert _percents(np.array([39, 61])) == [39, 61]
    assert _percents(np.array([1, 2, 4])) == [14, 29, 57]  # 14.3, 28.6, 57.1
    assert sum(_percents(np.array([7, 11, 13, 17, 19]))) == 100


def test_degenerate_k_is_never_chosen() -> None:
    # Two big blobs plus 1% extreme buyers: k=3 isolates the extremes (a 1% cluster).
    rfm, _ = _blobs(2, per=300, seed=2)
    extreme = rfm.head(6).assign(frequency=400, monetary=900_000.0, recency=0,
                                 customer_id=[f"x{i}" for i in range(6)])
    data = pd.concat([rfm, extreme], ignore_index=True)
    cfg = ClusterConfig(min_cluster_share=0.05)
    result = fit_clusters(data, cfg, seed=0)
    table = result.k_table
    assert (table.loc[~table["eligible"], "min_share"] < 0.05).any() or \
        (table.loc[~table["eligible"], "stability"] < cfg.min_stability).any()
    assert table.loc[table["chosen"], "min_share"].iloc[0] >= 0.05


def test_sampled_search_above_limit_matches_full_fit() -> None:
    rfm, _ = _blobs(3, per=400, seed=4)
    full = fit_clusters(rfm, ClusterConfig(), seed=0)
    sampled = fit_clusters(rfm, ClusterConfig(minibatch_above=300, search_sample=300,
                                                   silhouette_sample=300), seed=0)
    assert sampled.k == full.k == 3
    assert adjusted_rand_score(full.labels, sampled.labels) > 0.99


def test_transform_and_config_errors() -> None:
    rfm, _ = _blobs(2, per=20)
    np.testing.assert_allclose(transform_features(rfm, "log1p"),
                               np.log1p(rfm[list(FEATURES)].to_numpy(float)))
    with pytest.raises(ConfigError, match="transform"):
        transform_features(rfm, "sqrt")
    with pytest.raises(ConfigError, match="k range"):
        fit_clusters(rfm, ClusterConfig(k_min=5, k_max=3), seed=0)
    with pytest.raises(ConfigError, match="k=1"):
        fit_clusters(rfm, ClusterConfig(k=1), seed=0)


def test_one_pass_silhouettes_match_sklearn() -> None:
    from custseg.cluster import _CHUNK_CELLS, _silhouettes

    rng = np.random.default_rng(1)
    points = rng.normal(size=(int(np.sqrt(_CHUNK_CELLS)) + 100, 3))  # two distance chunks
    points[10:30] = points[10]  # duplicate customers
    n = len(points)
    label_sets = [rng.integers(0, k, n) for k in (2, 3, 7)]
    label_sets.append(np.r_[np.zeros(n - 1, int), 1])  # a customer alone in its cluster
    label_sets.append(np.where(rng.random(n) < 0.5, 0, 3))  # cluster ids 1 and 2 unused
    for labels, score in zip(label_sets, _silhouettes(points, label_sets), strict=True):
        assert score == pytest.approx(silhouette_score(points, labels), abs=1e-12)
    assert np.isnan(_silhouettes(points, [np.zeros(n, int)])[0])


def test_adjusted_rand_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(50):
        a = rng.integers(0, 4, 200)
        pairs.append((a, np.where(rng.random(200) < 0.7, a, rng.integers(0, 5, 200))))
    one, alone = np.zeros(60, int), np.arange(60)  # one cluster; every customer alone
    pairs += [(one, one), (alone, alone), (one, alone), (one, rng.integers(0, 3, 60)),
              (np.array([0, 0, 2, 2]), np.array([1, 1, 0, 0]))]
    for a, b in pairs:
        assert adjusted_rand(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)


def test_real_data_auto_k_is_not_degenerate(seed_rfm: pd.DataFrame) -> None:
    cfg = ClusterConfig()
    result = fit_clusters(seed_rfm, cfg, seed=42)
    chosen = result.k_table[result.k_table["chosen"]].iloc[0]
    assert result.k >= 3
    assert chosen["min_share"] >= cfg.min_cluster_share
    assert chosen["stability"] >= cfg.min_stability
    assert np.bincount(result.labels).min() / len(result.labels) >= cfg.min_cluster_share
    # The scores favour k=2 here; the reason says so and what k=2 would have been.
    table = result.k_table.set_index("k")
    assert table["silhouette"].idxmax() == 2 and table["davies_bouldin"].idxmin() == 2
    two = fit_clusters(seed_rfm, ClusterConfig(k=2, k_min=2, k_max=2), seed=42).labels
    low, high = sorted(np.bincount(two) / len(two))
    assert f"k=2 splits them {round(low * 100)}% / {round(high * 100)}%" in result.reason
    assert "Silhouette, Calinski–Harabasz, Davies–Bouldin" in result.reason
    assert "favour k=2, but smaller k lump together" in result.reason
    # Without the log transform every k isolates a tiny group of very large buyers.
    raw = fit_clusters(seed_rfm, ClusterConfig(transform="none", k=3, k_max=3), seed=42)
    assert np.bincount(raw.labels).min() / len(raw.labels) < 0.02


def test_a_reused_k_search_gives_the_same_clustering_as_a_fresh_fit():
    from custseg.cluster import search_k

    rng = np.random.default_rng(3)
    rfm = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(600)],
        "recency": rng.integers(1, 370, 600),
        "frequency": rng.geometric(0.3, 600),
        "monetary": rng.lognormal(6, 1, 600).round(2),
    })
    cfg = ClusterConfig(k_min=2, k_max=6, n_init=4)
    search = search_k(rfm, cfg, seed=5)
    for k in (3, 5, 8):  # 8 lies outside the searched range and is fitted on demand
        chosen = dataclasses.replace(cfg, k=k)
        reused = fit_clusters(rfm, chosen, 5, search=search)
        fresh = fit_clusters(rfm, chosen, 5)
        assert reused.k == fresh.k == k
        np.testing.assert_array_equal(reused.labels, fresh.labels)
        pd.testing.assert_frame_equal(reused.k_table, fresh.k_table)
        assert reused.reason == fresh.reason
        assert "automatic choice is k=" in reused.reason
    # A search for another seed is not reused.
    other = fit_clusters(rfm, dataclasses.replace(cfg, k=3), 6, search=search)
    assert other.k == 3


def test_fixed_k_on_a_sampled_search_matches_the_reused_search():
    from custseg.cluster import search_k

    rfm, _ = _blobs(3, per=400, seed=4)
    cfg = ClusterConfig(minibatch_above=300, search_sample=300, silhouette_sample=300, k=4)
    fresh = fit_clusters(rfm, cfg, seed=0)
    reused = fit_clusters(rfm, cfg, seed=0, search=search_k(rfm, cfg, seed=0))
    np.testing.assert_array_equal(fresh.labels, reused.labels)
    pd.testing.assert_frame_equal(fresh.k_table, reused.k_table)
    assert fresh.labels.max() == 3 and len(fresh.labels) == len(rfm)


def _recorded_fits(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[float]]:
    """The number of rows and the inertia of every K-Means fit made through custseg.cluster."""
    from sklearn.cluster import KMeans

    import custseg.cluster as cluster

    sizes: list[int] = []
    inertias: list[float] = []

    class Recording(KMeans):
        def fit(self, x: np.ndarray, y: None = None,
                sample_weight: np.ndarray | None = None) -> KMeans:
            sizes.append(len(x))
            fitted = super().fit(x, y, sample_weight)
            inertias.append(float(fitted.inertia_))
            return fitted

    monkeypatch.setattr(cluster, "KMeans", Recording)
    return sizes, inertias


def test_k_search_above_k_search_max_runs_on_a_sample_and_fits_everyone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rfm, truth = _blobs(4, per=500, seed=6)  # 2,000 customers
    full = fit_clusters(rfm, ClusterConfig(k_max=6), seed=0)
    sizes, inertias = _recorded_fits(monkeypatch)
    cfg = ClusterConfig(k_max=6, k_search_max=400)
    sampled = fit_clusters(rfm, cfg, seed=0)
    # Every run of the search saw 400 customers; then each run of the chosen k was refitted
    # on all 2,000 (the lowest inertia on everyone wins, checked below).
    assert sizes == [400] * (5 * cfg.n_init) + [2_000] * cfg.n_init
    assert sampled.k == full.k == 4
    assert adjusted_rand_score(truth, sampled.labels) > 0.99
    assert "seeded sample of 400 of the 2,000 customers" in sampled.reason
    chosen_note = sampled.k_table.loc[sampled.k_table["chosen"], "note"].iloc[0]
    assert "seeded sample of 400 of the 2,000 customers" in chosen_note
    assert "sample" not in full.reason
    # The final labels are a converged K-Means on everyone: each customer is nearest to the
    # mean of its own cluster (computed here from the scaled features).
    scaled = StandardScaler().fit_transform(transform_features(rfm, "log1p"))
    means = np.array([scaled[sampled.labels == c].mean(axis=0) for c in range(sampled.k)])
    nearest = ((scaled[:, None, :] - means[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(nearest, sampled.labels)
    # And the best of the refits: no refit on everyone ended with a lower inertia.
    inertia = sum(((scaled[sampled.labels == c] - means[c]) ** 2).sum() for c in range(4))
    assert inertia == pytest.approx(min(inertias[-cfg.n_init:]), rel=1e-9)
    # The shares in the k table are the sample's: multiples of 1/400.
    np.testing.assert_allclose(sampled.k_table["min_share"] * 400,
                               np.round(sampled.k_table["min_share"] * 400), atol=1e-9)
    # Same seed, same answer; another seed draws another sample.
    again = fit_clusters(rfm, cfg, seed=0)
    np.testing.assert_array_equal(again.labels, sampled.labels)
    pd.testing.assert_frame_equal(again.k_table, sampled.k_table)
    other = fit_clusters(rfm, cfg, seed=1)
    assert not np.allclose(other.k_table["inertia"], sampled.k_table["inertia"])
    # A k set by the user was not chosen on the sample: the reason says what was.
    fixed = fit_clusters(rfm, dataclasses.replace(cfg, k=3), seed=0)
    assert "figures come from a seeded sample of 400 of the 2,000 customers" in fixed.reason


def test_k_search_max_too_small_is_a_config_error() -> None:
    rfm, _ = _blobs(3, per=100)
    with pytest.raises(ConfigError, match="k_search_max=50 is too small"):
        fit_clusters(rfm, ClusterConfig(k_max=8, k_search_max=50), seed=0)


def test_many_identical_profiles_are_clustered_from_a_bounded_sample(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 60% of 5,000 customers share four profiles (one-time buyers with the same spend).
    rfm, _ = _blobs(3, per=700, seed=2)
    rng = np.random.default_rng(0)
    profiles = pd.DataFrame({"recency": [300, 200, 100, 350], "frequency": 1,
                             "monetary": [15.0, 20.0, 15.0, 10.0]})
    same = profiles.iloc[rng.integers(0, 4, 3_000)].reset_index(drop=True)
    same["customer_id"] = [f"s{i}" for i in range(3_000)]
    table = pd.concat([rfm, same[rfm.columns]], ignore_index=True)
    sizes, _ = _recorded_fits(monkeypatch)
    result = fit_clusters(table, ClusterConfig(k_max=6, k_search_max=1_000), seed=0)
    assert max(sizes[:-10]) == 1_000 and sizes[-10:] == [len(table)] * 10
    # Identical customers always share a segment.
    key = table[["recency", "frequency", "monetary"]].astype(str).agg("|".join, axis=1)
    assert (pd.Series(result.labels).groupby(key.to_numpy()).nunique() == 1).all()


#: The clustering of the real data before the k search could be sampled (commit 6ef1eda):
#: rule preset → customers, k, customers per cluster, inertia per k (2..10).
_REAL_BEFORE = {
    "seed": (3_882, 5, [341, 817, 895, 758, 1071],
             [5676.532604, 4229.554292, 3402.865667, 2852.286146, 2459.769605, 2202.552520,
              2005.337918, 1845.346044, 1694.777869]),
    "default": (4_294, 5, [389, 931, 994, 819, 1161],
                [6344.995331, 4748.466383, 3829.538852, 3212.023291, 2778.788587,
                 2495.165628, 2277.916543, 2091.908949, 1934.859939]),
}


@pytest.mark.parametrize("rules", ["seed", "default"])
def test_real_data_below_k_search_max_is_unchanged(rules: str,
                                                   request: pytest.FixtureRequest) -> None:
    rfm = request.getfixturevalue(f"{rules}_rfm")
    customers, k, sizes, inertia = _REAL_BEFORE[rules]
    assert len(rfm) == customers < ClusterConfig().k_search_max
    result = fit_clusters(rfm, ClusterConfig(), seed=42)
    assert result.k == k and np.bincount(result.labels).tolist() == sizes
    np.testing.assert_allclose(result.k_table["inertia"], inertia, rtol=1e-8)
    assert "sample" not in result.reason
    # Setting the limit just above or far above the customers changes nothing at all.
    for limit in (customers, 10**9):
        same = fit_clusters(rfm, ClusterConfig(k_search_max=limit), seed=42)
        np.testing.assert_array_equal(same.labels, result.labels)
        pd.testing.assert_frame_equal(same.k_table, result.k_table)
        assert same.reason == result.reason


def test_profile_codes_and_distinct_rows_match_numpy_unique() -> None:
    from custseg.cluster import _distinct_rows, profile_codes

    rng = np.random.default_rng(5)
    values = rng.integers(0, 4, size=(3_000, 3)).astype(float) / 3  # many repeated rows
    values[:500] = rng.normal(size=(500, 3))  # and some unique ones
    _, inverse, counts = np.unique(values, axis=0, return_inverse=True, return_counts=True)
    codes = profile_codes(values)
    np.testing.assert_array_equal(codes, inverse.ravel())
    np.testing.assert_array_equal(np.bincount(codes), counts)
    assert _distinct_rows(values) == len(counts)

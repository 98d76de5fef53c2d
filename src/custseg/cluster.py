"""K-Means segments of the RFM table: transform, scaling, k search and choice, PCA.

The k choice rule (docs/modelling.md): a k is *eligible* when its smallest cluster holds at
least ``min_cluster_share`` of the customers and its runs agree (stability, mean adjusted Rand
index, at least ``min_stability``). Among eligible k, the one at the elbow of the inertia curve
(kneed) wins; when the elbow itself is not eligible, the eligible k nearest to it (higher
silhouette on a tie); without an elbow, the eligible k with the best silhouette.

The reason given for the choice also says, from the fits, why the smaller k were passed over
(the shares they split the customers into, which of the chosen segments they merge): on skewed
RFM data the per-k scores (silhouette, Calinski–Harabasz, Davies–Bouldin) usually favour k=2,
and a reader needs to see what that k would have meant. The k table carries a ``note`` per k
with the same facts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from kneed import KneeLocator
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.preprocessing import StandardScaler

from custseg import threads
from custseg.config import ClusterConfig
from custseg.errors import ConfigError, EmptyResultError, InputError
from custseg.labels import and_list
from custseg.rfm import FEATURES

TRANSFORMS = ("log1p", "none")
#: Float64 cells per chunk of the pairwise-distance matrix in the silhouette (~16 MB).
_CHUNK_CELLS = 2_000_000
#: Up to this many customers, K-Means runs on one thread.
_SINGLE_THREAD_ROWS = 50_000


@dataclass
class Clustering:
    """K-Means result with the evidence for its k."""

    k: int
    #: Cluster per RFM row (RFM row order), 0..k-1, 0 = the highest-value centre.
    labels: np.ndarray
    #: One row per candidate k: the metrics, ``eligible``, ``chosen`` and ``note`` (why that
    #: k was chosen or passed over, in words).
    k_table: pd.DataFrame
    #: Why this k, in words a marketer can read; for an automatic choice, with a sentence
    #: saying why the smaller k were passed over.
    reason: str
    #: ``customer_id``, ``pc1``, ``pc2`` in RFM row order.
    pca: pd.DataFrame
    pca_explained: tuple[float, float]
    #: Index FEATURES, columns pc1, pc2.
    pca_loadings: pd.DataFrame
    transform: str
    #: ``cluster`` and the centre in original units (``recency`` days, ``frequency``,
    #: ``monetary`` £); with log1p these are geometric-mean-like centres.
    centers: pd.DataFrame
    #: K-Means' own centres in the scaled feature space, row = cluster number: what assigns a
    #: new customer (custseg.segmenter). The means of ``centers`` are not these: K-Means stops
    #: within a tolerance, so its centres are not exactly the means of its final labels.
    scaled_centers: np.ndarray | None = None


@dataclass
class _Fit:
    """The best of several K-Means runs for one k."""

    labels: np.ndarray
    centers: np.ndarray
    inertia: float
    stability: float
    #: The final centres of every run, in run order (the starts of the refit on everyone
    #: after a sampled search).
    runs: tuple[np.ndarray, ...] = ()


def transform_features(rfm: pd.DataFrame, transform: str) -> np.ndarray:
    """R/F/M as a float matrix after the skew-reducing transform (before scaling).

    Parameters
    ----------
    rfm:
        Table with ``recency``, ``frequency``, ``monetary``.
    transform:
        ``"log1p"`` or ``"none"``.

    Returns
    -------
    An ``(n, 3)`` float array in FEATURES order.
    """
    if transform not in TRANSFORMS:
        raise ConfigError(f"Unknown transform {transform!r}. Use one of: {', '.join(TRANSFORMS)}.")
    missing = [c for c in FEATURES if c not in rfm]
    if missing:
        raise InputError(f"The RFM table lacks column(s) {', '.join(missing)}.")
    values = rfm[list(FEATURES)].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise InputError("The RFM table has missing or infinite recency/frequency/monetary values.")
    if transform == "log1p":
        # Monetary can be slightly negative after refunds; log1p needs > -1.
        return np.log1p(np.clip(values, 0.0, None))
    return values


def scaled_features(rfm: pd.DataFrame, transform: str) -> np.ndarray:
    """R/F/M after the transform (:func:`transform_features`) and standard scaling: the space
    the segments are found in, and the customer anomalies scored in."""
    return StandardScaler().fit_transform(transform_features(rfm, transform))


#: A feature whose log1p values spread less than this (standard deviation: about a 1%
#: relative difference between customers) counts as constant. Scaling would blow such noise
#: (a few cents on the same spend) up to the size of a real difference.
FLAT_SPREAD = 0.01
_WORDS = {"recency": "recency", "frequency": "frequency", "monetary": "spend"}
#: How :func:`why_unclusterable` states each feature's span: text, decimals, plural ending.
_SPANS = (("recency", "recency {} day", 0, "s"), ("frequency", "{} order", 0, "s"),
          ("monetary", "spend {}", 2, ""))


def why_unclusterable(rfm: pd.DataFrame, cfg: ClusterConfig) -> str | None:
    """Why these customers cannot be segmented, in words for the user; None when they can.

    The customers are too alike when, on the log1p scale (relative differences, whatever
    ``cfg.transform``):

    1. no feature spreads by :data:`FLAT_SPREAD` or more: there is nothing to cluster;
    2. the features that do spread take fewer than ``cfg.k_min + 1`` distinct profiles: the
       segments would be the profiles themselves (the RFM grid already lists them);
    3. one profile holds so many customers that the rest cannot fill ``cfg.k_min - 1`` more
       segments of ``cfg.min_cluster_share`` each: identical customers always share a
       cluster, so every k would leave a segment below the minimum share.

    Raises
    ------
    ConfigError, InputError
        As :func:`transform_features`.
    """
    logged = transform_features(rfm, "log1p")
    varying = logged.std(axis=0) >= FLAT_SPREAD
    n, ranges = len(rfm), _ranges(rfm)
    if not varying.any():
        same = "the same" if (rfm[list(FEATURES)].nunique() == 1).all() else "nearly the same"
        return (f"All {n:,} customers have {same} recency, frequency and spend "
                f"({', '.join(ranges)}): there is nothing to cluster, so only the RFM table "
                f"and grid were produced.")
    profile = profile_codes(logged[:, varying])
    counts = np.bincount(profile)
    if len(counts) < cfg.k_min + 1:
        words = [_WORDS[f] for f, v in zip(FEATURES, varying, strict=True) if v]
        only = "" if varying.all() else f" only in {' and '.join(words)}"
        return (f"The {n:,} customers differ{only}, and take just {len(counts)} distinct "
                f"R/F/M profiles ({', '.join(ranges)}): at least {cfg.k_min + 1} are needed "
                f"to find {cfg.k_min} or more segments, so only the RFM table and grid were "
                f"produced.")
    top = int(counts.argmax())
    if n - counts[top] < (cfg.k_min - 1) * cfg.min_cluster_share * n:
        return (f"{counts[top]:,} of {n:,} customers ({_floor_pct(counts[top] / n)}) have the "
                f"same R/F/M profile ({', '.join(_ranges(rfm[profile == top]))}), so "
                f"any {cfg.k_min} or more segments would include one with under "
                f"{cfg.min_cluster_share:.0%} of customers: only the RFM table and grid were "
                f"produced.")
    return None


def _ranges(rfm: pd.DataFrame) -> list[str]:
    """'recency 340 days', '1 order', 'spend 9.96–10.04': each feature's span."""
    parts = []
    for feature, template, digits, plural in _SPANS:
        lo, hi = (f"{v:,.{digits}f}" for v in (rfm[feature].min(), rfm[feature].max()))
        text = template.format(lo if lo == hi else f"{lo}–{hi}")
        parts.append(text + plural if hi != "1" else text)
    return parts


@dataclass
class KSearch:
    """Every candidate k fitted once: the part of clustering that does not depend on the k
    finally used, so a dashboard can change k without refitting."""

    #: The k range and transform it was computed for (``cfg.k`` is ignored).
    cfg: ClusterConfig
    seed: int
    #: Every customer's scaled features (RFM row order).
    scaled: np.ndarray
    #: Fits and metrics of the customers in ``rows``: labels, ``search`` and ``sample``
    #: index ``points``, not ``scaled``.
    fits: dict[int, _Fit]
    #: The metrics of every candidate k (``chosen`` not set yet).
    table: pd.DataFrame
    search: np.ndarray | None
    sample: np.ndarray
    pca: tuple[pd.DataFrame, tuple[float, float], pd.DataFrame]
    #: The customers the search measured: None for all, else a seeded sample of
    #: ``cfg.k_search_max`` (sorted RFM row numbers).
    rows: np.ndarray | None = None

    @property
    def points(self) -> np.ndarray:
        """The scaled features of the customers the search measured."""
        return self.scaled if self.rows is None else self.scaled[self.rows]


def search_k(rfm: pd.DataFrame, cfg: ClusterConfig, seed: int) -> KSearch:
    """Fit K-Means for every k in ``cfg.k_min..cfg.k_max`` and measure each (see
    :func:`fit_clusters`); ``cfg.k`` is not used.

    Above ``cfg.k_search_max`` customers everything here runs on a seeded sample of that many:
    the cost of the search is then bounded whatever the number of customers (and however many
    share one profile), and :func:`fit_clusters` fits the chosen k on everyone.
    """
    scaled = scaled_features(rfm, cfg.transform)
    ks = _candidate_ks(dataclasses.replace(cfg, k=None), _distinct_rows(scaled))
    rng = np.random.default_rng(seed)
    # Up to k_search_max nothing is drawn here, so the draws below (and the results) are
    # those of an unsampled search.
    rows = _search_rows(len(scaled), cfg.k_search_max, _search_size(cfg, ks), rng)
    points = scaled if rows is None else scaled[rows]
    search = _search_rows(len(points), cfg.minibatch_above, cfg.search_sample, rng)
    sample = _sample_rows(len(points), cfg.silhouette_sample, rng)
    with _threads(points, search):
        fits = {k: _fit_k(points, search, k, cfg.n_init, seed, sample) for k in ks}
        table = _k_table(points, fits, sample, cfg)
    return KSearch(cfg=cfg, seed=seed, scaled=scaled, fits=fits, table=table, search=search,
                   sample=sample, pca=_pca(scaled, rfm, seed), rows=rows)


def _search_size(cfg: ClusterConfig, ks: list[int]) -> int:
    """``cfg.k_search_max``, checked: a sample must hold a few customers per cluster."""
    least = 10 * max(ks)
    if cfg.k_search_max < least:
        raise ConfigError(f"k_search_max={cfg.k_search_max:,} is too small for k up to "
                          f"{max(ks)}: the k search needs at least {least:,} customers.")
    return cfg.k_search_max


def _sample_note(search: KSearch, user_k: bool) -> str:
    """The sentence saying the k search ran on a sample (empty when it ran on everyone)."""
    if search.rows is None:
        return ""
    n, m = len(search.scaled), len(search.rows)
    if user_k:
        return (f" The k table's figures come from a seeded sample of {m:,} of the {n:,} "
                f"customers; the segments were fitted on all {n:,}.")
    return (f" This k was chosen on a seeded sample of {m:,} of the {n:,} customers (the k "
            f"table's figures are the sample's); the segments were then fitted on all {n:,}.")


def _threads(scaled: np.ndarray, search: np.ndarray | None) -> Any:
    # Small fits run single-threaded: OpenMP start-up and contention on a busy machine cost
    # more than the work (measured 0.5 s to 18 s per search with threads, 0.3 s without).
    fitted_rows = len(scaled) if search is None else len(search)
    return threads.limit(1 if fitted_rows <= _SINGLE_THREAD_ROWS else None)


def fit_clusters(rfm: pd.DataFrame, cfg: ClusterConfig, seed: int,
                 search: KSearch | None = None) -> Clustering:
    """Choose k (or take ``cfg.k``), fit K-Means and project to two principal components.

    Parameters
    ----------
    rfm:
        The RFM table (``customer_id``, ``recency``, ``frequency``, ``monetary``).
    cfg:
        Clustering options.
    seed:
        Seeds every random step: same seed, same labels and k table.
    search:
        A :func:`search_k` result for the same table, transform, k range and seed, to reuse
        (changing only ``cfg.k`` then costs no K-Means fit when k is in the range).

    Returns
    -------
    A :class:`Clustering`.

    Raises
    ------
    ConfigError
        For an impossible k range or transform.
    EmptyResultError
        When there are fewer than three distinct customers to cluster.
    """
    if search is None or dataclasses.replace(search.cfg, k=cfg.k) != cfg or search.seed != seed:
        search = search_k(rfm, cfg, seed)
    fits, table, scaled, points = search.fits, search.table.copy(), search.scaled, search.points
    if cfg.k is not None and cfg.k not in fits:
        _candidate_ks(cfg, _distinct_rows(scaled))  # checks that cfg.k is possible
        with _threads(points, search.search):
            fits = fits | {cfg.k: _fit_k(points, search.search, cfg.k, cfg.n_init, seed,
                                         search.sample)}
            table = _k_table(points, fits, search.sample, cfg)
    k, reason = _choose(table, cfg)
    table["chosen"] = table["k"] == k
    sampled = search.rows is not None or search.search is not None
    with _threads(points, search.search):  # a fit on a sample is refined on everyone
        best = _refine(scaled, fits[k], seed) if sampled else fits[k]
    labels, order = _relabel_by_value(best.labels, best.centers)
    # The fits of the other k label the searched customers only: compare like with like.
    searched = labels if search.rows is None else labels[search.rows]
    table["note"] = _notes(table, fits, searched, cfg)
    if cfg.k is None:
        # The same sentence in the reason and on the chosen k's row (k_selection.csv).
        why = _why_not_smaller(table, fits, searched)
        reason += why
        table.loc[table["chosen"], "note"] += "." + why if why else ""
    if search.rows is not None:
        note = _sample_note(search, cfg.k is not None)
        reason += note
        table.loc[table["chosen"], "note"] += "." + note.rstrip(".")
    centers = _centers(labels, k, rfm, cfg.transform)
    pca, explained, loadings = search.pca
    return Clustering(k=k, labels=labels, k_table=table, reason=reason, pca=pca,
                      pca_explained=explained, pca_loadings=loadings,
                      transform=cfg.transform, centers=centers,
                      scaled_centers=best.centers[order])


# --------------------------------------------------------------------------- k range, samples


def profile_codes(values: np.ndarray) -> np.ndarray:
    """Each row's profile number: the rank of its distinct row in lexicographic order (the
    inverse of ``np.unique(values, axis=0)``).

    Hashed by pandas instead of sorted by NumPy: ``np.unique`` over rows sorts them as
    records, 3.6 s for a million customers against 0.5 s here (0.1 s when most share a few
    profiles).
    """
    frame = pd.DataFrame(values)
    return frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()


def _distinct_rows(scaled: np.ndarray) -> int:
    # Hashing, not np.unique's sort of the rows (see profile_codes): 0.2 s at 1M, not 1.8 s.
    return int((~pd.DataFrame(scaled).duplicated()).sum())


def _candidate_ks(cfg: ClusterConfig, distinct: int) -> list[int]:
    """k_min..k_max (plus a user k), capped by the number of distinct customers."""
    if cfg.k_min < 2 or cfg.k_max < cfg.k_min:
        raise ConfigError(f"k range {cfg.k_min}..{cfg.k_max} is invalid: need 2 ≤ k_min ≤ k_max.")
    if cfg.k is not None and cfg.k < 2:
        raise ConfigError(f"k={cfg.k} is too small; at least 2 segments are needed.")
    if distinct < 3:
        raise EmptyResultError(f"Only {distinct} distinct R/F/M profiles; segmenting needs at "
                               "least 3. Relax the cleaning rules or add data.")
    cap = distinct - 1
    if cfg.k is not None and cfg.k > cap:
        raise ConfigError(f"k={cfg.k} is more than the {distinct} distinct customer profiles "
                          f"allow; choose k ≤ {cap}.")
    ks = set(range(cfg.k_min, min(cfg.k_max, cap) + 1))
    if cfg.k is not None:
        ks.add(cfg.k)
    if not ks:
        raise ConfigError(f"k_min={cfg.k_min} exceeds the {distinct} distinct customer profiles; "
                          f"lower k_min to at most {cap}.")
    return sorted(ks)


def _search_rows(n: int, limit: int, size: int,
                 rng: np.random.Generator) -> np.ndarray | None:
    """Rows the k search fits on: None (all) up to ``limit``, else a seeded sample of ``size``."""
    if n <= limit:
        return None
    return np.sort(rng.choice(n, size=min(max(size, 1), n), replace=False))


def _sample_rows(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Rows for silhouette and stability: all up to ``limit``, else a seeded sample."""
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, size=limit, replace=False))


# --------------------------------------------------------------------------- fitting


def _fit_k(scaled: np.ndarray, search: np.ndarray | None, k: int, runs: int, seed: int,
           sample: np.ndarray) -> _Fit:
    """``runs`` single-start K-Means fits; keep the best, measure how much the others agree."""
    data = scaled if search is None else scaled[search]
    seeds = np.random.SeedSequence([seed, k]).generate_state(max(runs, 1))
    models = [KMeans(n_clusters=k, n_init=1, random_state=int(s)).fit(data) for s in seeds]
    best = min(models, key=lambda m: (m.inertia_, models.index(m)))
    if search is None:
        labels, inertia = best.labels_, float(best.inertia_)
        on_sample = [m.labels_[sample] for m in models]
    else:
        labels = best.predict(scaled)
        inertia = float(((scaled - best.cluster_centers_[labels]) ** 2).sum())
        on_sample = [m.predict(scaled[sample]) for m in models]
    stability = _split_stability(on_sample, np.array([m.inertia_ for m in models]))
    return _Fit(labels=labels.astype(int), centers=best.cluster_centers_, inertia=inertia,
                stability=stability, runs=tuple(m.cluster_centers_ for m in models))


def _split_stability(labelings: list[np.ndarray], inertias: np.ndarray) -> float:
    """How reproducible the best-of-runs answer is: over every split of the runs into two
    halves, the mean adjusted Rand index between the best run of each half.

    This is what a user sees when re-running with another seed (with half the starts), so it
    is a conservative estimate; it needs no extra K-Means fits.
    """
    runs = len(labelings)
    if runs < 2:
        return float("nan")
    # Splits containing run 0 in the first half enumerate each unordered split once. One run
    # is the best of every split, so only a few pairs of best runs occur (at most runs − 1):
    # each pair's agreement is computed once.
    agree: dict[tuple[int, int], float] = {}
    scores = []
    for first in combinations(range(1, runs), runs // 2 - 1):
        half = np.zeros(runs, dtype=bool)
        half[[0, *first]] = True
        best_a = int(np.flatnonzero(half)[np.argmin(inertias[half])])
        best_b = int(np.flatnonzero(~half)[np.argmin(inertias[~half])])
        pair = (min(best_a, best_b), max(best_a, best_b))
        if pair not in agree:
            agree[pair] = adjusted_rand(labelings[pair[0]], labelings[pair[1]])
        scores.append(agree[pair])
    return float(np.mean(scores))


def adjusted_rand(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings by cluster number (0, 1, …), as sklearn's
    ``adjusted_rand_score``.

    Kept because the stability measure calls it 45 times in a k search on the real data,
    and sklearn's version spends about 2 ms a call checking and encoding its inputs (0.08 s
    against 0.002 s, docs/benchmarks.md; a test checks it against sklearn).
    """
    n = len(a)
    table = np.bincount(a * (int(b.max()) + 1) + b).astype(float)
    pairs = (table * (table - 1)).sum() / 2
    rows = np.bincount(a).astype(float)
    cols = np.bincount(b).astype(float)
    sum_a = (rows * (rows - 1)).sum() / 2
    sum_b = (cols * (cols - 1)).sum() / 2
    expected = sum_a * sum_b / (n * (n - 1) / 2)
    top = (sum_a + sum_b) / 2
    if top == expected:  # both labelings trivial: identical by convention
        return 1.0
    return float((pairs - expected) / (top - expected))


def _refine(scaled: np.ndarray, fit: _Fit, seed: int) -> _Fit:
    """Full-data Lloyd iterations from each run's centres on the sample (exact K-Means on every
    customer); the lowest inertia on everyone wins (the first run on a tie).

    Every run, not only the sample's best: the best on the sample can settle in a worse
    optimum on everyone (a million customers that are copies of the real ones: the sample's
    best run ends at inertia 750,721, three others at 747,957–748,061; docs/modelling.md).
    """
    best = None
    for centers in fit.runs or (fit.centers,):
        model = KMeans(n_clusters=len(centers), init=centers, n_init=1,
                       random_state=seed).fit(scaled)
        if best is None or model.inertia_ < best.inertia_:
            best = model
    assert best is not None
    return _Fit(labels=best.labels_.astype(int), centers=best.cluster_centers_,
                inertia=float(best.inertia_), stability=fit.stability)


def _relabel_by_value(labels: np.ndarray,
                      centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber clusters so 0 has the highest value centre (recent, frequent, big spenders).

    Returns the new labels and ``order``: ``centers[order]`` are the centres by new number.
    """
    value = -centers[:, 0] + centers[:, 1] + centers[:, 2]
    order = np.argsort(-value, kind="stable")
    mapping = np.empty(len(order), dtype=int)
    mapping[order] = np.arange(len(order))
    return mapping[labels], order


# --------------------------------------------------------------------------- metrics


def _k_table(scaled: np.ndarray, fits: dict[int, _Fit], sample: np.ndarray,
             cfg: ClusterConfig) -> pd.DataFrame:
    ks = sorted(fits)
    silhouettes = _silhouettes(scaled[sample], [fits[k].labels[sample] for k in ks])
    rows = []
    for k, sil in zip(ks, silhouettes, strict=True):
        fit = fits[k]
        shares = np.bincount(fit.labels, minlength=k) / len(fit.labels)
        rows.append({
            "k": k,
            "inertia": fit.inertia,
            "silhouette": sil,
            "calinski_harabasz": float(calinski_harabasz_score(scaled, fit.labels)),
            "davies_bouldin": float(davies_bouldin_score(scaled, fit.labels)),
            "min_share": float(shares.min()),
            "stability": fit.stability,
        })
    table = pd.DataFrame(rows)
    table["eligible"] = ((table["min_share"] >= cfg.min_cluster_share)
                         & (table["stability"] >= cfg.min_stability))
    table["chosen"] = False
    return table


def _silhouettes(points: np.ndarray, label_sets: list[np.ndarray]) -> list[float]:
    """Exact mean silhouette of several labelings of the same points, in one pass.

    Kept instead of sklearn's ``silhouette_score``, which computes every distance again for
    each k and sums them per cluster row by row: on the real data 0.19 s for all nine k here
    against 2.0 s (docs/benchmarks.md; a test checks the values against sklearn). Each chunk
    of distances is multiplied once by the stacked one-hot label matrices of every k.
    """
    onehots = [np.eye(int(labels.max()) + 1)[labels] for labels in label_sets]
    stacked = np.hstack(onehots)
    step = max(1, _CHUNK_CELLS // len(points))
    sums = np.vstack([cdist(points[start:start + step], points) @ stacked
                      for start in range(0, len(points), step)])
    per_k = np.split(sums, np.cumsum([h.shape[1] for h in onehots])[:-1], axis=1)
    return [_mean_silhouette(part, labels)
            for part, labels in zip(per_k, label_sets, strict=True)]


def _mean_silhouette(dist_sums: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from per-point distance sums to each cluster, with sklearn's
    conventions: a point alone in its cluster scores 0; NaN when fewer than two clusters."""
    sizes = np.bincount(labels, minlength=dist_sums.shape[1])
    if (sizes > 0).sum() < 2:
        return float("nan")
    rows = np.arange(len(labels))
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0: empty clusters, lone points
        a = dist_sums[rows, labels] / (sizes[labels] - 1)
        means = dist_sums / sizes
        means[rows, labels] = np.nan
        b = np.nanmin(means, axis=1)
        return float(np.nan_to_num((b - a) / np.maximum(a, b)).mean())


# --------------------------------------------------------------------------- choice of k


def _choose(table: pd.DataFrame, cfg: ClusterConfig) -> tuple[int, str]:
    """The k and the sentence that explains it (see the module docstring for the rule)."""
    if cfg.k is not None:
        auto, _ = _choose(table[table["k"].between(cfg.k_min, cfg.k_max)],
                          dataclasses.replace(cfg, k=None))
        return cfg.k, (f"k={cfg.k}: set by the user (the automatic choice is k={auto}); "
                       f"{_evidence(_row(table, cfg.k), cfg)}.")
    elbow = _elbow(table)
    eligible = table[table["eligible"]]
    if eligible.empty:
        row = table.sort_values(["min_share", "stability", "k"],
                                ascending=[False, False, True]).iloc[0]
        k = int(row["k"])
        return k, (f"k={k}: no k met every check (each segment ≥ {cfg.min_cluster_share:.0%} of "
                   f"customers, stability ARI ≥ {cfg.min_stability:.2f}), so the k with the "
                   f"largest smallest segment; {_evidence(row, cfg)}.")
    if elbow is None:
        row = eligible.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]
        k = int(row["k"])
        return k, (f"k={k}: the inertia curve has no clear elbow, so the best silhouette among "
                   f"the k that pass the checks; {_evidence(row, cfg)}.")
    distance = (eligible["k"] - elbow).abs()
    ranked = eligible.assign(distance=distance).sort_values(
        ["distance", "silhouette", "k"], ascending=[True, False, True])
    row = ranked.iloc[0]
    k = int(row["k"])
    if k == elbow:
        return k, f"k={k}: the elbow of inertia; {_evidence(row, cfg)}."
    why = _why_rejected(_row(table, elbow), cfg)
    return k, (f"k={k}: the nearest k to the elbow of inertia (k={elbow}, rejected: {why}) that "
               f"passes the checks; {_evidence(row, cfg)}.")


def _elbow(table: pd.DataFrame) -> int | None:
    """The elbow of the inertia curve over the candidate k (kneed), or None."""
    if len(table) < 3:
        return None
    knee = KneeLocator(table["k"].tolist(), table["inertia"].tolist(), curve="convex",
                       direction="decreasing").knee
    return None if knee is None else int(knee)


def _row(table: pd.DataFrame, k: int) -> pd.Series:
    return table.loc[table["k"] == k].iloc[0]


def _evidence(row: pd.Series, cfg: ClusterConfig) -> str:
    sil = "n/a" if pd.isna(row["silhouette"]) else f"{row['silhouette']:.2f}"
    stability = row["stability"]
    word = ("stable" if stability >= 0.9 else
            "fairly stable" if stability >= cfg.min_stability else "not stable")
    return (f"silhouette {sil}, every segment ≥ {_floor_pct(row['min_share'])} of customers, "
            f"{word} across seeds (ARI {stability:.2f})")


def _floor_pct(share: float) -> str:
    """A share as a whole percentage rounded down, so '≥ x%' stays true."""
    return f"{np.floor(share * 100 + 1e-9):.0f}%"


def _why_rejected(row: pd.Series, cfg: ClusterConfig) -> str:
    reasons = []
    if row["min_share"] < cfg.min_cluster_share:
        reasons.append(f"a segment of only {row['min_share']:.1%} of customers")
    if row["stability"] < cfg.min_stability:
        reasons.append(f"unstable across seeds, ARI {row['stability']:.2f}")
    return " and ".join(reasons) or "fails the checks"


# --------------------------------------------------------------------------- smaller k


#: The per-k scores a reader may see favour another k: (column, name, higher is better).
_SCORES = (("silhouette", "silhouette", True), ("calinski_harabasz", "Calinski–Harabasz", True),
           ("davies_bouldin", "Davies–Bouldin", False), ("stability", "stability", True))


#: Scores within this relative difference of the chosen k's count as tied.
_TIE = 0.005


def _percents(shares: np.ndarray) -> list[int]:
    """Shares as whole percentages that add up to 100 (largest remainders round up)."""
    exact = np.asarray(shares, dtype=float) / max(float(np.sum(shares)), 1e-300) * 100
    whole = np.floor(exact).astype(int)
    order = np.argsort(-(exact - whole), kind="stable")
    whole[order[:100 - int(whole.sum())]] += 1
    return whole.tolist()


def _split(labels: np.ndarray, k: int) -> str:
    """'39% / 61%': the shares of customers in each cluster, smallest first."""
    return " / ".join(f"{p}%" for p in sorted(_percents(np.bincount(labels, minlength=k))))


def _merged(small: np.ndarray, chosen: np.ndarray, k: int) -> list[list[int]]:
    """The chosen clusters that a smaller k puts together: each chosen cluster goes to the
    smaller-k cluster holding most of its customers; groups of two or more, largest first."""
    cross = np.zeros((int(small.max()) + 1, k), dtype=int)
    np.add.at(cross, (small, chosen), 1)
    home = cross.argmax(axis=0)
    sizes = np.bincount(chosen, minlength=k)
    groups = [sorted(np.flatnonzero(home == g).tolist(), key=lambda c: (-sizes[c], c))
              for g in np.unique(home)]
    groups = [g for g in groups if len(g) > 1]
    return sorted(groups, key=lambda g: (-int(sizes[g].sum()), g))


def _merge_text(groups: list[list[int]], chosen: np.ndarray, k: int, *,
                short: bool = False) -> str:
    """"puts most of k=5's segments of 23% and 21% of customers together" (``short``: "those
    of 23% and 21%"), with "(and of 9% and 30%)" for each further group."""
    pct = _percents(np.bincount(chosen, minlength=k))
    parts = [and_list([f"{pct[c]}%" for c in g]) for g in groups]
    more = f" (and of {'; of '.join(parts[1:])})" if len(parts) > 1 else ""
    if short:
        return f"those of {parts[0]}{more}"
    return f"puts most of k={k}'s segments of {parts[0]} of customers together{more}"


def _notes(table: pd.DataFrame, fits: dict[int, _Fit], labels: np.ndarray,
           cfg: ClusterConfig) -> list[str]:
    """Per k of ``table`` (``chosen`` set): "chosen: …" or "passed over: …", from the fits."""
    k = int(table.loc[table["chosen"], "k"].iloc[0])
    chosen_row = _row(table, k)
    rule = _choice_rule(table, cfg)
    notes = []
    for _, row in table.iterrows():
        other = int(row["k"])
        if other == k:
            notes.append("chosen: " + ("set by the user" if cfg.k is not None else rule))
            continue
        facts = []
        if not row["eligible"]:
            facts.append(_why_rejected(row, cfg))
        if other < k:
            facts.append(f"splits the customers {_split(fits[other].labels, other)} and "
                         f"{_merge_text(_merged(fits[other].labels, labels, k), labels, k)}")
        else:
            gain = 1 - row["inertia"] / chosen_row["inertia"] if chosen_row["inertia"] else 0.0
            past = "past the elbow: " if rule == "the elbow of inertia" and row["eligible"] else ""
            facts.append(f"{past}{other - k} more segment{'s' if other - k > 1 else ''} "
                         f"{'cut' if other - k > 1 else 'cuts'} the spread within segments "
                         f"by {gain:.0%} against k={k}")
        notes.append("passed over: " + "; ".join(facts))
    return notes


def _choice_rule(table: pd.DataFrame, cfg: ClusterConfig) -> str:
    """The rule :func:`_choose` applied, in a few words."""
    eligible = table[table["eligible"]]
    elbow = _elbow(table)
    if eligible.empty:
        return "no k passes every check; the largest smallest segment"
    if elbow is None:
        return "no clear elbow of inertia; the best silhouette among the k that pass the checks"
    if bool(table.loc[table["k"] == elbow, "eligible"].iloc[0]):
        return "the elbow of inertia"
    return f"the nearest k that passes the checks to the elbow of inertia (k={elbow})"


def _why_not_smaller(table: pd.DataFrame, fits: dict[int, _Fit], labels: np.ndarray) -> str:
    """One sentence (with a leading space) on why the k below the chosen one were passed
    over, from the fits: which scores favour them, the shares the smallest k splits the
    customers into, and which of the chosen segments each smaller k merges. Empty when the
    chosen k is the smallest candidate."""
    k = int(table.loc[table["chosen"], "k"].iloc[0])
    smaller = [int(s) for s in table["k"] if s < k]
    if not smaller:
        return ""
    favour: dict[int, list[str]] = {}
    for col, name, higher in _SCORES:
        values = table.set_index("k")[col].dropna()
        if values.empty or k not in values:
            continue
        best = int(values.idxmax() if higher else values.idxmin())
        # A tie within rounding (every k at stability 1.00) favours nothing.
        gain = (values[best] - values[k]) * (1 if higher else -1)
        if best < k and gain > _TIE * abs(values[k]):
            favour.setdefault(best, []).append(name)
    opening = ""
    if favour:
        said = [f"{and_list(names)} {'favours' if len(names) == 1 else 'favour'} k={best}"
                for best, names in sorted(favour.items())]
        opening = f"{and_list(said)}, but smaller k"
    else:
        opening = "Smaller k"
    first = smaller[0]
    ratio = _row(table, first)["inertia"] / _row(table, k)["inertia"]
    spread = (f"{ratio:.1f} times the spread" if ratio >= 2 else
              f"{ratio - 1:.0%} more spread")
    parts = [f"k={first} splits them {_split(fits[first].labels, first)} with {spread} "
             "within segments"]
    # The smallest k is described by its split; the others by what they merge.
    parts += [f"k={s} {_merge_text(_merged(fits[s].labels, labels, k), labels, k, short=i > 0)}"
              for i, s in enumerate(smaller[1:])]
    text = f"{opening} lump together customers that k={k} tells apart: {'; '.join(parts)}."
    return " " + text[0].upper() + text[1:]


# --------------------------------------------------------------------------- outputs


def _centers(labels: np.ndarray, k: int, rfm: pd.DataFrame, transform: str) -> pd.DataFrame:
    """Cluster centres mapped back to original units (mean in transformed space, then expm1)."""
    raw = transform_features(rfm, transform)
    means = np.vstack([raw[labels == c].mean(axis=0) for c in range(k)])
    original = np.expm1(means) if transform == "log1p" else means
    frame = pd.DataFrame(original, columns=list(FEATURES))
    frame.insert(0, "cluster", np.arange(k))
    return frame


def _pca(scaled: np.ndarray, rfm: pd.DataFrame,
         seed: int) -> tuple[pd.DataFrame, tuple[float, float], pd.DataFrame]:
    """Two principal components of the scaled features, signs fixed for reproducibility."""
    model = PCA(n_components=2, random_state=seed).fit(scaled)
    components = model.components_.copy()
    # Make the largest loading of each component positive so plots never flip between runs.
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components *= signs[:, None]
    coords = (scaled - model.mean_) @ components.T
    pca = pd.DataFrame({"customer_id": rfm["customer_id"].to_numpy(),
                        "pc1": coords[:, 0], "pc2": coords[:, 1]})
    loadings = pd.DataFrame(components.T, index=list(FEATURES), columns=["pc1", "pc2"])
    ratio = model.explained_variance_ratio_
    return pca, (float(ratio[0]), float(ratio[1])), loadings

"""custseg's customer segments as a scikit-learn estimator: :class:`Segmenter`.

``Segmenter().fit(rfm)`` runs exactly what ``custseg run`` runs on an RFM table (the
transform, the scaling, the k search and choice, K-Means: :mod:`custseg.cluster`; the names
and actions: :mod:`custseg.segments`), and :func:`custseg.pipeline.model` fits one itself, so
there is one code path. ``predict`` assigns customers to the nearest fitted centre without
refitting; ``save``/``load`` keep a fitted Segmenter as plain JSON (:mod:`custseg.modelfile`).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from custseg.config import ClusterConfig
from custseg.errors import FeatureError, FeatureTypeError
from custseg.rfm import FEATURES

if TYPE_CHECKING:
    from collections.abc import Mapping

    from custseg.cluster import Clustering, KSearch

#: Rows per block when measuring distances to the centres: bounds the temporary arrays to
#: about 10 MB whatever the number of customers.
_BLOCK_ROWS = 100_000
#: Percentiles kept per feature (with the minimum and maximum) to say how far new data lies
#: outside what the model saw.
RANGE_PERCENTILES = (1.0, 99.0)


class Segmenter(ClusterMixin, BaseEstimator):
    """K-Means segments of customers from their recency, frequency and monetary value.

    The number of segments is chosen as ``custseg run`` chooses it (docs/modelling.md), each
    segment is named from its R/F/M levels and carries an opportunity and an action.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        The number of segments; ``"auto"`` chooses it among ``k_min..k_max``.
    feature_transform : {"log1p", "none"}, default="log1p"
        Applied to recency, frequency and monetary before scaling (ClusterConfig's
        ``transform``). Not called ``transform``: scikit-learn takes an estimator with a
        ``transform`` attribute for a transformer, and pipelines would call it.
    random_state : int, default=42
        Seeds every random step: the same seed gives the same k, labels and names.
    k_min, k_max : int, default=2, 10
        The range of k searched when ``n_clusters="auto"``.
    min_cluster_share : float, default=0.05
        A k whose smallest segment holds less than this share of customers is not chosen.
    min_stability : float, default=0.7
        A k whose K-Means runs agree less than this (adjusted Rand index) is not chosen.
    n_init : int, default=10
        K-Means runs per k.
    silhouette_sample, k_search_max, minibatch_above, search_sample : int
        Sample sizes bounding the cost of the k search on many customers, as in
        :class:`custseg.config.ClusterConfig`.

    Attributes
    ----------
    n_clusters_ : int
        The number of segments fitted.
    labels_ : ndarray of shape (n_samples,)
        The segment number of each training customer; 0 is the most valuable centre.
    cluster_centers_ : ndarray of shape (n_clusters_, 3)
        The centres in the scaled feature space (after the transform and standard scaling).
    scaler_mean_, scaler_scale_ : ndarray of shape (3,)
        The standard scaling of the transformed features.
    segment_names_ : list of str
        The segment name of each segment number.
    opportunities_, actions_ : list of str
        The opportunity and the suggested action of each segment number.
    segments_ : DataFrame
        The training customers' segment table (:func:`custseg.segments.name_segments`): name,
        size, revenue, R/F/M means and medians, opportunity and action; most valuable first.
    k_table_ : DataFrame
        One row per candidate k: the metrics, ``eligible``, ``chosen`` and ``note``.
    reason_ : str
        Why this k, in words.
    n_customers_ : int
        The number of training customers.
    feature_ranges_ : DataFrame
        Per feature (index recency, frequency, monetary): ``min``, ``p01``, ``p99``, ``max``
        of the training customers, to tell how far new customers lie outside them.
    clustering_ : custseg.cluster.Clustering or None
        The whole clustering result of :meth:`fit` (PCA, centres in original units); None
        after :meth:`load`.
    n_features_in_ : int
        Always 3.
    feature_names_in_ : ndarray of str
        ``recency``, ``frequency``, ``monetary`` when fitted on a DataFrame.

    Examples
    --------
    >>> seg = Segmenter(random_state=42).fit(rfm)           # doctest: +SKIP
    >>> seg.predict(new_rfm)                                 # doctest: +SKIP
    >>> [seg.segment_names_[c] for c in seg.predict(new_rfm)]  # doctest: +SKIP
    """

    def __init__(self, n_clusters: int | str = "auto", *, feature_transform: str = "log1p",
                 random_state: int = 42, k_min: int = 2, k_max: int = 10,
                 min_cluster_share: float = 0.05, min_stability: float = 0.7, n_init: int = 10,
                 silhouette_sample: int = 10_000, k_search_max: int = 20_000,
                 minibatch_above: int = 200_000, search_sample: int = 50_000) -> None:
        self.n_clusters = n_clusters
        self.feature_transform = feature_transform
        self.random_state = random_state
        self.k_min = k_min
        self.k_max = k_max
        self.min_cluster_share = min_cluster_share
        self.min_stability = min_stability
        self.n_init = n_init
        self.silhouette_sample = silhouette_sample
        self.k_search_max = k_search_max
        self.minibatch_above = minibatch_above
        self.search_sample = search_sample

    # ------------------------------------------------------------------ settings

    @classmethod
    def from_config(cls, cfg: ClusterConfig, seed: int) -> Segmenter:
        """The Segmenter of a run's clustering settings (``Config.cluster``, ``Config.seed``)."""
        params = {f.name: getattr(cfg, f.name) for f in fields(cfg)
                  if f.name in cls._get_param_names()}
        return cls(n_clusters="auto" if cfg.k is None else cfg.k, random_state=seed,
                   feature_transform=cfg.transform, **params)

    def cluster_config(self) -> ClusterConfig:
        """These settings as a :class:`custseg.config.ClusterConfig` (``lapse_after`` at its
        default: it concerns each customer's own action, not the segments)."""
        from custseg.errors import ConfigError

        k = self.n_clusters
        if isinstance(k, str):
            if k != "auto":
                raise ConfigError(f"n_clusters={k!r}: use an integer or 'auto'.")
            k = None
        elif not isinstance(k, int | np.integer) or isinstance(k, bool):
            raise ConfigError(f"n_clusters={k!r}: use an integer or 'auto'.")
        params = {name: getattr(self, name) for name in self._get_param_names()
                  if name not in ("n_clusters", "random_state", "feature_transform")}
        return ClusterConfig(k=None if k is None else int(k), transform=self.feature_transform,
                             **params)

    def _seed(self) -> int:
        from custseg.errors import ConfigError

        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise ConfigError(f"random_state={seed!r}: use an integer seed (custseg results "
                              "are reproducible only from a fixed seed).")
        return int(seed)

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any = None, *, search: KSearch | None = None) -> Segmenter:
        """Choose k, fit K-Means and name the segments.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_customers, 3)
            A table with columns ``recency``, ``frequency``, ``monetary`` (other columns are
            ignored; ``customer_id`` is kept for the PCA), or an array with those three
            columns in that order.
        y : None
            Ignored.
        search : custseg.cluster.KSearch, optional
            A :func:`custseg.cluster.search_k` result for the same table and settings, to
            reuse instead of recomputing (the dashboard caches it).

        Returns
        -------
        self : Segmenter
        """
        from custseg import cluster, segments

        table = self._table(X, reset=True)
        clustering = cluster.fit_clusters(table, self.cluster_config(), self._seed(),
                                          search=search)
        profile = segments.name_segments(table, clustering.labels)
        by_cluster = profile.set_index("cluster").sort_index()
        raw = cluster.transform_features(table, self.feature_transform)
        mean, scale = _standard_scaling(raw)
        self.clustering_: Clustering | None = clustering
        self.labels_ = clustering.labels
        self.n_clusters_ = clustering.k
        self.cluster_centers_ = np.asarray(clustering.scaled_centers, dtype=float)
        self.scaler_mean_, self.scaler_scale_ = mean, scale
        self.segment_names_ = by_cluster["segment"].astype(str).tolist()
        self.opportunities_ = by_cluster["opportunity"].astype(str).tolist()
        self.actions_ = by_cluster["action"].astype(str).tolist()
        self.segments_ = profile
        self.k_table_ = clustering.k_table
        self.reason_ = clustering.reason
        self.feature_ranges_ = feature_ranges(table)
        self.n_customers_ = len(table)
        return self

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Fit and return the training labels (:attr:`labels_`)."""
        return self.fit(X, **kwargs).labels_

    # ------------------------------------------------------------------ assigning

    def predict(self, X: Any) -> np.ndarray:
        """The segment number of each customer: the nearest fitted centre, no refitting.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_customers, 3)
            As for :meth:`fit`.

        Returns
        -------
        labels : ndarray of int of shape (n_customers,)
        """
        return self.assign(X)[0]

    def transform_distance(self, X: Any) -> np.ndarray:
        """Each customer's Euclidean distance to the centre of their segment, in the scaled
        feature space (standard deviations of the training customers)."""
        return self.assign(X)[1]

    def assign(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, distances and confidences in one pass.

        Returns
        -------
        labels : ndarray of int
            The nearest centre (the lower number on an exact tie).
        distance : ndarray of float
            Distance to that centre in the scaled space.
        confidence : ndarray of float
            ``1 − d1 / d2`` with d1, d2 the distances to the nearest and the second-nearest
            centre: 0 on the border between two segments, 1 on the centre itself.
        """
        check_is_fitted(self, "cluster_centers_")
        return nearest_centres(self.scaled(X), self.cluster_centers_)

    def scaled(self, X: Any) -> np.ndarray:
        """The customers' features after the transform and the fitted scaling."""
        from custseg.cluster import transform_features

        check_is_fitted(self, "cluster_centers_")
        raw = transform_features(self._table(X, reset=False), self.feature_transform)
        # The operations StandardScaler.transform performs, in its order: the same bits.
        return (raw - self.scaler_mean_) / self.scaler_scale_

    def segment_of(self, labels: np.ndarray) -> np.ndarray:
        """The segment name of each label."""
        check_is_fitted(self, "cluster_centers_")
        return np.asarray(self.segment_names_, dtype=object)[np.asarray(labels, dtype=int)]

    # ------------------------------------------------------------------ files

    def save(self, path: str | Path, *, context: Mapping[str, Any] | None = None) -> Path:
        """Write the fitted Segmenter as JSON (never pickle: loading it cannot run code).

        ``context`` adds what a run knows beyond the segments (cleaning and RFM settings,
        as-of date, the data's fingerprint): :func:`custseg.modelfile.run_context`.
        """
        from custseg import modelfile

        check_is_fitted(self, "cluster_centers_")
        return modelfile.write(path, self, context)

    @classmethod
    def load(cls, path: str | Path) -> Segmenter:
        """Read a Segmenter written by :meth:`save`; it predicts as the saved one did.

        Raises
        ------
        custseg.errors.ModelFileError
            When the file is not a custseg model of a known version, or any field does not
            have the expected type and shape.
        """
        from custseg import modelfile

        return modelfile.read(path).segmenter

    # ------------------------------------------------------------------ input

    def _table(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """``X`` checked and as a table with FEATURES (and ``customer_id``)."""
        if hasattr(X, "to_pandas") and not isinstance(X, pd.DataFrame):  # polars, Arrow
            X = X.to_pandas()
        original = None
        if isinstance(X, pd.DataFrame) and all(c in X.columns for c in FEATURES):
            original, X = X, X[list(FEATURES)]
        try:
            values = validate_data(self, X, reset=reset, dtype=np.float64,
                                   ensure_min_samples=3 if reset else 1)
        except TypeError as exc:
            raise FeatureTypeError(f"The RFM data cannot be segmented: {exc}. Pass recency, "
                                   "frequency and monetary as numbers.") from exc
        except ValueError as exc:
            raise FeatureError(f"The RFM data cannot be segmented: {exc}. Pass recency, "
                               "frequency and monetary as finite numbers, one row per "
                               "customer.") from exc
        if values.shape[1] != len(FEATURES):
            raise FeatureError(f"The RFM data has {values.shape[1]} feature(s) "
                               f"(n_features={values.shape[1]}); a Segmenter needs 3: "
                               "recency, frequency and monetary, in that order.")
        if original is not None and "customer_id" in original.columns:
            # The caller's own table, dtypes and all: the segment table then reads exactly as
            # the pipeline's always has.
            return original
        table = pd.DataFrame(values, columns=list(FEATURES))
        table.insert(0, "customer_id", np.arange(len(table)).astype(str))
        return table

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # Customers are rows of recency, frequency and monetary: nothing sparse.
        tags.input_tags.sparse = False
        return tags


def _standard_scaling(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """StandardScaler's mean and scale of ``raw``: the scaling :func:`custseg.cluster.search_k`
    fits on the same features."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(raw)
    return np.asarray(scaler.mean_, dtype=float), np.asarray(scaler.scale_, dtype=float)


def nearest_centres(scaled: np.ndarray,
                    centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest centre, its distance, and the confidence ``1 − d1/d2`` of each row.

    Squared distances are summed feature by feature, block by block, so a million customers
    need no (n, k, 3) temporary.
    """
    n = len(scaled)
    labels = np.empty(n, dtype=np.int64)
    distance = np.empty(n)
    confidence = np.empty(n)
    for start in range(0, n, _BLOCK_ROWS):
        block = scaled[start:start + _BLOCK_ROWS]
        squared = np.zeros((len(block), len(centres)))
        for j in range(centres.shape[1]):
            squared += (block[:, j, None] - centres[None, :, j]) ** 2
        order = np.argsort(squared, axis=1, kind="stable")[:, :2]
        rows = np.arange(len(block))
        d1 = np.sqrt(squared[rows, order[:, 0]])
        d2 = np.sqrt(squared[rows, order[:, -1]]) if len(centres) > 1 else d1
        end = start + len(block)
        labels[start:end] = order[:, 0]
        distance[start:end] = d1
        with np.errstate(divide="ignore", invalid="ignore"):
            confidence[start:end] = np.where(d2 > 0, 1 - d1 / d2, 0.0)
    return labels, distance, confidence


def feature_ranges(table: pd.DataFrame) -> pd.DataFrame:
    """Per feature, the minimum, the 1st and 99th percentiles and the maximum."""
    values = table[list(FEATURES)].to_numpy(dtype=float)
    lo, hi = np.percentile(values, RANGE_PERCENTILES, axis=0)
    return pd.DataFrame({"min": values.min(axis=0), "p01": lo, "p99": hi,
                         "max": values.max(axis=0)}, index=list(FEATURES))

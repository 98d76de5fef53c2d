"""One segmentation applied to several RFM tables: fitted on one, assigning the customers of
any other to its segments.

Snapshots are compared through :func:`fit` and :func:`assign` only, so the model behind them
is chosen in one place. Until the Segmenter (save/load) lands, the model is the run's own
K-Means fit (custseg.cluster) and names (custseg.segments), with each customer of another
table assigned to the nearest centre in the fitted transform and scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from custseg import cluster, segments
from custseg.config import Config
from custseg.errors import NoSegmentsError


@dataclass
class SegmentModel:
    """A fitted segmentation: transform, scale, centres and the names of the segments."""

    transform: str
    #: The scaler's mean and scale of the transformed features (FEATURES order).
    mean: np.ndarray
    scale: np.ndarray
    #: Cluster centres in the scaled space, one row per cluster label.
    centers: np.ndarray
    #: The segment table of the fitted customers (custseg.segments.name_segments), most
    #: valuable first.
    segments: pd.DataFrame

    @property
    def segment_names_(self) -> np.ndarray:
        """Segment name per cluster label."""
        names = pd.Series(self.segments["segment"].to_numpy(),
                          index=self.segments["cluster"].to_numpy())
        return names.reindex(range(len(self.centers))).to_numpy(dtype=object)

    def predict(self, rfm: pd.DataFrame) -> np.ndarray:
        """The nearest centre of each customer of ``rfm``."""
        scaled = (cluster.transform_features(rfm, self.transform) - self.mean) / self.scale
        distances = ((scaled[:, None, :] - self.centers[None, :, :]) ** 2).sum(axis=2)
        return distances.argmin(axis=1)


def fit(rfm: pd.DataFrame, config: Config | None = None) -> SegmentModel:
    """Choose k, fit and name the segments of ``rfm`` as ``custseg run`` does."""
    from custseg.pipeline import _expected_warnings, why_no_segments

    config = config or Config()
    note = why_no_segments(rfm, config)
    if note is not None:
        raise NoSegmentsError(note)
    with _expected_warnings():
        fitted = cluster.fit_clusters(rfm, config.cluster, config.seed)
    raw = cluster.transform_features(rfm, config.cluster.transform)
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # as StandardScaler treats a constant feature
    scaled = (raw - mean) / scale
    centers = np.vstack([scaled[fitted.labels == c].mean(axis=0) for c in range(fitted.k)])
    table = segments.name_segments(rfm, fitted.labels)
    return SegmentModel(config.cluster.transform, mean, scale, centers, table)


def assign(model: SegmentModel, rfm: pd.DataFrame) -> np.ndarray:
    """The segment name of each customer of ``rfm`` (RFM row order) under ``model``."""
    if rfm.empty:
        return np.array([], dtype=object)
    return model.segment_names_[model.predict(rfm)]


def segment_order(model: SegmentModel) -> list[str]:
    """The model's segment names, most valuable first."""
    return [str(s) for s in model.segments["segment"]]

"""One segmentation applied to several RFM tables: fitted on one, assigning the customers of
any other to its segments.

Snapshots are compared through :func:`fit` and :func:`assign` only, so the model behind them
is chosen in one place: a :class:`custseg.segmenter.Segmenter` fitted as ``custseg run`` fits
one, or loaded from a saved model file (``--model``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from custseg.config import Config
from custseg.errors import NoSegmentsError
from custseg.segmenter import Segmenter


def fit(rfm: pd.DataFrame, config: Config | None = None) -> Segmenter:
    """Choose k, fit and name the segments of ``rfm`` as ``custseg run`` does."""
    from custseg.pipeline import _expected_warnings, why_no_segments

    config = config or Config()
    note = why_no_segments(rfm, config)
    if note is not None:
        raise NoSegmentsError(note)
    with _expected_warnings():
        return Segmenter.from_config(config.cluster, config.seed).fit(rfm)


def load(path: str | Path) -> Segmenter:
    """A model saved by ``custseg run --save-model`` or the dashboard's Downloads page."""
    return Segmenter.load(path)


def assign(model: Segmenter, rfm: pd.DataFrame) -> np.ndarray:
    """The segment name of each customer of ``rfm`` (RFM row order) under ``model``."""
    if rfm.empty:
        return np.array([], dtype=object)
    return model.segment_of(model.predict(rfm))


def segment_order(model: Segmenter) -> list[str]:
    """The model's segment names, most valuable first."""
    return [str(s) for s in model.segments_["segment"]]

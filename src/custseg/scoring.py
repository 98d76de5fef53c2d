"""Assigning the customers of new data to a saved segmentation, without refitting.

:func:`score` reads a file (or frame) with the model's cleaning rules, builds its RFM table
at the data's own snapshot (or ``as_of``), and gives each customer the nearest saved centre,
its distance and a confidence (:meth:`custseg.Segmenter.assign`), their segment's name and
their own action (:mod:`custseg.actions`, as in a run). It also measures how far the new
customers lie outside those the model was fitted on, feature by feature: a model applies to
customers like the ones it saw, and says so when they are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg.config import ClusterConfig, Config, RFMConfig
from custseg.rfm import FEATURES

if TYPE_CHECKING:
    from custseg.modelfile import SavedModel
    from custseg.pipeline import Dataset, Result, Transactions
    from custseg.segmenter import Segmenter

#: A feature on which more than this share of the new customers lies outside the training
#: customers' [min, max] gets a warning: the model never saw such values.
OUTSIDE_RANGE_WARN = 0.01
#: A feature on which more than this share lies outside the training customers' 1st–99th
#: percentiles (2% by construction for customers like them) gets a warning: the new customers
#: are distributed differently.
OUTSIDE_P01_P99_WARN = 0.10
#: Columns :func:`assign_customers` adds to the RFM table, in order.
SCORE_COLUMNS = ("cluster", "segment", "distance", "confidence", "outside_training")


@dataclass
class Scored:
    """New customers assigned to a saved segmentation."""

    model: SavedModel
    config: Config
    dataset: Dataset
    #: The RFM table with :data:`SCORE_COLUMNS` and each customer's own action
    #: (``usual_gap``, ``lapsed``, ``action``, ``action_reason``).
    customers: pd.DataFrame
    #: Per segment (the model's order): sizes and R/F/M of the new customers, the share the
    #: segment had in training, mean distance and confidence, opportunity, action, lapsed.
    segments: pd.DataFrame
    #: Per feature: how many new customers lie outside the training range (:func:`ranges`).
    outside: pd.DataFrame
    #: Sentences for the user: out-of-range warnings, the same-data note.
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Unusual lines and invoices, and the product mix of the assigned segments: the outputs
    #: of a run that need no fitted model (:func:`custseg.pipeline.transaction_anomalies`,
    #: :func:`custseg.pipeline.product_mix`).
    flagged: pd.DataFrame | None = None
    mix: tuple[pd.DataFrame, pd.DataFrame] | None = None

    def as_result(self) -> Result:
        """The parts of a run's :class:`custseg.pipeline.Result` that scoring has, so that
        :mod:`custseg.outputs` writes them as a run would."""
        from custseg.pipeline import Result

        products, priorities = self.mix if self.mix is not None else (None, None)
        return Result(config=self.config, source=self.dataset.source,
                      cleaning=self.dataset.cleaning, snapshot=self.dataset.snapshot,
                      rfm=self.customers, segments=self.segments, dataset=self.dataset,
                      flagged_transactions=self.flagged, segment_products=products,
                      stock_priorities=priorities, segmenter=self.model.segmenter)


def score_config(model: SavedModel, base: Config | None = None,
                 as_of: date | None = None) -> Config:
    """The run settings that read new data as the model's run read its own: its cleaning
    rules (with the preset's codes already in them), currency and lapse rule; the snapshot
    is the new data's own unless ``as_of``. Engine settings come from ``base``."""
    base = base or Config()
    if model.data is None:
        return base.replace(rfm=RFMConfig(as_of=as_of))
    data = model.data
    cluster = ClusterConfig(lapse_after=data.lapse_after)
    return base.replace(cleaning=data.cleaning, rfm=RFMConfig(as_of=as_of), cluster=cluster,
                        currency=data.currency if base.currency is None else base.currency,
                        preset="none")


def score(source: Transactions, model: SavedModel | str | Path, config: Config | None = None,
          *, as_of: date | None = None, sheet: str | None = None,
          mapping: Mapping[str, str] | None = None) -> Scored:
    """Read and clean ``source`` as the model's run did and assign its customers.

    Parameters
    ----------
    source : path or frame
        New transactions, in any format :func:`custseg.load` reads.
    model : SavedModel or path
        A model file (``custseg run --save-model``) or one read with
        :func:`custseg.modelfile.read`.
    config : Config, optional
        Engine settings (memory limit, threads, temporary folder, reading); the cleaning
        rules, currency and lapse rule are the model's.
    as_of : date, optional
        Snapshot for recency; by default the new data's own (last invoice + 1 day).

    Raises
    ------
    custseg.errors.ModelFileError
        When the model file cannot be read.
    custseg.errors.CustsegError
        As :func:`custseg.load` for the data.
    """
    from custseg import modelfile, pipeline
    from custseg.errors import EmptyResultError

    saved = model if isinstance(model, modelfile.SavedModel) else modelfile.read(model)
    config = score_config(saved, config, as_of)
    dataset = pipeline.load(source, config, sheet=sheet, mapping=mapping)
    table = pipeline.compute_rfm(dataset)
    if table.empty:
        raise EmptyResultError(f"No customers are left in {dataset.source.where} after "
                               "cleaning with the model's rules: nothing to score.")
    customers = assign_customers(table, saved.segmenter, config.cluster.lapse_after)
    outside = ranges(customers, saved.segmenter)
    profile = segment_table(customers, saved.segmenter)
    scored = Scored(model=saved, config=dataset.config, dataset=dataset, customers=customers,
                    segments=profile, outside=outside, warnings=range_warnings(outside),
                    flagged=pipeline.transaction_anomalies(dataset, dataset.config),
                    mix=pipeline.product_mix(dataset, customers, profile, dataset.config))
    if saved.data is not None:
        if modelfile.rfm_fingerprint(table) == saved.data.fingerprint["rfm_sha256"]:
            scored.notes.append("These are the customers the model was fitted on (the same "
                                "R/F/M values): each keeps the segment it had.")
    else:
        scored.notes.append("The model file holds no cleaning rules (saved by Segmenter.save, "
                            "not `custseg run --save-model`): the default rules were used.")
    return scored


def assign_customers(table: pd.DataFrame, segmenter: Segmenter,
                     lapse_after: tuple[float, float]) -> pd.DataFrame:
    """The RFM table with :data:`SCORE_COLUMNS` and each customer's own action."""
    from custseg import actions

    labels, distance, confidence = segmenter.assign(table)
    # Categorical: a million customers share a handful of names (a second less than making a
    # million strings, in the actions too); the files hold the same text.
    segment = pd.Categorical.from_codes(labels, segmenter.segment_names_)
    customers = table.assign(cluster=labels, segment=segment,
                             distance=distance, confidence=confidence,
                             outside_training=outside_features(table, segmenter))
    return customers.join(actions.customer_actions(customers, lapse_after))


def outside_features(table: pd.DataFrame, segmenter: Segmenter) -> pd.Series:
    """Per customer, the features outside the training range, as text ('' for none):
    "monetary above" or "recency below, frequency above"."""
    bounds = segmenter.feature_ranges_
    codes = np.zeros(len(table), dtype=np.int64)
    words: list[str] = []
    for i, feature in enumerate(FEATURES):
        values = table[feature].to_numpy(dtype=float)
        codes += (values < bounds.loc[feature, "min"]) * (1 << (2 * i))
        codes += (values > bounds.loc[feature, "max"]) * (2 << (2 * i))
        words += [f"{feature} below", f"{feature} above"]
    # A handful of combinations: each text is built once, then taken by number.
    texts = {code: ", ".join(w for bit, w in enumerate(words) if code >> bit & 1)
             for code in np.unique(codes)}
    return pd.Series(pd.Categorical.from_codes(
        np.searchsorted(sorted(texts), codes), [texts[c] for c in sorted(texts)]),
        index=table.index)


def ranges(customers: pd.DataFrame, segmenter: Segmenter) -> pd.DataFrame:
    """Per feature: the training ``min``, ``p01``, ``p99``, ``max``; the new customers'
    ``new_min`` and ``new_max``; the shares of new customers ``below_min``, ``above_max``,
    ``outside_range`` (their sum) and ``outside_p01_p99``."""
    bounds = segmenter.feature_ranges_
    rows = []
    for feature in FEATURES:
        values = customers[feature].to_numpy(dtype=float)
        lo, p01, p99, hi = (float(bounds.loc[feature, c]) for c in ("min", "p01", "p99", "max"))
        below, above = float(np.mean(values < lo)), float(np.mean(values > hi))
        rows.append({"feature": feature, "min": lo, "p01": p01, "p99": p99, "max": hi,
                     "new_min": float(values.min()), "new_max": float(values.max()),
                     "below_min": below, "above_max": above, "outside_range": below + above,
                     "outside_p01_p99": float(np.mean((values < p01) | (values > p99)))})
    return pd.DataFrame(rows)


def range_warnings(outside: pd.DataFrame) -> list[str]:
    """One sentence per feature whose new customers lie outside what the model saw."""
    out = []
    for row in outside.itertuples(index=False):
        if row.outside_range > OUTSIDE_RANGE_WARN:
            out.append(f"{row.outside_range:.1%} of the customers have a {row.feature} outside "
                       f"the range the model was fitted on ({row.min:,.2f} to {row.max:,.2f}; "
                       f"{row.below_min:.1%} below, {row.above_max:.1%} above): their "
                       "segments are extrapolated. Refit with `custseg run` if this persists.")
        elif row.outside_p01_p99 > OUTSIDE_P01_P99_WARN:
            out.append(f"{row.outside_p01_p99:.1%} of the customers have a {row.feature} "
                       f"outside the training customers' 1st–99th percentiles "
                       f"({row.p01:,.2f} to {row.p99:,.2f}; 2% would be usual): these "
                       "customers differ from those the model was fitted on.")
    return out


def segment_table(customers: pd.DataFrame, segmenter: Segmenter) -> pd.DataFrame:
    """Per saved segment, in the model's order (most valuable first): the new customers'
    figures (:func:`custseg.segments.segment_figures`), the training share, mean distance and
    confidence, lapsed members, opportunity and action."""
    from custseg import actions, segments

    order = segmenter.segments_["cluster"].to_numpy(dtype=int)
    labels = customers["cluster"].to_numpy()
    figures = segments.segment_figures(customers, labels, order)
    means = customers[["distance", "confidence"]].groupby(labels).mean().reindex(order)
    table = pd.DataFrame({"cluster": order,
                          "segment": [segmenter.segment_names_[c] for c in order]})
    table = pd.concat([table, figures], axis=1)
    table.insert(table.columns.get_loc("customer_share") + 1, "training_share",
                 segmenter.segments_["customer_share"].to_numpy(dtype=float))
    table["mean_distance"] = means["distance"].to_numpy()
    table["mean_confidence"] = means["confidence"].to_numpy()
    table["lapsed"] = actions.lapsed_per_segment(table, customers).to_numpy()
    table["opportunity"] = [segmenter.opportunities_[c] for c in order]
    table["action"] = [segmenter.actions_[c] for c in order]
    return table


def summary(scored: Scored) -> dict[str, Any]:
    """``score_summary.json``: the model, the data, the segments and the warnings."""
    model, report = scored.model, scored.dataset.cleaning
    segmenter = model.segmenter
    return {
        "model": {"created": model.created, "custseg_version": model.custseg_version,
                  "segments": segmenter.n_clusters_, "names": list(segmenter.segment_names_),
                  "training_customers": int(segmenter.n_customers_),
                  "fingerprint": None if model.data is None else model.data.fingerprint},
        "data": {"source": scored.dataset.source.where, "rows_in": report.rows_in,
                 "rows_kept": report.rows_kept, "customers": len(scored.customers),
                 "snapshot": scored.dataset.snapshot.isoformat()},
        "segments": scored.segments[["segment", "customers", "customer_share",
                                     "training_share", "mean_confidence"]]
        .to_dict(orient="records"),
        "outside_training": scored.outside.to_dict(orient="records"),
        "warnings": scored.warnings,
        "notes": scored.notes,
    }

"""The machine-readable summary of a run (``summary.json``): the numbers the executive summary
quotes, and the notes on how the data was read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from custseg.clean import scope_sentence

if TYPE_CHECKING:
    from custseg.pipeline import Dataset, Result


def build_summary(result: Result, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The dict written to ``summary.json``; every number summary.md quotes comes from it.

    ``notes`` follow what the reader noticed (:func:`reading_notes`) under ``"notes"``.
    """
    table = result.rfm
    first, last, invoices = result.dataset.con.execute(
        "SELECT min(invoice_date), max(invoice_date), count(DISTINCT invoice) FROM clean"
    ).fetchall()[0] if result.dataset else (None, None, None)
    summary: dict[str, Any] = {
        # Which countries the numbers cover: the executive summary's first line.
        "scope": scope_sentence(result.cleaning, result.config.currency or ""),
        "source": result.source.to_dict(),
        "rows_in": result.cleaning.rows_in,
        "rows_kept": result.cleaning.rows_kept,
        "rows_dropped": result.cleaning.rows_in - result.cleaning.rows_kept,
        "customers": len(table),
        "invoices": int(invoices or 0),
        "revenue": round(float(table["monetary"].sum()), 2),
        "currency": result.config.currency or "",
        "period": {"first": _iso(first), "last": _iso(last)},
        "snapshot": _iso(result.snapshot),
        "rfm_segments": {str(k): int(v) for k, v in
                         table["rfm_segment"].value_counts().sort_index().items()},
    }
    summary |= _model_summary(result)
    if result.stock_priorities is not None:
        from custseg import products

        summary["stock_priorities"] = products.summary_records(result.stock_priorities, n=5)
        summary["stock_priority_segments"] = list(
            result.stock_priorities.attrs.get("segments", []))
    if result.flagged_transactions is not None:
        from custseg.anomalies import KIND_LABELS

        flagged = result.flagged_transactions
        by_kind = {str(k): int(v) for k, v in flagged["kind"].value_counts().items()}
        summary["transaction_anomalies"] = {
            "flagged": len(flagged),
            "by_kind": by_kind,
            # Plain words for each kind found, for the executive summary.
            "labels": {k: KIND_LABELS.get(k, k.replace("_", " ")) for k in by_kind},
        }
    if getattr(result, "clv", None) is not None:
        from custseg import forecast

        summary["clv"] = forecast.summary(result.clv, result.rfm)
    summary["timings"] = result.timings
    summary["notes"] = (reading_notes(result.dataset) if result.dataset else []) + list(notes)
    return summary


def _model_summary(result: Result) -> dict[str, Any]:
    """k, segments, explanation and customer anomalies (nothing when they did not run)."""
    clustering, explanation = result.clustering, result.explanation
    scored, profile = result.customer_anomalies, result.segments
    if clustering is None or explanation is None or scored is None or profile is None:
        return {}
    from custseg.actions import HIGH_VALUE_SEGMENTS
    from custseg.segments import base_name

    keep = ["segment", "cluster", "customers", "lapsed", "customer_share", "revenue",
            "revenue_share", "recency_median", "frequency_median", "monetary_median",
            "opportunity", "action"]
    segments = [{k: _plain(v) for k, v in row.items()}
                for row in profile[[c for c in keep if c in profile]].to_dict("records")]
    high_value = [s for s in segments if base_name(str(s["segment"])) in HIGH_VALUE_SEGMENTS]
    importances = explanation.importances
    flagged = scored.scores[scored.scores["is_anomaly"]]
    reasons = flagged.sort_values("anomaly_score", ascending=False)["anomaly_reason"]
    return {
        "k": int(clustering.k),
        "k_reason": clustering.reason,
        "transform": clustering.transform,
        "segments": segments,
        # Members of high-value segments whose own recency says they have lapsed
        # (custseg.actions): they get the win-back action instead of their segment's.
        "lapsed": {"customers": sum(int(s.get("lapsed", 0)) for s in high_value),
                   "segments": [s["segment"] for s in high_value]},
        "accuracy": round(float(explanation.accuracy), 4),
        "macro_f1": round(float(explanation.macro_f1), 4),
        "rules_fidelity": round(float(explanation.fidelity), 4),
        "importances": [{k: _plain(v) for k, v in row.items()}
                        for row in importances.to_dict("records")],
        # In the importance table's order (ExplainConfig.rank_by): the narrative's order too.
        "drivers": importances["feature"].tolist(),
        "customer_anomalies": {
            "flagged": int(scored.n_flagged),
            "detector": scored.detector,
            "second_detector": scored.second_detector,
            "agreement": round(float(scored.agreement), 4),
            "top_reasons": reasons.head(5).tolist(),
        },
    }


def reading_notes(dataset: Dataset) -> list[str]:
    """What the reader decided and the user should know (a preset, an encoding, a decimal
    comma, a wrong extension, lines dated in the future), as sentences."""
    notes = [f"Reading: {note}." for note in dataset.source.notes
             if not note.startswith("no ")]
    future = dataset.cleaning.dropped.get("future_date", 0)
    if future:
        latest = dataset.con.execute("SELECT max(invoice_date) FROM lines "
                                     "WHERE drop_rule = 'future_date'").fetchall()[0][0]
        lines = "1 line dated after today was" if future == 1 else \
            f"{future:,} lines dated after today were"
        notes.append(f"{lines} dropped (the latest {latest:%Y-%m-%d}): a wrong year or clock "
                     f"would otherwise move the snapshot and every recency.")
    return notes


def _plain(value: Any) -> Any:
    """NumPy scalars to Python numbers, rounded for JSON."""
    if hasattr(value, "item"):
        value = value.item()
    return round(value, 4) if isinstance(value, float) else value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None

"""Writing a :class:`~custseg.pipeline.Result` to a folder of files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from custseg.pipeline import Result

#: Leading columns of customers.csv, in order; any other RFM column follows.
CUSTOMER_COLUMNS = (
    "customer_id", "recency", "frequency", "monetary", "r_score", "f_score", "m_score",
    "rfm_segment", "cluster", "segment", "anomaly_score", "is_anomaly", "anomaly_reason",
)


def customers_frame(result: Result) -> pd.DataFrame:
    """The per-customer table as written to customers.csv."""
    table = result.rfm
    first = [c for c in CUSTOMER_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def _json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def flagged_in_original_columns(result: Result) -> pd.DataFrame:
    """Flagged transactions with the input's own columns, then kind, reason and score.

    Invoice-level findings (no single line) keep the invoice, customer, date and total.
    """
    flagged = result.flagged_transactions
    info, dataset = result.source, result.dataset
    if flagged is None or dataset is None:
        return pd.DataFrame()
    con = dataset.con
    keys = flagged[["row_id"]].assign(_order=range(len(flagged)))
    con.register("flagged_keys", keys)
    try:
        originals = con.execute(
            "SELECT k._order, s.* EXCLUDE (__row_id) FROM flagged_keys k "
            "LEFT JOIN source s ON s.__row_id = k.row_id ORDER BY k._order").df()
    finally:
        con.unregister("flagged_keys")
    originals = originals.drop(columns="_order").reset_index(drop=True)
    for key, column in info.mapping.items():
        if key in flagged.columns and column in originals.columns:
            missing = originals[column].isna().to_numpy()
            if missing.any():
                originals[column] = originals[column].astype(object)
                originals.loc[missing, column] = flagged[key].to_numpy()[missing]
    extra = flagged[["kind", "reason", "score"]].reset_index(drop=True)
    return pd.concat([originals, extra], axis=1)


def write_outputs(result: Result, out_dir: str | Path) -> list[Path]:
    """Write every output file of ``result`` into ``out_dir`` (created if needed).

    Returns
    -------
    The paths written, in order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [_json(out / "cleaning_report.json", result.cleaning.to_dict())]
    customers = customers_frame(result)
    customers.to_csv(out / "customers.csv", index=False)
    customers.to_parquet(out / "customers.parquet", index=False)
    written += [out / "customers.csv", out / "customers.parquet"]
    if result.segments is not None:
        result.segments.to_csv(out / "segments.csv", index=False)
        table = result.clustering.k_table
        table.to_csv(out / "k_selection.csv", index=False)
        result.explanation.importances.to_csv(out / "importances.csv", index=False)
        (out / "rules.md").write_text(result.explanation.rules_markdown, encoding="utf-8")
        written += [out / n for n in ("segments.csv", "k_selection.csv", "importances.csv",
                                      "rules.md")]
    if result.flagged_transactions is not None:
        flagged_in_original_columns(result).to_csv(out / "flagged_transactions.csv",
                                                   index=False)
        written.append(out / "flagged_transactions.csv")
    if result.segment_products is not None:
        result.segment_products.to_csv(out / "segment_products.csv", index=False)
        result.stock_priorities.to_csv(out / "stock_priorities.csv", index=False)
        written += [out / "segment_products.csv", out / "stock_priorities.csv"]
    written.append(_json(out / "summary.json", result.summary))
    if result.summary_markdown:
        (out / "summary.md").write_text(result.summary_markdown, encoding="utf-8")
        written.append(out / "summary.md")
    if result.segments is not None:
        from custseg import report

        report.write_html(result, out / "report.html")
        written.append(out / "report.html")
    return written

"""Writing a :class:`~custseg.pipeline.Result` to a folder of files.

Every CSV goes through :func:`custseg.safe_cells.to_csv`, so no cell runs as a formula when
the file is opened in a spreadsheet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg.safe_cells import to_csv

if TYPE_CHECKING:
    from custseg.io import SourceInfo
    from custseg.pipeline import Result

#: Leading columns of customers.csv, in order; any other RFM column follows.
CUSTOMER_COLUMNS = (
    "customer_id", "recency", "frequency", "monetary", "r_score", "f_score", "m_score",
    "rfm_segment", "cluster", "segment", "lapsed", "action", "action_reason", "anomaly_score",
    "is_anomaly", "anomaly_reason",
)


def customers_frame(result: Result) -> pd.DataFrame:
    """The per-customer table as written to customers.csv."""
    table = result.rfm
    first = [c for c in CUSTOMER_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def flagged_in_original_columns(result: Result) -> pd.DataFrame:
    """Flagged transactions with the input's own columns, then kind, reason and score: the
    table a run keeps (:attr:`Result.flagged_lines`), else read from the result's dataset."""
    if result.flagged_lines is not None:
        return result.flagged_lines
    if result.flagged_transactions is None or result.dataset is None:
        return pd.DataFrame()
    return original_columns(result.flagged_transactions, result.source, result.dataset.con)


def original_columns(flagged: pd.DataFrame, info: SourceInfo, con: Any) -> pd.DataFrame:
    """``flagged`` (lines and invoices, by ``row_id``) with the input's own columns from the
    table ``source`` on ``con``, then kind, reason and score.

    Invoice-level findings (no single line) keep the invoice, customer, date and total.
    """
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
    for i in range(originals.shape[1]):
        originals.isetitem(i, whole_numbers_as_integers(originals.iloc[:, i]))
    customer = info.mapping.get("customer_id")
    if customer in originals.columns and "customer_id" in flagged.columns:
        # The id as customers.csv writes it ("15098", not the workbook's number 15098.0 or a
        # text " 15098.0"), so that the two files join.
        ids = flagged["customer_id"].reset_index(drop=True)
        known = ids.notna().to_numpy()
        column = originals[customer].astype(object)
        column[known] = ids[known].astype(str).to_numpy()
        originals[customer] = column
    extra = flagged[["kind", "reason", "score"]].reset_index(drop=True)
    return pd.concat([originals, extra], axis=1)


#: Floats up to this size are exact integers when whole.
_EXACT = 2.0**53


def whole_numbers_as_integers(values: pd.Series) -> pd.Series:
    """A float column's whole numbers as integers, as the input showed them.

    A workbook stores every number as a float, so a quantity typed as 60 is read as 60.0 and
    would be written "60.0". All whole: a nullable integer column; some whole: an object
    column of ints and floats ("60", "2.5"); anything else is returned as it is.
    """
    if not pd.api.types.is_float_dtype(values):
        return values
    present = values.notna().to_numpy()
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    whole = present & (np.abs(numbers) < _EXACT) & (np.floor(numbers) == numbers)
    if not whole.any():
        return values
    if (whole == present).all():
        return values.astype("Int64")
    mixed = values.astype(object)
    mixed[whole] = [int(v) for v in numbers[whole]]
    return mixed


def cleaning_report(result: Result) -> dict[str, Any]:
    """The row account with how the input was read: what a reader of the numbers needs to
    trust them (a decimal comma, a date format, an encoding, a preset, a set-aside total)."""
    source = result.source
    reading = {key: value for key, value in source.to_dict().items()
               if key in ("format", "encoding", "delimiter", "decimal", "date_format", "preset",
                          "total_column", "notes")}
    return {**result.cleaning.to_dict(), "reading": reading}


def write_customer_files(result: Result, out: Path) -> list[Path]:
    """The row account and the customer table (CSV and Parquet): the files every run and
    every scoring writes first."""
    written = [write_json(out / "cleaning_report.json", cleaning_report(result))]
    customers = customers_frame(result)
    to_csv(customers, out / "customers.csv")
    # Parquet is read by programs, not spreadsheets: it keeps the raw values (an id "@17841"
    # stays "@17841", where the CSV has "'@17841").
    customers.to_parquet(out / "customers.parquet", index=False)
    return [*written, out / "customers.csv", out / "customers.parquet"]


def write_transaction_files(result: Result, out: Path) -> list[Path]:
    """The flagged transactions (in the file's own columns) and the product mix, when the
    result has them."""
    written = []
    if result.flagged_transactions is not None:
        to_csv(flagged_in_original_columns(result), out / "flagged_transactions.csv")
        written.append(out / "flagged_transactions.csv")
    if result.segment_products is not None:
        to_csv(result.segment_products, out / "segment_products.csv")
        to_csv(result.stock_priorities, out / "stock_priorities.csv")
        written += [out / "segment_products.csv", out / "stock_priorities.csv"]
    return written


def write_outputs(result: Result, out_dir: str | Path) -> list[Path]:
    """Write every output file of ``result`` into ``out_dir`` (created if needed).

    Returns
    -------
    The paths written, in order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = write_customer_files(result, out)
    if result.segments is not None:
        to_csv(result.segments, out / "segments.csv")
        to_csv(result.clustering.k_table, out / "k_selection.csv")
        to_csv(result.explanation.importances, out / "importances.csv")
        (out / "rules.md").write_text(result.explanation.rules_markdown, encoding="utf-8")
        written += [out / n for n in ("segments.csv", "k_selection.csv", "importances.csv",
                                      "rules.md")]
    written += write_transaction_files(result, out)
    if getattr(result, "clv", None) is not None:
        from custseg import forecast

        written += forecast.write_files(result.clv, out)
    if result.cohorts is not None:
        to_csv(result.cohorts, out / "cohorts.csv")
        written.append(out / "cohorts.csv")
    written.append(write_json(out / "summary.json", result.summary))
    if result.summary_markdown:
        (out / "summary.md").write_text(result.summary_markdown, encoding="utf-8")
        written.append(out / "summary.md")
    from custseg import report

    # Without segments too: the row account, the RFM grid and the note still make a report.
    report.write_html(result, out / "report.html")
    written.append(out / "report.html")
    return written

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
    written.append(_json(out / "summary.json", result.summary))
    return written

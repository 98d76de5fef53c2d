"""Expectations computed with pandas alone — not custseg's readers, cleaning or RFM SQL — for
the tests of the front ends (command line, dashboard, browser)."""

from __future__ import annotations

import pandas as pd

from custseg.config import NON_PRODUCT_PREFIXES, CleaningConfig
from tests.logs import rfm_reference
from tests.test_clean import expected_drops


def kept_lines(frame: pd.DataFrame, cfg: CleaningConfig | None = None) -> pd.DataFrame:
    """The lines of an Online Retail-shaped frame that the rules of ``cfg`` keep (the
    online_retail preset's non-product codes and prefixes apply), in canonical names."""
    cfg = cfg or CleaningConfig()
    frame = frame.reset_index(drop=True)
    kept = expected_drops(frame, cfg).isna()
    if cfg.non_product:  # expected_drops knows the preset's codes, not its prefixes
        kept &= ~frame["StockCode"].astype(str).str.upper().str.startswith(NON_PRODUCT_PREFIXES)
    lines = frame[kept]
    return pd.DataFrame({
        "invoice": lines["InvoiceNo"].astype(str),
        "invoice_date": pd.to_datetime(lines["InvoiceDate"]),
        "amount": lines["Quantity"] * lines["UnitPrice"],
        "customer_id": lines["CustomerID"].astype("int64").astype(str),
    })


def rfm(frame: pd.DataFrame, cfg: CleaningConfig | None = None) -> pd.DataFrame:
    """customer_id, recency, frequency and monetary per customer, sorted by customer_id."""
    return rfm_reference(kept_lines(frame, cfg))

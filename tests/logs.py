"""Hand-built transaction logs with every edge case the cleaning rules care about."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country"]


def edge_log() -> pd.DataFrame:
    """~30 lines: purchases by four customers plus one line per cleaning rule (and overlaps).

    InvoiceNo mixes numbers and text as in the real workbook; CustomerID is a float.
    """
    d = datetime
    rows = [
        # customer 12345: three invoices, UK
        (536365, "85123A", "WHITE HANGING HEART", 6, d(2010, 12, 1, 8, 26), 2.55, 12345.0, "United Kingdom"),
        (536365, "71053", "WHITE METAL LANTERN", 6, d(2010, 12, 1, 8, 26), 3.39, 12345.0, "United Kingdom"),
        (536400, "22752", "SET 7 BABUSHKA", 2, d(2011, 3, 5, 10, 0), 7.65, 12345.0, "United Kingdom"),
        (536500, "21730", "GLASS STAR LANTERN", 4, d(2011, 11, 30, 15, 45), 4.25, 12345.0, "United Kingdom"),
        # customer 12346: one invoice plus its cancellation
        (536401, "22633", "HAND WARMER", 10, d(2011, 1, 10, 9, 0), 1.85, 12346.0, "United Kingdom"),
        ("C536402", "22633", "HAND WARMER", -10, d(2011, 1, 11, 9, 0), 1.85, 12346.0, "United Kingdom"),
        # customer 12347: two invoices, one with an exact duplicate line
        (536403, "84879", "ASSORTED BIRD", 32, d(2011, 6, 1, 12, 0), 1.69, 12347.0, "United Kingdom"),
        (536403, "84879", "ASSORTED BIRD", 32, d(2011, 6, 1, 12, 0), 1.69, 12347.0, "United Kingdom"),
        (536404, "22745", "POPPY'S PLAYHOUSE", 6, d(2011, 12, 9, 12, 50), 2.10, 12347.0, "United Kingdom"),
        # customer 12348: France
        (536405, "22728", "ALARM CLOCK", 24, d(2011, 2, 2, 11, 0), 3.75, 12348.0, "France"),
        # missing customer id
        (536406, "22086", "PAPER CHAIN KIT", 12, d(2011, 4, 4, 10, 0), 2.95, None, "United Kingdom"),
        # missing description
        (536407, "22139", None, 3, d(2011, 4, 5, 10, 0), 4.95, 12345.0, "United Kingdom"),
        # adjustment invoice
        ("A563185", "B", "Adjust bad debt", 1, d(2011, 8, 12, 14, 50), 11062.06, 12346.0, "United Kingdom"),
        # zero price
        (536408, "22841", "ROUND CAKE TIN", 1, d(2011, 5, 5, 10, 0), 0.0, 12346.0, "United Kingdom"),
        # postage
        (536409, "POST", "POSTAGE", 1, d(2011, 5, 6, 10, 0), 18.0, 12347.0, "United Kingdom"),
        # line total above 500
        (536410, "22423", "REGENCY CAKESTAND", 60, d(2011, 7, 7, 10, 0), 10.95, 12346.0, "United Kingdom"),
        # quantity above 100 (total below 500)
        (536411, "84077", "WORLD WAR 2 GLIDERS", 480, d(2011, 7, 8, 10, 0), 0.21, 12347.0, "United Kingdom"),
        # overlaps: cancellation AND quantity above 100 → counted once, as a cancellation
        ("C536412", "23166", "STORAGE JAR", -74215, d(2011, 1, 18, 10, 17), 1.04, 12346.0, "United Kingdom"),
        # overlaps: France AND total above 500 → counted under country
        (536413, "22423", "REGENCY CAKESTAND", 100, d(2011, 7, 9, 10, 0), 10.95, 12348.0, "France"),
        # customer 12349: Germany-only would vanish under the UK filter
        (536414, "22326", "ROUND SNACK BOXES", 24, d(2011, 9, 9, 9, 9), 2.95, 12349.0, "Germany"),
        # a text customer id with spaces and a .0 suffix: the same customer 12345
        (536415, "22960", "JAM MAKING SET", 6, d(2011, 10, 10, 10, 10), 4.25, "12345.0 ", "United Kingdom"),
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["InvoiceNo"] = frame["InvoiceNo"].astype(object)
    frame["CustomerID"] = frame["CustomerID"].map(
        lambda v: None if v is None else (float(v) if not isinstance(v, str) else v)
    ).astype(object)
    return frame


def rfm_reference(lines: pd.DataFrame, snapshot: datetime | None = None) -> pd.DataFrame:
    """RFM computed independently with pandas from kept canonical-ish lines.

    ``lines`` needs columns invoice, invoice_date, amount, customer_id.
    """
    snap = pd.Timestamp(snapshot) if snapshot else lines["invoice_date"].max() + pd.Timedelta(days=1)
    grouped = lines.groupby("customer_id")
    ref = pd.DataFrame({
        "recency": (snap - grouped["invoice_date"].max()).dt.days,
        "frequency": grouped["invoice"].nunique(),
        "monetary": grouped["amount"].sum(),
    }).reset_index()
    ref["customer_id"] = ref["customer_id"].astype(str)
    return ref.sort_values("customer_id").reset_index(drop=True)

"""Downloads: customers (CSV/Parquet), flagged lists, the HTML report and the model.

CSVs go through :func:`custseg.safe_cells.to_csv` (no cell runs as a spreadsheet formula);
the Parquet file keeps the raw values.
"""

import io

import streamlit as st

from custseg import outputs, report, safe_cells
from custseg.app import state, ui
from custseg.app.timeline_state import model_json

st.title("Downloads")
ui.page()
result = ui.stage("result")
stem = ui.context().source.name.split(".")[0] or "custseg"
customers = outputs.customers_frame(result)
for note in result.summary["notes"]:  # e.g. why there are no segments
    st.info(note, icon=":material/info:")
# Without segments (too few customers, or too alike) no customer is scored.
flagged_customers = (customers[customers["is_anomaly"].fillna(False).astype(bool)]
                     if "is_anomaly" in customers else customers.iloc[:0])
with ui.guard("Preparing the flagged transactions", ui.context().source), \
        state.using(result.dataset):
    flagged_lines = outputs.flagged_in_original_columns(result)


def _parquet() -> bytes:
    buffer = io.BytesIO()
    customers.to_parquet(buffer, index=False)
    return buffer.getvalue()


rows = [
    ("Customers (CSV)", f"{len(customers):,} customers with RFM, scores, segment and anomaly "
     "verdict", lambda: safe_cells.to_csv(customers), f"{stem}_customers.csv", "text/csv"),
    ("Customers (Parquet)", "The same table, typed, for Python/Spark/DuckDB", _parquet,
     f"{stem}_customers.parquet", "application/octet-stream"),
    ("Flagged customers (CSV)", f"{len(flagged_customers):,} outlier customers with the reason",
     lambda: safe_cells.to_csv(flagged_customers), f"{stem}_flagged_customers.csv",
     "text/csv"),
    ("Flagged transactions (CSV)", f"{len(flagged_lines):,} lines in the file's own columns, "
     "with kind, reason and score", lambda: safe_cells.to_csv(flagged_lines),
     f"{stem}_flagged_transactions.csv", "text/csv"),
    ("HTML report", "One self-contained page with every chart; opens offline",
     lambda: report.render_html(result), f"{stem}_report.html", "text/html"),
]
if getattr(result, "clv", None) is not None:
    rows.append(("Lifetime-value model (CSV)", "BG/NBD and Gamma-Gamma parameters with their "
                 "standard errors (docs/clv.md)", lambda: safe_cells.to_csv(result.clv.params),
                 f"{stem}_clv.csv", "text/csv"))
if result.segmenter is not None:  # no segments formed: no model to give
    rows.append(("Segmentation model (JSON)", "The fitted segments with their actions and "
                 "cleaning rules: upload it on Changes over time, or assign new customers "
                 "with custseg score FILE --model this file",
                 lambda: model_json(result), f"{stem}_model.json", "application/json"))
for label, what, data, name, mime in rows:
    left, right = st.columns([1, 2])
    left.download_button(label, data, file_name=name, mime=mime, key=f"dl_{name}",
                         icon=":material/download:", on_click="ignore")
    right.caption(what)

"""Writing the generated log: Parquet, CSV or one Excel sheet streamed block by block, and the
truth files beside it; or the same content as frames in memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from custseg.errors import ConfigError
from custseg.synth.block import COLUMNS, blocks
from custseg.synth.movers import Movers
from custseg.synth.times import DAY

Format = Literal["parquet", "csv", "xlsx"]

#: Data rows that fit in one Excel sheet (1,048,576 rows minus the header).
EXCEL_MAX_ROWS = 1_048_575
#: Measured average lines per customer (guests included), used to refuse hopeless Excel sizes.
LINES_PER_CUSTOMER = 127


@dataclass(frozen=True)
class Generated:
    """Paths and sizes of a generated data set."""

    transactions: Path
    truth_customers: Path
    truth_transactions: Path
    lines: int
    customers: int


class _Sink:
    """Writes tables to one file, block after block."""

    def write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _ParquetSink(_Sink):
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()


class _CsvSink(_Sink):
    """CSV with ``YYYY-MM-DD HH:MM:SS`` dates (timestamps in seconds print that way)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema = schema.set(schema.get_field_index("InvoiceDate"),
                                 pa.field("InvoiceDate", pa.timestamp("s")))
        self.writer = pacsv.CSVWriter(path, self.schema)

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table.cast(self.schema))

    def close(self) -> None:
        self.writer.close()


class _XlsxSink(_Sink):
    """One sheet written row by row (xlsxwriter's constant-memory mode has no bulk API)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        self.sheet = self.book.add_worksheet("Online Retail")
        self.date = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.sheet.write_row(0, 0, list(schema.names))
        self.row = 1

    def write(self, table: pa.Table) -> None:
        sheet, date = self.sheet, self.date
        epoch = np.datetime64("1899-12-30T00:00:00", "s")
        serial = ((table["InvoiceDate"].to_numpy().astype("datetime64[s]") - epoch)
                  .astype(np.int64) / DAY).tolist()
        cols = [table[c].to_pylist() for c in COLUMNS]
        cols[COLUMNS.index("InvoiceDate")] = serial
        for i, (inv, code, desc, qty, ts, price, cid, country) in enumerate(zip(*cols,
                                                                                strict=True)):
            r = self.row + i
            sheet.write_string(r, 0, inv)
            sheet.write_string(r, 1, code)
            sheet.write_string(r, 2, desc)
            sheet.write_number(r, 3, qty)
            sheet.write_number(r, 4, ts, date)
            sheet.write_number(r, 5, price)
            if cid is not None:
                sheet.write_number(r, 6, cid)
            sheet.write_string(r, 7, country)
        self.row += table.num_rows

    def close(self) -> None:
        self.book.close()


_SINKS: dict[str, type[_Sink]] = {"parquet": _ParquetSink, "csv": _CsvSink, "xlsx": _XlsxSink}


def _check(customers: int, fmt: str, anomaly_share: float) -> None:
    if customers < 1:
        raise ConfigError(f"customers must be at least 1, got {customers}.")
    if fmt not in _SINKS:
        raise ConfigError(f"Unknown format {fmt!r}: use 'parquet', 'csv' or 'xlsx'.")
    if not 0 <= anomaly_share <= 0.2:
        raise ConfigError(f"anomaly_share must be between 0 and 0.2, got {anomaly_share}.")


def _excel_error(lines: int) -> ConfigError:
    most = int(EXCEL_MAX_ROWS / LINES_PER_CUSTOMER * 0.95)
    return ConfigError(
        f"About {lines:,} lines do not fit in one Excel sheet (at most {EXCEL_MAX_ROWS:,} "
        f"data rows). Use --format parquet or csv, or at most about {most:,} customers.")


def generate(out_dir: str | Path, customers: int = 2000, seed: int = 42,
             fmt: Format = "parquet", *, anomaly_share: float = 0.02,
             progress: Callable[[int, int], None] | None = None,
             movers: Movers | None = None) -> Generated:
    """Write a synthetic Online Retail log and its truth files to ``out_dir``.

    Parameters
    ----------
    out_dir : directory for ``transactions.<fmt>``, ``truth_customers.csv`` and
        ``truth_transactions.csv`` (created if missing).
    customers : number of customers with an id (guest checkouts come on top).
    seed : same seed, same bytes.
    fmt : ``parquet`` (row groups per block), ``csv`` or ``xlsx`` (at most 1,048,575 lines).
    anomaly_share : share of customers planted as anomalies (0-0.2).
    progress : called as ``progress(customers_done, customers_total)`` after each block.
    movers : customers planted to change segment at a date (:mod:`custseg.synth.movers`);
        ``truth_customers.csv`` then says each one's move in ``planted_move``.

    Returns
    -------
    Generated : paths and sizes. ``truth_customers.csv`` holds customer_id, archetype (one of
        :data:`ARCHETYPES` or ``"anomaly"``) and is_anomaly; ``truth_transactions.csv`` holds
        invoice, stock_code and kind, one row per planted line, and one row with an empty
        stock_code per ``invoice_total_outlier`` invoice.

    Raises
    ------
    ConfigError : bad arguments, or too many lines for an Excel sheet.
    """
    _check(customers, fmt, anomaly_share)
    if fmt == "xlsx" and customers * LINES_PER_CUSTOMER > EXCEL_MAX_ROWS * 1.3:
        raise _excel_error(customers * LINES_PER_CUSTOMER)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generated = blocks(customers, seed, anomaly_share, movers)
    if fmt == "xlsx":  # Excel sizes are small: hold them to count lines before writing
        held = list(generated)
        lines = sum(b.table.num_rows for b in held)
        if lines > EXCEL_MAX_ROWS:
            raise _excel_error(lines)
        generated = iter(held)
    path = out / f"transactions.{fmt}"
    sink: _Sink | None = None
    truth_c, truth_t, lines, done = [], [], 0, 0
    try:
        for block in generated:
            sink = sink or _SINKS[fmt](path, block.table.schema)
            sink.write(block.table)
            truth_c.append(block.truth_customers)
            truth_t.append(block.truth_transactions)
            lines += block.table.num_rows
            done += len(block.truth_customers)
            if progress is not None:
                progress(done, customers)
    finally:
        if sink is not None:
            sink.close()
    truth_customers = out / "truth_customers.csv"
    truth_transactions = out / "truth_transactions.csv"
    pd.concat(truth_c, ignore_index=True).to_csv(truth_customers, index=False)
    pd.concat(truth_t, ignore_index=True).to_csv(truth_transactions, index=False)
    return Generated(path, truth_customers, truth_transactions, lines, customers)


def generate_frame(customers: int = 500, seed: int = 42, *, anomaly_share: float = 0.02,
                   movers: Movers | None = None,
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Generate a small log in memory (tests, demos).

    Returns
    -------
    (transactions, truth_customers, truth_transactions) : the same content that
    :func:`generate` writes for these arguments.
    """
    _check(customers, "parquet", anomaly_share)
    held = list(blocks(customers, seed, anomaly_share, movers))
    table = pa.concat_tables([b.table for b in held])
    return (table.to_pandas(),
            pd.concat([b.truth_customers for b in held], ignore_index=True),
            pd.concat([b.truth_transactions for b in held], ignore_index=True))

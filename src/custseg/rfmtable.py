"""``custseg.rfm_table``: the RFM table of a plain pandas, polars or Arrow frame of
transactions, named by its columns, in one call (as lifetimes'
``summary_data_from_transaction_data``, with custseg's definitions and cleaning)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from custseg.config import CleaningConfig, Config, RFMConfig, parse_day
from custseg.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa


def rfm_table(frame: pd.DataFrame | pl.DataFrame | pa.Table, *, customer_id: str,
              invoice_date: str, amount: str | None = None, quantity: str | None = None,
              unit_price: str | None = None, invoice: str | None = None,
              as_of: date | str | None = None,
              cleaning: CleaningConfig | str | None = None) -> pd.DataFrame:
    """One row per customer: recency, frequency, monetary and custseg's RFM scores.

    Parameters
    ----------
    frame : pandas.DataFrame, polars.DataFrame or pyarrow.Table
        One row per transaction line. Only the columns named below are read.
    customer_id, invoice_date : str
        The columns holding the customer and the date (or timestamp) of each line.
    amount : str, optional
        The column holding each line's total. Give either ``amount`` or both ``quantity``
        and ``unit_price`` (then the total is quantity × unit price).
    quantity, unit_price : str, optional
        The columns holding each line's quantity and unit price.
    invoice : str, optional
        The column holding the invoice (order) number: frequency counts distinct invoices.
        Without it each distinct (customer, timestamp) is one order.
    as_of : date or "YYYY-MM-DD", optional
        The snapshot recency is measured from: lines on or after it are left out. By default
        the day after the last purchase (custseg's convention, docs/architecture.md).
    cleaning : CleaningConfig or {"default", "seed"}, optional
        The cleaning rules, as ``custseg run`` applies them (the default rules unless said
        otherwise; they drop, among others, lines above 500 in total or 100 in quantity:
        pass ``CleaningConfig(max_line_total=None, max_quantity=None)`` to keep them).

    Returns
    -------
    pandas.DataFrame
        Sorted by ``customer_id``: ``customer_id``, ``recency`` (whole days), ``frequency``
        (distinct invoices), ``monetary`` (total spend), ``first_purchase``,
        ``last_purchase``, ``tenure``, ``avg_order_value``, ``r_score``, ``f_score``,
        ``m_score`` (1–5) and ``rfm_segment``. ``attrs["cleaning"]`` holds the row account
        and ``attrs["snapshot"]`` the snapshot.

    Raises
    ------
    custseg.errors.MappingError
        When a named column is not in the frame.
    custseg.errors.ConfigError
        When the columns given cannot make a line total, or ``as_of`` is not a date.

    Examples
    --------
    >>> rfm = custseg.rfm_table(orders, customer_id="client", invoice_date="date",
    ...                         amount="total")                      # doctest: +SKIP
    """
    from custseg import pipeline

    if amount is not None and (quantity is not None or unit_price is not None):
        raise ConfigError("rfm_table: give either amount= or quantity= and unit_price=, not "
                          "both (which would be the line total?).")
    if amount is None and (quantity is None or unit_price is None):
        raise ConfigError("rfm_table: the line total needs amount=, or both quantity= and "
                          "unit_price=.")
    named = {"customer_id": customer_id, "invoice_date": invoice_date, "amount": amount,
             "quantity": quantity, "unit_price": unit_price, "invoice": invoice}
    mapping = {key: column for key, column in named.items() if column is not None}
    config = Config(cleaning=_rules(cleaning),
                    rfm=RFMConfig(as_of=parse_day(as_of, "rfm_table as_of")), preset="none")
    dataset = pipeline.load(_columns(frame, list(dict.fromkeys(mapping.values()))), config,
                            mapping=mapping)
    try:
        table = pipeline.compute_rfm(dataset)
    finally:
        dataset.con.close()
    table.attrs["cleaning"] = dataset.cleaning.to_dict()
    table.attrs["snapshot"] = dataset.snapshot
    return table


def _rules(cleaning: CleaningConfig | str | None) -> CleaningConfig:
    if cleaning is None:
        return CleaningConfig()
    if isinstance(cleaning, str):
        return CleaningConfig.preset(cleaning)
    return cleaning


def _columns(frame: Any, columns: list[str]) -> Any:
    """Only the named columns, so no other column is guessed into the mapping (a frame with
    an amount and a quantity column would otherwise have its total chosen for it)."""
    from custseg.errors import MappingError

    present = [str(c) for c in (frame.column_names if hasattr(frame, "column_names")
                                else frame.columns)]
    missing = [c for c in columns if c not in present]
    if missing:
        raise MappingError(f"rfm_table: the frame has no column {missing[0]!r}. Columns are: "
                           f"{', '.join(present)}.", columns=present, missing=missing)
    if isinstance(frame, pd.DataFrame):
        return frame[columns]
    return frame.select(columns)

"""Column mapping: which input column holds each canonical field, and which known export
(data preset) the header shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from custseg.errors import MappingError

#: Canonical column keys, in the order of the ``lines`` table.
CANONICAL: tuple[str, ...] = (
    "invoice",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "amount",
    "customer_id",
    "country",
)

#: Header spellings recognised per key, after lower-casing and removing spaces, "_" and "-".
ALIASES: dict[str, tuple[str, ...]] = {
    "invoice": ("invoiceno", "invoice", "invoicenumber", "invoiceid", "orderid", "orderno",
                "ordernumber", "order", "transactionid"),
    "stock_code": ("stockcode", "sku", "productid", "productcode", "itemcode", "itemid"),
    "description": ("description", "productname", "productdescription", "itemname",
                    "itemdescription"),
    "quantity": ("quantity", "qty", "units"),
    "invoice_date": ("invoicedate", "orderdate", "transactiondate", "date", "datetime",
                     "timestamp"),
    "unit_price": ("unitprice", "price", "priceeach", "unitcost"),
    "amount": ("amount", "linetotal", "totalcost", "totalprice", "total", "revenue", "sales"),
    "customer_id": ("customerid", "customer", "customerno", "customernumber", "clientid",
                    "client", "userid"),
    "country": ("country", "countryname"),
}

#: Columns read as text whatever their cells look like (ids are labels, not numbers).
TEXT_KEYS: tuple[str, ...] = ("invoice", "stock_code", "customer_id")


def text_headers(overrides: Mapping[str, str] | None) -> set[str]:
    """Columns the user mapped (--map) to an id key: always read as text."""
    return {col for key, col in (overrides or {}).items() if key in TEXT_KEYS}


def normalise_header(name: str) -> str:
    """Lower-case a header and remove spaces, underscores and dashes."""
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def parse_mapping(text: str | None) -> dict[str, str]:
    """Parse ``"key=Column,key=Column"`` into a dict, checking the keys.

    Raises
    ------
    MappingError
        When a pair is malformed or a key is not a canonical key.
    """
    if not text:
        return {}
    result: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, sep, column = pair.partition("=")
        key = key.strip()
        if not sep or not column.strip():
            raise MappingError(
                f"--map: {pair.strip()!r} is not of the form key=Column. "
                f"Example: --map customer_id=Client,invoice_date=Date."
            )
        if key not in CANONICAL:
            raise MappingError(
                f"--map: unknown key {key!r}. Keys are: {', '.join(CANONICAL)}."
            )
        result[key] = column.strip()
    return result


def detect_mapping(columns: list[str], overrides: Mapping[str, str] | None = None,
                   where: str = "the input") -> dict[str, str]:
    """Map canonical keys to the input's columns.

    Explicit ``overrides`` win; other keys are matched by :data:`ALIASES`, case- and
    space-insensitively. Each input column is used at most once.

    Raises
    ------
    MappingError
        When an override names a missing column, or a required key cannot be found.
    """
    overrides = dict(overrides or {})
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise_header(col), col)
    mapping: dict[str, str] = {}
    for key, col in overrides.items():
        if col not in columns:
            match = by_norm.get(normalise_header(col))
            if match is None:
                raise MappingError(
                    f"{where}: --map {key}={col}: there is no column {col!r}. "
                    f"Columns are: {', '.join(map(str, columns))}.",
                    columns=list(columns), missing=[key],
                )
            col = match
        mapping[key] = col
    used = set(mapping.values())
    for key in CANONICAL:
        if key in mapping:
            continue
        for alias in ALIASES[key]:
            col = by_norm.get(alias)
            if col is not None and col not in used:
                _refuse_repeated(key, col, alias, columns, where)
                mapping[key] = col
                used.add(col)
                break
    missing = missing_required(mapping)
    if missing:
        raise MappingError(
            f"{where}: could not find the column(s) for {', '.join(missing)}. "
            f"Columns are: {', '.join(map(str, columns))}. "
            + _how_to_name(columns) + "with --map, e.g. --map "
            + ",".join(f"{k}=<column>" for k in missing) + ".",
            columns=list(columns), missing=missing,
        )
    return {key: mapping[key] for key in CANONICAL if key in mapping}


def _refuse_repeated(key: str, col: str, alias: str, columns: list[str], where: str) -> None:
    """Refuse a header that names more than one column: which one holds the field is a guess.

    Readers keep repeated headers apart by a suffix ("Quantity", "Quantity_1"), and
    "Unit Price" and "UnitPrice" read the same once spaces are ignored.
    """
    twin = re.compile(re.escape(str(col)) + r"_\d+", re.IGNORECASE)
    twins = [c for c in columns if twin.fullmatch(str(c))]
    same = [c for c in columns if normalise_header(c) == alias or c in twins]
    if len(same) > 1:
        why = ("the header repeats a name, and the reader numbered the repeats" if twins else
               "their names differ only in case, spaces, '_' or '-'")
        raise MappingError(
            f"{where}: {len(same)} columns could hold the {key}: "
            f"{', '.join(map(repr, same))} ({why}). Say which one with --map, e.g. "
            f"--map {key}={same[0]}, or rename the others.", columns=list(columns),
            missing=[key])


def _how_to_name(columns: list[str]) -> str:
    """How to name the columns, with a hint when the 'header' is really a data row (most
    names are numbers or dates)."""
    data_like = [c for c in columns if re.fullmatch(r"[\d\s.,:/\-]+", str(c))]
    if columns and len(data_like) >= len(columns) / 2:
        return ("The first row looks like data, not a header: add a header row naming the "
                "columns, then name them ")
    return "Name them "


def missing_required(mapping: Mapping[str, str]) -> list[str]:
    """Required keys absent from ``mapping``: customer_id, invoice_date, and amount or
    quantity + unit_price."""
    missing = [k for k in ("customer_id", "invoice_date") if k not in mapping]
    if "amount" not in mapping:
        missing += [k for k in ("quantity", "unit_price") if k not in mapping]
    return missing



#: Exact headers of the known exports (UCI Online Retail I and II), for their data preset.
KNOWN_HEADERS: dict[frozenset[str], str] = {
    frozenset(("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
               "CustomerID", "Country")): "online_retail",
    frozenset(("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
               "Customer ID", "Country")): "online_retail",
}


def recognise(columns: list[str]) -> str | None:
    """The data preset whose export has exactly these columns, or None."""
    return KNOWN_HEADERS.get(frozenset(str(c) for c in columns))


def prefer_line_amount(mapping: dict[str, str],
                       overrides: Mapping[str, str] | None) -> tuple[dict[str, str], str | None]:
    """Quantity × unit price wins over a total column found by its name.

    A column called "Total" or "Amount" is often the order's total repeated on every line:
    taken as the line amount it multiplies revenue by the lines per order. So it is used only
    when mapped explicitly (``--map amount=…``) or when there is no unit price to multiply.

    Returns
    -------
    The mapping to use and the total column set aside (None when none was).
    """
    if ("amount" in mapping and "amount" not in (overrides or {})
            and "quantity" in mapping and "unit_price" in mapping):
        kept = {k: v for k, v in mapping.items() if k != "amount"}
        return kept, mapping["amount"]
    return mapping, None

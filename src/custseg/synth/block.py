"""One block of customers built end to end: their orders, the log's quirks (guest checkouts,
cancellations, postage and manual lines, exact duplicates), the planted anomalies, and the
block as an Arrow table in the Online Retail columns with its truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custseg.synth import movers as moving
from custseg.synth import planted
from custseg.synth.catalogue import Catalogue, make_catalogue
from custseg.synth.draws import log_uniform, stream
from custseg.synth.orders import (
    InvoiceBatch,
    Invoices,
    Kind,
    LineBatch,
    Lines,
    customer_invoices,
    product_lines,
)
from custseg.synth.profiles import (
    BIG_SPENDERS,
    COUNTRIES,
    PROFILE_NAMES,
    UK,
    Customers,
    Quantities,
    anomaly_index,
    countries,
    draw_customers,
)
from custseg.synth.times import DAY, LAST_DAY, START, daytime

#: Output columns, exactly as in the UCI Online Retail file.
COLUMNS: tuple[str, ...] = (
    "InvoiceNo", "StockCode", "Description", "Quantity",
    "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)
#: Customers generated (and held in memory) at a time.
BLOCK_CUSTOMERS = 10_000

_FIRST_INVOICE = 536_365
_FIRST_CUSTOMER = 12_346
_CANCEL_SHARE, _DUPLICATE_SHARE, _MANUAL_SHARE, _POSTAGE_SHARE = 0.03, 0.01, 0.003, 0.6
_GUEST_LINE_SHARE, _GUEST_LINES = 0.20, 15
#: Positions that put postage and manual lines after an invoice's products.
_POSTAGE_POSITION, _MANUAL_POSITION = 10_000, 10_001


@dataclass(frozen=True)
class Block:
    """A block's lines in the output columns, its truth, and how many invoices it numbered."""

    table: pa.Table
    truth_customers: pd.DataFrame
    truth_transactions: pd.DataFrame
    invoices: int


def blocks(customers: int, seed: int, anomaly_share: float,
           movers: moving.Movers | None = None) -> Iterator[Block]:
    """Generate the data block by block (BLOCK_CUSTOMERS customers each)."""
    cat = make_catalogue(seed, customers)
    anomalies = anomaly_index(customers, anomaly_share, seed)
    invoice_base = _FIRST_INVOICE
    for number, first in enumerate(range(0, customers, BLOCK_CUSTOMERS)):
        n = min(BLOCK_CUSTOMERS, customers - first)
        plant = None
        if movers is not None:
            # A stream of its own: who moves does not depend on the block's other draws.
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2 + number, 1)))
            plant = (rng, movers)
        out = build(cat, stream(seed, 2 + number), first, n, anomalies, invoice_base, plant)
        invoice_base += out.invoices
        yield out


def build(cat: Catalogue, rng: np.random.Generator, first: int, n: int,
          anomalies: np.ndarray, invoice_base: int,
          plant: tuple[np.random.Generator, moving.Movers] | None = None) -> Block:
    """Customers ``first``..``first + n - 1`` with all their invoices, numbered from
    ``invoice_base`` in time order; ``plant``: movers to plant, with their random stream."""
    cust = draw_customers(rng, first, n, anomalies, _FIRST_CUSTOMER)
    moves = None
    if plant is not None:
        cust, moves = moving.plant(plant[0], cust, plant[1])
    own, n_lines = customer_invoices(rng, cust)
    invoices, lines = Invoices(own), Lines()
    base = product_lines(rng, cat, n_lines, cust.quantity[own.customer])
    n_base = len(base.invoice)
    _guests(rng, cat, invoices, lines, n_base)
    # Planted transactions go on normal invoices of ordinary customers in the UK.
    ordinary = (own.kind == Kind.NORMAL) & ~cust.anomaly[own.customer]
    uk = cust.country[own.customer] == UK
    twins = ordinary & (rng.random(len(ordinary)) < _CANCEL_SHARE)
    _cancellation_twins(rng, invoices, lines, base, n_lines, np.flatnonzero(twins))
    eligible = np.flatnonzero(ordinary & uk)
    # Planted lines may survive cleaning: put them on big spenders, whose RFM they barely move,
    # and not on invoices with a cancellation twin.
    big = np.isin(cust.profile[own.customer], BIG_SPENDERS)
    lines.add(planted.plant_lines(rng, cat, base, np.flatnonzero(ordinary & uk & ~twins & big)))
    planted.bulk_invoices(rng, cat, invoices, lines, eligible, n_base)
    planted.large_cancellations(rng, cat, invoices, lines, eligible, n_base)
    every = invoices.all()  # no invoice is added past this point
    _specials(rng, cat, every, lines)
    _duplicates(rng, cat, every, lines)
    block = _finish(rng, cat, cust, every, lines.all(), invoice_base)
    if moves is not None:
        block.truth_customers["planted_move"] = moving.kind_names(moves)
    return block


def _guests(rng: np.random.Generator, cat: Catalogue, invoices: Invoices, lines: Lines,
            n_base: int) -> None:
    """Invoices without a customer id, about a fifth of all lines."""
    n = round(n_base * _GUEST_LINE_SHARE / (1 - _GUEST_LINE_SHARE) / _GUEST_LINES)
    t = rng.integers(0, LAST_DAY + 1, n) * DAY + daytime(rng, n)
    idx = invoices.add(np.full(n, -1), t, Kind.GUEST, countries(rng, n))
    n_lines = np.maximum(rng.poisson(_GUEST_LINES, n), 1)
    guest = product_lines(rng, cat, n_lines, np.full(n, Quantities.NORMAL))
    lines.add(replace(guest, invoice=idx[guest.invoice]))


def _cancellation_twins(rng: np.random.Generator, invoices: Invoices, lines: Lines,
                        base: LineBatch, n_lines: np.ndarray, sources: np.ndarray) -> None:
    """"C" invoices cancelling the first lines (some or all) of own invoices ``sources``,
    whose lines are ``base`` (``n_lines`` per own invoice)."""
    idx = invoices.follow_up(rng, sources, Kind.TWIN)
    n_own = len(n_lines)
    twin_of = np.full(n_own, -1)
    twin_of[sources] = idx
    share = np.zeros(n_own)
    share[sources] = rng.uniform(0, 1, len(sources))
    inv, pos = base.invoice, base.position
    keep = (twin_of[inv] >= 0) & (pos < np.ceil(share[inv] * n_lines[inv]))
    lines.add(LineBatch.of(twin_of[inv[keep]], base.product[keep], -base.quantity[keep],
                           base.price[keep], pos[keep]))


def _specials(rng: np.random.Generator, cat: Catalogue, invoices: InvoiceBatch,
              lines: Lines) -> None:
    """POSTAGE lines on most foreign orders and a few Manual lines."""
    kind, country = invoices.kind, invoices.country
    orders = np.isin(kind, (Kind.NORMAL, Kind.GUEST))
    post = np.flatnonzero(orders & (country != UK) & (rng.random(len(kind)) < _POSTAGE_SHARE))
    manual = np.flatnonzero(orders & (rng.random(len(kind)) < _MANUAL_SHARE))
    lines.add(LineBatch.of(post, np.full(len(post), cat.postage), rng.integers(1, 4, len(post)),
                           rng.choice([15.0, 18.0, 18.0, 18.0, 28.0, 40.0], len(post)),
                           np.full(len(post), _POSTAGE_POSITION)))
    lines.add(LineBatch.of(manual, np.full(len(manual), cat.manual), np.ones(len(manual)),
                           np.round(log_uniform(rng, 0.5, 60.0, len(manual)), 2),
                           np.full(len(manual), _MANUAL_POSITION)))


def _duplicates(rng: np.random.Generator, cat: Catalogue, invoices: InvoiceBatch,
                lines: Lines) -> None:
    """Exact copies of about 1 % of normal product lines."""
    done = lines.all()
    kind = invoices.kind[done.invoice]
    ok = np.flatnonzero((done.mark == 0) & np.isin(kind, (Kind.NORMAL, Kind.GUEST))
                        & (done.product < cat.size))
    pick = np.sort(rng.choice(ok, rng.binomial(len(done.invoice), _DUPLICATE_SHARE),
                              replace=False))
    lines.add(done.take(pick))


def _finish(rng: np.random.Generator, cat: Catalogue, cust: Customers, invoices: InvoiceBatch,
            lines: LineBatch, invoice_base: int) -> Block:
    """Number invoices in time order, sort lines and build the Arrow table and truth."""
    n_inv = len(invoices.kind)
    order = np.lexsort((rng.random(n_inv), invoices.time))
    rank = np.empty(n_inv, np.int64)
    rank[order] = np.arange(n_inv)
    numbers = pc.cast(pa.array(invoice_base + rank), pa.string())
    cancel = pa.array(np.isin(invoices.kind, (Kind.TWIN, Kind.BIG_CANCEL)))
    invoice_no = pc.if_else(cancel, pc.binary_join_element_wise("C", numbers, ""), numbers)

    lines = lines.take(np.lexsort((lines.position, rank[lines.invoice])))
    li = pa.array(lines.invoice)
    lp = pa.array(lines.product)
    line_cust = invoices.customer[lines.invoice]
    customer_id = np.where(line_cust >= 0, cust.id[line_cust], np.nan)
    dates = START + invoices.time[lines.invoice].astype("timedelta64[s]")
    table = pa.table({
        "InvoiceNo": invoice_no.take(li),
        "StockCode": cat.codes.take(lp),
        "Description": cat.descriptions.take(lp),
        "Quantity": pa.array(lines.quantity, pa.int64()),
        "InvoiceDate": pa.array(dates).cast(pa.timestamp("us")),
        "UnitPrice": pa.array(lines.price, pa.float64()),
        "CustomerID": pa.array(customer_id.astype(np.float64), from_pandas=True),
        "Country": pa.array(COUNTRIES).take(pa.array(invoices.country[lines.invoice])),
    })
    truth_customers = pd.DataFrame({"customer_id": cust.id,
                                    "archetype": PROFILE_NAMES[cust.profile],
                                    "is_anomaly": cust.anomaly})
    return Block(table, truth_customers,
                 _truth_transactions(table, lines.mark, invoice_no, invoices.kind), n_inv)


def _truth_transactions(table: pa.Table, mark: np.ndarray, invoice_no: pa.Array,
                        kind: np.ndarray) -> pd.DataFrame:
    """One row per planted line, and one (with an empty stock code) per planted invoice."""
    lines = np.flatnonzero(mark)
    planted_lines = pd.DataFrame({
        "invoice": table["InvoiceNo"].take(lines).to_pylist(),
        "stock_code": table["StockCode"].take(lines).to_pylist(),
        "kind": np.array(planted.TRANSACTION_KINDS)[mark[lines] - 1],
    })
    totals = np.flatnonzero(np.isin(kind, planted.TOTAL_OUTLIERS))
    planted_invoices = pd.DataFrame({"invoice": invoice_no.take(pa.array(totals)).to_pylist(),
                                     "stock_code": "", "kind": "invoice_total_outlier"})
    return pd.concat([planted_lines, planted_invoices], ignore_index=True)

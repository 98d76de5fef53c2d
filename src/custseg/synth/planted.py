"""Planted anomalous transactions: the lines and invoices the pipeline's checks should flag.

Planted lines sit on UK customers with an id; those that could survive cleaning go to big
spenders only, whose RFM they barely move, so the archetypes stay recoverable.
"""

from __future__ import annotations

from dataclasses import replace
from enum import IntEnum

import numpy as np

from custseg.synth.catalogue import Catalogue
from custseg.synth.draws import positions
from custseg.synth.orders import Invoices, Kind, LineBatch, Lines

#: Kinds of planted anomalous transactions in ``truth_transactions.csv``.
TRANSACTION_KINDS: tuple[str, ...] = (
    "price_outlier",
    "quantity_outlier",
    "invoice_total_outlier",
    "large_cancellation",
)
#: Invoices whose total is planted as an outlier (whole invoices, not lines).
TOTAL_OUTLIERS = (Kind.WHALE, Kind.BULK)
PLANT_RATE = 1 / 2000  # planted lines of each kind per generated line
_BULK_RATE = 1 / 4000  # bulk invoices per line (whales add more invoice-total outliers)


class Mark(IntEnum):
    """The planted kind of a line: 1 + its index in TRANSACTION_KINDS (0: not planted)."""

    PRICE = 1
    QUANTITY = 2
    LARGE_CANCEL = 4


def plant_lines(rng: np.random.Generator, cat: Catalogue, lines: LineBatch,
                targets: np.ndarray) -> LineBatch:
    """``lines`` with a few lines of invoices ``targets`` turned into price and quantity
    outliers, and marked so.

    At most one planted line per invoice. Price outliers stay under about 460 and quantity
    outliers under about 1,200 (cheap products only), so that the invoice total stays
    within a few times the usual one and only the line stands out.
    """
    inv, prod = lines.invoice, lines.product
    qty, price = lines.quantity.copy(), lines.price.copy()
    mark = np.zeros(len(inv), np.int8)
    in_target = np.isin(inv, targets)
    value = qty * price
    v = cat.pack[prod] * cat.price[prod]
    n_price, n_qty = rng.binomial(len(inv), PLANT_RATE, 2)
    p_idx = _one_per_invoice(rng, np.flatnonzero(in_target & (value <= 30)), inv, n_price)
    ok_q = in_target & (v <= 3.5) & (cat.pack[prod] < 12) & ~np.isin(inv, inv[p_idx])
    q_idx = _one_per_invoice(rng, np.flatnonzero(ok_q), inv, n_qty)
    usual = cat.price[prod[p_idx]]
    high = np.ceil(usual * rng.uniform(10.5, 14, len(p_idx)) * 100) / 100
    low = np.maximum(np.floor(usual / rng.uniform(10.5, 25, len(p_idx)) * 100), 1) / 100
    price[p_idx] = np.where(rng.random(len(p_idx)) < 0.5, high, low)
    mark[p_idx] = Mark.PRICE
    # 75-100 × the median of the normal multipliers (3 packs): over 55 × (e^4, 8 MADs of log
    # quantity at a 0.5 floor) even when whales push a product's median up a pack; always
    # over 100 units, so cleaning drops the line and RFM is untouched.
    typical = 3 * cat.pack[prod[q_idx]]
    qty[q_idx] = np.ceil(typical * rng.uniform(75, 100, len(q_idx)))
    mark[q_idx] = Mark.QUANTITY
    return replace(lines, quantity=qty, price=price, mark=mark)


def _one_per_invoice(rng: np.random.Generator, candidates: np.ndarray, inv: np.ndarray,
                     n: int) -> np.ndarray:
    """Up to n candidate lines, at most one per invoice."""
    pick = rng.permutation(candidates)
    _, first = np.unique(inv[pick], return_index=True)
    return np.sort(pick[np.sort(first)[:n]])


def bulk_invoices(rng: np.random.Generator, cat: Catalogue, invoices: Invoices, lines: Lines,
                  eligible: np.ndarray, n_base: int) -> None:
    """Invoices with totals far above normal: 80-140 bulk products at 9-11 packs of 12, after
    some of the ``eligible`` own invoices.

    Every line exceeds 100 units (dropped by cleaning, so spend is untouched) while
    staying within a few MADs of the product's usual quantity.
    """
    n = min(rng.binomial(n_base, _BULK_RATE), len(eligible))
    src = rng.choice(eligible, n, replace=False)
    idx = invoices.follow_up(rng, src, Kind.BULK)
    n_lines = rng.integers(80, 141, n)
    k = np.repeat(np.arange(n), n_lines)
    pos = positions(n_lines)
    prod = cat.bulk[(rng.integers(0, len(cat.bulk), n)[k] + pos) % len(cat.bulk)]
    pack = cat.pack[prod]
    mult = np.ceil(101 / pack) + rng.integers(0, 3, len(k))
    lines.add(LineBatch.of(idx[k], prod, mult * pack, cat.prices(rng, prod), pos))


def large_cancellations(rng: np.random.Generator, cat: Catalogue, invoices: Invoices,
                        lines: Lines, eligible: np.ndarray, n_base: int) -> None:
    """One-line "C" invoices cancelling 1,500-4,000 worth of a product, after some of the
    ``eligible`` own invoices."""
    n = min(rng.binomial(n_base, PLANT_RATE), len(eligible))
    src = rng.choice(eligible, n, replace=False)
    idx = invoices.follow_up(rng, src, Kind.BIG_CANCEL)
    prod = rng.integers(0, cat.size, n)
    price = cat.prices(rng, prod)
    qty = np.maximum(np.ceil(rng.uniform(1500, 4000, n) / price), 60 * cat.pack[prod])
    lines.add(LineBatch.of(idx, prod, -qty, price, np.zeros(n, np.int64), Mark.LARGE_CANCEL))

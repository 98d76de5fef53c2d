"""Invoices and lines of a block as they are built, and the ordinary orders of customers."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from custseg.synth.catalogue import Catalogue
from custseg.synth.draws import positions
from custseg.synth.profiles import WHALE, Customers, Quantities
from custseg.synth.times import DAY, daytime, later

#: Pack multipliers of normal lines and their probabilities: median 3 packs, MAD 1 pack, and
#: no value common enough to make a product's MAD zero.
_MULTS, _MULT_P = np.arange(1, 7), np.array([0.22, 0.22, 0.20, 0.14, 0.12, 0.10])


class Kind(IntEnum):
    """What an invoice is."""

    NORMAL = 0  # a customer's order
    WHALE = 1  # an anomalous customer's enormous order
    BULK = 2  # an ordinary customer's order with a total far above normal
    GUEST = 3  # an order without a customer id
    TWIN = 4  # a "C" invoice cancelling some lines of an order
    BIG_CANCEL = 5  # a "C" invoice cancelling a large amount of one product


@dataclass(frozen=True)
class InvoiceBatch:
    """Invoices, one element per invoice in each array."""

    customer: np.ndarray  # index into the block's customers, -1 for a guest checkout
    time: np.ndarray  # seconds after times.START
    kind: np.ndarray  # Kind
    country: np.ndarray  # index into profiles.COUNTRIES


class Invoices:
    """A block's invoices in the order they are made: the customers' own orders first
    (:attr:`own`, indices 0..len(own)-1), then the invoices :meth:`add` appends."""

    def __init__(self, own: InvoiceBatch) -> None:
        self.own = own
        self.count = len(own.customer)
        self._batches = [own]

    def add(self, customer: np.ndarray, time: np.ndarray, kind: Kind,
            country: np.ndarray) -> np.ndarray:
        """Append invoices of one kind; returns their indices."""
        n = len(customer)
        self._batches.append(InvoiceBatch(customer, time, np.full(n, kind), country))
        index = np.arange(self.count, self.count + n)
        self.count += n
        return index

    def follow_up(self, rng: np.random.Generator, sources: np.ndarray, kind: Kind) -> np.ndarray:
        """Invoices placed shortly after own invoices ``sources`` by the same customers;
        returns their indices."""
        own = self.own
        return self.add(own.customer[sources], later(rng, own.time[sources]), kind,
                        own.country[sources])

    def all(self) -> InvoiceBatch:
        return InvoiceBatch(*(np.concatenate([getattr(b, f.name) for b in self._batches])
                              for f in fields(InvoiceBatch)))


@dataclass(frozen=True)
class LineBatch:
    """Invoice lines, one element per line in each array."""

    invoice: np.ndarray  # index into the block's invoices
    product: np.ndarray  # index into the catalogue
    quantity: np.ndarray  # int64, negative on cancellations
    price: np.ndarray
    position: np.ndarray  # order of the line within its invoice
    mark: np.ndarray  # int8: planted.Mark of a planted line, 0 for others

    @classmethod
    def of(cls, invoice: np.ndarray, product: np.ndarray, quantity: np.ndarray,
           price: np.ndarray, position: np.ndarray, mark: np.ndarray | int = 0) -> LineBatch:
        return cls(invoice, product, quantity.astype(np.int64), price, position,
                   np.broadcast_to(np.asarray(mark, np.int8), len(invoice)).copy())

    def take(self, index: np.ndarray) -> LineBatch:
        return LineBatch(*(getattr(self, f.name)[index] for f in fields(self)))


class Lines:
    """A block's lines, appended batch by batch."""

    def __init__(self) -> None:
        self._batches: list[LineBatch] = []

    def add(self, batch: LineBatch) -> None:
        self._batches.append(batch)

    def all(self) -> LineBatch:
        return LineBatch(*(np.concatenate([getattr(b, f.name) for b in self._batches])
                           for f in fields(LineBatch)))


def customer_invoices(rng: np.random.Generator,
                      cust: Customers) -> tuple[InvoiceBatch, np.ndarray]:
    """The customers' own invoices, and the lines each holds.

    A customer's first invoice is on their last day, the second on their first day."""
    c = np.repeat(np.arange(len(cust.id)), cust.frequency)
    rank = positions(cust.frequency)
    lo, hi = cust.first[c], cust.last[c]
    day = lo + np.floor(rng.random(len(c)) * (hi - lo + 1)).astype(np.int64)
    day = np.where(rank == 0, hi, np.where(rank == 1, lo, day))
    mean = cust.lines[c]
    # The floor keeps small baskets from making lone low-spend customers.
    n_lines = np.where(cust.poisson[c], np.maximum(rng.poisson(mean), np.round(mean / 3)),
                       np.round(mean))
    kind = np.where(cust.profile[c] == WHALE, Kind.WHALE, Kind.NORMAL)
    time = day * DAY + daytime(rng, len(c))
    return InvoiceBatch(c, time, kind, cust.country[c]), n_lines.astype(np.int64)


def product_lines(rng: np.random.Generator, cat: Catalogue, n_lines: np.ndarray,
                  quantities: np.ndarray) -> LineBatch:
    """``n_lines[i]`` distinct products on invoice i (0-based, of these invoices alone) with
    normal prices, and quantities of the invoices' :class:`Quantities`."""
    n_inv = len(n_lines)
    inv = np.repeat(np.arange(n_inv), n_lines)
    pos = positions(n_lines)
    start = rng.integers(0, cat.size, n_inv)[inv]
    stride = rng.integers(1, cat.size, n_inv)[inv]
    prod = (start + stride * pos) % cat.size
    mode = quantities[inv]
    mult = rng.choice(_MULTS, len(inv), p=_MULT_P)
    mult = np.where(mode == Quantities.HIGH, rng.integers(4, 7, len(inv)), mult)
    mult = np.where(mode == Quantities.ONE, 1, mult)
    return LineBatch.of(inv, prod, mult * cat.pack[prod], cat.prices(rng, prod), pos)

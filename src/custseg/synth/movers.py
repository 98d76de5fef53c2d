"""Planted movers: customers whose buying changes at a known date, which a comparison of
snapshots before and after it must find (``custseg generate --movers``).

Two kinds, half each, drawn among the normal customers (never the planted anomalies):

- **slip**: a champion's buying (6–14 orders of 10–20 lines over five to eight months) that
  stops one to ten days before the move date: a top customer at the date, lapsed at the end;
- **rise**: a first order one to seven days before the move date, then a champion's buying up
  to the last fortnight: a newcomer at the date, a top customer at the end.

Which customers move, and how, is drawn from a random stream of its own (the same customers
move whatever the block's other draws); the log as a whole differs from the one without movers,
since their orders change the number of draws after them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from custseg.errors import ConfigError
from custseg.synth.draws import log_uniform
from custseg.synth.profiles import Customers
from custseg.synth.times import LAST_DAY, START

#: Names of the planted moves in ``truth_customers.csv`` (``planted_move``; "" for others).
MOVE_KINDS: tuple[str, ...] = ("slip", "rise")
#: Days a move date keeps from either end of the year: room for a history before it and
#: for the change to show after it.
_MARGIN = 60


@dataclass(frozen=True)
class Movers:
    """What to plant: the share of normal customers who move, and the day they move (0 is
    the log's first day, 2010-12-01)."""

    share: float
    day: int

    @classmethod
    def at(cls, share: float, when: date) -> Movers:
        """Movers at midnight of ``when``, checked."""
        if not 0 < share <= 0.5:
            raise ConfigError(f"--movers: {share} must be above 0 and at most 0.5 (the share "
                              f"of customers planted as movers).")
        day = int((np.datetime64(when.isoformat(), "s") - START) // np.timedelta64(1, "D"))
        if not _MARGIN <= day <= LAST_DAY - _MARGIN:
            first = START + np.timedelta64(_MARGIN, "D")
            last = START + np.timedelta64(LAST_DAY - _MARGIN, "D")
            raise ConfigError(f"--move-date: {when} leaves too little of the year on one side;"
                              f" give a date from {str(first)[:10]} to {str(last)[:10]}.")
        return cls(share, day)

    @property
    def date(self) -> date:
        return date.fromisoformat(str(START + np.timedelta64(self.day, "D"))[:10])


def plant(rng: np.random.Generator, cust: Customers,
          movers: Movers) -> tuple[Customers, np.ndarray]:
    """``cust`` with some normal customers' targets replaced by a move's; and each customer's
    move (index into :data:`MOVE_KINDS`, -1 for none)."""
    n = len(cust.id)
    chosen = ~cust.anomaly & (rng.random(n) < movers.share)
    kind = np.where(chosen, (rng.random(n) < 0.5).astype(int), -1)
    slip, rise = kind == 0, kind == 1
    move = movers.day
    # A slip's orders all fall before the date: fewer than a champion's year holds, so that
    # once they stop their recency, not their count, decides where they belong.
    frequency = np.where(kind == 0, np.round(log_uniform(rng, 6, 14, n)),
                         np.round(log_uniform(rng, 12, 30, n))).astype(np.int64)
    lines = log_uniform(rng, 10, 20, n)
    slip_last = move - rng.integers(1, 11, n)
    slip_first = np.maximum(slip_last - rng.integers(150, 241, n), 0)
    rise_first = move - rng.integers(1, 8, n)
    rise_last = LAST_DAY + 1 - rng.integers(1, 13, n)
    moved = slip | rise
    planted = replace(
        cust,
        frequency=np.where(moved, frequency, cust.frequency),
        lines=np.where(moved, lines, cust.lines),
        first=np.where(slip, slip_first, np.where(rise, rise_first, cust.first)),
        last=np.where(slip, slip_last, np.where(rise, rise_last, cust.last)),
        poisson=np.where(moved, True, cust.poisson),
    )
    return planted, kind


def kind_names(kind: np.ndarray) -> np.ndarray:
    """The truth file's words for :func:`plant`'s moves."""
    return np.where(kind >= 0, np.array(MOVE_KINDS, dtype=object)[np.maximum(kind, 0)], "")


def recovery(movers: pd.DataFrame, segments: pd.DataFrame,
             truth: pd.DataFrame) -> tuple[float, float]:
    """Recall and precision of the planted moves among a comparison's movers.

    A mover is read as a slip when they leave the model's top segment downwards, as a rise when
    they enter it from the segment of the fewest orders (newcomers at the first date): the two
    transitions the planted moves make. Recall: planted movers found with their kind, over all
    planted; precision: the same over every mover read as a slip or a rise (the generator's
    other customers drift between segments too, mostly between neighbours, and are not
    counted).

    Parameters
    ----------
    movers:
        :func:`custseg.migration.movers` (``customer_id``, ``from_segment``, ``to_segment``,
        ``direction``).
    segments:
        The model's segment table, most valuable first, with ``frequency_median`` and
        ``recency_median`` (``Segmenter.segments_``).
    truth:
        ``truth_customers`` with ``customer_id`` and ``planted_move``.
    """
    truth = truth.assign(customer_id=truth["customer_id"].astype("int64").astype(str))
    moved = movers.merge(truth[["customer_id", "planted_move"]], on="customer_id", how="left")
    top = segments["segment"].iloc[0]
    fewest = segments.sort_values(["frequency_median", "recency_median"],
                                  kind="stable")["segment"].iloc[0]
    slip = (moved["from_segment"] == top) & (moved["direction"] == "down")
    rise = (moved["to_segment"] == top) & (moved["from_segment"] == fewest)
    said = np.select([slip, rise], ["slip", "rise"], "")
    hits = int(((said != "") & (moved["planted_move"] == said)).sum())
    planted = int((truth["planted_move"] != "").sum())
    read = int((said != "").sum())
    return (hits / planted if planted else 1.0), (hits / read if read else 1.0)

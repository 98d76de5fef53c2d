"""Migration between two snapshots whose customers carry segments of one model: who moved from
which segment to which, with their revenue, the movers one by one, and the headline.

Customers are matched by id. A customer of the second snapshot only is **new**; a customer
of the first only is **gone**. Snapshots of one file at two dates are cumulative (everyone who
bought before the first date is still a customer at the second), so nobody is gone there: a
customer who stopped buying stays and drifts, as their recency grows, into the segment their
R/F/M then describe (At Risk, Hibernating, …). Only two files can lose customers: those of the
first file absent from the second.

So the table reconciles exactly: the customers of each from-segment add up to that segment's
size in the first snapshot (plus the "new" row), and those of each to-segment to its size in
the second (plus the "gone" column); ``revenue_before`` adds up to the first snapshot's
revenue per segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from custseg.money import money
from custseg.rfm import FEATURES

#: The from-segment of customers absent from the first snapshot.
NEW = "(new)"
#: The to-segment of customers absent from the second snapshot.
GONE = "(gone)"
#: Columns of :func:`migration_table`.
COLUMNS = ("from_segment", "to_segment", "customers", "revenue_before", "revenue_after")
#: Columns of :func:`movers`, in order.
MOVER_COLUMNS = ("customer_id", "from_segment", "to_segment", "direction",
                 *(f"{f}_before" for f in FEATURES), *(f"{f}_after" for f in FEATURES),
                 "action", "action_reason")


def pair(before: pd.DataFrame, after: pd.DataFrame, *, cumulative: bool) -> pd.DataFrame:
    """One row per customer of either snapshot: their segment and R/F/M at each.

    Parameters
    ----------
    before, after:
        RFM tables with ``segment`` (and, for ``after``, optionally ``action`` and
        ``action_reason``: the action for the customer's new state).
    cumulative:
        True when both come from the same lines at two dates (the second counts the first's
        lines too): ``revenue_after`` is then the spend between the dates; for two files it is
        the second file's spend.

    Returns
    -------
    ``customer_id``, ``from_segment`` (:data:`NEW` when absent before), ``to_segment``
    (:data:`GONE` when absent after), R/F/M ``_before`` and ``_after`` (NaN when absent),
    ``revenue_before`` and ``revenue_after`` (0 when absent), and the action columns.
    """
    keep = ["customer_id", "segment", *FEATURES]
    extra = [c for c in ("action", "action_reason") if c in after]
    left = before[keep].rename(columns=lambda c: c if c == "customer_id" else f"{c}_before")
    right = after[keep + extra].rename(
        columns=lambda c: c if c in ("customer_id", *extra) else f"{c}_after")
    paired = left.merge(right, on="customer_id", how="outer", validate="one_to_one", sort=True)
    paired["from_segment"] = paired.pop("segment_before").astype(object).fillna(NEW)
    paired["to_segment"] = paired.pop("segment_after").astype(object).fillna(GONE)
    spent_before = paired["monetary_before"].fillna(0.0)
    spent_after = paired["monetary_after"].fillna(0.0)
    paired["revenue_before"] = spent_before
    # Cumulative snapshots: the second's spend includes the first's; the period's is the rest.
    paired["revenue_after"] = (spent_after - spent_before).where(
        paired["monetary_after"].notna(), 0.0) if cumulative else spent_after
    return paired.reset_index(drop=True)


def migration_table(paired: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """From-segment × to-segment: customers and revenue (:data:`COLUMNS`), one row per pair
    that has customers, in ``order`` (most valuable first; "new" last among from-segments,
    "gone" last among to-segments)."""
    grouped = paired.groupby(["from_segment", "to_segment"], sort=False).agg(
        customers=("customer_id", "size"), revenue_before=("revenue_before", "sum"),
        revenue_after=("revenue_after", "sum")).reset_index()
    rank = _rank(order, list(grouped["from_segment"]) + list(grouped["to_segment"]))
    grouped["_from"] = grouped["from_segment"].map(rank)
    grouped["_to"] = grouped["to_segment"].map(rank)
    grouped = grouped.sort_values(["_from", "_to"], kind="stable")
    grouped["customers"] = grouped["customers"].astype("int64")
    return grouped[list(COLUMNS)].reset_index(drop=True)


def _rank(order: Sequence[str], names: Sequence[str]) -> dict[str, int]:
    """Position of each name: the model's order, then any other name, then new and gone."""
    known = [str(n) for n in order]
    others = sorted({str(n) for n in names} - set(known) - {NEW, GONE})
    return {n: i for i, n in enumerate([*known, *others, NEW, GONE])}


def _are(count: int) -> str:
    return f"{count:,} {'is' if count == 1 else 'are'}"


def migration_matrix(table: pd.DataFrame, order: Sequence[str],
                     value: str = "customers") -> pd.DataFrame:
    """:func:`migration_table` as a from (rows) × to (columns) matrix of ``value``, with every
    segment of ``order`` on both sides (0 where nobody moved), "new" as the last row and
    "gone" as the last column when there are any, and totals."""
    seen = set(table["from_segment"]) | set(table["to_segment"])
    extra = sorted(seen - {*order, NEW, GONE})
    new = [NEW] if NEW in set(table["from_segment"]) else []
    gone = [GONE] if GONE in set(table["to_segment"]) else []
    wide = table.pivot_table(index="from_segment", columns="to_segment", values=value,
                             aggfunc="sum", fill_value=0)
    wide = wide.reindex(index=[*order, *extra, *new], columns=[*order, *extra, *gone],
                        fill_value=0)
    wide["total"] = wide.sum(axis=1)
    wide.loc["total"] = wide.sum(axis=0)
    wide.index.name, wide.columns.name = "from", "to"
    return wide


def movers(paired: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Every customer in both snapshots whose segment changed (:data:`MOVER_COLUMNS`), with
    ``direction`` "down" (to a less valuable segment in ``order``) or "up"; biggest spenders of
    the first period first."""
    both = paired[(paired["from_segment"] != NEW) & (paired["to_segment"] != GONE)]
    moved = both[both["from_segment"] != both["to_segment"]].copy()
    rank = _rank(order, list(moved["from_segment"]) + list(moved["to_segment"]))
    down = moved["to_segment"].map(rank) > moved["from_segment"].map(rank)
    moved["direction"] = np.where(down, "down", "up")
    for col in ("action", "action_reason"):
        if col not in moved:
            moved[col] = ""
    moved = moved.sort_values(["monetary_before", "customer_id"], ascending=[False, True],
                              kind="stable")
    return moved[list(MOVER_COLUMNS)].reset_index(drop=True)


def headline(table: pd.DataFrame, order: Sequence[str], *, currency: str = "",
             dates: tuple[str, str] = ("the first date", "the second")) -> str:
    """The migration in one or two sentences: the slip down that carried the most of the first
    period's revenue, the largest rise, and how many changed segment or are new/gone.

    ``312 Champions slipped to At Risk between 2011-06-01 and 2011-12-09: £X of the first
    period's revenue.``
    """
    rank = _rank(order, list(table["from_segment"]) + list(table["to_segment"]))
    both = table[(table["from_segment"] != NEW) & (table["to_segment"] != GONE)]
    changed = both[both["from_segment"] != both["to_segment"]]
    down = changed[changed["to_segment"].map(rank) > changed["from_segment"].map(rank)]
    up = changed[changed["to_segment"].map(rank) < changed["from_segment"].map(rank)]
    span = f"between {dates[0]} and {dates[1]}"
    parts = []
    if not down.empty:
        top = down.sort_values(["revenue_before", "customers"], ascending=False,
                               kind="stable").iloc[0]
        parts.append(f"{int(top['customers']):,} {top['from_segment']} slipped to "
                     f"{top['to_segment']} {span}: {money(top['revenue_before'], currency)} "
                     f"of the first period's revenue.")
    if not up.empty:
        top = up.sort_values(["customers", "revenue_after"], ascending=False,
                             kind="stable").iloc[0]
        parts.append(f"The largest rise: {int(top['customers']):,} {top['from_segment']} "
                     f"became {top['to_segment']}.")
    stayed = int(both["customers"].sum())
    new = int(table.loc[table["from_segment"] == NEW, "customers"].sum())
    gone = int(table.loc[table["to_segment"] == GONE, "customers"].sum())
    tail = (f"{int(changed['customers'].sum()):,} of the {stayed:,} customers at both dates "
            f"changed segment; {_are(new)} new")
    parts.append(tail + (f" and {_are(gone)} gone." if gone else "."))
    if not parts[:-1]:
        parts.insert(0, f"No customer changed segment {span}." if changed.empty else "")
    return " ".join(p for p in parts if p)

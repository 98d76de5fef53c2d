"""RFM snapshots: the RFM table as it stood at earlier dates, from one load of the lines.

A snapshot at date D counts only the kept lines before midnight of D and measures recency
and tenure to D, so it is the table ``custseg run --as-of D`` would give on the same file.
Snapshots are cumulative: a customer who bought before D is in every later snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

import pandas as pd

from custseg import rfm
from custseg.engine import resource_errors
from custseg.errors import ConfigError

if TYPE_CHECKING:
    from custseg.pipeline import Dataset

#: Periods ``--every`` accepts, with the pandas frequency of their first days.
PERIODS: dict[str, str] = {"month": "MS", "quarter": "QS", "year": "YS"}


@dataclass(frozen=True)
class Snapshot:
    """The RFM table at one date."""

    #: Midnight of the snapshot date: lines before it count, recency is measured to it.
    when: datetime
    rfm: pd.DataFrame

    @property
    def label(self) -> str:
        return self.when.date().isoformat()


def data_span(dataset: Dataset) -> tuple[datetime, datetime]:
    """The first and the last kept invoice timestamps."""
    row = dataset.con.execute("SELECT min(invoice_date), max(invoice_date) FROM clean")
    first, last = row.fetchall()[0]
    return first, last


def check_dates(dataset: Dataset, dates: Sequence[date], where: str = "--as-of") -> list[datetime]:
    """The dates as midnights, checked: in increasing order and inside the data.

    Raises
    ------
    ConfigError
        Naming the date, the data's span and what to give instead.
    """
    first, last = data_span(dataset)
    whens = [datetime(d.year, d.month, d.day) for d in dates]
    for when in whens:
        # Before the first purchase nobody is a customer yet; more than a day after the last,
        # every recency would be measured across a stretch the data does not cover.
        if when <= first or when > last + timedelta(days=1):
            raise ConfigError(
                f"{where} {when.date()}: outside the data of {_name(dataset)}, whose kept "
                f"lines run from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}. Give dates "
                f"after {first.date()} and up to {(last + timedelta(days=1)).date()}.")
    for earlier, later in pairwise(whens):
        if later <= earlier:
            raise ConfigError(f"{where}: {earlier.date()} then {later.date()} are not in "
                              f"increasing order; give the earlier date first.")
    return whens


def period_starts(dataset: Dataset, every: str) -> list[datetime]:
    """The first day of every ``every`` (month, quarter, year) after the data's first kept
    invoice, up to the dataset's snapshot, which closes the list."""
    if every not in PERIODS:
        raise ConfigError(f"--every: {every!r}; use {', '.join(PERIODS)}.")
    first, _ = data_span(dataset)
    last = dataset.snapshot
    starts = pd.date_range(first.replace(hour=0, minute=0, second=0, microsecond=0)
                           + timedelta(days=1), last, freq=PERIODS[every])
    whens = [ts.to_pydatetime() for ts in starts if ts.to_pydatetime() < last]
    if not whens or whens[-1] != last:
        whens.append(last)
    if len(whens) < 2:
        raise ConfigError(f"--every {every}: the data of {_name(dataset)} spans less than "
                          f"one {every} after its first purchase; choose a shorter period.")
    return whens


def snapshot_at(dataset: Dataset, when: datetime) -> Snapshot:
    """The RFM table of the lines before ``when``, measured to ``when``."""
    with resource_errors(dataset.config, f"building the RFM table at {when.date()}"):
        before = None if when >= dataset.snapshot else when
        return Snapshot(when, rfm.build_rfm(dataset.con, when, before=before))


def _name(dataset: Dataset) -> str:
    return dataset.source.path or "the input"

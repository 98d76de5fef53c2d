"""Customer profiles: the planted archetypes and anomalous customers, and their draws."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from custseg.synth.draws import log_uniform, stream
from custseg.synth.times import LAST_DAY

#: Planted customer archetypes (normal customers); anomalous customers are labelled "anomaly".
ARCHETYPES: tuple[str, ...] = ("champions", "regulars", "at_risk", "new")
ANOMALY = "anomaly"
#: Archetypes whose spend is large enough to carry planted lines unnoticed.
BIG_SPENDERS = (ARCHETYPES.index("champions"), ARCHETYPES.index("regulars"))

COUNTRIES = ("United Kingdom", "Germany", "France", "EIRE", "Spain", "Netherlands",
             "Belgium", "Switzerland", "Portugal", "Norway")
UK = 0  # index in COUNTRIES
_FOREIGN_P = np.array([0.25, 0.22, 0.2, 0.08, 0.08, 0.07, 0.05, 0.03, 0.02])
_UK_SHARE = 0.9


class Quantities(IntEnum):
    """How many packs a customer's lines hold."""

    NORMAL = 0  # the usual multipliers (1-6 packs, median 3)
    HIGH = 1  # 4-6 packs
    ONE = 2  # one pack


@dataclass(frozen=True)
class Profile:
    """Ranges (lo, hi) a customer's targets are drawn from; log-uniform unless noted."""

    recency: tuple[float, float]  # days before the end of the year
    frequency: tuple[float, float]  # invoices
    lines: tuple[float, float]  # mean lines per invoice (Poisson) or exact (uniform)
    tenure: tuple[float, float]  # days from first to last invoice (uniform)
    quantity: Quantities = Quantities.NORMAL
    poisson: bool = True


#: Shares of the archetypes among normal customers.
_SHARES = np.array([0.15, 0.35, 0.25, 0.25])
#: One profile per archetype, then one per type of anomalous customer.
PROFILES: tuple[Profile, ...] = (
    Profile((1, 12), (12, 30), (10, 20), (250, 372)),  # champions
    Profile((20, 75), (4, 10), (8, 16), (100, 300)),  # regulars
    Profile((160, 320), (2, 6), (8, 16), (30, 200)),  # at_risk
    Profile((3, 30), (1, 2), (8, 16), (0, 20)),  # new
    # Anomalies: whales (one or two enormous orders), bots (frequent, tiny), frequent buyers
    # who stopped long ago.
    Profile((1, 300), (1, 2), (500, 900), (0, 30), Quantities.HIGH, poisson=False),
    Profile((1, 5), (150, 300), (1, 1), (300, 372), Quantities.ONE, poisson=False),
    Profile((340, 365), (40, 80), (12, 20), (5, 30)),
)
WHALE = len(ARCHETYPES)  # the profile of whales
_N_ANOMALY_TYPES = len(PROFILES) - len(ARCHETYPES)
#: Truth label per profile.
PROFILE_NAMES = np.array([*ARCHETYPES, *[ANOMALY] * _N_ANOMALY_TYPES])


@dataclass(frozen=True)
class Customers:
    """Customers of one block and the targets their invoices are drawn from."""

    id: np.ndarray  # CustomerID
    profile: np.ndarray  # index into PROFILES
    anomaly: np.ndarray  # bool
    country: np.ndarray  # index into COUNTRIES
    frequency: np.ndarray  # invoices
    lines: np.ndarray  # mean (or exact) lines per invoice
    first: np.ndarray  # day of the first invoice (0 = 2010-12-01)
    last: np.ndarray  # day of the last invoice
    quantity: np.ndarray  # Quantities of their lines
    poisson: np.ndarray  # whether lines per invoice vary (Poisson) or are exact


def anomaly_index(customers: int, anomaly_share: float, seed: int) -> np.ndarray:
    """Global indices of anomalous customers, sorted (random stream 1)."""
    n = round(customers * anomaly_share)
    return np.sort(stream(seed, 1).choice(customers, n, replace=False))


def countries(rng: np.random.Generator, n: int) -> np.ndarray:
    """Countries of ``n`` buyers: the UK nine times in ten."""
    return np.where(rng.random(n) < _UK_SHARE, UK,
                    1 + rng.choice(len(_FOREIGN_P), n, p=_FOREIGN_P / _FOREIGN_P.sum()))


def draw_customers(rng: np.random.Generator, first: int, n: int, anomalies: np.ndarray,
                   first_id: int) -> Customers:
    """Customers ``first``..``first + n - 1`` (global indices; ids from ``first_id``)."""
    profile = rng.choice(len(ARCHETYPES), n, p=_SHARES)
    is_anom = np.isin(np.arange(first, first + n), anomalies)
    # Anomaly type cycles with the anomaly's global rank so that every block mixes them.
    rank = np.searchsorted(anomalies, np.arange(first, first + n))
    profile = np.where(is_anom, len(ARCHETYPES) + rank % _N_ANOMALY_TYPES, profile)
    country = np.where(is_anom, UK, countries(rng, n))

    def draw(field: str, log: bool = True) -> np.ndarray:
        lo = np.array([getattr(p, field)[0] for p in PROFILES])[profile]
        hi = np.array([getattr(p, field)[1] for p in PROFILES])[profile]
        return log_uniform(rng, lo, hi) if log else rng.uniform(lo, hi)

    recency = np.round(draw("recency")).astype(np.int64)
    frequency = np.maximum(np.round(draw("frequency")), 1).astype(np.int64)
    lines = draw("lines")
    last = LAST_DAY + 1 - recency
    first_day = np.maximum(last - np.round(draw("tenure", log=False)).astype(np.int64), 0)
    return Customers(
        id=np.arange(first, first + n) + first_id,
        profile=profile, anomaly=is_anom, country=country,
        frequency=frequency, lines=lines, first=first_day, last=last,
        quantity=np.array([p.quantity for p in PROFILES])[profile],
        poisson=np.array([p.poisson for p in PROFILES])[profile],
    )

"""The calendar of the log: one trading year, business hours, times in seconds."""

from __future__ import annotations

import numpy as np

#: Times are seconds after this instant.
START = np.datetime64("2010-12-01T00:00:00", "s")
LAST_DAY = 373  # 2011-12-09
DAY = 86_400
_OPEN, _CLOSE = 8 * 3600, 19 * 3600


def daytime(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day of ``n`` business minutes."""
    return rng.integers(_OPEN // 60, _CLOSE // 60, n) * 60


def later(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """A business time after t: later the same day or one or two days later.

    Never past the last business minute of the year.
    """
    n = len(t)
    day, sec = np.divmod(t, DAY)
    minutes_left = (_CLOSE - 60 - sec) // 60
    same = (minutes_left >= 10) & (rng.random(n) < 0.5)
    same_t = t + 60 * (1 + np.floor(rng.random(n) * minutes_left).astype(np.int64))
    next_t = (day + rng.integers(1, 3, n)) * DAY + daytime(rng, n)
    return np.minimum(np.where(same, same_t, next_t), LAST_DAY * DAY + _CLOSE - 60)

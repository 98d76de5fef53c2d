"""What the benchmark scripts share: where the real data is, and how a call is timed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
XLSX = DATA / "online_retail.xlsx"
CSV = DATA / "online_retail.csv.gz"


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    return statistics.median(_wall(fn) for _ in range(repeats))


def paired_ratio(fn: Callable[[], object], baseline: Callable[[], object],
                 repeats: int) -> tuple[float, float, float, list[float]]:
    """``fn`` against ``baseline``, timed alternately so both see the same machine load.

    Returns the median time of each, the median of the per-pair ratios and those ratios
    (a noisy machine moves both halves of a pair together; separate blocks of runs do not).
    """
    times: list[float] = []
    base: list[float] = []
    for _ in range(repeats):
        base.append(_wall(baseline))
        times.append(_wall(fn))
    ratios = [t / b for t, b in zip(times, base, strict=True)]
    return statistics.median(times), statistics.median(base), statistics.median(ratios), ratios


def host_speed() -> float:
    """Seconds (best of 3) for a fixed pure-Python loop, printed beside absolute figures so
    that figures from different machines can be compared."""

    def loop() -> int:
        total = 0
        for i in range(3_000_000):
            total += i
        return total

    return min(_wall(loop) for _ in range(3))


def _wall(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start

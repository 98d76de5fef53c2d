"""What the benchmark scripts share: where the real data is, and how a call is timed."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
XLSX = DATA / "online_retail.xlsx"
CSV = DATA / "online_retail.csv.gz"


def bare_read() -> None:
    """The bare calamine read of the workbook: the fastest fastexcel offers (eager Arrow), so
    ratios against it are not flattered."""
    import fastexcel

    fastexcel.read_excel(str(XLSX)).load_sheet(0, eager=True)


def whole_run(config: object) -> None:
    """A whole ``custseg run`` of the workbook with ``config``, outputs written (and removed)."""
    import custseg

    with tempfile.TemporaryDirectory() as tmp:
        custseg.write_outputs(custseg.run(XLSX, config), tmp)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    return statistics.median(_wall(fn) for _ in range(repeats))


def paired_ratio(fn: Callable[[], object], baseline: Callable[[], object],
                 repeats: int) -> tuple[float, float, float, list[float]]:
    """``fn`` against ``baseline``, timed alternately so both see the same machine load.

    Returns the median time of each, the median of the per-pair ratios and those ratios
    (a noisy machine moves both halves of a pair together; separate blocks of runs do not).
    """
    base, times = timed_rounds(baseline, {"fn": fn}, repeats)
    ratios = [t / b for t, b in zip(times["fn"], base, strict=True)]
    return statistics.median(times["fn"]), statistics.median(base), statistics.median(ratios), \
        ratios


def timed_rounds(baseline: Callable[[], object], fns: dict[str, Callable[[], object]],
                 repeats: int) -> tuple[list[float], dict[str, list[float]]]:
    """Wall times of ``baseline`` and of each of ``fns``, in ``repeats`` rounds of one call
    each (baseline first), so that every function sees the machine's load of its round."""
    base: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        base.append(_wall(baseline))
        for name, fn in fns.items():
            times[name].append(_wall(fn))
    return base, times


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

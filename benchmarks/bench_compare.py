"""custseg compare on the real workbook (two snapshots, 2011-06-01 and 2011-12-09, files
written) against one whole ``custseg run`` of it, timed in alternating pairs.

Run: ``nice -n 19 python benchmarks/bench_compare.py [--repeats 3]``. Needs ../shared/data.
The target (issue 15): compare ≤ 1.5× a run. Prints the figures for docs/over_time.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date

from common import XLSX, paired_ratio, whole_run

DATES = [date(2011, 6, 1), date(2011, 12, 9)]


def compare_run() -> None:
    from custseg import compare

    with tempfile.TemporaryDirectory() as tmp:
        compare.write_comparison(compare.compare_dates(XLSX, DATES), tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not XLSX.exists():
        sys.exit(f"{XLSX} is absent: the benchmark needs the real workbook.")
    import custseg

    compare_run()  # imports and caches warmed for both sides
    fn, base, ratio, ratios = paired_ratio(compare_run, lambda: whole_run(custseg.Config()),
                                           args.repeats)
    print("| what | median s |\n|---|---:|")
    print(f"| custseg run (report and files) | {base:.2f} |")
    print(f"| custseg compare, two snapshots (migration, movers, compare.html) | {fn:.2f} |")
    print(f"\ncompare / run: median of paired ratios {ratio:.2f}× "
          f"({', '.join(f'{r:.2f}' for r in ratios)}); target ≤ 1.5×")


if __name__ == "__main__":
    main()

"""How well custseg compare recovers the movers the generator plants.

Run: ``python benchmarks/eval_movers.py [--customers 2000] [--seeds 42 7 3 11]
[--shares 0.1 0.2] [--move-date 2011-06-01]``. For each share and seed it generates data with
planted movers, compares the move date with the day after the data, and prints recall and
precision of the planted moves (custseg.synth.movers.recovery; target ≥ 0.9 both), and how
many customers changed segment in all.
"""

from __future__ import annotations

import argparse
from datetime import date

from custseg import compare, synth
from custseg.synth.movers import recovery

END = date(2011, 12, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 3, 11])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--move-date", type=date.fromisoformat, default=date(2011, 6, 1))
    args = parser.parse_args()
    print("| share | seed | planted | movers | recall | precision |")
    print("|---:|---:|---:|---:|---:|---:|")
    for share in args.shares:
        for seed in args.seeds:
            log, truth, _ = synth.generate_frame(args.customers, seed,
                                                 movers=synth.Movers.at(share, args.move_date))
            result = compare.compare_dates(log, [args.move_date, END])
            recall, precision = recovery(result.movers, result.model.segments_, truth)
            planted = int((truth["planted_move"] != "").sum())
            print(f"| {share:.2f} | {seed} | {planted:,} | {len(result.movers):,} | "
                  f"{recall:.3f} | {precision:.3f} |")


if __name__ == "__main__":
    main()

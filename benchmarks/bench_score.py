"""Scoring speed (issue 15): assigning a million customers to a saved segmentation.

Fits a Segmenter on the real customers (seed rules; generated ones when ../shared/data is
absent), saves and loads it as JSON, then times on ``--customers`` generated customers:

- ``Segmenter.assign`` alone (labels, distances, confidences);
- the scoring stage after the RFM table: assignment, the features outside the training
  range, each customer's own action, the segment table and the range table
  (:mod:`custseg.scoring`): what ``custseg score`` adds to reading and RFM.

Target: 1,000,000 customers ≤ 5 s. Run: ``python benchmarks/bench_score.py [--customers
1000000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_model import synthetic_rfm
from common import CSV, host_speed

import custseg
from custseg import scoring
from custseg.segmenter import Segmenter


def _training_rfm():
    if CSV.exists():
        config = custseg.Config(cleaning=custseg.CleaningConfig.preset("seed"))
        return custseg.compute_rfm(custseg.load(CSV, config)), "real customers (seed rules)"
    return synthetic_rfm(4_000, seed=1), "4,000 generated customers (no real data)"


def _times(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    training, what = _training_rfm()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        fitted = Segmenter().fit(training)
        fit_s = time.perf_counter() - start
        path = fitted.save(Path(tmp) / "model.json")
        size = path.stat().st_size
        start = time.perf_counter()
        model = Segmenter.load(path)
        load_s = time.perf_counter() - start
    table = synthetic_rfm(args.customers, seed=2)
    lapse = custseg.ClusterConfig().lapse_after

    def stage() -> None:
        customers = scoring.assign_customers(table, model, lapse)
        scoring.segment_table(customers, model)
        scoring.ranges(customers, model)

    assign = _times(lambda: model.assign(table), args.repeats)
    whole = _times(stage, args.repeats)
    print(f"python {sys.version.split()[0]}, host loop {host_speed():.2f} s")
    print(f"model: k={model.n_clusters_} fitted on {len(training):,} {what} in {fit_s:.2f} s; "
          f"JSON {size:,} bytes, loaded and checked in {load_s * 1000:.1f} ms")
    print(f"\n| {args.customers:,} customers | median (s) | min (s) | max (s) |")
    print("|---|---:|---:|---:|")
    for name, times in (("Segmenter.assign", assign), ("scoring stage after RFM", whole)):
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} | "
              f"{max(times):.2f} |")
    print("(target: 1,000,000 customers ≤ 5 s)")


if __name__ == "__main__":
    main()

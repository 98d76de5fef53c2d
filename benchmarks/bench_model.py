"""Modelling speed: the customer-scale stages on the real data and on 1M customers, the whole
``custseg run`` against the bare read, and the dashboard's change-k re-run.

Run: ``python benchmarks/bench_model.py [--million 1000000] [--repeats 3]``.
Needs ../shared/data. Figures are measured in this run; ratios compare figures of this run.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from common import XLSX, bare_read, host_speed, median_time, paired_ratio, whole_run

import custseg
from custseg import pipeline


def synthetic_rfm(n: int, seed: int = 0) -> pd.DataFrame:
    """An RFM table of ``n`` customers from skewed draws shaped like the real one."""
    rng = np.random.default_rng(seed)
    frequency = 1 + rng.geometric(0.3, n)
    return pd.DataFrame({
        "customer_id": np.char.add("c", np.arange(n).astype(str)),
        "recency": rng.integers(1, 375, n),
        "frequency": frequency,
        "monetary": np.round(frequency * rng.lognormal(5.5, 0.8, n), 2),
    })


def dashboard_first_load(config: custseg.Config) -> None:
    """What the dashboard does for a new file, with its caches emptied first: hash the file,
    read it, clean it and build the RFM table through the app's own cached stages."""
    from custseg.app import state

    for stage in (state.read_raw, state.load_dataset, state.compute_rfm):
        stage.clear()
    state.compute_rfm(state.file_source(XLSX), config.cleaning, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--million", type=int, default=1_000_000,
                        help="customers in the large modelling run (0 to skip)")
    args = parser.parse_args()

    seed = custseg.Config(cleaning=custseg.CleaningConfig.preset("seed"))
    dataset = custseg.load(XLSX, seed)
    rfm = custseg.compute_rfm(dataset)
    pipeline.model(rfm, seed)  # warm up imports

    stage_times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        timings: dict[str, float] = {}
        last = [time.perf_counter(), None]

        def tick(name: str, timings=timings, last=last) -> None:
            now = time.perf_counter()
            if last[1] is not None:
                timings[last[1]] = now - last[0]
            last[0], last[1] = now, name

        fitted = pipeline.model(rfm, seed, progress=tick)
        tick("end")
        timings.update(fitted.timings)  # own durations of the sub-stages run beside others
        for name, seconds in timings.items():
            stage_times.setdefault(name, []).append(seconds)
    model_total = median_time(lambda: pipeline.model(rfm, seed), args.repeats)

    k3 = seed.replace(cluster=dataclasses.replace(seed.cluster, k=3))
    k4 = seed.replace(cluster=dataclasses.replace(seed.cluster, k=4))
    # The dashboard caches the k search and the customer scores (neither depends on k), so a
    # new k re-runs only the fit for that k, the naming and the explanation.
    search, scored = pipeline.search_k(rfm, seed), pipeline.customer_anomalies(rfm, seed)
    change_k = median_time(lambda: pipeline.model(rfm, k4, search=search, scored=scored),
                           args.repeats)
    change_k_cold = median_time(lambda: pipeline.model(rfm, k4), args.repeats)

    whole, bare, ratio, ratios = paired_ratio(lambda: whole_run(k3), bare_read, args.repeats)

    # The same from a shell: a fresh interpreter each time, imports included, against a fresh
    # interpreter that only reads the workbook.
    def in_process(code: str, *argv: str) -> None:
        subprocess.run([sys.executable, "-c", code, *argv], check=True)

    with tempfile.TemporaryDirectory() as tmp:
        cli, bare_cli, cli_ratio, _ = paired_ratio(
            lambda: in_process("from custseg.cli import main; main()", "run", str(XLSX),
                               "--out", tmp, "--rules", "seed", "--k", "3", "--quiet"),
            lambda: in_process(f"import fastexcel; "
                               f"fastexcel.read_excel({str(XLSX)!r}).load_sheet(0, eager=True)"),
            args.repeats)

    app_load = median_time(lambda: dashboard_first_load(seed), args.repeats)

    print(f"Host speed (a 3M-step Python loop, best of 3): {host_speed():.3f} s")
    print(f"Real data under the seed's rules: {len(rfm):,} customers\n")
    print("| stage (own durations; those run side by side overlap) | seconds (median) |")
    print("|---|---:|")
    for name, values in stage_times.items():
        print(f"| {name} | {statistics.median(values):.3f} |")
    print(f"| **modelling total** | **{model_total:.3f}** |")
    print(f"\n- modelling on {len(rfm):,} customers: {model_total:.2f} s (target ≤ 1 s)")
    print(f"- change of k in the dashboard (cached k search and customer scores): "
          f"{change_k:.2f} s (target ≤ 0.3 s); without those caches {change_k_cold:.2f} s")
    print(f"- whole `custseg run` + outputs on the workbook: {whole:.2f} s; bare calamine read "
          f"{bare:.2f} s (timed alternately); median ratio {ratio:.2f}× (target ≤ 1.3×); "
          f"per pair {', '.join(f'{r:.2f}' for r in sorted(ratios))}")
    print(f"- the same as a command (`custseg run … --rules seed --k 3 --quiet`, a fresh "
          f"interpreter with its imports): {cli:.2f} s; a fresh interpreter doing only the bare "
          f"read {bare_cli:.2f} s; median ratio {cli_ratio:.2f}×")
    print(f"- dashboard first load of the workbook (hash, read, clean, RFM — the app's own "
          f"stage functions): {app_load:.2f} s; {app_load / bare:.2f}× the bare read "
          f"(target ≤ 1.3×)")
    if args.million:
        big = synthetic_rfm(args.million)
        start = time.perf_counter()
        fitted = pipeline.model(big, custseg.Config())
        print(f"- modelling on {args.million:,} customers: {time.perf_counter() - start:.1f} s "
              f"(k={fitted.clustering.k}; target ≤ 60 s)")


if __name__ == "__main__":
    main()

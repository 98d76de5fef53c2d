"""Lifetime-value speed and memory: fit + predictions on the real data (3,882 customers, seed
rules) against lifetimes' own pandas path on the same lines, and on 1M generated customers
against the RFM table of the same lines; time and peak RSS, each large run in a fresh process.

Run: ``nice -n 19 python benchmarks/bench_clv.py [--customers 1000000] [--repeats 3]``.
Needs ../shared/data for the real-data part. Figures are measured in this run; ratios compare
figures of this run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from common import CSV, host_speed, paired_ratio

import custseg
from custseg import clv, forecast, rfm
from custseg.clv_inputs import clv_inputs, observation_end
from custseg.config import CLVConfig
from custseg.engine import connect

#: BG/NBD and Gamma-Gamma parameters near those of the real data (docs/clv.md), so that the
#: generated log looks like it: few repeat purchases per customer, a tiny dropout.
LIKE_REAL = {"r": 0.84, "alpha": 71.0, "a": 0.05, "b": 8.5, "p": 1.9, "q": 4.8, "v": 730.0}


def fit_and_predict(con, snapshot) -> pd.DataFrame:
    """The modelling inputs in SQL, both fits, and every customer's predictions."""
    end = observation_end(snapshot)
    inputs = clv_inputs(con, end, end)
    fitted = clv.fit(inputs)
    return fitted.predict(inputs, horizon_days=90, months=12, discount_rate=0.01)


def lifetimes_path(con, snapshot) -> pd.Series:
    """What a lifetimes user writes: its pandas summary of the lines, both fits, CLV."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import summary_data_from_transaction_data

        lines = con.execute("SELECT customer_id, invoice_date, amount FROM clean").df()
        end = pd.Timestamp(observation_end(snapshot))
        data = summary_data_from_transaction_data(lines, "customer_id", "invoice_date",
                                                  "amount", observation_period_end=end)
        bgf = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
        repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
        ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
        bgf.conditional_probability_alive(data["frequency"], data["recency"], data["T"])
        return ggf.customer_lifetime_value(bgf, data["frequency"], data["recency"], data["T"],
                                           data["monetary_value"], time=12, freq="D")


def real_data(repeats: int) -> None:
    if not CSV.exists():
        print("real data: ../shared/data is absent, skipped")
        return
    dataset = custseg.load(CSV, custseg.Config(cleaning=custseg.CleaningConfig.preset("seed")))
    con, snapshot = dataset.con, dataset.snapshot
    ours, theirs, ratio, _ = paired_ratio(lambda: fit_and_predict(con, snapshot),
                                          lambda: lifetimes_path(con, snapshot), repeats)
    customers = len(rfm.build_rfm(con, snapshot))
    print(f"real data, seed rules, {customers:,} customers:")
    print(f"  custseg fit + predictions (SQL inputs, BG/NBD, Gamma-Gamma, CLV): {ours:.2f} s")
    print(f"  lifetimes' own path (pandas summary, fits, CLV):                 {theirs:.2f} s")
    print(f"  ratio custseg / lifetimes: {ratio:.2f}")
    start = time.perf_counter()
    forecast.estimate(con, snapshot, pd.DataFrame({"customer_id": []}), CLVConfig())
    print(f"  whole stage with the hold-out validation: {time.perf_counter() - start:.2f} s")


def generate_lines(n: int, path: Path, seed: int = 0) -> int:
    """A log of ``n`` customers drawn from :data:`LIKE_REAL`, first purchases spread over a
    year, one line per purchase, written to ``path`` (Parquet); returns the number of lines."""
    rng = np.random.default_rng(seed)
    p = LIKE_REAL
    rate = rng.gamma(p["r"], 1 / p["alpha"], n)
    drop = rng.beta(p["a"], p["b"], n)
    nu = rng.gamma(p["q"], 1 / p["v"], n)
    start = rng.uniform(0, 365, n)
    end = 373.0
    customers, days = [np.arange(n)], [start]
    now, active = start.copy(), np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        when = now[idx] + rng.exponential(1 / rate[idx])
        bought = when < end
        buyers = idx[bought]
        customers.append(buyers)
        days.append(when[bought])
        now[buyers] = when[bought]
        active[idx[~bought]] = False
        active[buyers[rng.random(len(buyers)) < drop[buyers]]] = False
    who = np.concatenate(customers)
    at = np.concatenate(days)
    amount = rng.gamma(p["p"], 1 / nu[who])
    stamps = pd.Timestamp("2010-12-01") + pd.to_timedelta(np.round(at * 86400), unit="s")
    frame = pd.DataFrame({"customer_id": who + 100_000, "invoice": np.arange(len(who)),
                          "invoice_date": stamps, "amount": np.round(amount, 2)})
    frame.to_parquet(path, index=False)
    return len(frame)


def large_child(path: str, what: str) -> None:
    """In a fresh process: time ``what`` (rfm, fit, stage) on the log at ``path``, print JSON."""
    con = connect(custseg.Config())
    con.execute(f"CREATE VIEW clean AS SELECT * FROM read_parquet('{path}')")
    snapshot = rfm.default_snapshot(con)
    start = time.perf_counter()
    if what == "rfm":
        rows = len(rfm.build_rfm(con, snapshot))
    elif what == "fit":
        rows = len(fit_and_predict(con, snapshot))
    else:
        rows = len(forecast.estimate(con, snapshot, pd.DataFrame({"customer_id": []}),
                                     CLVConfig()).predictions)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "customers": rows}))


def large(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.parquet"
        lines = generate_lines(n, path)
        print(f"generated: {n:,} customers, {lines:,} lines (parameters {LIKE_REAL})")
        figures = {}
        for what in ("rfm", "fit", "stage"):
            out = subprocess.run([sys.executable, __file__, "--child", str(path), what],
                                 check=True, capture_output=True, text=True).stdout
            figures[what] = json.loads(out.strip().splitlines()[-1])
        base = figures["rfm"]
        for what, words in (("rfm", "RFM table (baseline)"),
                            ("fit", "fit + predictions (SQL inputs, fits, CLV)"),
                            ("stage", "whole stage with the hold-out validation")):
            f = figures[what]
            print(f"  {words:<45} {f['seconds']:6.2f} s  ({f['seconds'] / base['seconds']:.1f}"
                  f"× RFM)  peak RSS {f['peak_mb']:,.0f} MB  {f['customers']:,} customers")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        large_child(*args.child)
        return
    print(f"host speed (pure-Python loop, lower is faster): {host_speed():.3f} s")
    real_data(args.repeats)
    large(args.customers)


if __name__ == "__main__":
    main()

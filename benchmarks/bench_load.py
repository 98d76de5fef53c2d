"""Load + clean + RFM: custseg against the bare read and against the seed's way.

Run: ``python benchmarks/bench_load.py [--skip-seed] [--big-lines 10000000]``.
Needs ../shared/data (the real workbook and CSV) and ``pip install -e .[bench]``.
Every figure is measured in this run; ratios compare figures of the same run, because these
machines are noisy. Prints a Markdown table to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from common import CSV, DATA, XLSX, bare_read
from common import median_time as timed


def bare_csv() -> None:
    import duckdb

    duckdb.connect().execute(f"SELECT count(*) FROM read_csv('{CSV}')").fetchall()


def custseg_rfm(path: Path) -> Callable[[], object]:
    import custseg

    config = custseg.Config(cleaning=custseg.CleaningConfig.preset("seed"))
    return lambda: custseg.compute_rfm(custseg.load(path, config))


def seed_way(read: Callable[[], object]) -> Callable[[], object]:
    """The seed report's code: pandas, dropna, filters, groupby with lambdas."""

    def run() -> object:
        df = read()
        df = df.dropna()
        df = df[~df["InvoiceNo"].astype(str).str.startswith("C")]
        df = df[df["Country"] == "United Kingdom"]
        df["TotalCost"] = df["Quantity"] * df["UnitPrice"]
        df = df[(df["TotalCost"] <= 500) & (df["Quantity"] <= 100)]
        snapshot = df["InvoiceDate"].max() + timedelta(days=1)
        return df.groupby("CustomerID").agg({
            "InvoiceDate": lambda x: (snapshot - x.max()).days,
            "InvoiceNo": lambda x: x.nunique(),
            "TotalCost": lambda x: x.sum(),
        })

    return run


def big_run(lines: int, workdir: Path) -> dict[str, float]:
    """Generate ~``lines`` lines as Parquet, then load+clean+RFM in a fresh process."""
    from custseg import synth

    start = time.perf_counter()
    generated = synth.generate(workdir / "big", customers=max(lines // 120, 100), seed=1)
    gen_s = time.perf_counter() - start
    code = (
        "import custseg, time, resource, json, sys\n"
        "t = time.perf_counter()\n"
        f"d = custseg.load({str(generated.transactions)!r})\n"
        "r = custseg.compute_rfm(d)\n"
        "s = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'seconds': s, 'peak_rss_mb': rss, 'customers': len(r),"
        " 'rows_in': d.cleaning.rows_in}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["generate_seconds"] = gen_s
    figures["lines"] = generated.lines
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-seed", action="store_true", help="skip the slow seed way")
    parser.add_argument("--big-lines", type=int, default=10_000_000,
                        help="size of the generated Parquet run (0 to skip)")
    args = parser.parse_args()
    if not XLSX.exists():
        sys.exit(f"The real data is not at {DATA}; nothing to measure.")
    import pandas as pd

    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        parquet = workdir / "online_retail.parquet"
        pd.read_csv(CSV, dtype={"InvoiceNo": str, "StockCode": str},
                    parse_dates=["InvoiceDate"]).to_parquet(parquet)
        custseg_rfm(CSV)()  # warm imports and caches once
        bare_x = timed(bare_read, args.repeats)
        ours_x = timed(custseg_rfm(XLSX), args.repeats)
        rows += [("workbook", "bare calamine read", bare_x),
                 ("workbook", "custseg load+clean+RFM", ours_x)]
        bare_c = timed(bare_csv, args.repeats)
        ours_c = timed(custseg_rfm(CSV), args.repeats)
        rows += [("CSV.gz", "bare DuckDB read", bare_c),
                 ("CSV.gz", "custseg load+clean+RFM", ours_c)]
        ours_p = timed(custseg_rfm(parquet), args.repeats)
        rows.append(("Parquet", "custseg load+clean+RFM", ours_p))
        if not args.skip_seed:
            rows.append(("workbook", "seed way (read_excel/openpyxl + lambda)", timed(
                seed_way(lambda: pd.read_excel(XLSX, engine="openpyxl")), 1)))
            rows.append(("CSV.gz", "seed way (read_csv + lambda)", timed(
                seed_way(lambda: pd.read_csv(CSV, parse_dates=["InvoiceDate"])), 1)))
            rows.append(("Parquet", "seed way (read_parquet + lambda)", timed(
                seed_way(lambda: pd.read_parquet(parquet)), 1)))
        big = big_run(args.big_lines, workdir) if args.big_lines else None

    print("| input | what | seconds |")
    print("|---|---|---:|")
    for source, what, seconds in rows:
        print(f"| {source} | {what} | {seconds:.2f} |")
    print()
    print(f"- workbook: custseg / bare read = {ours_x / bare_x:.2f}× (target ≤ 1.2×)")
    print(f"- CSV.gz 541,909 lines: {ours_c:.2f} s (target ≤ 1.0 s)")
    if big:
        print(f"- generated Parquet, {big['rows_in']:,} lines, {big['customers']:,} customers: "
              f"{big['seconds']:.2f} s, peak RSS {big['peak_rss_mb']:,.0f} MB "
              f"(target ≤ 10 s, ≤ 2,048 MB); generating it took {big['generate_seconds']:.1f} s")


if __name__ == "__main__":
    main()

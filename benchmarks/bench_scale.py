"""How a whole ``custseg run`` grows with lines: time, peak memory and temporary disk per size.

For each size, generated lines (``custseg.synth``, seeded, about 120 lines per customer,
written as Parquet once and kept in ``--workdir``) go through two fresh processes:

- the **floor**: DuckDB alone reading the Parquet, dropping lines without a customer,
  cancellations and non-positive lines, and writing R/F/M per customer to Parquet — the least
  any tool must do;
- **custseg**: ``custseg run FILE --quiet`` with default settings (or ``--memory-limit``), its
  spill folder (``--temp-dir``) a fresh folder whose size is sampled every 0.2 s.

Peak RSS is the child's own (``os.wait4``). Prints Markdown: the whole run against the floor,
the stage times from ``summary.json``, and the exponent of time against lines. Run it niced on a
shared machine (``nice -n 19 python benchmarks/bench_scale.py``); figures go to docs/scale.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

FLOOR = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET memory_limit = '1GB'")
con.execute("SET temp_directory = ?", [sys.argv[3]])
con.execute(f'''
COPY (
  WITH kept AS (
    SELECT CAST(CustomerID AS BIGINT) AS customer_id, InvoiceNo AS invoice, InvoiceDate AS bought,
           CAST(Quantity * UnitPrice AS DECIMAL(18, 4)) AS amount
    FROM read_parquet('{sys.argv[1]}')
    WHERE CustomerID IS NOT NULL AND NOT starts_with(InvoiceNo, 'C')
      AND Quantity > 0 AND UnitPrice > 0
  ), snapshot AS (SELECT max(bought) + INTERVAL 1 DAY AS day FROM kept)
  SELECT k.customer_id, date_diff('day', max(k.bought), any_value(s.day)) AS recency,
         count(DISTINCT k.invoice) AS frequency, sum(k.amount) AS monetary
  FROM kept k CROSS JOIN snapshot s GROUP BY k.customer_id
) TO '{sys.argv[2]}' (FORMAT parquet)''')
"""


def generate(lines: int, workdir: Path) -> Path:
    """The Parquet file of about ``lines`` generated lines (made once, then reused)."""
    folder = workdir / f"lines_{lines}"
    path = folder / "transactions.parquet"
    if not path.exists():
        from custseg import synth

        synth.generate(folder, customers=max(lines // 120, 100), seed=1)
    return path


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a spill file removed while we looked
                total += os.path.getsize(os.path.join(root, name))
    return total


def measured(cmd: list[str], spill: Path) -> dict[str, float]:
    """Run ``cmd``; its wall time, its own peak RSS and the most ``spill`` held meanwhile."""
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir(parents=True)
    peak_disk = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_disk
        while not done.is_set():
            peak_disk = max(peak_disk, _folder_bytes(spill))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    err = child.stderr.read().decode(errors="replace") if child.stderr else ""
    child.returncode = os.waitstatus_to_exitcode(status)
    shutil.rmtree(spill, ignore_errors=True)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({child.returncode}): {err[-2000:]}")
    return {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024, "temp_mb": peak_disk / 1e6}


def one_size(lines: int, workdir: Path, memory_limit: str | None) -> dict[str, Any]:
    """Floor and custseg at one size."""
    path = generate(lines, workdir)
    out = workdir / "out"
    floor = measured([sys.executable, "-c", FLOOR, str(path), str(workdir / "floor.parquet"),
                      str(workdir / "floor_spill")], workdir / "floor_spill")
    cmd = [sys.executable, "-c", "from custseg.cli import main; main()", "run", str(path),
           "--out", str(out), "--quiet", "--temp-dir", str(workdir / "spill")]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    ours = measured(cmd, workdir / "spill")
    summary = json.loads((out / "summary.json").read_text())
    return {"lines": summary["rows_in"], "customers": summary["customers"],
            "parquet_mb": path.stat().st_size / 1e6, "floor": floor, "custseg": ours,
            "stages": summary.get("timings", {})}


def exponent(rows: list[dict[str, Any]]) -> float | None:
    """Slope of log(seconds) against log(lines), least squares (1 = linear)."""
    if len(rows) < 2:
        return None
    xs = [math.log(r["lines"]) for r in rows]
    ys = [math.log(r["custseg"]["seconds"]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| lines | customers | Parquet | custseg run | peak RSS | temp disk | "
             "floor: DuckDB clean + RFM to Parquet | run / floor |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        c, f = r["custseg"], r["floor"]
        lines.append(f"| {r['lines']:,} | {r['customers']:,} | {r['parquet_mb']:.0f} MB | "
                     f"{c['seconds']:.1f} s | {c['rss_mb']:,.0f} MB | {c['temp_mb']:,.0f} MB | "
                     f"{f['seconds']:.1f} s, {f['rss_mb']:,.0f} MB | "
                     f"{c['seconds'] / f['seconds']:.0f}× |")
    stages = list(dict.fromkeys(s for r in rows for s in r["stages"]))
    lines += ["", "| stage | " + " | ".join(f"{r['lines'] / 1e6:.1f}M lines" for r in rows)
              + " |", "|---|" + "---:|" * len(rows)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(
            f"{r['stages'].get(stage, float('nan')):.1f} s" for r in rows) + " |")
    slope = exponent(rows)
    if slope is not None:
        lines += ["", f"Time grows as lines^{slope:.2f} over these sizes (least squares on "
                      f"log-log; 1 is linear)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+",
                        default=[1_000_000, 5_000_000, 10_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("bench-scale"),
                        help="where the generated Parquet files are kept between runs")
    parser.add_argument("--memory-limit", default=None,
                        help="passed to custseg run (default: custseg's default, 1GB)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for lines in args.lines:
        rows.append(one_size(lines, args.workdir.resolve(), args.memory_limit))
        print(f"{lines:,} lines done", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(markdown(rows))


if __name__ == "__main__":
    main()

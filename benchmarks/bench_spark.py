"""The Spark engine beside DuckDB: a whole ``custseg run`` on the same generated Parquet file,
time and peak memory of each, one fresh process per engine.

The lines are those of ``bench_scale.py`` (``custseg.synth``, seed 1, about 120 lines per
customer, made once in ``--workdir``). Spark runs on ``--master`` (``local[2]`` by default). Peak
memory is the largest sum of the resident memory of the run's process and all its descendants
(the JVM included), sampled every 0.2 s. Prints Markdown; run it niced on a shared machine
(``nice -n 19 python benchmarks/bench_spark.py --lines 1000000 10000000``); figures go to
docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import generate


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and every descendant."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # a child that ended while we looked
            continue
    return total


def measured(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd``; its wall time and the peak resident memory of its process tree."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc = psutil.Process(child.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, tree_rss(proc))
            except psutil.Error:
                return
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = child.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({child.returncode}): "
                           f"{err.decode(errors='replace')[-2000:]}")
    return {"seconds": seconds, "rss_mb": peak / 1e6}


def one_size(lines: int, workdir: Path, master: str) -> dict[str, Any]:
    """DuckDB and Spark on the same file."""
    path = generate(lines, workdir)
    row: dict[str, Any] = {"parquet_mb": path.stat().st_size / 1e6}
    for engine in ("duckdb", "spark"):
        out = workdir / f"out_{engine}"
        cmd = [sys.executable, "-c", "from custseg.cli import main; main()", "run", str(path),
               "--out", str(out), "--quiet", "--engine", engine]
        if engine == "spark":
            cmd += ["--spark-master", master]
        row[engine] = measured(cmd)
        summary = json.loads((out / "summary.json").read_text())
        row[engine]["stages"] = summary.get("timings", {})
        row["lines"], row["customers"] = summary["rows_in"], summary["customers"]
    return row


def markdown(rows: list[dict[str, Any]], master: str) -> str:
    out = [f"| lines | customers | Parquet | DuckDB | peak memory | Spark {master} | "
           f"peak memory (JVM included) | Spark / DuckDB |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        d, s = r["duckdb"], r["spark"]
        out.append(f"| {r['lines']:,} | {r['customers']:,} | {r['parquet_mb']:.0f} MB | "
                   f"{d['seconds']:.1f} s | {d['rss_mb']:,.0f} MB | {s['seconds']:.1f} s | "
                   f"{s['rss_mb']:,.0f} MB | {s['seconds'] / d['seconds']:.1f}× |")
    stages = list(rows[0]["spark"]["stages"]) if rows else []
    out += ["", "| stage | " + " | ".join(f"{r['lines']:,} DuckDB | {r['lines']:,} Spark"
                                          for r in rows) + " |",
            "|---|" + "---:|" * (2 * len(rows))]
    for stage in stages:
        cells = []
        for r in rows:
            cells += [f"{r['duckdb']['stages'].get(stage, 0):.1f} s",
                      f"{r['spark']['stages'].get(stage, 0):.1f} s"]
        out.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="sizes to run (about this many lines each)")
    parser.add_argument("--workdir", type=Path, default=Path("bench-scale"),
                        help="where the generated Parquet files are kept")
    parser.add_argument("--master", default="local[2]", help="Spark master")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows = [one_size(n, args.workdir, args.master) for n in args.lines]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(markdown(rows, args.master))


if __name__ == "__main__":
    main()

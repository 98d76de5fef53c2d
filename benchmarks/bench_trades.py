"""What the quality trades left alone would buy: fewer K-Means runs per k and fewer forest
trees, their speed (the whole run against the bare read) beside their effect on the results.

Run: ``python benchmarks/bench_trades.py [--repeats 7] [--seeds 5]``.
Needs ../shared/data. Each round times the bare read, then one whole run per variant, so that
all of them see the machine's load of that round; the ratios are per round.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

from common import XLSX, bare_read, host_speed, timed_rounds, whole_run

import custseg
from custseg import pipeline


def variants(base: custseg.Config) -> dict[str, custseg.Config]:
    """The defaults and the two trades measured in docs/benchmarks.md."""
    fewer_runs = base.replace(cluster=dataclasses.replace(base.cluster, n_init=6))
    return {
        "defaults (10 runs, 100 trees)": base,
        "6 runs per k": fewer_runs,
        "6 runs per k, 50 trees": fewer_runs.replace(
            explain=dataclasses.replace(base.explain, n_estimators=50)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=5, help="seeds for the automatic k")
    args = parser.parse_args()

    seed_rules = custseg.Config(cleaning=custseg.CleaningConfig.preset("seed"))
    k3 = seed_rules.replace(cluster=dataclasses.replace(seed_rules.cluster, k=3))
    default_rfm = custseg.compute_rfm(custseg.load(XLSX, custseg.Config()))
    seed_rfm = custseg.compute_rfm(custseg.load(XLSX, seed_rules))

    print(f"Host speed (a 3M-step Python loop, best of 3): {host_speed():.3f} s\n")
    print("Automatic k on the real data (default rules): stability per k with seed 0, and the "
          f"k chosen with seeds 0–{args.seeds - 1}\n")
    tables, chosen = {}, {}
    for name, cfg in variants(custseg.Config()).items():
        runs = [pipeline.model(default_rfm, cfg.replace(seed=s)) for s in range(args.seeds)]
        tables[name] = runs[0].clustering.k_table.set_index("k")["stability"]
        chosen[name] = [r.clustering.k for r in runs]
    names = list(tables)
    print("| k | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for k in tables[names[0]].index:
        print(f"| {k} | " + " | ".join(f"{tables[n][k]:.2f}" for n in names) + " |")
    print("| chosen k | " + " | ".join(", ".join(map(str, chosen[n])) for n in names) + " |")

    print("\nImpurity importances, seed's rules, k=3 (frequency / monetary / recency):")
    for name, cfg in variants(k3).items():
        imp = pipeline.model(seed_rfm, cfg).explanation.importances.set_index("feature")
        print(f"- {name}: " + " / ".join(f"{imp.loc[f, 'impurity']:.3f}"
                                         for f in ("frequency", "monetary", "recency")))

    runs = {name: (lambda cfg=cfg: whole_run(cfg)) for name, cfg in variants(k3).items()}
    for fn in runs.values():
        fn()  # warm up
    base, times = timed_rounds(bare_read, runs, args.repeats)
    print(f"\nWhole `custseg run` + outputs (seed's rules, k=3) against the bare read "
          f"({statistics.median(base):.2f} s), {args.repeats} rounds:")
    for name, values in times.items():
        ratios = sorted(t / b for t, b in zip(values, base, strict=True))
        print(f"- {name}: median ratio {statistics.median(ratios):.2f}× (target ≤ 1.3×); "
              f"per round {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()

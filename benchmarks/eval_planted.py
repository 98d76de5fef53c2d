"""How well custseg recovers what the generator planted.

Run: ``python benchmarks/eval_planted.py [--customers 4000] [--seeds 1 2 3]``.
For each seed it generates data with planted archetypes and anomalies, runs custseg with the
planted k and the planted anomaly share, and prints the adjusted Rand index of the clusters
against the archetypes (target ≥ 0.9) and precision / recall of customer and transaction
anomalies (target precision ≥ 0.9 for both).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.metrics import adjusted_rand_score

import custseg
from custseg import synth


def precision_recall(flagged: set, truth: set) -> tuple[float, float]:
    """Precision and recall of a flagged set against the planted set."""
    hits = len(flagged & truth)
    return (hits / len(flagged) if flagged else 1.0, hits / len(truth) if truth else 1.0)


def evaluate(customers: int, seed: int, workdir: Path) -> dict[str, float]:
    """Generate, run and score one seed."""
    generated = synth.generate(workdir / f"seed{seed}", customers=customers, seed=seed)
    truth_c = pd.read_csv(generated.truth_customers, dtype={"customer_id": str})
    truth_t = pd.read_csv(generated.truth_transactions, dtype=str).fillna("")
    archetypes = truth_c.loc[~truth_c["is_anomaly"], "archetype"]
    share = truth_c["is_anomaly"].mean()
    config = custseg.Config(seed=seed)
    config = config.replace(
        cluster=dataclasses.replace(config.cluster, k=int(archetypes.nunique())),
        anomalies=dataclasses.replace(config.anomalies, contamination=float(share)))
    result = custseg.run(generated.transactions, config)
    table = result.rfm.merge(truth_c, on="customer_id", how="inner")
    normal = table[~table["is_anomaly_y"]]
    ari = adjusted_rand_score(normal["archetype"], normal["cluster"])
    c_prec, c_rec = precision_recall(
        set(table.loc[table["is_anomaly_x"], "customer_id"]),
        set(table.loc[table["is_anomaly_y"], "customer_id"]))
    flagged = result.flagged_transactions.fillna({"stock_code": ""})
    key = lambda f: set(zip(f["invoice"].astype(str), f["stock_code"].astype(str),  # noqa: E731
                            strict=True))
    t_prec, t_rec = precision_recall(key(flagged), key(truth_t))
    # The automatic choice of k on the same data: does it find the planted k?
    auto = custseg.pipeline.model(result.rfm[custseg.compute_rfm(result.dataset).columns],
                                  custseg.Config(seed=seed))
    return {"ari": ari, "customer_precision": c_prec, "customer_recall": c_rec,
            "transaction_precision": t_prec, "transaction_recall": t_rec,
            "k_planted": int(archetypes.nunique()), "k_auto": int(auto.clustering.k),
            "customers": len(result.rfm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rows.append(evaluate(args.customers, seed, Path(tmp)))
    metrics = ["ari", "customer_precision", "customer_recall", "transaction_precision",
               "transaction_recall"]
    print("| seed | customers kept | planted k | auto k | " + " | ".join(metrics) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(metrics))
    for seed, row in zip(args.seeds, rows, strict=True):
        print(f"| {seed} | {row['customers']:,} | {row['k_planted']} | {row['k_auto']} | "
              + " | ".join(f"{row[m]:.3f}" for m in metrics) + " |")
    print("| mean | | | | " + " | ".join(f"{statistics.mean(r[m] for r in rows):.3f}"
                                         for m in metrics) + " |")
    print("\nTargets: ARI ≥ 0.9; customer and transaction precision ≥ 0.9.")


if __name__ == "__main__":
    main()

"""Modelling speed: the customer-scale stages on the real data and on 1M customers, the whole
``custseg run`` against the bare read, the dashboard's change-k re-run, and custseg's own
silhouette, adjusted Rand index and permutation importance against scikit-learn's.

Run: ``python benchmarks/bench_model.py [--million 1000000] [--repeats 3] [--library-only]
[--large-only]``.
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
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from common import XLSX, bare_read, host_speed, median_time, paired_ratio, timed_rounds, whole_run

import custseg
from custseg import cluster, explain, pipeline, segments


def synthetic_rfm(n: int, seed: int = 0, shared: float = 0.0) -> pd.DataFrame:
    """An RFM table of ``n`` customers from skewed draws shaped like the real one, with the
    purchase dates the per-customer actions need; a ``shared`` share of the customers are
    one-order buyers taking one of five identical profiles (the same recency and spend)."""
    rng = np.random.default_rng(seed)
    frequency = 1 + rng.geometric(0.3, n)
    recency = rng.integers(1, 375, n)
    monetary = np.round(frequency * rng.lognormal(5.5, 0.8, n), 2)
    same = rng.random(n) < shared
    profiles = np.array([[300, 15.0], [200, 20.0], [100, 15.0], [350, 10.0], [50, 30.0]])
    pick = profiles[rng.integers(0, len(profiles), int(same.sum()))]
    recency[same], frequency[same], monetary[same] = pick[:, 0].astype(int), 1, pick[:, 1]
    last = pd.Timestamp("2011-12-10") - pd.to_timedelta(recency, unit="D")
    span = (frequency - 1) * rng.integers(5, 60, n)
    return pd.DataFrame({
        "customer_id": np.char.add("c", np.arange(n).astype(str)),
        "recency": recency,
        "frequency": frequency,
        "monetary": monetary,
        "first_purchase": last - pd.to_timedelta(span, unit="D"),
        "last_purchase": last,
    })


def large_runs(sizes: list[int]) -> None:
    """``pipeline.model`` with default settings on generated customers: each size with
    distinct draws, and with 60% of the customers sharing five profiles."""
    pipeline.model(synthetic_rfm(2_000), custseg.Config())  # imports out of the timings
    print("\n| customers | identical profiles | k | clustering | explanation | customer anomalies "
          "| modelling (s) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in sizes:
        for shared in (0.0, 0.6):
            table = synthetic_rfm(n, shared=shared)
            start = time.perf_counter()
            fitted = pipeline.model(table, custseg.Config())
            total = time.perf_counter() - start
            t = fitted.timings
            print(f"| {n:,} | {'60% in 5' if shared else 'none'} | {fitted.clustering.k} | "
                  f"{t['Clustering']:.1f} | {t['Explaining segments']:.1f} | "
                  f"{t['Customer anomalies']:.1f} | {total:.1f} |")
    print("(targets: 100,000 customers ≤ 10 s, 1,000,000 ≤ 60 s)")


def dashboard_first_load(config: custseg.Config) -> None:
    """What the dashboard does for a new file, with its caches emptied first: hash the file,
    read it, clean it and build the RFM table through the app's own cached stages."""
    from custseg.app import state

    for stage in (state.read_raw, state.load_dataset, state.compute_rfm):
        stage.clear()
    state.compute_rfm(state.file_source(XLSX), config.cleaning, None)


@contextmanager
def replaced(module: Any, name: str, fn: Callable[..., Any]) -> Iterator[None]:
    """``module.name`` is ``fn`` inside the block."""
    real = getattr(module, name)
    setattr(module, name, fn)
    try:
        yield
    finally:
        setattr(module, name, real)


@contextmanager
def recorded(module: Any, name: str) -> Iterator[list[tuple[Any, ...]]]:
    """The arguments of every call of ``module.name`` made inside the block."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(module, name)

    def record(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    with replaced(module, name, record):
        yield calls


def library_paths(rfm: pd.DataFrame, config: custseg.Config, repeats: int) -> None:
    """custseg's silhouette, adjusted Rand index and permutation importance against
    scikit-learn's functions on the same inputs, what scikit-learn's index and permutation
    importance would cost the modelling, and what scikit-learn's per-call input checks cost
    it: medians of rounds timed alternately."""
    import sklearn
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    with recorded(cluster, "adjusted_rand") as pairs:
        search = cluster.search_k(rfm, config.cluster, config.seed)
    points = search.scaled[search.sample]
    labelings = [search.fits[k].labels[search.sample] for k in sorted(search.fits)]
    labels = cluster.fit_clusters(rfm, config.cluster, config.seed, search=search).labels
    names = segments.segment_per_customer(segments.name_segments(rfm, labels), labels)
    with recorded(explain, "_permutation") as permutation:
        explain.explain_segments(rfm, names, config.explain, config.seed)
    forest, x, y, repeats_, _ = permutation[0]

    def sklearn_permutation(forest: Any, x: np.ndarray, y: np.ndarray, repeats: int,
                            rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """What ``explain._permutation`` returns, from scikit-learn's function."""
        result = permutation_importance(forest, x, y, n_repeats=repeats,
                                        random_state=int(rng.integers(2**31)))
        return forest.predict(x), result.importances_mean, result.importances_std

    def unchecked() -> None:  # pipeline.model runs every stage in the calling thread
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            pipeline.model(rfm, config)

    def with_sklearn() -> None:
        with replaced(cluster, "adjusted_rand", adjusted_rand_score), \
                replaced(explain, "_permutation", sklearn_permutation):
            pipeline.model(rfm, config)

    rows: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (f"silhouette of the {len(labelings)} candidate k on {len(points):,} customers "
         "(one distance pass; `silhouette_score` per k)",
         lambda: cluster._silhouettes(points, labelings),
         lambda: [silhouette_score(points, labeling) for labeling in labelings]),
        (f"adjusted Rand index, the {len(pairs)} calls of the k search's stability "
         "(`adjusted_rand_score`)",
         lambda: [cluster.adjusted_rand(a, b) for a, b in pairs],
         lambda: [adjusted_rand_score(a, b) for a, b in pairs]),
        (f"permutation importance, {x.shape[1]} features × {repeats_} shuffles of the "
         f"{len(x):,}-customer hold-out, with the hold-out's predictions (one forest call; "
         "`permutation_importance` and `predict`)",
         lambda: explain._permutation(forest, x, y, repeats_, np.random.default_rng(0)),
         lambda: sklearn_permutation(forest, x, y, repeats_, np.random.default_rng(0))),
        ("modelling (`pipeline.model`, automatic k) with custseg's index and permutation "
         "importance; with scikit-learn's", lambda: pipeline.model(rfm, config), with_sklearn),
        ("modelling with scikit-learn's input checks; without them (`assume_finite`, "
         "`skip_parameter_validation`)", lambda: pipeline.model(rfm, config), unchecked),
    ]
    print("\n| on the real data (seed rules) | custseg (s) | alternative (s) | ratio |")
    print("|---|---:|---:|---:|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LOF on identical customers, K-Means on a sample
        for label, own, library in rows:
            mine, other = timed_rounds(own, {"other": library}, repeats)
            ours, theirs = statistics.median(mine), statistics.median(other["other"])
            print(f"| {label} | {ours:.3f} | {theirs:.3f} | {theirs / ours:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--million", type=int, default=1_000_000,
                        help="customers in the largest modelling run, after one of 100,000 "
                             "(0 to skip both)")
    parser.add_argument("--large-only", action="store_true",
                        help="only the modelling runs on generated customers")
    parser.add_argument("--library-only", action="store_true",
                        help="only custseg's own metrics against scikit-learn's")
    args = parser.parse_args()
    if args.large_only:
        large_runs([100_000, args.million])
        return

    seed = custseg.Config(cleaning=custseg.CleaningConfig.preset("seed"))
    dataset = custseg.load(XLSX, seed)
    rfm = custseg.compute_rfm(dataset)
    pipeline.model(rfm, seed)  # warm up imports
    if args.library_only:
        library_paths(rfm, seed, args.repeats)
        return

    stage_times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, seconds in pipeline.model(rfm, seed).timings.items():
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
    print("| stage (one after the other) | seconds (median) |")
    print("|---|---:|")
    for name, values in stage_times.items():
        print(f"| {name} | {statistics.median(values):.3f} |")
    print(f"| **modelling total** | **{model_total:.3f}** |")
    print(f"\n- modelling on {len(rfm):,} customers: {model_total:.2f} s (target ≤ 1 s)")
    print(f"- change of k in the dashboard (cached k search and customer scores): "
          f"{change_k:.2f} s (target ≤ 0.3 s); without those caches {change_k_cold:.2f} s")
    print(f"- whole `custseg run` + outputs on the workbook: {whole:.2f} s; bare calamine read "
          f"{bare:.2f} s (timed alternately); median ratio {ratio:.2f}× (target ≤ 1.5×); "
          f"per pair {', '.join(f'{r:.2f}' for r in sorted(ratios))}")
    print(f"- the same as a command (`custseg run … --rules seed --k 3 --quiet`, a fresh "
          f"interpreter with its imports): {cli:.2f} s; a fresh interpreter doing only the bare "
          f"read {bare_cli:.2f} s; median ratio {cli_ratio:.2f}× (target ≤ 2.0×)")
    print(f"- dashboard first load of the workbook (hash, read, clean, RFM — the app's own "
          f"stage functions): {app_load:.2f} s; {app_load / bare:.2f}× the bare read "
          f"(target ≤ 1.3×)")
    library_paths(rfm, seed, args.repeats)
    if args.million:
        large_runs([100_000, args.million])


if __name__ == "__main__":
    main()

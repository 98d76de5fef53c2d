"""Cached comparisons for the "Changes over time" page: the current data at two dates, or
against a second file, under one model; and the cohort table.

Kept as resources (not pickled): a comparison holds the fitted Segmenter and the dataset it
was built from, which the cache of :mod:`custseg.app.state` already holds.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

from custseg import assign, cohorts, compare, pipeline
from custseg.app import state
from custseg.app.state import Source
from custseg.config import CleaningConfig, ClusterConfig, Config
from custseg.segmenter import Segmenter


def _model(path: str | None) -> Segmenter | None:
    return None if path is None else assign.load(path)


def _config(dataset_config: Config, cluster: ClusterConfig, seed: int, currency: str) -> Config:
    return dataset_config.replace(cluster=cluster, seed=seed, currency=currency)


@st.cache_resource(max_entries=6, show_spinner="Comparing the two dates…")
def at_two_dates(source: Source, cleaning: CleaningConfig, as_of: date | None, first: date,
                 second: date, cluster: ClusterConfig, seed: int, currency: str, monthly: bool,
                 model_path: str | None) -> state.Timed[compare.Comparison]:
    """The current data (the pages' cached dataset, up to the sidebar's as-of date) at
    ``first`` and ``second`` (:func:`custseg.compare.compare_snapshots`), with a snapshot at
    every month's start between them when ``monthly``."""
    dataset = state.load_dataset(source, cleaning, as_of).value
    model = _model(model_path)

    def run() -> compare.Comparison:
        with state.using(dataset):
            return compare.compare_snapshots(
                dataset, [first, second], every="month" if monthly else None, model=model,
                config=_config(dataset.config, cluster, seed, currency))

    return state.timed(run)


@st.cache_resource(max_entries=4, show_spinner="Comparing the two files…")
def with_second_file(source: Source, second: Source, cleaning: CleaningConfig,
                     cluster: ClusterConfig, seed: int, currency: str,
                     model_path: str | None) -> state.Timed[compare.Comparison]:
    """The current data against ``second`` (:func:`custseg.compare.compare_datasets`)."""
    one = state.load_dataset(source, cleaning, None).value
    two = state.load_dataset(second, cleaning, None).value
    model = _model(model_path)

    def run() -> compare.Comparison:
        with state.using(one), state.using(two):
            return compare.compare_datasets(one, two, model=model,
                                            config=_config(one.config, cluster, seed, currency))

    return state.timed(run)


@st.cache_data(max_entries=8, show_spinner="Grouping customers by first purchase…")
def cohort_table(source: Source, cleaning: CleaningConfig,
                 as_of: date | None) -> pd.DataFrame:
    """:func:`custseg.cohorts.cohort_table` of the current data."""
    dataset = state.load_dataset(source, cleaning, as_of).value
    with state.using(dataset):
        return cohorts.cohort_table(dataset)


def model_json(result: pipeline.Result) -> bytes:
    """The run's fitted Segmenter as its model file (:meth:`Segmenter.save`), for download."""
    from custseg import modelfile

    with tempfile.TemporaryDirectory() as folder:
        path = result.segmenter.save(Path(folder) / "model.json",
                                     context=modelfile.run_context(result))
        return path.read_bytes()

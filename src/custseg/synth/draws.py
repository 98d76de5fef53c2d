"""Seeded random streams and the vectorised draws every part of the generator shares."""

from __future__ import annotations

import numpy as np


def stream(seed: int, number: int) -> np.random.Generator:
    """The random stream ``number`` of ``seed``: 0 the catalogue, 1 the anomalous customers,
    2 + b block b (so a block's draws do not depend on the blocks before it)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(number,)))


def log_uniform(rng: np.random.Generator, lo: np.ndarray | float, hi: np.ndarray | float,
                size: int | None = None) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def positions(counts: np.ndarray) -> np.ndarray:
    """0-based position of each element inside its group, for groups of the given sizes."""
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum())) - np.repeat(starts, counts)

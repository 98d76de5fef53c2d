"""Shared fixtures. Real-data fixtures skip cleanly when ../shared/data is absent."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data"
REAL_XLSX = REAL_DATA / "online_retail.xlsx"
REAL_CSV = REAL_DATA / "online_retail.csv.gz"

needs_real_data = pytest.mark.skipif(not REAL_CSV.exists(),
                                     reason="real data (../shared/data) is absent")


def _real(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data {path.name} is absent")
    return path


@pytest.fixture(scope="session")
def real_csv() -> Path:
    """The real Online Retail CSV.gz (skips when absent)."""
    return _real(REAL_CSV)


@pytest.fixture(scope="session")
def real_xlsx() -> Path:
    """The real Online Retail workbook (skips when absent)."""
    return _real(REAL_XLSX)


@pytest.fixture(scope="session")
def seed_dataset(real_csv: Path):
    """The real CSV loaded and cleaned under the seed's rules."""
    import custseg

    return custseg.load(real_csv, custseg.Config(cleaning=custseg.CleaningConfig.preset("seed")))


@pytest.fixture(scope="session")
def seed_rfm(seed_dataset) -> pd.DataFrame:
    """RFM of the real data under the seed's rules (3,882 customers)."""
    import custseg

    return custseg.compute_rfm(seed_dataset)


@pytest.fixture(scope="session")
def default_rfm(real_csv: Path) -> pd.DataFrame:
    """RFM of the real data under the default rules."""
    import custseg

    return custseg.compute_rfm(custseg.load(real_csv))


@pytest.fixture(scope="session")
def real_lines_con(seed_dataset) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding ``lines`` for the real CSV under the seed's rules."""
    return seed_dataset.con


@pytest.fixture(scope="session")
def small_log() -> pd.DataFrame:
    """A small Online-Retail-shaped log (generated, seeded) for reader and pipeline tests."""
    from custseg import synth

    transactions, _, _ = synth.generate_frame(customers=300, seed=7)
    return transactions

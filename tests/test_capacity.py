"""The estimate-and-stop before cleaning: an input too large for the temporary disk stops before
any line is written, with the estimate and the settings to change; others go on."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from custseg import Config, capacity, engine, pipeline
from custseg.errors import ResourceError


def test_the_estimate_follows_the_measured_figures_per_line():
    needs = capacity.estimate(100_000_000, 1_000_000_000)
    # The lines' file (10 bytes a line) on disk; DuckDB works beside it on one pass of the
    # duplicate search (21M lines × 36 bytes; the lines stream to their file), spilling
    # what is above 80% of the limit (nothing at 1 GB).
    assert needs.store == 1_000_000_000
    assert needs.engine == 756_000_000
    assert needs.disk == 1_000_000_000
    assert needs.memory == 1_000_000_000 + 1_000_000_000
    tight = capacity.estimate(100_000_000, 250_000_000)
    assert tight.disk == 1_000_000_000 + 756_000_000 - 200_000_000
    small = capacity.estimate(541_909, 1_000_000_000)
    assert small.engine == 541_909 * 36 and small.store == 541_909 * 10
    assert small.disk == small.store
    assert small.memory == small.engine + small.store + 400_000_000


def test_the_room_is_duckdbs_cap_or_90_percent_of_the_free_disk(tmp_path):
    con = engine.connect(Config(temp_dir=str(tmp_path / "spill")))
    free = shutil.disk_usage(tmp_path).free
    assert capacity.room(con, str(tmp_path / "spill")) == pytest.approx(0.9 * free, rel=0.01)
    con.execute("SET max_temp_directory_size = '10MB'")
    # DuckDB reports the cap rounded ("9.5 MiB").
    assert capacity.room(con, str(tmp_path / "spill")) == pytest.approx(10_000_000, rel=0.01)


@pytest.fixture
def parquet_log(small_log, tmp_path):
    path = tmp_path / "log.parquet"
    con = duckdb.connect()
    con.register("frame", small_log)
    con.execute(f"COPY frame TO '{path}' (FORMAT parquet)")
    return path


def test_too_little_disk_stops_before_the_lines_are_written(parquet_log, small_log, tmp_path):
    # The limit is below what the duplicate search needs: part of the disk is spill, which
    # a larger limit saves.
    config = Config(memory_limit="1MB", temp_dir=str(tmp_path / "spill"))
    con = engine.connect(config)
    con.execute("SET max_temp_directory_size = '600KB'")
    lines = len(small_log)
    needs = capacity.estimate(lines, engine.parse_size(
        con.execute("SELECT current_setting('memory_limit')").fetchone()[0]))
    assert needs.disk > 600_000  # the premise: this input needs more than the room
    with pytest.raises(ResourceError) as caught:
        pipeline.load(parquet_log, config, con=con)
    err = caught.value
    assert err.resource == "disk" and err.temp_dir == str(tmp_path / "spill")
    text = str(err)
    assert text.startswith(f"Not started: {lines:,} lines need an estimated")
    assert f"{needs.disk / 1e6:.0f} MB of temporary disk" in text
    assert "room for 1 MB" in text
    assert "--temp-dir" in text and "--memory-limit" in text
    assert needs.disk > needs.store > 0
    # Stopped before the work: the store that would hold the lines was never attached.
    assert engine.store(con) is None


def test_enough_room_goes_on(parquet_log, small_log, tmp_path):
    config = Config(temp_dir=str(tmp_path / "spill"))
    con = engine.connect(config)
    con.execute("SET max_temp_directory_size = '1MB'")  # nothing needs to spill at 1 GB
    dataset = pipeline.load(parquet_log, config, con=con)
    assert dataset.cleaning.rows_in == len(small_log)

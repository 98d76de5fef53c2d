"""The DuckDB engine: where it spills, and running out of memory or disk as a clear message."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from custseg import Config, capacity, pipeline, synth
from custseg.cli import app
from custseg.engine import connect, resource_errors, temp_dir
from custseg.errors import InputError, ResourceError, describe_error

runner = CliRunner()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """About 180,000 generated lines: enough to need more than a few MB in DuckDB."""
    out = tmp_path_factory.mktemp("engine")
    return synth.generate(out / "data", customers=1500, seed=3).transactions


def _panel(output: str) -> str:
    """The CLI panel's text without its frame and line breaks, spaces removed (rich wraps
    long paths anywhere)."""
    return "".join(ch for ch in output if ch not in "│╭╮╰╯─" and not ch.isspace())


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> object:
    return con.execute("SELECT current_setting(?)", [name]).fetchone()[0]


def test_the_default_temp_dir_is_the_systems(tmp_path):
    expected = os.path.join(tempfile.gettempdir(), "custseg-duckdb")
    assert temp_dir(Config()) == expected
    assert _setting(connect(Config()), "temp_directory") == expected
    chosen = tmp_path / "spill"
    assert _setting(connect(Config(temp_dir=str(chosen))), "temp_directory") == str(chosen)


def test_a_large_table_spills_into_the_chosen_folder(tmp_path):
    chosen = tmp_path / "spill"
    con = connect(Config(memory_limit="40MB", threads=1, temp_dir=str(chosen)))
    con.execute("CREATE TABLE t AS SELECT i, md5(i::VARCHAR) AS s FROM range(2000000) r(i)")
    files = [row[0] for row in con.execute("SELECT path FROM duckdb_temporary_files()")
             .fetchall()]
    assert files and all(Path(f).parent == chosen for f in files)
    assert any(chosen.iterdir())
    # Spilled, the table is still all there.
    assert con.execute("SELECT count(DISTINCT s) FROM t").fetchone()[0] == 2_000_000


def test_out_of_memory_names_the_limit_the_folder_and_the_settings(generated, tmp_path):
    folder = tmp_path / "spill"
    config = Config(memory_limit="4MB", threads=1, temp_dir=str(folder))
    with pytest.raises(ResourceError) as caught:
        pipeline.load(generated, config)
    exc = caught.value
    assert exc.resource == "memory" and exc.memory_limit == "4MB"
    assert exc.temp_dir == str(folder)
    assert isinstance(exc.__cause__, duckdb.OutOfMemoryException)
    title, text = describe_error(exc)
    assert title == "Out of memory"
    assert text.startswith("Ran out of memory while reading and cleaning")
    for words in ("memory limit of 4MB", str(folder), "--memory-limit", "16MB",
                  "Config(memory_limit=", "--temp-dir", "Config(temp_dir="):
        assert words in text
    # DuckDB's own first line follows, without its SQL advice (SET threads …).
    assert "Details from DuckDB: Out of Memory Error" in text
    assert "SET threads" not in text and "bug" not in text


def test_a_full_temp_dir_names_the_folder_and_the_settings(generated, tmp_path, monkeypatch):
    # The early estimate (custseg.capacity, tests/test_capacity.py) would stop this run before
    # it starts; here the disk fills during the work, as it does when the estimate is short.
    monkeypatch.setattr(capacity, "room", lambda con, folder: None)
    folder = tmp_path / "spill"
    config = Config(memory_limit="16MB", threads=1, temp_dir=str(folder))
    con = connect(config)
    # DuckDB's documented cap on its spill files; by default it is the disk's free space,
    # so reaching it is what a full disk looks like.
    con.execute("SET max_temp_directory_size = '64KB'")
    with pytest.raises(ResourceError) as caught:
        pipeline.load(generated, config, con=con)
    exc = caught.value
    assert exc.resource == "disk" and exc.temp_dir == str(folder)
    title, text = describe_error(exc)
    assert title == "Out of disk space"
    assert text.startswith("Ran out of temporary disk space while reading and cleaning")
    for words in (str(folder), "free now)", "max_temp_directory_size", "--temp-dir",
                  "Config(temp_dir=", "--memory-limit", "memory limit of 16MB"):
        assert words in text


def test_the_same_data_loads_with_room_to_spill(generated, tmp_path):
    # The failures above come from the limits, not the data: with a spill folder and no
    # cap, the same small limit completes and gives the same RFM table as the defaults.
    small = pipeline.load(generated, Config(memory_limit="24MB", threads=1,
                                            temp_dir=str(tmp_path / "spill")))
    default = pipeline.load(generated)
    assert small.cleaning.rows_kept == default.cleaning.rows_kept
    assert pipeline.compute_rfm(small).equals(pipeline.compute_rfm(default))


def test_a_reader_error_caused_by_a_full_disk_blames_the_disk(tmp_path):
    with pytest.raises(ResourceError) as caught, resource_errors(
            Config(temp_dir=str(tmp_path)), "reading the file"):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as cause:
            raise InputError("Cannot read data.csv") from cause
    assert caught.value.resource == "disk"
    assert "while reading the file" in str(caught.value)


def test_other_errors_pass_through_unchanged():
    con = connect()
    with pytest.raises(duckdb.CatalogException), resource_errors():
        con.execute("SELECT * FROM no_such_table")
    with pytest.raises(InputError, match="plain"), resource_errors():
        raise InputError("plain")
    with pytest.raises(FileNotFoundError), resource_errors():
        raise FileNotFoundError(errno.ENOENT, "missing")


def test_the_cli_shows_out_of_memory_as_a_message(generated, tmp_path):
    folder = tmp_path / "spill"
    result = runner.invoke(app, ["run", str(generated), "--out", str(tmp_path / "out"),
                                 "--quiet", "--memory-limit", "4MB", "--temp-dir",
                                 str(folder)])
    assert result.exit_code == 2
    text = _panel(result.output)
    assert "Outofmemory" in text and "internalerror" not in text
    assert "--memory-limit" in text and "--temp-dir" in text and str(folder) in text


def test_inspect_takes_the_engine_options(generated, tmp_path):
    result = runner.invoke(app, ["inspect", str(generated), "--memory-limit", "256MB",
                                 "--temp-dir", str(tmp_path / "spill")])
    assert result.exit_code == 0, result.output
    assert "182" in result.output  # the row count, e.g. 182,752


def test_a_temp_dir_that_is_a_file_is_refused(generated, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = runner.invoke(app, ["run", str(generated), "--quiet", "--temp-dir", str(afile)])
    assert result.exit_code == 2
    assert f"--temp-dir:{afile}isafile" in _panel(result.output)

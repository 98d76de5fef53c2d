"""One message path: the CLI and the dashboard show an error with the same title and text."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

import custseg
from custseg import io
from custseg.app import MAIN, state
from custseg.cli import app
from custseg.errors import (
    MAX_DETAIL_CHARS,
    ConfigError,
    CustsegError,
    EmptyResultError,
    InputError,
    MappingError,
    describe_error,
)
from tests.logs import edge_log

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


def _flat(text: str) -> str:
    """Text without whitespace or the CLI panel's border, so wrapped lines compare equal."""
    return re.sub(r"[\s│╭╮╰╯─]+", "", text)


def _cli_error(path: Path) -> str:
    result = runner.invoke(app, ["run", str(path), "--out", str(path.parent / "out")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def _app(path: Path) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=180)
    at.session_state[state.SOURCE_PATH_KEY] = str(path)
    return at.run()


# --------------------------------------------------------------------------- describe_error


@pytest.mark.parametrize("cls,title", [
    (InputError, "Cannot read the input"), (MappingError, "Columns not found"),
    (ConfigError, "A setting is wrong"), (EmptyResultError, "Too little data")])
def test_each_error_has_its_title_and_its_plain_message(cls, title) -> None:
    exc = cls("sales.csv: no date column.")
    assert describe_error(exc) == (title, "sales.csv: no date column.")
    assert str(exc) == "sales.csv: no date column." and exc.detail is None


def test_the_reader_detail_follows_the_plain_message() -> None:
    raw = "Invalid Input Error: CSV Error on Line: 26\nOriginal Line: ..."
    exc = InputError("sales.csv is not UTF-8; save it as UTF-8.", detail=raw)
    assert str(exc) == "sales.csv is not UTF-8; save it as UTF-8."
    assert exc.detail == raw
    title, text = describe_error(exc)
    assert title == "Cannot read the input"
    assert text == f"sales.csv is not UTF-8; save it as UTF-8.\n\nDetails from the reader: {raw}"


def test_a_long_detail_is_cut() -> None:
    exc = CustsegError("Bad file.", detail="x" * 5000)
    _, text = describe_error(exc)
    head, _, detail = text.partition("\n\nDetails from the reader: ")
    assert head == "Bad file."
    assert detail == "x" * MAX_DETAIL_CHARS + " …"


def test_mapping_error_keeps_its_columns_with_a_detail() -> None:
    exc = MappingError("No customer.", ["A", "B"], ["customer_id"], detail="raw")
    assert (exc.columns, exc.missing, exc.detail) == (["A", "B"], ["customer_id"], "raw")


# --------------------------------------------------------------------------- CLI = dashboard


def test_reader_error_with_detail_reads_the_same_in_cli_and_dashboard(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sales.csv"
    edge_log().to_csv(path, index=False)
    raw = "Invalid Input Error: CSV Error on Line: 26 [0x92 is not UTF-8]"
    plain = "sales.csv: the file is not UTF-8 text. Save it as UTF-8 and try again."

    def refuse(*args, **kwargs):
        raise InputError(plain, detail=raw)

    monkeypatch.setattr(io, "register_source", refuse)
    title, text = describe_error(InputError(plain, detail=raw))
    cli = _cli_error(path)
    assert f"custseg: {title}" in cli
    assert _flat(text) in _flat(cli)  # "[...]" of the detail shown, not taken as markup
    at = _app(path)
    assert not at.exception
    assert [e.value for e in at.error] == [f"**{title}**\n\n{text}"]
    assert "Reading the settings" not in at.error[0].value


def test_missing_column_reads_the_same_in_cli_and_dashboard(tmp_path: Path) -> None:
    path = tmp_path / "renamed.csv"
    edge_log().rename(columns={"CustomerID": "Kunde"}).to_csv(path, index=False)
    with pytest.raises(MappingError) as caught:
        custseg.load(path)
    title, text = describe_error(caught.value)
    assert title == "Columns not found" and "customer_id" in text
    cli = _cli_error(path)
    assert f"custseg: {title}" in cli and _flat(text) in _flat(cli)
    # The dashboard asks for the column in a form instead of naming --map; the explanation
    # before that advice is the CLI's, naming the file as the user knows it.
    at = _app(path)
    assert not at.exception and not at.error
    explanation = text.split(" Name them")[0].replace(str(path), path.name)
    assert _flat(explanation) in _flat(at.warning[0].value)


def test_errors_from_cleaning_the_loaded_file_name_the_file(tmp_path: Path) -> None:
    """The dashboard cleans an in-memory copy of the file; its messages still name the file,
    as the CLI's do."""
    frame = edge_log().astype({"InvoiceDate": str})
    frame.loc[3, "InvoiceDate"] = "yesterday"
    path = tmp_path / "dates.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as caught:
        custseg.load(path)
    title, text = describe_error(caught.value)
    assert "yesterday" in text
    at = _app(path)
    assert not at.exception
    shown = at.error[0].value
    assert shown.startswith(f"**{title}**") and "the input frame" not in shown
    assert "dates.csv" in shown and "yesterday" in shown


def test_the_dashboard_renames_what_the_core_calls_a_frame() -> None:
    frame = pd.DataFrame({"Kunde": ["a"], "Wann": ["2011-01-01"]})
    with pytest.raises(MappingError, match=state.FRAME_WHERE):
        custseg.load(frame)

"""Every reader gives the same RFM for the same data; headers are mapped or explained."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import xlsxwriter

import custseg
from custseg import io
from custseg.errors import InputError, MappingError
from tests.logs import COLUMNS, edge_log, rfm_reference

RFM_COLS = ["customer_id", "recency", "frequency", "monetary"]


def rfm_of(source, **kwargs) -> pd.DataFrame:
    dataset = custseg.load(source, kwargs.pop("config", None), **kwargs)
    return custseg.compute_rfm(dataset)[RFM_COLS]


def write_xlsx(frame: pd.DataFrame, path: Path, sheets: int = 1) -> Path:
    """Write like the UCI workbook: numeric invoices as numbers, text ones as text."""
    book = xlsxwriter.Workbook(str(path))
    datefmt = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    parts = [frame.iloc[i::sheets] for i in range(sheets)]
    for s, part in enumerate(parts):
        sheet = book.add_worksheet(f"Sheet{s + 1}")
        sheet.write_row(0, 0, list(frame.columns))
        for r, row in enumerate(part.itertuples(index=False), start=1):
            for c, value in enumerate(row):
                if value is None or (isinstance(value, float) and value != value):
                    continue
                if isinstance(value, pd.Timestamp):
                    sheet.write_datetime(r, c, value.to_pydatetime(), datefmt)
                else:
                    sheet.write(r, c, value)
    book.close()
    return path


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return rfm_of(edge_log())


def test_edge_log_rfm_matches_an_independent_pandas_reference(expected):
    frame = edge_log()
    frame["cust"] = frame["CustomerID"].map(lambda v: None if v is None else
                                            str(v).strip().removesuffix(".0"))
    inv = frame["InvoiceNo"].astype(str)
    keep = (frame["cust"].notna() & frame["Description"].notna() & ~inv.str.startswith(("C", "A"))
            & (frame["UnitPrice"] > 0) & ~frame["StockCode"].isin(["POST", "B"])
            & frame["Country"].notna()
            & (frame["Quantity"] * frame["UnitPrice"] <= 500) & (frame["Quantity"] <= 100)
            & ~frame.drop(columns="cust").astype(str).duplicated())
    lines = pd.DataFrame({"invoice": inv, "invoice_date": frame["InvoiceDate"],
                          "amount": frame["Quantity"] * frame["UnitPrice"],
                          "customer_id": frame["cust"]})[keep]
    ref = rfm_reference(lines)
    pd.testing.assert_frame_equal(expected, ref[RFM_COLS], check_dtype=False)


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "tsv", "txt", "parquet", "xlsx",
                                  "xlsx-all-sheets", "pandas", "polars", "arrow"])
def test_every_reader_gives_the_same_rfm(kind, tmp_path, expected):
    frame = edge_log()
    text = frame.assign(InvoiceNo=frame["InvoiceNo"].astype(str),
                        CustomerID=frame["CustomerID"].astype(str).replace("None", ""))
    kwargs = {}
    if kind == "csv":
        source = tmp_path / "t.csv"
        text.to_csv(source, index=False)
    elif kind == "csv.gz":
        source = tmp_path / "t.csv.gz"
        with gzip.open(source, "wt") as fh:
            text.to_csv(fh, index=False)
    elif kind == "tsv":
        source = tmp_path / "t.tsv"
        text.to_csv(source, index=False, sep="\t")
    elif kind == "txt":
        source = tmp_path / "t.txt"
        text.to_csv(source, index=False, sep=";")
    elif kind == "parquet":
        source = tmp_path / "t.parquet"
        text.to_parquet(source)
    elif kind == "xlsx":
        source = write_xlsx(frame, tmp_path / "t.xlsx")
    elif kind == "xlsx-all-sheets":
        source = write_xlsx(frame, tmp_path / "t.xlsx", sheets=3)
        kwargs["sheet"] = "all"
    elif kind == "pandas":
        source = frame
    elif kind == "polars":
        pl = pytest.importorskip("polars")
        source = pl.from_pandas(text)
    else:
        source = pa.Table.from_pandas(text, preserve_index=False)
    got = rfm_of(source, **kwargs)
    if kind == "xlsx-all-sheets":
        # Rows are stacked sheet by sheet; the duplicate pair may now be in either order.
        got = got.sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_day_first_text_dates_are_detected(tmp_path, expected):
    frame = edge_log()
    frame["InvoiceDate"] = frame["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M")
    path = tmp_path / "dmy.csv"
    frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(rfm_of(path), expected, check_dtype=False)


def test_bad_dates_name_the_rows(tmp_path):
    frame = edge_log()
    frame["InvoiceDate"] = frame["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.loc[3, "InvoiceDate"] = "not a date"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"InvoiceDate.*row 5 \('not a date'\)"):
        custseg.load(path)


@pytest.mark.parametrize("headers", [
    # Online Retail II
    ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
     "Customer ID", "Country"],
    # other spellings, case and spaces
    ["invoice no", "STOCK_CODE", "description", "qty", " Invoice Date ", "unit price",
     "customer-id", "COUNTRY"],
])
def test_known_header_spellings_are_mapped(headers, expected):
    frame = edge_log()
    frame.columns = headers
    # Online Retail II is recognised and gets its preset; other headers get it by name.
    config = None if headers[0] == "Invoice" else custseg.Config(preset="online_retail")
    pd.testing.assert_frame_equal(rfm_of(frame, config=config), expected, check_dtype=False)


def test_unknown_headers_work_with_an_explicit_mapping(expected, tmp_path):
    frame = edge_log()
    frame.columns = ["Bon", "Artikel", "Text", "Menge", "Zeit", "Preis", "Kunde", "Land"]
    with pytest.raises(MappingError) as info:
        custseg.load(frame)
    assert info.value.missing == ["customer_id", "invoice_date", "quantity", "unit_price"]
    assert "--map" in str(info.value)
    mapping = io.parse_mapping("invoice=Bon,stock_code=Artikel,description=Text,quantity=Menge,"
                               "invoice_date=Zeit,unit_price=Preis,customer_id=Kunde,country=Land")
    got = rfm_of(frame, mapping=mapping, config=custseg.Config(preset="online_retail"))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_amount_column_and_no_invoice_column():
    frame = edge_log()
    frame["Sales"] = frame["Quantity"] * frame["UnitPrice"]
    frame = frame.drop(columns=["UnitPrice", "InvoiceNo"])
    dataset = custseg.load(frame)
    assert "cancellation" in dataset.cleaning.skipped
    got = custseg.compute_rfm(dataset).set_index("customer_id")
    # Without invoices an order is a distinct (customer, timestamp): 12345 bought at 5 moments
    # (the line without a description is dropped).
    assert got.loc["12345", "frequency"] == 4
    assert got.loc["12345", "monetary"] == pytest.approx(
        6 * 2.55 + 6 * 3.39 + 2 * 7.65 + 4 * 4.25 + 6 * 4.25)


def test_parse_mapping_rejects_bad_pairs():
    with pytest.raises(MappingError, match="unknown key 'client'"):
        io.parse_mapping("client=Kunde")
    with pytest.raises(MappingError, match="key=Column"):
        io.parse_mapping("customer_id")


@pytest.mark.parametrize("name,content,match", [
    ("data.json", '{"a": 1}', "JSON"),
    ("empty.xlsx", "not a zip", r"no data rows.*\.xlsx\) does not match its content"),
    ("broken.parquet", "nope", r"no data rows.*\.parquet\) does not match its content"),
])
def test_bad_files_get_a_clear_message(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        custseg.load(path)


def test_missing_sheet_lists_the_sheets(tmp_path):
    path = write_xlsx(edge_log(), tmp_path / "t.xlsx", sheets=2)
    with pytest.raises(InputError, match="Sheet1, Sheet2"):
        custseg.load(path, sheet="Orders")


def test_row_ids_follow_file_order(tmp_path):
    frame = edge_log()
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    dataset = custseg.load(path)
    got = dataset.con.execute("SELECT invoice FROM lines ORDER BY row_id").df()["invoice"]
    assert got.tolist() == frame["InvoiceNo"].astype(str).tolist()
    assert list(frame.columns) == COLUMNS


def test_a_file_without_header_says_so(tmp_path):
    path = tmp_path / "no_header.csv"
    edge_log().to_csv(path, index=False, header=False)
    with pytest.raises(MappingError, match="first row looks like data, not a header"):
        custseg.load(path)


def _with_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """Every description holds two commas, so a sniffer counting characters sees a
    comma-delimited file of three fields a line."""
    frame = frame.copy()
    frame["Description"] = frame["Description"].fillna("").astype(str) + ", RED, BLUE"
    return frame


def test_a_delimiter_the_sniffer_misses_is_named_by_the_message_and_then_read(tmp_path):
    frame = _with_commas(edge_log())
    path = tmp_path / "hashes.txt"
    frame.to_csv(path, sep="#", index=False)
    with pytest.raises(MappingError) as caught:
        custseg.load(path)
    text = str(caught.value)
    assert "split at ','" in text and "--delimiter" in text
    from custseg.config import ReadConfig

    config = custseg.Config(read=ReadConfig(delimiter="#"))
    comma = tmp_path / "commas.csv"
    frame.to_csv(comma, index=False)  # quoted by pandas: read with the sniffer's own choice
    pd.testing.assert_frame_equal(rfm_of(path, config=config), rfm_of(comma))
    dataset = custseg.load(path, config)
    assert dataset.source.delimiter == "#" and dataset.source.mapping["description"]


def test_the_command_lines_delimiter_names_and_refusals():
    from custseg.cli import read_config
    from custseg.errors import ConfigError

    assert read_config(delimiter="tab").delimiter == "\t"
    assert read_config(delimiter="\\t").delimiter == "\t"
    assert read_config(delimiter=";").delimiter == ";"
    assert read_config().delimiter is None
    for bad in ("ab", "a", '"', " "):
        with pytest.raises(ConfigError, match="--delimiter"):
            read_config(delimiter=bad)


def test_the_delimiter_option_reads_a_tab_file_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from custseg.cli import app

    frame = _with_commas(edge_log())
    path = tmp_path / "tabs.txt"
    frame.to_csv(path, sep="\t", index=False)
    result = CliRunner().invoke(app, ["inspect", str(path), "--delimiter", "tab"])
    assert result.exit_code == 0, result.output
    assert "CustomerID" in result.output

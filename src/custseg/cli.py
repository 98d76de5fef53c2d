"""The ``custseg`` command: run, inspect, demo, generate, app."""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, get_args

import duckdb
import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from custseg.config import (
    DATA_PRESETS,
    CleaningConfig,
    Config,
    Detector,
    Engine,
    ReadConfig,
    Transform,
    parse_day,
)
from custseg.engine import parse_size
from custseg.errors import ConfigError, CustsegError, describe_error

app = typer.Typer(
    name="custseg",
    help="Customer segments, explanations, anomalies and actions from a transaction log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

#: Rule names accepted by --on/--off, and the CleaningConfig switch each one sets.
RULE_SWITCHES: dict[str, str] = {
    "missing_customer": "missing_customer",
    "missing_values": "missing_values",
    "duplicate": "duplicates",
    "cancellation": "cancellations",
    "adjustment": "adjustments",
    "non_positive": "non_positive",
    "non_product": "non_product",
}


def _fail(message: str, code: int = 2, title: str = "Cannot continue") -> None:
    # Text, not markup: messages quote the user's data and the reader's own words, where
    # "[...]" is content, not a style.
    err.print(Panel(Text(message), title=f"custseg: {title}", border_style="red",
                    title_align="left"))
    raise typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn custseg errors into a one-paragraph message and exit code 2 — never a traceback."""
    try:
        yield
    except CustsegError as exc:
        title, text = describe_error(exc)
        _fail(text, title=title)
    except KeyboardInterrupt:
        _fail("Interrupted.", 130)
    except (MemoryError, duckdb.OutOfMemoryException) as exc:
        _fail(f"Ran out of memory ({type(exc).__name__}). Raise DuckDB's limit with "
              f"--memory-limit 4GB (it spills to disk above it), or split the input.", 1)


def _parse_limit(value: str | None, name: str, default: float | None) -> float | None:
    if value is None:
        return default
    if value.strip().lower() in ("off", "none", "no"):
        return None
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a number; give a number or 'off'.") from None
    if number <= 0:
        raise ConfigError(f"{name}: {value!r} must be positive, or 'off'.")
    return number


def _rule_list(text: str | None, option: str) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in RULE_SWITCHES]
    if unknown:
        raise ConfigError(f"{option}: unknown rule(s) {', '.join(unknown)}. Rules: "
                          f"{', '.join(RULE_SWITCHES)}.")
    return names


def _choice(value: str, option: str, options: tuple[str, ...]) -> str:
    """``value`` if it is one of ``options``, else a ConfigError naming them."""
    if value not in options:
        raise ConfigError(f"{option}: {value!r}; use {' or '.join(options)}.")
    return value


def _k_range(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    lo, sep, hi = text.partition("-")
    try:
        pair = (int(lo), int(hi if sep else lo))
    except ValueError:
        raise ConfigError(f"--k-range: {text!r} is not of the form 2-10.") from None
    if pair[0] < 2 or pair[1] < pair[0]:
        raise ConfigError(f"--k-range: {text!r} must be two whole numbers, 2 ≤ low ≤ high.")
    return pair


def _bytes(text: str, option: str) -> int:
    """'2GB', '500MB', '1.5G' or a plain number of bytes, read as DuckDB reads
    --memory-limit (:func:`custseg.engine.parse_size`)."""
    size = parse_size(text)
    if not size or size <= 0:
        raise ConfigError(f"{option}: {text!r} is not a size; give e.g. 2GB or 500MB.")
    return size


#: Delimiters that are easier to name than to type.
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def read_config(*, decimal: str | None = None, date_format: str | None = None,
                max_excel_size: str | None = None, parallel_excel: bool = True,
                delimiter: str | None = None) -> ReadConfig:
    """The reading settings from command-line style values, checked."""
    if decimal is not None and decimal not in (".", ","):
        raise ConfigError(f"--decimal: {decimal!r}; use . (2.55) or , (2,55).")
    if delimiter is not None:
        delimiter = _DELIMITER_NAMES.get(delimiter.lower(), delimiter)
        if len(delimiter) != 1 or delimiter.isalnum() or delimiter in "\"\r\n ":
            raise ConfigError(f"--delimiter: {delimiter!r}; give the one character between "
                              f"fields, e.g. ';', '|' or tab.")
    if date_format is not None and "%" not in date_format:
        raise ConfigError(f"--date-format: {date_format!r} has no %-codes; write it like "
                          f"'%d/%m/%Y %H:%M' (day/month) or '%m/%d/%Y' (month/day).")
    read = ReadConfig(decimal=decimal, date_format=date_format, parallel_excel=parallel_excel,
                      delimiter=delimiter)
    if max_excel_size is not None:
        read = dataclasses.replace(read, max_excel_bytes=_bytes(max_excel_size,
                                                                 "--max-excel-size"))
    return read


def build_config(*, rules: str = "default", on: str | None = None, off: str | None = None,
                 country: str | None = None, max_line_total: str | None = None,
                 max_quantity: str | None = None, as_of: str | None = None,
                 k: int | None = None, k_range: str | None = None,
                 transform: str | None = None, contamination: float | None = None,
                 detector: str | None = None, seed: int = 42,
                 memory_limit: str | None = "1GB", temp_dir: Path | None = None,
                 currency: str | None = None, preset: str = "auto",
                 read: ReadConfig | None = None) -> Config:
    """Build a :class:`Config` from command-line style values, checking each one."""
    if preset != "auto" and preset not in DATA_PRESETS:
        raise ConfigError(f"--preset: {preset!r}; use auto, {', '.join(DATA_PRESETS)}.")
    cleaning = CleaningConfig.preset(rules)
    switches = {RULE_SWITCHES[n]: True for n in _rule_list(on, "--on")}
    switches |= {RULE_SWITCHES[n]: False for n in _rule_list(off, "--off")}
    if country is not None:
        names = [c.strip() for c in country.split(",") if c.strip()]
        switches["countries"] = () if [n.lower() for n in names] == ["all"] else tuple(names)
    switches["max_line_total"] = _parse_limit(max_line_total, "--max-line-total",
                                              cleaning.max_line_total)
    switches["max_quantity"] = _parse_limit(max_quantity, "--max-quantity",
                                            cleaning.max_quantity)
    cleaning = dataclasses.replace(cleaning, **switches)
    if memory_limit is not None and memory_limit.strip().lower() in ("off", "none"):
        memory_limit = None
    if temp_dir is not None and temp_dir.exists() and not temp_dir.is_dir():
        raise ConfigError(f"--temp-dir: {temp_dir} is a file; give a folder (it is created "
                          f"if missing).")
    config = Config(cleaning=cleaning, seed=seed, memory_limit=memory_limit,
                    temp_dir=str(temp_dir) if temp_dir is not None else None,
                    currency=currency, preset=preset, read=read or ReadConfig())
    if as_of:
        config = config.replace(rfm=dataclasses.replace(config.rfm,
                                                        as_of=parse_day(as_of, "--as-of")))
    cluster: dict[str, Any] = {}
    if k is not None:
        if k < 2:
            raise ConfigError(f"--k: {k} is too small; at least 2 segments are needed.")
        cluster["k"] = k
    if (bounds := _k_range(k_range)) is not None:
        cluster["k_min"], cluster["k_max"] = bounds
    if transform is not None:
        cluster["transform"] = _choice(transform, "--transform", get_args(Transform))
    if cluster:
        config = config.replace(cluster=dataclasses.replace(config.cluster, **cluster))
    anomalies: dict[str, Any] = {}
    if contamination is not None:
        if not 0 < contamination < 0.5:
            raise ConfigError(f"--contamination: {contamination} must be between 0 and 0.5 "
                              f"(e.g. 0.02 for 2%).")
        anomalies["contamination"] = contamination
    if detector is not None:
        anomalies["detector"] = _choice(detector, "--detector", get_args(Detector))
    if anomalies:
        config = config.replace(anomalies=dataclasses.replace(config.anomalies, **anomalies))
    return config


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if quiet:
        yield None
        return
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=err, transient=False) as bar:
        task = bar.add_task("Starting", total=None)

        def update(stage: str, step: int, total: int) -> None:
            bar.update(task, description=stage, completed=step, total=total)

        yield update
        bar.update(task, description="Done", completed=bar.tasks[0].total or 1)


# Shared options ---------------------------------------------------------------------------
SheetOpt = Annotated[str | None, typer.Option(
    help="Excel sheet to read, or 'all' to stack sheets with the same header.")]
MapOpt = Annotated[str | None, typer.Option(
    "--map", help="Column mapping, e.g. customer_id=Client,invoice_date=Date.")]
DelimiterOpt = Annotated[str | None, typer.Option(
    "--delimiter", help="Field delimiter of delimited text: one character such as ';' or "
                        "'|', or tab (default: detected).")]
DecimalOpt = Annotated[str | None, typer.Option(
    "--decimal", help="Decimal separator of text numbers: . or , (default: detected; "
                      "asked for when the data cannot tell).")]
DateFormatOpt = Annotated[str | None, typer.Option(
    "--date-format", help="Format of text dates, e.g. '%d/%m/%Y %H:%M' (default: detected; "
                          "asked for when two date orders both fit).")]
PresetOpt = Annotated[str, typer.Option(
    "--preset", help="Data preset: auto (applied when the file is recognised), none, or "
                     "online_retail (£, Online Retail's non-product stock codes).")]
ExcelSizeOpt = Annotated[str | None, typer.Option(
    "--max-excel-size", help="Refuse workbooks whose sheet or shared strings inflate to more "
                             "than this (default 2GB).")]
MemoryLimitOpt = Annotated[str, typer.Option(
    "--memory-limit", help="DuckDB memory limit, e.g. 4GB (or 'off': 80% of memory); it "
                           "spills to --temp-dir above it.")]
TempDirOpt = Annotated[Path | None, typer.Option(
    "--temp-dir", help="Folder DuckDB spills to above --memory-limit (default: "
                       "custseg-duckdb in the system's temporary folder); a large run may "
                       "write about the input's size there.")]
EngineOpt = Annotated[str, typer.Option(
    "--engine", help="Engine of the transaction-scale stages: duckdb (default, embedded) or "
                     "spark (pip install 'custseg[spark]'; docs/scale.md).")]
SparkMasterOpt = Annotated[str | None, typer.Option(
    "--spark-master", help="With --engine spark: local[*] (default), spark://host:7077, yarn, "
                           "k8s://… or a Spark Connect URL sc://host:15002.")]
ParallelExcelOpt = Annotated[bool, typer.Option(
    "--parallel-excel/--no-parallel-excel",
    help="Read a large .xlsx sheet in parts on every core (default), or with calamine alone.")]


def _execute(file: Path, out_dir: Path, config: Config, sheet: str | None,
             mapping: str | None, quiet: bool) -> Any:
    from custseg import io, pipeline
    from custseg.outputs import write_outputs

    overrides = io.parse_mapping(mapping)
    imports = _import_modelling_in_background()
    try:
        with _progress(quiet) as update:
            result = pipeline.run(file, config, sheet=sheet, mapping=overrides,
                                  progress=update)
            written = write_outputs(result, out_dir)
    except BaseException:
        # A refusal can come before the imports finish; scikit-learn half-imported while the
        # interpreter shuts down prints "can't register atexit after shutdown".
        imports.join()
        raise
    if not quiet:
        _print_summary(result, written)
    return result


#: Modules the stages after reading import (scikit-learn, SciPy, Plotly: about 1 s).
_MODELLING_MODULES = ("custseg.cluster", "custseg.explain", "custseg.anomalies",
                      "custseg.segments", "custseg.products", "custseg.narrative",
                      "custseg.report", "custseg.segmenter")


def _import_modelling_in_background() -> threading.Thread:
    """Import the modelling modules while the file is read (the Excel reader and DuckDB run
    without the GIL), instead of after it: a CLI run is about 0.5 s shorter. A module being
    imported here is waited for, not imported twice, when the pipeline reaches it."""
    import importlib

    def load() -> None:
        for name in _MODELLING_MODULES:
            importlib.import_module(name)

    thread = threading.Thread(target=load, name="custseg-imports", daemon=True)
    thread.start()
    return thread


def _print_summary(result: Any, written: list[Path]) -> None:
    from custseg.money import currency_of, money

    report = result.cleaning
    currency = currency_of(result)
    table = Table(title="Row account", show_header=True, header_style="bold")
    table.add_column("step")
    table.add_column("rows", justify="right")
    table.add_row("rows in", f"{report.rows_in:,}")
    for rule, count in report.dropped.items():
        table.add_row(f"  dropped: {rule}", f"{count:,}")
    table.add_row("rows kept", f"{report.rows_kept:,}", style="bold")
    table.add_row("customers kept", f"{report.customers_kept:,}")
    table.add_row("revenue kept", money(report.revenue_kept, currency, 2))
    out.print(table)
    if result.segments is not None:
        seg = Table(title=f"Segments (k={result.clustering.k})", header_style="bold")
        for col in ("segment", "customers", "revenue share", "action"):
            seg.add_column(col, justify="right" if col != "segment" and col != "action"
                           else "left")
        for row in result.segments.itertuples():
            seg.add_row(row.segment, f"{row.customers:,}", f"{row.revenue_share:.1%}",
                        row.action)
        out.print(seg)
        out.print(f"[dim]{result.clustering.reason}[/dim]")
    for note in result.summary.get("notes", []):
        out.print(Text(note, style="yellow"))
    out.print(f"Wrote {len(written)} files to [bold]{written[0].parent}[/bold]")


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Transaction export: .xlsx/.xls/.csv[.gz]/.tsv/"
                                              ".txt/.parquet")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the results.")] = Path("out"),
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    rules: Annotated[str, typer.Option(help="Rule preset: default, or seed (the seed "
                                            "report's rules only).")] = "default",
    on: Annotated[str | None, typer.Option(help="Rules to switch on, comma-separated.")] = None,
    off: Annotated[str | None, typer.Option(help="Rules to switch off, comma-separated: "
                                                 + ", ".join(RULE_SWITCHES))] = None,
    country: Annotated[str | None, typer.Option(help="Countries to keep (comma-separated), or "
                                                     "'all' (the default).")] = None,
    max_line_total: Annotated[str | None, typer.Option(help="Drop lines above this total "
                                                            "(default 500), or 'off'.")] = None,
    max_quantity: Annotated[str | None, typer.Option(help="Drop lines above this quantity "
                                                          "(default 100), or 'off'.")] = None,
    as_of: Annotated[str | None, typer.Option(help="Snapshot date YYYY-MM-DD (default: last "
                                                   "invoice + 1 day).")] = None,
    k: Annotated[int | None, typer.Option(help="Number of segments (default: chosen "
                                               "automatically).")] = None,
    k_range: Annotated[str | None, typer.Option(help="Range of k to search, e.g. 2-10.")] = None,
    transform: Annotated[str | None, typer.Option(help="log1p or none.")] = None,
    contamination: Annotated[float | None, typer.Option(help="Share of customers flagged as "
                                                             "anomalous (default 0.02).")] = None,
    detector: Annotated[str | None, typer.Option(help="isolation_forest or lof.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    memory_limit: MemoryLimitOpt = "1GB",
    temp_dir: TempDirOpt = None,
    currency: Annotated[str | None, typer.Option(help="Currency written before money, e.g. "
                                                      "£, $ or EUR (default: none, or the "
                                                      "data preset's).")] = None,
    preset: PresetOpt = "auto",
    decimal: DecimalOpt = None,
    delimiter: DelimiterOpt = None,
    date_format: DateFormatOpt = None,
    max_excel_size: ExcelSizeOpt = None,
    parallel_excel: ParallelExcelOpt = True,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
    clv: Annotated[bool, typer.Option("--clv/--no-clv", help="Estimate lifetime value, "
                                                          "expected purchases and P(alive) "
                                                          "(docs/clv.md).")] = True,
    horizon_days: Annotated[int | None, typer.Option(help="Days ahead of the expected "
                                                          "purchases (default 90).")] = None,
    clv_months: Annotated[int | None, typer.Option(help="Months of lifetime value "
                                                        "(default 12).")] = None,
    discount_rate: Annotated[float | None, typer.Option(help="Monthly discount rate of "
                                                             "lifetime value (default "
                                                             "0.01).")] = None,
    holdout_days: Annotated[int | None, typer.Option(help="Most days held out to check the "
                                                          "forecast (default 90).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or tables.")] = False,
    save_model: Annotated[Path | None, typer.Option(
        "--save-model", help="Also save the segmentation as JSON, for `custseg score`.")]
    = None,
) -> None:
    """Clean FILE, build RFM, find and explain segments and anomalies; write results to --out."""
    with _user_errors():
        config = build_config(rules=rules, on=on, off=off, country=country,
                              max_line_total=max_line_total, max_quantity=max_quantity,
                              as_of=as_of, k=k, k_range=k_range, transform=transform,
                              contamination=contamination, detector=detector, seed=seed,
                              memory_limit=memory_limit, temp_dir=temp_dir,
                              currency=currency, preset=preset,
                              read=read_config(decimal=decimal, delimiter=delimiter,
                                               date_format=date_format,
                                               max_excel_size=max_excel_size,
                                               parallel_excel=parallel_excel))
        config = config.replace(engine=_choice(engine, "--engine", get_args(Engine)),
                                spark_master=spark_master)
        from custseg import forecast

        config = config.replace(clv=forecast.settings(
            config.clv, enabled=clv, horizon_days=horizon_days, months=clv_months,
            discount_rate=discount_rate, holdout_days=holdout_days))
        result = _execute(file, out_dir, config, sheet, mapping, quiet)
        if save_model is not None:
            from custseg.scoring_cli import save_model as save

            save(result, save_model, out, quiet)


@app.command()
def compare(
    file: Annotated[Path, typer.Argument(help="Transaction export (as for run).")],
    second: Annotated[Path | None, typer.Argument(
        help="A later export to compare FILE with (instead of --as-of dates).")] = None,
    as_of: Annotated[list[str] | None, typer.Option(
        "--as-of", help="Snapshot date YYYY-MM-DD; give it twice, earlier first.")] = None,
    every: Annotated[str | None, typer.Option(
        help="Also a snapshot at the first day of every month, quarter or year (between the "
             "two --as-of dates, or across the data).")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="A saved model (JSON) to assign with, instead of fitting one on the "
                        "first snapshot.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the results.")]
    = Path("out"),
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    rules: Annotated[str, typer.Option(help="Rule preset: default or seed.")] = "default",
    country: Annotated[str | None, typer.Option(help="Countries to keep, or 'all'.")] = None,
    k: Annotated[int | None, typer.Option(help="Number of segments (default: chosen "
                                               "automatically on the first snapshot).")]
    = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    memory_limit: MemoryLimitOpt = "1GB",
    temp_dir: TempDirOpt = None,
    currency: Annotated[str | None, typer.Option(help="Currency written before money.")]
    = None,
    preset: PresetOpt = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables.")] = False,
) -> None:
    """Segments at two dates (or of two files) under one model: migration.csv, movers.csv and
    compare.html in --out."""
    from custseg import assign, io
    from custseg import compare as comparing

    with _user_errors():
        fitted = assign.load(model) if model is not None else None
        config = build_config(rules=rules, country=country, k=k, seed=seed,
                              memory_limit=memory_limit, temp_dir=temp_dir, currency=currency,
                              preset=preset)
        overrides = io.parse_mapping(mapping)
        dates = [parse_day(d, "--as-of") for d in as_of or []]
        if second is not None:
            if dates or every:
                raise ConfigError("Give either a second file or --as-of/--every dates, not "
                                  "both: two files are compared at their own last dates.")
            result = comparing.compare_files(file, second, config, sheet=sheet,
                                             mapping=overrides, model=fitted)
        else:
            result = comparing.compare_dates(file, dates, config, every=every, sheet=sheet,
                                             mapping=overrides, model=fitted)
        written = comparing.write_comparison(result, out_dir)
    if not quiet:
        _print_comparison(result, written)


def _print_comparison(result: Any, written: list[Path]) -> None:
    table = Table(title=f"Segments at {result.dates[0]} → {result.dates[1]}",
                  header_style="bold")
    table.add_column("from")
    table.add_column("to")
    table.add_column("customers", justify="right")
    for row in result.migration.itertuples():
        if row.from_segment != row.to_segment:
            table.add_row(row.from_segment, row.to_segment, f"{row.customers:,}")
    out.print(table)
    out.print(Text(result.headline, style="bold"))
    out.print(f"Wrote {len(written)} files to [bold]{written[0].parent}[/bold]")


@app.command()
def inspect(file: Annotated[Path, typer.Argument(help="Transaction export to look at.")],
            sheet: SheetOpt = None, mapping: MapOpt = None, preset: PresetOpt = "auto",
            decimal: DecimalOpt = None, delimiter: DelimiterOpt = None,
            date_format: DateFormatOpt = None,
            max_excel_size: ExcelSizeOpt = None,
            parallel_excel: ParallelExcelOpt = True,
            memory_limit: MemoryLimitOpt = "1GB", temp_dir: TempDirOpt = None) -> None:
    """Show FILE's detected format, column mapping, row count and date range; run nothing."""
    from custseg import describe
    from custseg.engine import resource_errors

    with _user_errors():
        config = build_config(preset=preset, memory_limit=memory_limit, temp_dir=temp_dir,
                              read=read_config(decimal=decimal, delimiter=delimiter,
                                               date_format=date_format,
                                               max_excel_size=max_excel_size,
                                               parallel_excel=parallel_excel))
        with resource_errors(config, "reading the file"):
            facts = describe.describe_source(file, sheet=sheet, mapping=mapping,
                                             config=config)
        table = Table(title=str(file), show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value")
        for key, value in facts.rows():
            table.add_row(key, value)
        out.print(table)


@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="New transactions, in any format `run` reads.")],
    model: Annotated[Path, typer.Option("--model", help="A model file saved by "
                                                        "`custseg run --save-model`.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the results.")]
    = Path("scored"),
    as_of: Annotated[str | None, typer.Option(help="Snapshot date YYYY-MM-DD (default: the "
                                                   "new data's last invoice + 1 day).")] = None,
    sheet: SheetOpt = None,
    mapping: MapOpt = None,
    decimal: DecimalOpt = None,
    delimiter: DelimiterOpt = None,
    date_format: DateFormatOpt = None,
    max_excel_size: ExcelSizeOpt = None,
    parallel_excel: ParallelExcelOpt = True,
    memory_limit: MemoryLimitOpt = "1GB",
    temp_dir: TempDirOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables (warnings still "
                                                              "show).")] = False,
) -> None:
    """Assign every customer of FILE to the saved segments of --model, without refitting."""
    from custseg.scoring_cli import run_score

    with _user_errors():
        config = build_config(as_of=as_of, memory_limit=memory_limit, temp_dir=temp_dir,
                              read=read_config(decimal=decimal, delimiter=delimiter,
                                               date_format=date_format,
                                               max_excel_size=max_excel_size,
                                               parallel_excel=parallel_excel))
        run_score(file, model, out_dir, config, sheet=sheet, mapping=mapping, out=out, err=err,
                  quiet=quiet)


@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out", help="Folder for data and results.")]
         = Path("custseg-demo"),
         customers: Annotated[int, typer.Option(help="Customers to generate.")] = 2000,
         seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
         quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False) -> None:
    """Generate demo data (with planted segments and anomalies) and run the analysis on it."""
    from custseg import synth

    with _user_errors():
        generated = synth.generate(out_dir / "data", customers=customers, seed=seed)
        if not quiet:
            out.print(f"Generated {generated.lines:,} lines for {generated.customers:,} "
                      f"customers in {generated.transactions}")
        _execute(generated.transactions, out_dir, Config(seed=seed), None, None, quiet)


@app.command()
def generate(out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to.")],
             customers: Annotated[int, typer.Option(help="Customers to generate.")] = 2000,
             seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
             fmt: Annotated[str, typer.Option("--format", help="parquet, csv or xlsx.")]
             = "parquet",
             movers: Annotated[float | None, typer.Option(
                 help="Share of customers planted to change segment at --move-date (e.g. "
                      "0.2): half slip from the top, half rise to it.")] = None,
             move_date: Annotated[str, typer.Option(
                 "--move-date", help="The date planted movers change (YYYY-MM-DD).")]
             = "2011-06-01",
             quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False) -> None:
    """Write synthetic transactions shaped like Online Retail, with the planted truth."""
    from custseg import synth

    with _user_errors():
        if fmt not in ("parquet", "csv", "xlsx"):
            raise ConfigError(f"--format: {fmt!r}; use parquet, csv or xlsx.")
        if customers < 1:
            raise ConfigError("--customers must be at least 1.")
        planted = (None if movers is None
                   else synth.Movers.at(movers, parse_day(move_date, "--move-date")))
        generated = synth.generate(out_dir, customers=customers, seed=seed, fmt=fmt,
                                   movers=planted)
        if not quiet:
            out.print(f"Wrote {generated.lines:,} lines for {generated.customers:,} customers:\n"
                      f"  {generated.transactions}\n  {generated.truth_customers}\n"
                      f"  {generated.truth_transactions}")


@app.command("app")
def dashboard(
    file: Annotated[Path | None, typer.Argument(help="Open on this file instead of the demo "
                                                     "data.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8501 or the next free).")]
    = None,
    headless: Annotated[bool | None, typer.Option(
        "--headless/--no-headless",
        help="Do not open a browser window (--no-headless: open one). Not given: as your "
             "Streamlit settings say.")] = None,
) -> None:
    """Start the dashboard; it prints its address (e.g. http://localhost:8501)."""
    from custseg.app import MAX_UPLOAD_MB, launch

    with _user_errors():
        if file is not None and not file.exists():
            raise ConfigError(f"{file}: no such file. Check the path, or start without one "
                              f"to open on the demo data.")
        out.print(f"Starting the custseg dashboard (uploads up to {MAX_UPLOAD_MB} MB); "
                  f"press Ctrl+C to stop.")
        raise typer.Exit(launch(port=port, headless=headless, file=file))


#: Libraries whose log records are internal chatter for a command-line user: fastexcel logs
#: a warning for every all-empty column ("falling back to string"), which is the reading we
#: want. Their errors still show.
_QUIET_LOGGERS = ("fastexcel",)


def main() -> None:
    """Console entry point."""
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # a bug: still one paragraph, not a traceback
        err.print(Panel(f"Unexpected error: {type(exc).__name__}: {exc}\nThis is a bug in "
                        f"custseg; please report it with the command you ran.",
                        title="custseg: internal error", border_style="red", title_align="left"))
        sys.exit(1)


"""Cleaning rules as data, applied in one SQL pass that names the first rule dropping each row.

Every input row lands in the table ``lines`` with ``drop_rule`` NULL (kept) or the name of the
first rule, in :data:`RULES` order, that removes it — so rows_in = rows_kept + Σ dropped by
construction, and later stages (transaction anomalies) can still look at dropped lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from custseg import engine
from custseg.config import CleaningConfig
from custseg.errors import EmptyResultError
from custseg.io import CANONICAL, checked_amount, literal


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


@dataclass(frozen=True)
class Rule:
    """A cleaning rule: ``predicate`` returns the SQL condition under which a row is dropped,
    or None when the configuration switches the rule off."""

    name: str
    why: str
    needs: tuple[str, ...]
    predicate: Callable[[CleaningConfig, date | None], str | None]


def _missing_values(cfg: CleaningConfig, _: date | None) -> str | None:
    if not cfg.missing_values:
        return None
    cols = [c for c in CANONICAL if c not in ("customer_id", "amount")]
    # A column absent from the input is all NULL: it must not drop every row.
    return " OR ".join(f"({c} IS NULL AND present_{c})" for c in cols) + " OR amount IS NULL"


def non_product_condition(cfg: CleaningConfig) -> str:
    """SQL true for postage, fees and other non-product stock codes (the configured codes and
    prefixes), whether or not the ``non_product`` rule is switched on."""
    codes = tuple(c.upper() for c in cfg.non_product_codes or ())
    tests = [f"upper(stock_code) IN ({_sql_list(codes)})"] if codes else []
    tests += [f"starts_with(upper(stock_code), {_sql_list((p.upper(),))})"
              for p in cfg.non_product_prefixes or ()]
    return " OR ".join(tests) or "false"


def _non_product(cfg: CleaningConfig, _: date | None) -> str | None:
    has_codes = bool(cfg.non_product_codes or cfg.non_product_prefixes)
    return non_product_condition(cfg) if cfg.non_product and has_codes else None


def _today(cfg: CleaningConfig) -> date:
    """Today in UTC (not the machine's zone), unless the configuration fixes the day."""
    return cfg.today or datetime.now(UTC).date()


def _tomorrow(cfg: CleaningConfig) -> str:
    """The first instant after today."""
    return (_today(cfg) + timedelta(days=1)).isoformat()


def _non_positive(cfg: CleaningConfig, _: date | None) -> str | None:
    if not cfg.non_positive:
        return None
    return "quantity <= 0 OR unit_price <= 0 OR amount <= 0"


#: The rules, in the order they are tried: first the scope of the analysis (who, when, where),
#: then what kind of line it is. A line outside the scope is counted there, so the stages that
#: look at dropped lines (large cancellations) only see lines of the chosen market and period.
RULES: tuple[Rule, ...] = (
    Rule("invalid_number", "A quantity, price or amount that is infinite, not a number, or "
         "beyond 10^12 in size is a corrupted cell, not a purchase.",
         (), lambda _c, _: "NOT valid_numbers"),
    Rule("missing_customer", "A line without a customer id cannot be attributed to anyone.",
         ("customer_id",), lambda c, _: "customer_id IS NULL" if c.missing_customer else None),
    Rule("missing_values", "A line with an empty field (date, quantity, price, description, …) "
         "cannot be trusted; the seed dropped every row with a missing value.",
         (), _missing_values),
    Rule("future_date", "A line dated after today cannot have happened yet: a typo in the "
         "year, or a clock set wrong. Kept, it would move the snapshot and every recency.",
         ("invoice_date",), lambda c, _: f"invoice_date >= TIMESTAMP '{_tomorrow(c)}'"),
    Rule("after_snapshot", "Lines on or after the as-of date are in the future of the snapshot.",
         ("invoice_date",),
         lambda _, as_of: f"invoice_date >= TIMESTAMP '{as_of.isoformat()}'" if as_of else None),
    Rule("country", "The analysis covers the chosen market(s) only.", ("country",),
         lambda c, _: (f"country IS NULL OR country NOT IN ({_sql_list(c.countries)})"
                       if c.countries else None)),
    Rule("duplicate", "An exact copy of an earlier line (same invoice, product, quantity, "
         "time, price and customer) is an export artefact, not a second purchase.",
         (), lambda c, _: "dup_rank > 1" if c.duplicates else None),
    Rule("cancellation", "Invoices starting with 'C' cancel earlier lines; they are not "
         "purchases.", ("invoice",),
         lambda c, _: "starts_with(upper(invoice), 'C')" if c.cancellations else None),
    Rule("adjustment", "Invoices starting with 'A' are bad-debt adjustments, not purchases.",
         ("invoice",),
         lambda c, _: "starts_with(upper(invoice), 'A')" if c.adjustments else None),
    Rule("non_positive", "A zero or negative quantity or price outside a cancellation is a "
         "return, a free item or an error: it is not spend.", (), _non_positive),
    Rule("non_product", "Postage, fees, manual corrections, samples and vouchers are not "
         "products a customer chose.", ("stock_code",), _non_product),
    Rule("max_line_total", "Lines above the line-total limit are wholesale or errors that "
         "would dominate spend.", (),
         lambda c, _: f"amount > {float(c.max_line_total)}" if c.max_line_total is not None
         else None),
    Rule("max_quantity", "Lines above the quantity limit are wholesale or errors.",
         ("quantity",),
         lambda c, _: f"quantity > {float(c.max_quantity)}" if c.max_quantity is not None
         else None),
)

RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)


@dataclass(frozen=True)
class CleaningReport:
    """The row account of a cleaning run. ``rows_in == rows_kept + sum(dropped.values())``."""

    rows_in: int
    rows_kept: int
    customers_kept: int
    revenue_kept: float
    #: Rows removed per active rule, in rule order (a row counts under its first rule only).
    dropped: dict[str, int]
    #: Rules that did not run, each with a sentence saying why ("Not applied: switched off.",
    #: "Not applied: the input has no country column.").
    skipped: dict[str, str] = field(default_factory=dict)
    #: Plain description of every active rule with its parameters.
    rules: dict[str, str] = field(default_factory=dict)
    #: Sum of the amounts of the lines each active rule removed, in rule order (net: a
    #: cancellation's amounts are negative).
    revenue_dropped: dict[str, float] = field(default_factory=dict)
    #: The countries the ``country`` rule keeps (empty: every country).
    countries: tuple[str, ...] = ()
    #: Distinct countries in the input; None when the input has no country column.
    countries_in: int | None = None
    #: Countries whose lines the ``country`` rule removed, most lines first.
    countries_left_out: tuple[str, ...] = ()
    #: Lines without a country that the ``country`` rule removed.
    no_country_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_in - self.rows_kept,
            "customers_kept": self.customers_kept,
            "revenue_kept": round(self.revenue_kept, 2),
            "dropped": self.dropped,
            "revenue_dropped": {k: round(v, 2) for k, v in self.revenue_dropped.items()},
            "skipped": self.skipped,
            "rules": self.rules,
            "countries": list(self.countries),
            "countries_in": self.countries_in,
            "countries_left_out": list(self.countries_left_out),
            "no_country_left_out": self.no_country_left_out,
        }


def scope_sentence(report: CleaningReport, currency: str | None = "") -> str:
    """Which countries the analysis covers, with the lines and revenue left out, as a sentence.

    "All 38 countries are kept." / "Only United Kingdom is kept: 46,321 lines and
    £1,234,567.89 of revenue from 37 other countries are left out." / "The input has no
    country column: lines are not selected by country."
    """
    from custseg.labels import and_list
    from custseg.money import money

    if report.countries_in is None:
        return "The input has no country column: lines are not selected by country."
    if not report.countries:
        n = report.countries_in
        if n == 0:
            return "Every line is kept whatever its country (the country column is empty)."
        return ("The one country in the data is kept." if n == 1
                else f"All {n:,} countries are kept.")
    kept = list(report.countries)
    text = f"Only {and_list(kept)} {'is' if len(kept) == 1 else 'are'} kept"
    lines = report.dropped.get("country", 0)
    if not lines:
        return text + ": no line from another country is left out."
    others, blank = len(report.countries_left_out), report.no_country_left_out
    what = f"{lines:,} line{'' if lines == 1 else 's'}"
    if blank and others:
        what += f" ({blank:,} without a country)"
    elif blank:
        what += " without a country"
    revenue = money(report.revenue_dropped.get("country", 0.0), currency, 2)
    where = f" from {others:,} other countr{'y' if others == 1 else 'ies'}" if others else ""
    return f"{text}: {what} and {revenue} of revenue{where} are left out."


def _describe(rule: Rule, cfg: CleaningConfig, as_of: date | None) -> str:
    params = {
        "country": f" (keep: {', '.join(cfg.countries)})",
        "max_line_total": f" (limit {cfg.max_line_total:g})" if cfg.max_line_total else "",
        "max_quantity": f" (limit {cfg.max_quantity:g})" if cfg.max_quantity else "",
        "future_date": f" (today: {_today(cfg)})",
        "after_snapshot": f" (as of {as_of})" if as_of else "",
    }
    return rule.why + params.get(rule.name, "")


#: Why a rule is off when its setting is empty, where that says more than "switched off".
_WHY_EMPTY = {
    "after_snapshot": "no as-of date was given, so every line up to the latest is used.",
    "country": "every country is kept.",
    "non_product": "no non-product stock codes are set (a known export's preset sets them).",
    "max_line_total": "no line-total limit is set.",
    "max_quantity": "no quantity limit is set.",
}


def _why_off(name: str, cfg: CleaningConfig) -> str:
    """Why a rule whose column is present does not run, as the end of a sentence."""
    if name == "non_product" and not cfg.non_product:
        return "switched off."  # turned off by name, whatever the codes
    return _WHY_EMPTY.get(name, "switched off.")


def active_rules(cfg: CleaningConfig, mapping: dict[str, str],
                 as_of: date | None = None) -> tuple[list[tuple[Rule, str]], dict[str, str]]:
    """Split the rules into those that run (with their SQL) and those skipped (with why)."""
    active: list[tuple[Rule, str]] = []
    skipped: dict[str, str] = {}
    for rule in RULES:
        absent = [c for c in rule.needs if c not in mapping]
        if absent:
            skipped[rule.name] = (f"Not applied: the input has no {' or '.join(absent)} "
                                  f"column.")
            continue
        sql = rule.predicate(cfg, as_of)
        if sql is None:
            skipped[rule.name] = "Not applied: " + _why_off(rule.name, cfg)
            continue
        active.append((rule, sql))
    return active, skipped


#: The fields that make two lines exact duplicates.
DUPLICATE_KEY = ("invoice", "stock_code", "description", "quantity", "invoice_date",
                 "unit_price", "amount", "customer_id", "country")


#: The duplicate search keeps one hash-table entry per line it looks at (about 36 bytes, and
#: DuckDB's aggregation needs several times that while it partitions); above this many lines
#: it runs in passes, each over the lines of one share of the invoices, so that its table
#: stays within the default memory limit. At 104M lines: 9 passes of 11.6M took 59 s, 5 of
#: 20.9M 36 s, neither spilling; 3 of 34.8M 25 s but spilled 359 MB (docs/scale.md).
DUPLICATE_PASS_LINES = 21_000_000


def lines_sql(select_sql: str, mapping: dict[str, str], active: list[tuple[Rule, str]]) -> str:
    """The SELECT of the lines: canonical rows plus the first dropping rule's name.

    Duplicates are not known yet (``dup_rank`` is 1 here): :func:`copies_sql` finds them
    once every line is written. Spark computes the rank in this statement instead.
    """
    presence = ", ".join(f"{'true' if c in mapping else 'false'} AS present_{c}"
                         for c in CANONICAL)
    cases = "\n    ".join(f"WHEN ({sql}) THEN '{rule.name}'" for rule, sql in active)
    case = f"CASE\n    {cases}\n  END" if active else "CAST(NULL AS VARCHAR)"
    columns = ", ".join(f"canon.{c}" for c in ("row_id", *CANONICAL, "valid_numbers"))
    return f"""
WITH flags AS (
  SELECT {columns}, 1 AS dup_rank, {presence}
  FROM ({select_sql}) canon
)
SELECT row_id, {", ".join(CANONICAL)}, {case} AS drop_rule
FROM flags
"""


def copies_sql(table: str, active: list[tuple[Rule, str]], part: int = 0,
               parts: int = 1) -> str:
    """The row ids of the lines to drop as ``duplicate``: every exact copy of an earlier line
    (by row id) that no earlier rule dropped, among the lines whose invoice falls in share
    ``part`` of ``parts``.

    One 64-bit hash per line finds the few groups that repeat, and only their lines are
    compared exactly (a hash collision therefore never drops a line). Copies share their
    invoice, so a share of the invoices holds every copy of its lines, and a pass hashes the
    whole key of its own share only. Run over the written lines rather than the input: they
    are read faster than the input is parsed again, and their row ids make the ranks the
    input order's.
    """
    key = ", ".join(DUPLICATE_KEY)
    share = f"hash(invoice) % {int(parts)} = {int(part)}" if parts > 1 else "true"
    names = [rule.name for rule, _ in active]
    earlier = names[:names.index("duplicate")]
    kept = ("drop_rule IS NULL OR drop_rule NOT IN (" + _sql_list(tuple(earlier)) + ")"
            if earlier else "true")
    return f"""
SELECT row_id FROM (
  SELECT row_id, drop_rule,
         row_number() OVER (PARTITION BY {key} ORDER BY row_id) AS dup_rank
  FROM {table}
  WHERE {share} AND hash({key}) IN (
    SELECT hash({key}) AS hk FROM {table} WHERE {share}
    GROUP BY hk HAVING count(*) > 1)
) WHERE dup_rank > 1 AND ({kept})
"""


def build_lines(con: duckdb.DuckDBPyConnection, select_sql: str, mapping: dict[str, str],
                cfg: CleaningConfig, as_of: date | None = None) -> CleaningReport:
    """Write the lines (every input row with its ``drop_rule``) into the connection's store
    (:func:`custseg.engine.attach_store`, attached here when it is not yet), and create the
    views ``lines`` and ``clean``.

    Parameters
    ----------
    select_sql:
        The canonical SELECT from :func:`custseg.io.canonical_select`.
    mapping:
        The column mapping, which decides which rules can run.

    Returns
    -------
    The :class:`CleaningReport`.

    Raises
    ------
    EmptyResultError
        When no rows are kept.
    """
    active, skipped = active_rules(cfg, mapping, as_of)
    store = engine.store_file(con) or engine.attach_store(con)
    # An amount that is quantity × price is not written: the view computes it again, as
    # the canonical SELECT did (104M generated lines: 180 MB of the 913 MB file).
    derived = "amount" not in mapping
    lines = lines_sql(select_sql, mapping, active)
    if derived:
        lines = f"SELECT * EXCLUDE (amount) FROM ({lines})"
    # One streaming statement: the lines go to their compressed file as they are typed.
    written = con.execute(f"COPY ({lines}) TO {literal(store.lines)} "
                          f"({engine.LINES_FORMAT})").fetchone()
    con.execute(f"CREATE OR REPLACE TABLE {engine.COPIES} (row_id BIGINT)")
    if any(rule.name == "duplicate" for rule, _ in active):
        _define_lines(con, store, derived)  # the lines as written: no copies marked yet
        parts = max(1, math.ceil((written[0] if written else 0) / DUPLICATE_PASS_LINES))
        for part in range(parts):
            con.execute(f"INSERT INTO {engine.COPIES} {copies_sql('lines', active, part, parts)}")
    _define_lines(con, store, derived)
    con.execute(f"CHECKPOINT {engine.STORE}")
    con.execute("CREATE OR REPLACE VIEW clean AS SELECT * FROM lines WHERE drop_rule IS NULL")
    return account(con, active, skipped, mapping, cfg, as_of)


def _define_lines(con: duckdb.DuckDBPyConnection, store: engine.StoreFile,
                  derived: bool) -> None:
    """Create the store's view :data:`custseg.engine.LINES` of the lines' file, and the
    view ``lines`` of it: the columns of :func:`lines_sql`, the amount computed again when
    it was ``derived``, and ``duplicate`` as the drop rule of the lines in
    :data:`custseg.engine.COPIES` (found after the file was written: it takes every line to
    know which are copies)."""
    columns = ["row_id", *CANONICAL]
    if derived:
        _, amount = checked_amount("quantity", "unit_price")
        columns[columns.index("amount")] = f"{amount} AS amount"
    copies = con.execute(f"SELECT count(*) FROM {engine.COPIES}").fetchone()
    columns.append(f"CASE WHEN row_id IN (SELECT row_id FROM {engine.COPIES}) THEN 'duplicate' "
                   f"ELSE drop_rule END AS drop_rule" if copies and copies[0] else "drop_rule")
    con.execute(f"CREATE OR REPLACE VIEW {engine.LINES} AS SELECT {', '.join(columns)} "
                f"FROM read_parquet({literal(store.lines)})")
    con.execute(f"CREATE OR REPLACE VIEW lines AS SELECT * FROM {engine.LINES}")


def account(con: duckdb.DuckDBPyConnection, active: list[tuple[Rule, str]],
            skipped: dict[str, str], mapping: dict[str, str], cfg: CleaningConfig,
            as_of: date | None = None) -> CleaningReport:
    """The :class:`CleaningReport` of the table ``lines`` and the view ``clean`` on ``con``
    (either engine: custseg.spark runs the same statements on Spark).

    Raises
    ------
    EmptyResultError
        When no rows are kept.
    """
    # One pass over the lines: count and amount per (rule, country) group.
    groups = con.execute(
        "SELECT coalesce(drop_rule, ''), country, count(*), coalesce(sum(amount), 0) "
        "FROM lines GROUP BY 1, 2").fetchall()
    counts: dict[str, int] = {}
    parts: dict[str, list[float]] = {}
    left_out: dict[str, int] = {}
    for rule_name, country, n, amount in groups:
        counts[rule_name] = counts.get(rule_name, 0) + int(n)
        parts.setdefault(rule_name, []).append(float(amount))
        if rule_name == "country":
            left_out[country] = left_out.get(country, 0) + int(n)
    has_country = "country" in mapping
    no_country = left_out.pop(None, 0)
    kept = con.execute(
        "SELECT count(DISTINCT customer_id), coalesce(sum(amount), 0) FROM clean").fetchall()[0]
    rows_kept = int(counts.pop("", 0))
    report = CleaningReport(
        rows_in=rows_kept + sum(int(v) for v in counts.values()),
        rows_kept=rows_kept,
        customers_kept=int(kept[0]),
        revenue_kept=float(kept[1]),
        dropped={rule.name: int(counts.get(rule.name, 0)) for rule, _ in active},
        skipped=skipped,
        rules={rule.name: _describe(rule, cfg, as_of) for rule, _ in active},
        # fsum: the groups come back in any order, and a plain sum's last bits would follow it.
        revenue_dropped={rule.name: math.fsum(parts.get(rule.name, [])) for rule, _ in active},
        countries=tuple(cfg.countries) if has_country else (),
        countries_in=(len({c for _, c, _, _ in groups if c is not None}) if has_country
                      else None),
        countries_left_out=tuple(sorted(left_out, key=lambda c: (-left_out[c], c))),
        no_country_left_out=no_country,
    )
    if report.rows_kept == 0:
        raise EmptyResultError(_empty_message(con, report, cfg))
    return report


def _empty_message(con: duckdb.DuckDBPyConnection, report: CleaningReport,
                   cfg: CleaningConfig) -> str:
    if report.rows_in == 0:
        return "The input has no rows: there is nothing to clean. Give the transactions."
    worst = max(report.dropped, key=report.dropped.get) if report.dropped else "none"
    hint = ""
    if worst == "country":
        found = [r[0] for r in con.execute(
            "SELECT country FROM lines WHERE country IS NOT NULL GROUP BY 1 "
            "ORDER BY count(*) DESC LIMIT 8").fetchall()]
        hint = (f" No line is from {', '.join(cfg.countries)}; the data's countries include "
                f"{', '.join(found)}. Use --country all or --country NAME.")
    return (f"Cleaning kept no rows out of {report.rows_in:,}: the rule {worst!r} removed "
            f"{report.dropped.get(worst, 0):,}.{hint} Relax or switch off that rule.")

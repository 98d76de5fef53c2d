"""Run custseg's DuckDB SQL on Spark: a connection-like object whose ``execute`` translates each
statement with sqlglot and runs it with Spark SQL over temporary views.

The engines then share every rule, threshold and query (cleaning, RFM, transaction anomalies,
product mix) instead of keeping two copies that could drift apart. Where DuckDB and Spark
differ in meaning and not only in spelling, the translation says so below (``/`` always
divides as floating point in DuckDB; ``epoch`` keeps fractions of a second; functions Spark
lacks are written with ones it has). Results come back through Arrow, so timestamps never pass
through the Python process's local time zone.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from custseg.errors import CustsegError, InputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Text date directives (strftime, as DuckDB reads them) in Spark's pattern letters. Single
#: letters where DuckDB accepts one or two digits ("1/2/2011" and "01/02/2011").
_DATE_DIRECTIVES = {
    "%Y": "yyyy", "%y": "yy", "%m": "M", "%d": "d", "%H": "H", "%I": "h", "%M": "m",
    "%S": "s", "%f": "SSSSSS", "%p": "a", "%z": "[XXX][XX][X]", "%b": "MMM", "%B": "MMMM",
}
#: The same where fields touch without separators ("20111209"): widths must be fixed.
_FIXED_WIDTH = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss"}


def java_date_pattern(fmt: str) -> str:
    """A strftime format (``%d/%m/%Y %H:%M``) as a Spark datetime pattern (``d/M/yyyy H:m``)."""
    touching = re.search(r"%[A-Za-z]%[A-Za-z]", fmt) is not None
    directives = {**_DATE_DIRECTIVES, **_FIXED_WIDTH} if touching else _DATE_DIRECTIVES
    out, text, i = [], "", 0
    while i < len(fmt):
        if fmt[i] == "%" and fmt[i:i + 2] in directives:
            if text:
                out.append("'" + text.replace("'", "''") + "'")
                text = ""
            out.append(directives[fmt[i:i + 2]])
            i += 2
            continue
        if fmt[i].isalpha():
            text += fmt[i]
        else:
            if text:
                out.append("'" + text + "'")
                text = ""
            out.append(fmt[i])
        i += 1
    if text:
        out.append("'" + text + "'")
    return "".join(out)


def _literal(value: Any) -> exp.Expression:
    """A Python value as a SQL literal (the ``?`` parameters of a DuckDB statement)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, int | float | decimal.Decimal):
        return exp.Literal.number(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _full_match(text: exp.Expression, pattern: exp.Expression) -> exp.Expression:
    """DuckDB's whole-string match as Spark's RLIKE, which finds the pattern anywhere."""
    return exp.RegexpLike(this=text,
                          expression=exp.Literal.string("^(?:" + pattern.name + ")$"))


def _translate_function(node: exp.Anonymous) -> exp.Expression:
    """DuckDB functions Spark spells differently or lacks, written with Spark's own."""
    name = node.name.lower()
    args = node.expressions
    if name == "try_strptime":
        return _call("TRY_TO_TIMESTAMP", args[0],
                     exp.Literal.string(java_date_pattern(args[1].name)))
    if name == "timezone" and args[0].name.upper() == "UTC":
        # The session's zone is UTC (custseg.spark.session): an instant already reads as UTC.
        return args[1]
    if name == "isfinite":
        return exp.LT(this=exp.Abs(this=args[0]),
                      expression=exp.cast(exp.Literal.string("Infinity"), "DOUBLE"))
    if name == "regexp_full_match":  # sqlglot versions that do not know the function
        return _full_match(args[0], args[1])
    if name == "to_seconds":
        zero = exp.Literal.number(0)
        return _call("MAKE_DT_INTERVAL", zero, zero, zero, args[0])
    return node


def _average(avg: exp.Avg, where: exp.Expression | None = None) -> exp.Expression:
    """``avg(x) [FILTER (WHERE …)]`` as DuckDB computes it over money: the exact decimal sum
    divided by the count, rounded once to a double (Spark's decimal average keeps too few
    digits, and a double average depends on the order of the sum)."""

    def agg(node: exp.Expression) -> exp.Expression:
        return exp.Filter(this=node, expression=where.copy()) if where is not None else node

    # Spark keeps max(6, 38 - 16) = 22 decimals of this quotient: enough to round once.
    total = exp.cast(agg(exp.Sum(this=avg.this.copy())), "DECIMAL(20, 4)")
    count = exp.cast(agg(exp.Count(this=avg.this.copy())), "DECIMAL(30, 0)")
    return exp.cast(exp.paren(exp.Div(this=total, expression=count)), "DOUBLE")


def _epoch(node: exp.TimeToUnix) -> exp.Expression:
    # DuckDB's epoch() keeps fractions of a second; Spark's UNIX_TIMESTAMP drops them.
    micros = exp.cast(_call("UNIX_MICROS", exp.cast(node.this, "TIMESTAMP")), "DOUBLE")
    return exp.Div(this=micros, expression=exp.Literal.number("1e6"))


class _Rewriter:
    """The node-by-node changes from DuckDB's meaning to Spark's."""

    def __init__(self, columns: Any) -> None:
        self.columns = columns

    def __call__(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous):
            return _translate_function(node)
        if isinstance(node, exp.TimeToUnix):
            return _epoch(node)
        if type(node).__name__ == "RegexpFullMatch":
            return _full_match(node.this, node.expression)
        if isinstance(node, exp.Filter) and isinstance(node.this, exp.Avg):
            return _average(node.this, node.expression)
        if isinstance(node, exp.Avg) and not isinstance(node.parent, exp.Filter):
            return _average(node)
        if isinstance(node, exp.Div):
            # DuckDB's "/" divides as floating point whatever the types; Spark's divides
            # decimals as decimals (rounded to a scale), which would change the last digits.
            return exp.Div(this=exp.cast(node.this, "DOUBLE"), expression=node.expression)
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
            return exp.DataType.build("DECIMAL(38, 0)")
        if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
            node.set("materialized", None)
            return node
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Star) \
                and node.this.args.get("except"):
            return self._expand(node)
        return node

    def _expand(self, node: exp.Column) -> exp.Expression:
        """``s.* EXCLUDE (c)`` as a column list (Spark SQL has no star with exceptions)."""
        star = node.this
        left_out = {e.name for e in star.args["except"]}
        query = node.find_ancestor(exp.Select)
        tables = {t.alias_or_name: t.name for t in query.find_all(exp.Table)} if query else {}
        names = self.columns(tables.get(node.table, node.table))
        return exp.Tuple(expressions=[exp.column(n, node.table, quoted=True)
                                      for n in names if n not in left_out])


#: Name given to the n-th ``?`` of a statement (tree order is not text order).
_PARAM = "__custseg_param_"


def _numbered(sql: str) -> str:
    """``sql`` with its n-th ``?`` parameter written as the column ``__custseg_param_n``."""
    out, last, n = [], 0, 0
    for token in sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql):
        if token.token_type == TokenType.PLACEHOLDER:
            out += [sql[last:token.start], f"{_PARAM}{n}"]
            last, n = token.end + 1, n + 1
    return "".join([*out, sql[last:]])


def to_spark(sql: str, params: Sequence[Any] = (), columns: Any = None) -> exp.Expression:
    """One DuckDB statement as a sqlglot tree for Spark, ``?`` parameters filled in."""
    tree = sqlglot.parse_one(_numbered(sql), read="duckdb")
    for node in list(tree.find_all(exp.Column)):
        if node.name.startswith(_PARAM):
            node.replace(_literal(params[int(node.name[len(_PARAM):])]))
    for node in list(tree.find_all(exp.Placeholder)):
        if str(node.this or "").isdigit():  # DuckDB's $1, $2, …
            node.replace(_literal(params[int(node.this) - 1]))
    rewrite = _Rewriter(columns)
    # Children before parents, so that a rewritten node holds rewritten children.
    for node in reversed(list(tree.walk())):
        new = rewrite(node)
        if new is node:
            continue
        if node is tree:
            tree = new
        else:
            node.replace(new)
    # A column list from an expanded star is spliced into the select list.
    for select in tree.find_all(exp.Select):
        flat: list[exp.Expression] = []
        for e in select.expressions:
            flat.extend(e.expressions if isinstance(e, exp.Tuple) else [e])
        select.set("expressions", flat)
    return tree


def spark_sql(sql: str, params: Sequence[Any] = ()) -> str:
    """:func:`to_spark` as Spark SQL text."""
    return to_spark(sql, params).sql(dialect="spark")


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """A Spark result as DuckDB's ``.df()`` gives it: timestamps without a zone (in UTC), and
    decimals turned into floats by DuckDB itself (its conversion of a sum's last bit differs
    from Arrow's, and both engines' tables must be equal)."""
    columns = []
    for field in table.schema:
        col = table.column(field.name)
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            col = col.cast(pa.timestamp(field.type.unit, "UTC")).cast(
                pa.timestamp(field.type.unit))
        columns.append(col)
    plain = pa.table(columns, names=table.column_names)
    with duckdb.connect() as con:
        return con.from_arrow(plain).df()


def _plain_row(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(v.replace(tzinfo=None) if isinstance(v, dt.datetime) and v.tzinfo else v
                 for v in row.values())


class SparkResult:
    """The result of one query, fetched on demand like a DuckDB result."""

    def __init__(self, frame: DataFrame | None) -> None:
        self.frame = frame

    def arrow(self) -> pa.Table:
        if self.frame is None:
            return pa.table({})
        return self.frame.toArrow()

    def df(self) -> pd.DataFrame:
        return arrow_to_pandas(self.arrow())

    def fetchall(self) -> list[tuple[Any, ...]]:
        table = self.arrow()
        # Timestamps with a zone are UTC instants: shown as UTC wall-clock times, as DuckDB does.
        return [_plain_row(r) for r in table.to_pylist()]

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchall()
        return rows[0] if rows else None


class SparkConnection:
    """The subset of a DuckDB connection custseg's stages use, on a SparkSession.

    ``CREATE TABLE … AS`` is kept (persisted) and named as a temporary view; a registered
    frame becomes a temporary view too. Nothing is written to the session's catalogue.
    """

    def __init__(self, session: SparkSession) -> None:
        self.session = session
        self._kept: dict[str, DataFrame] = {}

    def cursor(self) -> SparkConnection:
        return self

    def close(self) -> None:
        """Nothing to close: the views live as long as the connection that made them."""

    def columns(self, name: str) -> list[str]:
        return list(self.session.table(name).columns)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SparkResult:
        tree = to_spark(sql, params, self.columns)
        try:
            if isinstance(tree, exp.Create):
                name = tree.this.name if isinstance(tree.this, exp.Table) else \
                    tree.this.this.name
                query = tree.expression.sql(dialect="spark")
                frame = self.session.sql(query)
                if tree.kind == "TABLE":
                    self.keep(name, frame)
                else:
                    frame.createOrReplaceTempView(name)
                return SparkResult(None)
            return SparkResult(self.session.sql(tree.sql(dialect="spark")))
        except CustsegError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "AnalysisException" and "TABLE_OR_VIEW_NOT_FOUND" in \
                    str(exc):
                raise InputError(f"Spark has no table for this statement: {_first_line(exc)}. "
                                 f"Load the data first (custseg.load).") from exc
            raise

    def keep(self, name: str, frame: DataFrame) -> DataFrame:
        """Persist ``frame`` and name it ``name`` (replacing an earlier one)."""
        old = self._kept.pop(name, None)
        frame = frame.persist()
        frame.createOrReplaceTempView(name)
        self._kept[name] = frame
        if old is not None:
            old.unpersist()
        return frame

    def drop(self, name: str) -> None:
        """Free what :meth:`keep` persisted under ``name`` and forget the name."""
        frame = self._kept.pop(name, None)
        if frame is not None:
            frame.unpersist()
        self.session.catalog.dropTempView(name)

    def register(self, name: str, frame: Any) -> None:
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(
            pd.DataFrame(frame), preserve_index=False)
        self.session.createDataFrame(table).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.session.catalog.dropTempView(name)

    def release(self) -> None:
        """Free what :meth:`keep` persisted."""
        for frame in self._kept.values():
            frame.unpersist()
        self._kept.clear()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

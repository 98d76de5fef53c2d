"""The SparkSession the Spark engine runs on: one passed in, one at ``--spark-master`` (a
cluster URL, ``local[N]`` or a Spark Connect ``sc://`` URL), or ``local[*]``; always set to
UTC so that no timestamp depends on the machine's zone."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from custseg.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Master used when none is given: every core of this machine.
DEFAULT_MASTER = "local[*]"

#: Settings every session gets: UTC timestamps (results must not depend on the machine's
#: zone), and timestamps read from files without a zone kept as wall-clock times.
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
}

#: Settings only a session custseg builds itself gets (a passed-in session keeps its own):
#: few shuffle partitions, since the tables after the first aggregation are small.
BUILD_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
    "spark.driver.memory": "2g",
}


def require_pyspark() -> Any:
    """The ``pyspark.sql`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import pyspark.sql
    except ImportError as exc:
        raise ConfigError(
            "The Spark engine needs PySpark, which is not installed. Install it with "
            "pip install 'custseg[spark]' (it also needs Java 17 or later), or use "
            "--engine duckdb.") from exc
    return pyspark.sql


def get_session(master: str | None = None, session: SparkSession | None = None,
                conf: dict[str, str] | None = None) -> SparkSession:
    """The session to run on, set to UTC.

    Parameters
    ----------
    master:
        ``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://…`` or a Spark
        Connect URL ``sc://host:15002``; None: :data:`DEFAULT_MASTER`. Ignored when
        ``session`` is given.
    session:
        An existing SparkSession (a notebook's, Databricks' ``spark``); used as it is, apart
        from the time zone.
    conf:
        Extra settings for a session built here.

    Raises
    ------
    ConfigError
        When PySpark is missing, or the session cannot start (no Java, a master that cannot
        be reached), with what to do.
    """
    sql = require_pyspark()
    if session is None:
        master = master or DEFAULT_MASTER
        builder = sql.SparkSession.builder.appName("custseg")
        builder = builder.remote(master) if master.startswith("sc://") else \
            builder.master(master)
        if not master.startswith("sc://"):
            for key, value in {**BUILD_CONF, **(conf or {})}.items():
                builder = builder.config(key, value)
        try:
            with warnings.catch_warnings():
                # PySpark 4 warns that it was not tested with pandas 3: custseg exchanges data
                # with it through Arrow only (checked in tests/test_spark.py).
                warnings.filterwarnings("ignore", message="PySpark does not yet fully support",
                                        category=FutureWarning)
                session = builder.getOrCreate()
        except Exception as exc:  # Java missing, master unreachable: named below
            raise ConfigError(_start_failure(master, exc)) from exc
    for key, value in SESSION_CONF.items():
        session.conf.set(key, value)
    return session


def _start_failure(master: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "JAVA_HOME" in str(exc) or "Java gateway" in str(exc):
        return (f"Spark could not start: Java was not found ({text}). Install Java 17 or "
                f"later (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME, "
                f"or use --engine duckdb.")
    return (f"Spark could not start a session on {master!r}: {text}. Check --spark-master "
            f"(local[*], spark://host:7077, yarn, sc://host:15002) and that the cluster is "
            f"reachable, or use --engine duckdb.")

"""Delta tables: atomic commits, idempotent keyed writes, and a VACUUM after each overwrite, on tables swapvec owns.

swapvec creates each table with the table property ``swapvec.owner`` (:data:`OWNER_PROPERTY`) before its first
write, and writes to no table without it: a table someone else made at a stage's path is never overwritten nor
vacuumed (:func:`owned`).

An overwrite or an append is one commit in ``_delta_log``: readers see the old version or the new one. A write that
carries a :class:`Txn` is idempotent: Delta records ``txnAppId``/``txnVersion`` in the same commit and skips a
later write whose version is not above the recorded one for that app id.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession

from swapvec.compat import error_condition, jvm_console_silenced
from swapvec.errors import BadInput


@dataclass(frozen=True)
class Txn:
    """What makes a write idempotent: Delta skips it when ``app_id`` already committed ``version`` or a later one.
    ``metadata`` (JSON) is stored as the commit's ``userMetadata``, which ``DESCRIBE HISTORY`` shows."""

    app_id: str
    version: int
    metadata: dict[str, Any]


#: Session settings for the VACUUM after each overwrite. Delta 4 records VACUUM START/END as commits of their own (a
#: run should add one version to a table, not three), and it lists the table's files in as many tasks as
#: spark.sql.sources.parallelPartitionDiscovery.parallelism (10,000 by default): 20 s of empty tasks on a table of
#: two files, where our unpartitioned tables have one folder to list.
_VACUUM_CONF = {
    "spark.databricks.delta.vacuum.logging.enabled": "false",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",
}
_VACUUM_LOCK = threading.Lock()
#: Delta's own default retention (7 days); below it Delta refuses to VACUUM unless its check is switched off.
_DELTA_RETENTION_HOURS = 168


#: The table property that marks a table as swapvec's: set when swapvec creates it, kept by every later commit.
OWNER_PROPERTY = "swapvec.owner"


#: What Delta answers for a path that holds no Delta table (nothing there, or other files).
_NOT_A_TABLE = {"DELTA_TABLE_ONLY_OPERATION", "DELTA_MISSING_DELTA_TABLE"}


def _rows_of_table(spark: SparkSession, statement: str) -> list[Row] | None:
    """The rows of a SQL statement about one Delta table, or None when there is no Delta table where it names.

    Every Delta operation here is SQL or the DataFrame reader and writer, never the ``DeltaTable`` API: on a Spark
    Connect server that API needs Delta's Connect plugin, which a server with only Delta's jars and SQL extension
    lacks.
    """
    from pyspark.errors import AnalysisException

    try:
        return spark.sql(statement).collect()
    except AnalysisException as exc:
        if error_condition(exc) in _NOT_A_TABLE:
            return None
        raise


def _last_commit(spark: SparkSession, path: str) -> Row | None:
    """The table's newest commit (``DESCRIBE HISTORY``'s first row), or None when there is no Delta table at
    ``path``."""
    rows = _rows_of_table(spark, f"DESCRIBE HISTORY {_sql_name(path)} LIMIT 1")
    return rows[0] if rows else None


def is_table(spark: SparkSession, path: str) -> bool:
    return _properties(spark, path) is not None


def version(spark: SparkSession, path: str) -> int | None:
    """The table's current version; None when there is no table."""
    last = _last_commit(spark, path)
    return None if last is None else last["version"]


def _quoted(name: str) -> str:
    """A name quoted for SQL: in backticks, a backtick in it doubled."""
    return "`" + name.replace("`", "``") + "`"


def _sql_name(path: str) -> str:
    """The Delta table at ``path`` as SQL names it: ``delta.`path` ``."""
    return f"delta.{_quoted(path)}"


def _properties(spark: SparkSession, path: str) -> dict[str, str] | None:
    """The table's properties, or None when there is no Delta table at ``path``.

    Read with SHOW TBLPROPERTIES, which needs only the table's metadata: ``DeltaTable.detail()`` also counts the
    files of the current version, a job over the whole log that an append never needs (a second per table).
    """
    rows = _rows_of_table(spark, f"SHOW TBLPROPERTIES {_sql_name(path)}")
    return None if rows is None else {row["key"]: row["value"] for row in rows}


def owned(spark: SparkSession, path: str) -> bool:
    """True when there is a Delta table at ``path`` and it carries swapvec's :data:`OWNER_PROPERTY`."""
    return OWNER_PROPERTY in (_properties(spark, path) or {})


def _create(df: DataFrame, path: str) -> None:
    """Create an empty table with ``df``'s schema and the owner mark, so that its data never exists unmarked."""
    spark = df.sparkSession
    columns = ", ".join(
        f"{_quoted(f.name)} {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}" for f in df.schema.fields
    )
    try:
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {_sql_name(path)} ({columns}) USING DELTA "
            f"TBLPROPERTIES ('{OWNER_PROPERTY}' = 'swapvec')"
        )
    except Exception:
        # Another writer created it first; what matters is whose it is, checked next.
        if not is_table(spark, path):
            raise


def last_write_metadata(spark: SparkSession, path: str) -> dict | None:
    """The ``userMetadata`` (a JSON object) of the write that made the table's current version, or None when the
    last commit is not a write or carries none (another writer's table, or a write without a Txn)."""
    last = _last_commit(spark, path)
    if last is None or last["operation"] != "WRITE" or not last["userMetadata"]:
        return None
    try:
        metadata = json.loads(last["userMetadata"])
    except ValueError:
        return None
    return metadata if isinstance(metadata, dict) else None


def write(
    df: DataFrame, path: str, mode: str, txn: Txn | None, retention_hours: float, evolve_schema: bool = False
) -> int | None:
    """Write ``df`` as one commit and return its version; None when Delta skipped it because ``txn``'s app id
    already committed its version or a later one. An overwrite replaces the schema; ``evolve_schema`` lets an append
    add columns.

    Raises
    ------
    BadInput
        A table swapvec does not own is at ``path`` (it is left as it was).
    """
    spark = df.sparkSession
    properties = _properties(spark, path)
    if properties is None:
        _create(df, path)
        properties = _properties(spark, path) or {}
    if OWNER_PROPERTY not in properties:
        raise BadInput(foreign_table_message(path, unmarked_delta=True))
    writer = df.write.format("delta").mode(mode)
    if mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if evolve_schema:
        writer = writer.option("mergeSchema", "true")
    before = None
    if txn is not None:
        before = version(spark, path)
        writer = writer.options(txnAppId=txn.app_id, txnVersion=str(txn.version), userMetadata=json.dumps(txn.metadata))
    writer.save(path)
    # Read before VACUUM, which commits too (a writer in between would be named instead: a window of a log read).
    log = _log_span(spark, path)
    if before is not None and log.latest == before:
        return None
    if mode == "overwrite" and not log.younger_than(retention_hours):
        vacuum(spark, path, retention_hours)
    return log.latest


def vacuum(spark: SparkSession, path: str, hours: float) -> None:
    """Delete the files that no version younger than ``hours`` needs: a table's file count stays bounded across runs.

    The user chose ``hours`` (``output.retention_hours``): below Delta's default its retention check is switched off
    for this VACUUM only, and the session's own setting is restored after. :func:`write` calls it after an overwrite
    unless the table is younger than ``hours`` (:meth:`_LogSpan.younger_than`).
    """
    settings = dict(_VACUUM_CONF)
    if hours < _DELTA_RETENTION_HOURS:
        settings["spark.databricks.delta.retentionDurationCheck.enabled"] = "false"
    # The settings are the session's: one VACUUM at a time, or a table written beside this one (Command.write_all)
    # could restore them while this one runs.
    with _VACUUM_LOCK, session_conf(spark, settings), jvm_console_silenced(spark):
        spark.sql(f"VACUUM {_sql_name(path)} RETAIN {hours!r} HOURS").collect()


#: Margin on a table's age: its first files were written before its first commit, by up to a job's length.
_AGE_MARGIN_SECONDS = 3600


@dataclass(frozen=True)
class _LogSpan:
    """What one read of a table's history says: its newest version, its oldest one still in the log, and the age
    of that oldest commit in seconds."""

    latest: int
    first: int
    age: int

    def younger_than(self, hours: float) -> bool:
        """True when the log still starts at version 0 and that commit is younger than ``hours``: then every file of
        the table is younger than ``hours`` too, and VACUUM could delete none (it costs seconds even on a tiny
        table: it lists every file). A log cleaned of its first commits says nothing, so False."""
        return self.first == 0 and self.age + _AGE_MARGIN_SECONDS < hours * 3600


def _log_span(spark: SparkSession, path: str) -> _LogSpan:
    """The table's :class:`_LogSpan`, from one ``DESCRIBE HISTORY``."""
    from pyspark.sql import functions as F

    row = (
        spark.sql(f"DESCRIBE HISTORY {_sql_name(path)}")
        .agg(
            F.max("version").alias("latest"),
            F.min("version").alias("first"),
            (F.unix_timestamp(F.current_timestamp()) - F.unix_timestamp(F.min("timestamp"))).alias("age"),
        )
        .first()
    )
    return _LogSpan(latest=row.latest, first=row.first, age=row.age)


def foreign_table_message(path: str, unmarked_delta: bool = False, made: str = "a table") -> str:
    """The one-line refusal of data swapvec did not write at a table's path (or at another thing it ``made``, its
    report folder); for a Delta table without the owner mark, how to claim one that a swapvec from before the mark
    wrote."""
    message = (
        f"{path} holds data swapvec did not write (not {made} it made); it is never overwritten: choose another "
        "output.path or move it away"
    )
    if unmarked_delta:
        message += (
            f" (a table swapvec wrote before it marked its tables can be claimed: ALTER TABLE {_sql_name(path)} "
            f"SET TBLPROPERTIES ('{OWNER_PROPERTY}' = 'swapvec'))"
        )
    return message


@contextlib.contextmanager
def session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Set session settings for the duration of a block, then restore what was there."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)

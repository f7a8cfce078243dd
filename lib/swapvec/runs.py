"""The run record: what each command did (the ``runs`` table), run keys, and the resume decision.

Every command appends one row to ``runs``, also when it fails after the config was accepted: run_id, command,
status (``succeeded``, ``failed``, ``skipped``), the resolved config (secrets redacted), row counts, metrics,
details and the error's first line.

With a run key (``run.key``, the scheduler's logical date or a number) a command is idempotent, and what it does is
decided by :func:`resume` before any stage runs:

* the same command already succeeded with the key (``runs`` says so): nothing is done; a ``skipped`` row names the
  earlier run (``details.same_as``);
* otherwise, each Delta table the command writes that already holds this key's output, or a later key's, is kept:
  it is read where a later stage needs it (a retry whose failed attempt committed ``vectors`` does not train again,
  and computes the rest from those vectors), and not written again (``details.tables_kept``). A backfill of an older
  key therefore never overwrites a newer key's table.

Each keyed Delta write carries ``txnAppId`` ``swapvec:<table>`` and ``txnVersion`` :func:`run_key_version`, so that
Delta itself skips a write a concurrent attempt already made. Parquet has no transaction log: there only ``runs``
decides, and a retry of a failed attempt rewrites every table (each write still atomic).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from swapvec.config import Config, canonical_run_key
from swapvec.errors import BadInput, SwapvecError, one_line, stopped_by
from swapvec.log import event, get_logger, mask_strings
from swapvec.stats import Stats
from swapvec.store import Store, Txn

_log = get_logger("runs")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

RUNS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("command", T.StringType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("started_at", T.TimestampType(), False),
        T.StructField("ended_at", T.TimestampType(), False),
        T.StructField("config", T.StringType(), False),
        T.StructField("row_counts", T.MapType(T.StringType(), T.LongType()), True),
        T.StructField("metrics", T.MapType(T.StringType(), T.DoubleType()), True),
        T.StructField("details", T.StringType(), True),
        T.StructField("error", T.StringType(), True),
        # Added after the first release: appends evolve older runs tables (Delta mergeSchema, Parquet union).
        T.StructField("run_key", T.StringType(), True),
    ]
)


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunRecord:
    """What a command did: its id, status, counts and metrics (as stored in ``runs``) and a readable summary.

    The command that chains the stages owns it and adds each stage's :class:`~swapvec.stats.Stats`.
    """

    run_id: str
    command: str
    status: str = "succeeded"
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    row_counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    report_dir: Path | None = None
    error: str | None = None

    def add(self, stats: Stats) -> None:
        self.row_counts.update(stats.row_counts)
        self.metrics.update(stats.metrics)
        self.details.update(stats.details)

    def failed(self, exc: BaseException) -> None:
        self.status = "failed"
        # A stop's own words: a job cancelled by Ctrl-C raised SPARK_JOB_CANCELLED, which reads as a failure of Spark.
        self.error = stopped_by(exc) or f"{type(exc).__name__}: {one_line(exc, 1000)}"[:1000]


# ------------------------------------------------------------------------------------------------------- run keys
def run_key_version(key: str) -> int:
    """The number that orders run keys, Delta's ``txnVersion``: a whole number as it is, a date or date-time as
    microseconds since 1970-01-01 UTC. Later dates give larger numbers, so a newer run is never taken for an older
    one; whole numbers and dates are not comparable, so one output path should use one kind of key.

    Examples
    --------
    >>> run_key_version("2026-11-25") < run_key_version("2026-11-25T06:00:00Z") < run_key_version("2026-11-26")
    True
    >>> run_key_version("42")
    42
    """
    key = canonical_run_key(key)
    if key.isdigit():
        return int(key)
    moment = dt.datetime.fromisoformat(key).replace(tzinfo=dt.UTC)
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Resume:
    """What a command must do, decided before any stage runs (see the module docstring).

    Attributes
    ----------
    same_as
        The run id of the run that already succeeded with this key: do nothing.
    kept
        Table -> the run id that wrote it, for each table of the command that already holds this key's output or a
        later key's: read it where needed, do not write it.
    """

    same_as: str | None = None
    kept: dict[str, str] = field(default_factory=dict)


def resume(store: Store, command: str, run_key: str | None, outputs: tuple[str, ...]) -> Resume:
    """Decide, before any work, what a command with ``run_key`` must still do; nothing to resume without a key."""
    if run_key is None:
        return Resume()
    earlier = succeeded_run(store, command, run_key)
    if earlier is not None:
        return Resume(same_as=earlier)
    ours = run_key_version(run_key)
    kept = {}
    for table in outputs:
        written = store.last_write_metadata(table)
        key = written.get("run_key") if written else None
        if key is None:
            continue
        try:
            theirs = run_key_version(key)
        except ValueError:  # metadata that is not swapvec's
            continue
        key, number = canonical_run_key(key), canonical_run_key(run_key).isdigit()
        if key.isdigit() != number:
            # A number and a date do not order: the key 5 after 2026-01-02 kept every table and wrote nothing.
            kinds = {True: "a whole number", False: "a date"}
            raise BadInput(
                f"run.key {run_key} is {kinds[number]}, but {store.path(table)} was written with run key {key}, "
                f"{kinds[not number]}: one output.path takes one kind of run key; use another output.path"
            )
        if theirs >= ours:
            kept[table] = str(written.get("run_id"))
    if kept:
        event(_log, "run.resumed", run_key=run_key, kept=kept)
    return Resume(kept=kept)


def write_output(store: Store, df: DataFrame, table: str, record: RunRecord, run_key: str | None) -> None:
    """Write a command's output table with the run's id; with a run key, idempotently (Delta)."""
    # Nullable, as Delta declares every column: a literal alone is written "not null" to Parquet. The condition is
    # always true, but not foldable (the optimiser would fold any constant one back into the literal).
    rows = df.withColumn("run_id", F.when(F.spark_partition_id() >= 0, F.lit(record.run_id)))
    txn = None
    if run_key is not None:
        metadata = {"run_id": record.run_id, "run_key": run_key}
        txn = Txn(app_id=f"swapvec:{table}", version=run_key_version(run_key), metadata=metadata)
    written = store.write(rows, table, txn=txn)
    if written is None:
        # A concurrent attempt with this key, or a later key, committed the table after resume() looked.
        keep(record, table)
    else:
        # What a reader needs to read this run's tables together (Delta: versionAsOf), whatever was written since.
        record.details.setdefault("table_versions", {})[table] = written


def keep(record: RunRecord, table: str) -> None:
    """Note in the record that ``table`` was kept as an earlier write left it."""
    kept = record.details.setdefault("tables_kept", [])
    if table not in kept:
        kept.append(table)


# ------------------------------------------------------------------------------------------------ the runs table
def succeeded_run(store: Store, command: str, run_key: str) -> str | None:
    """The run_id of the first run of ``command`` with ``run_key`` that succeeded; None when there is none."""
    if not store.exists("runs"):
        return None
    runs = store.read("runs")
    if "run_key" not in runs.columns:  # a runs table from before run keys
        return None
    done = runs.where((F.col("command") == command) & (F.col("run_key") == run_key) & (F.col("status") == "succeeded"))
    first = done.orderBy("started_at").select("run_id").first()
    return first["run_id"] if first else None


def append(store: Store, cfg: Config, record: RunRecord) -> None:
    """Append the record's row to ``runs``. Failing to record a successful run is a failure; failing to record a
    failed one is logged, so that the run's own error is the one the user sees."""
    row = {
        "run_id": record.run_id,
        "command": record.command,
        "status": record.status,
        "started_at": record.started_at,
        "ended_at": dt.datetime.now(dt.UTC),
        "config": cfg.to_json(),
        "row_counts": {k: int(v) for k, v in record.row_counts.items()},
        "metrics": {k: float(v) for k, v in record.metrics.items()},
        "details": json.dumps(mask_strings(record.details), default=str),
        "error": record.error,
        "run_key": cfg.run.key,
    }
    try:
        df = store.session().createDataFrame([tuple(row.get(f.name) for f in RUNS_SCHEMA.fields)], RUNS_SCHEMA)
        store.write(df, "runs", mode="append", evolve_schema=True)
    except Exception as exc:
        if record.status == "succeeded":
            raise SwapvecError(f"the run succeeded but its runs row could not be written: {one_line(exc)}") from exc
        event(_log, "runs.write_failed", run_id=record.run_id, error=one_line(exc))

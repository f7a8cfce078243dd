"""The run record: what each command did (the ``runs`` table), run keys, and the resume decision.

Every command appends one row to ``runs``, also when it fails after the config was accepted: run_id, command,
status (``succeeded``, ``failed``, ``skipped``), the resolved config (secrets redacted), row counts, metrics,
details and the error's first line.

With a run key (``run.key``, the scheduler's logical date or a number) a command is idempotent, and what it does is
decided by :func:`resume` before any stage runs:

* the same command already succeeded with the key (``runs`` says so): nothing is done; a ``skipped`` row names the
  earlier run (``details.same_as``);
* otherwise, each table the command writes that already holds this key's output made with the same config
  (:func:`config_digest`), or a later key's, is kept: it is read where a later stage needs it (a retry whose failed
  attempt committed ``vectors`` does not train again, and computes the rest from those vectors), and not written
  again (``details.tables_kept``, and ``details.kept_from`` names the run that wrote each). A retry with another
  config makes every table again; a backfill of an older key never overwrites a newer key's table.

Each keyed Delta write carries ``txnAppId`` ``swapvec:<table>:<config digest>`` and ``txnVersion``
:func:`run_key_version`, so that Delta itself skips a write a concurrent attempt of the same run already made. A
succeeded row's ``details.table_versions`` names the version of every table of the run's output, the kept ones too,
so that they can be read together. A Parquet version records the same beside its files (``store.parquet``) and the
same rule decides; there one command writes an output path at a time (its lock), so no attempt races another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
from swapvec.store import Store, Txn, delta, is_uri, local_path

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


def config_digest(cfg: Config) -> str:
    """A digest of what a command's tables are made from: the settings of every stage, and the content of the groups
    file and the lexicon (a file edited between two attempts makes other groups). Not the settings that change how,
    not what, it runs: Spark's (a retry with more driver memory continues), the logs, MLflow, the run key itself.

    Examples
    --------
    >>> from swapvec.config import load_config
    >>> config_digest(load_config(None, ["run.key=1"])) == config_digest(load_config(None, ["run.key=2"]))
    True
    >>> config_digest(load_config(None)) == config_digest(load_config(None, ["train.seed=7"]))
    False
    """
    stages = ("input", "tokenize", "augment", "train", "similarity", "evaluate")
    made_of = {k: v for k, v in cfg.to_dict().items() if k in stages}
    files = {}
    for path in (cfg.augment.groups_path, cfg.augment.lexicon_path):
        if path and not is_uri(path) and local_path(path).is_file():
            files[path] = hashlib.sha256(local_path(path).read_bytes()).hexdigest()
    text = json.dumps([made_of, files], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Kept:
    """A table a keyed command keeps as an earlier run left it: that run's id and key, and the table's version then
    (Delta's version, or Parquet's version folder)."""

    run_id: str
    run_key: str
    version: int | str | None
    #: True when a later run key wrote it; False when an earlier attempt of this key with this config did.
    later: bool


@dataclass(frozen=True)
class Resume:
    """What a command must do, decided before any stage runs (see the module docstring).

    Attributes
    ----------
    same_as
        The run id of the run that already succeeded with this key: do nothing.
    kept
        Table -> what wrote it, for each table of the command that already holds this key's output made with this
        config (an earlier attempt's), or a later key's: read it where needed, do not write it.
    config
        :func:`config_digest` of the command's config (None without a run key): recorded with each keyed write.
    """

    same_as: str | None = None
    kept: dict[str, Kept] = field(default_factory=dict)
    config: str | None = None


def resume(store: Store, command: str, cfg: Config, outputs: tuple[str, ...]) -> Resume:
    """Decide, before any work, what a command with ``cfg.run.key`` must still do; nothing to resume without a key.

    A table is kept when its last write was made by a later run key (whatever its config: an older key never
    replaces a newer one's output), or by this key with this config (an earlier attempt that failed later on). A
    table this key wrote with another config is made again: a retry with other settings is another run.
    """
    run_key = cfg.run.key
    if run_key is None:
        return Resume()
    earlier = succeeded_run(store, command, run_key)
    if earlier is not None:
        return Resume(same_as=earlier)
    config = config_digest(cfg)
    kept = {}
    for table in outputs:
        found = _keeps(store, table, run_key, config)
        if found is not None:
            kept[table] = found
    if kept:
        event(_log, "run.resumed", run_key=run_key, kept={t: k.run_id for t, k in kept.items()})
    return Resume(kept=kept, config=config)


def _keeps(store: Store, table: str, run_key: str, config: str) -> Kept | None:
    """What wrote ``table``, when this run must keep it rather than write it; None when it must write it."""
    written = store.last_write_metadata(table)
    key = written.get("run_key") if written else None
    if key is None:
        return None
    try:
        theirs, ours = run_key_version(key), run_key_version(run_key)
    except ValueError:  # metadata that is not swapvec's
        return None
    key, number = canonical_run_key(key), canonical_run_key(run_key).isdigit()
    if key.isdigit() != number:
        # A number and a date do not order: the key 5 after 2026-01-02 kept every table and wrote nothing.
        kinds = {True: "a whole number", False: "a date"}
        raise BadInput(
            f"run.key {run_key} is {kinds[number]}, but {store.path(table)} was written with run key {key}, "
            f"{kinds[not number]}: one output.path takes one kind of run key; use another output.path"
        )
    if theirs > ours or (theirs == ours and written.get("config") == config):
        return Kept(str(written.get("run_id")), key, _version(store, table), later=theirs > ours)
    return None


def _version(store: Store, table: str) -> int | str | None:
    """The table's current version, as a reader names it in ``table_versions`` (Delta's ``versionAsOf``, Parquet's
    version folder)."""
    if store.format == "delta":
        return delta.version(store.session(), store.path(table))
    return store.parquet.current(table)


def write_output(
    store: Store, df: DataFrame, table: str, record: RunRecord, run_key: str | None, config: str | None
) -> None:
    """Write a command's output table with the run's id; with a run key, idempotently.

    A keyed write carries ``txnAppId`` ``swapvec:<table>:<config>``: Delta skips it when an attempt of this key and
    config (or a later key) committed first. When Delta skips it though the table now holds another config's output
    (this config wrote it, another one since), it is written under an app id of its own run.
    """
    # Nullable, as Delta declares every column: a literal alone is written "not null" to Parquet. The condition is
    # always true, but not foldable (the optimiser would fold any constant one back into the literal).
    rows = df.withColumn("run_id", F.when(F.spark_partition_id() >= 0, F.lit(record.run_id)))
    if run_key is None:
        written = store.write(rows, table)
    else:
        metadata = {"run_id": record.run_id, "run_key": run_key, "config": config}

        def keyed(app_id: str) -> int | str | None:
            return store.write(rows, table, txn=Txn(app_id=app_id, version=run_key_version(run_key), metadata=metadata))

        written = keyed(f"swapvec:{table}:{config}")
        if written is None:
            # A concurrent attempt with this key and config, or a later key, committed the table after resume().
            found = _keeps(store, table, run_key, config)
            if found is not None:
                return keep(record, table, found)
            written = keyed(f"swapvec:{table}:{config}:{record.run_id}")
    # What a reader needs to read this run's tables together (Delta: versionAsOf), whatever was written since.
    record.details.setdefault("table_versions", {})[table] = written


def keep(record: RunRecord, table: str, kept: Kept) -> None:
    """Note in the record that ``table`` was kept as an earlier run left it, which run that was, and the version
    that holds it (``table_versions`` names every table of the run's output, those it kept too)."""
    tables = record.details.setdefault("tables_kept", [])
    if table not in tables:
        tables.append(table)
    record.details.setdefault("kept_from", {})[table] = {"run_id": kept.run_id, "run_key": kept.run_key}
    if kept.version is not None:
        record.details.setdefault("table_versions", {})[table] = kept.version


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

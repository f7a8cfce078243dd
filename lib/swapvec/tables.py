"""All reads and writes of swapvec: the corpus, the stage tables and the ``runs`` log.

Tables live under ``output.path``: ``sentences``, ``augmented``, ``vectors``, ``similarities`` and ``runs``.
Every write is atomic, so a reader sees the previous version or the new one, never a mix:

* Delta: an overwrite or append is one commit in ``_delta_log``.
* Parquet: each write goes to its own version folder ``_versions/<table>/<version>``, and the table path
  ``<output.path>/<table>`` is a symbolic link switched to it by one ``rename``: atomic on a local or POSIX-mounted
  file system. Plain readers (Spark, pyarrow, pandas) read ``<output.path>/<table>`` as ordinary Parquet. Object
  stores have no atomic rename: there, use Delta (swapvec refuses Parquet output on a URI).

A write with a run key (``run.key``) is idempotent on Delta: it carries ``txnAppId`` ``swapvec:<table>`` and
``txnVersion`` ``run_key_version(key)``, and Delta skips it when that table already committed this key or a later
one. Parquet has no transaction log: there, only the ``runs`` table tells a completed key (``succeeded_run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from swapvec.config import InputConfig, OutputConfig, run_key_version
from swapvec.errors import BadInput
from swapvec.log import event, get_logger

_log = get_logger("tables")

#: Parquet versions kept besides the current one, so that readers that resolved the link just before a swap finish.
PARQUET_VERSIONS_KEPT = 2

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

#: The command that writes each stage table, named when a command needs a table that is not there.
_MAKERS = {
    "sentences": "swapvec tokenize",
    "augmented": "swapvec augment",
    "vectors": "swapvec train",
    "similarities": "swapvec similarity",
    "baseline_vectors": "swapvec run with evaluate.baseline",
}


def _is_uri(path: str) -> bool:
    return "://" in path or path.startswith(("dbfs:", "s3:", "abfss:", "gs:"))


def _local(path: str) -> Path:
    return Path(path.removeprefix("file:")).absolute()


def table_path(output: OutputConfig, table: str) -> str:
    base = output.path.rstrip("/")
    return f"{base}/{table}" if _is_uri(base) else str(_local(base) / table)


# --------------------------------------------------------------------------------------------------------- corpus
def infer_format(path: str) -> str:
    """``delta`` for a folder with ``_delta_log``, ``parquet`` for *.parquet files or folders of them, else ``text``."""
    if _is_uri(path):
        return "parquet" if path.rstrip("/").endswith(".parquet") else "text"
    local = _local(path)
    if (local / "_delta_log").is_dir():
        return "delta"
    if local.suffix == ".parquet" or (local.is_dir() and any(local.rglob("*.parquet"))):
        return "parquet"
    return "text"


#: ``input.path: sample:NAME``: real text that ships with gensim, for demos and tests.
SAMPLES = {"lee": "lee_background.cor"}


def resolve_input_path(path: str) -> str:
    """``sample:NAME`` becomes the bundled file's path; any other path is returned as it is."""
    if not path.startswith("sample:"):
        return path
    name = path.removeprefix("sample:")
    if name not in SAMPLES:
        raise BadInput(f"input.path: unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    from gensim.test.utils import datapath

    return datapath(SAMPLES[name])


def read_corpus(spark: SparkSession, cfg: InputConfig) -> DataFrame:
    """The corpus as one string column ``text``, one row a document or line.

    Raises
    ------
    BadInput
        No path, a missing path, or no usable text column.
    """
    if not cfg.path:
        raise BadInput("config: input.path: is required (a text file or folder, a Parquet or Delta path)")
    path = resolve_input_path(cfg.path)
    if not _is_uri(path) and not _local(path).exists():
        raise BadInput(f"input.path does not exist: {cfg.path}")
    fmt = cfg.format or infer_format(path)
    if fmt == "text":
        # Bytes that are not UTF-8 arrive as U+FFFD replacement characters, which the tokeniser drops.
        return spark.read.text(path).withColumnRenamed("value", "text")
    try:
        df = spark.read.format(fmt).load(path)
    except Exception as exc:
        raise BadInput(f"input.path {cfg.path} could not be read as {fmt}: {_first_line(exc)}") from None
    strings = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]
    column = cfg.column
    if column is None:
        if len(strings) != 1:
            raise BadInput(
                f"input.column: is required for {fmt} input with {len(strings)} string columns ({', '.join(strings)})"
            )
        column = strings[0]
    if column not in df.columns:
        raise BadInput(f"input.column: {column!r} is not a column of {cfg.path} (columns: {', '.join(df.columns)})")
    if column not in strings:
        raise BadInput(f"input.column: {column!r} is not a string column")
    # Quoted, so that a name with dots or backticks is a column name, never a path into a struct.
    return df.select(F.col(quote_identifier(column)).alias("text"))


def quote_identifier(name: str) -> str:
    """A column or table name as a backtick-quoted identifier, inner backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------------- stage tables
def check_output(output: OutputConfig) -> None:
    """Refuse an output path that cannot hold tables, before any work is done."""
    if _is_uri(output.path):
        if output.format == "parquet":
            raise BadInput("output.format=parquet needs a local or mounted path (atomic rename); use delta on a URI")
        return
    base = _local(output.path)
    for parent in (base, *base.parents):
        if parent.exists():
            if not parent.is_dir():
                raise BadInput(f"output.path {output.path}: {parent} is a file, not a folder")
            break


def write_table(
    df: DataFrame,
    output: OutputConfig,
    table: str,
    *,
    mode: str = "overwrite",
    run_key: str | None = None,
    run_id: str | None = None,
) -> bool:
    """Write ``df`` as ``<output.path>/<table>`` atomically (``overwrite`` or ``append``).

    Parameters
    ----------
    run_key
        Delta only: make the write idempotent for this run key (see the module's docstring).
    run_id
        Recorded with ``run_key`` in the Delta commit's ``userMetadata`` (``DESCRIBE HISTORY`` shows it).

    Returns
    -------
    bool
        False when Delta skipped the write because the table already holds this run key's or a later key's output.
    """
    path = table_path(output, table)
    started = time.monotonic()
    if output.format == "delta":
        spark = df.sparkSession
        writer = df.write.format("delta").mode(mode)
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
        if table == "runs":
            writer = writer.option("mergeSchema", "true")
        before = None
        if run_key is not None:
            before = _delta_version(spark, path)
            writer = writer.options(
                txnAppId=f"swapvec:{table}",
                txnVersion=str(run_key_version(run_key)),
                userMetadata=json.dumps({"run_id": run_id, "run_key": run_key}),
            )
        writer.save(path)
        if before is not None and _delta_version(spark, path) == before:
            event(_log, "table.kept", table=table, run_key=run_key, reason="it holds this run key's or a later one's")
            return False
        if mode == "overwrite":
            _vacuum(spark, path, output.retention_hours)
    else:
        _write_parquet_versioned(df, path, mode)
    event(
        _log,
        "table.written",
        table=table,
        format=output.format,
        mode=mode,
        seconds=round(time.monotonic() - started, 2),
    )
    return True


def _delta_version(spark: SparkSession, path: str) -> int | None:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return DeltaTable.forPath(spark, path).history(1).first()["version"]


def written_by(spark: SparkSession, output: OutputConfig, table: str) -> dict | None:
    """``{"run_id", "run_key"}`` of the keyed write that made a Delta table's current version; None otherwise."""
    from delta.tables import DeltaTable

    if output.format != "delta" or not table_exists(output, table):
        return None
    last = DeltaTable.forPath(spark, table_path(output, table)).history(1).select("operation", "userMetadata").first()
    if last is None or last["operation"] != "WRITE" or not last["userMetadata"]:
        return None
    try:
        written = json.loads(last["userMetadata"])
    except ValueError:  # another writer's metadata
        return None
    return written if isinstance(written, dict) and written.get("run_key") else None


#: Session settings for the VACUUM after each overwrite. Delta 4 records VACUUM START/END as commits of their own (a
#: run should add one version to a table, not three), and it lists the table's files in as many tasks as
#: spark.sql.sources.parallelPartitionDiscovery.parallelism (10,000 by default): 20 s of empty tasks on a table of
#: two files, where our unpartitioned tables have one folder to list.
_VACUUM_CONF = {
    "spark.databricks.delta.vacuum.logging.enabled": "false",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",
}


def _vacuum(spark: SparkSession, path: str, hours: float) -> None:
    """Delete the files of versions older than ``hours``: keeps a table's file count bounded across runs."""
    from delta.tables import DeltaTable

    if hours < 168:
        # Delta refuses retention below its default unless told; the user chose it (output.retention_hours).
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    with _session_conf(spark, _VACUUM_CONF), _jvm_console_silenced(spark):
        DeltaTable.forPath(spark, path).vacuum(hours)


@contextlib.contextmanager
def _session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
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


@contextlib.contextmanager
def _jvm_console_silenced(spark: SparkSession) -> Iterator[None]:
    """Discard what the driver JVM prints with Scala's ``println`` on this thread.

    VACUUM ``println``s "Deleted N files and directories..." (Delta's ``logConsole``); a local session's JVM shares
    the terminal, so that line would land in the command's output. ``Console.out`` is per thread, and py4j runs this
    Python thread's calls on one JVM thread (pinned threads), so other threads keep printing. On Spark Connect the
    line is the server's: nothing to do.
    """
    from swapvec.session import is_classic

    if not is_classic(spark):
        yield
        return
    jvm = spark.sparkContext._jvm
    console = getattr(getattr(jvm.scala, "Console$"), "MODULE$")
    previous = console.out()
    console.setOutDirect(jvm.java.io.PrintStream(jvm.java.io.OutputStream.nullOutputStream()))
    try:
        yield
    finally:
        console.setOutDirect(previous)


def missing_table(output: OutputConfig, table: str, needed_by: str = "") -> BadInput:
    """The error for a table that is not there, naming the command that makes it."""
    hint = f" (needed by {needed_by}; run `{_MAKERS.get(table, 'swapvec run')}` first)" if needed_by else ""
    return BadInput(f"no {output.format} table at {table_path(output, table)}{hint}")


def read_table(spark: SparkSession, output: OutputConfig, table: str, *, needed_by: str = "") -> DataFrame:
    """Read ``<output.path>/<table>``; a missing table is a BadInput naming the stage that makes it."""
    if not table_exists(output, table):
        raise missing_table(output, table, needed_by)
    path = table_path(output, table)
    if output.format == "delta":
        return spark.read.format("delta").load(path)
    return spark.read.parquet(str(_local(path).resolve()))


def table_exists(output: OutputConfig, table: str) -> bool:
    path = table_path(output, table)
    if _is_uri(path):
        # Only Delta is written to URIs; its log is the table.
        from delta.tables import DeltaTable

        from swapvec.session import get_spark

        return DeltaTable.isDeltaTable(get_spark(), path)
    local = _local(path)
    if output.format == "delta":
        return (local / "_delta_log").is_dir()
    return local.is_symlink() and local.exists()


def _write_parquet_versioned(df: DataFrame, path: str, mode: str) -> None:
    link = _local(path)
    versions = link.parent / "_versions" / link.name
    if link.exists() and not link.is_symlink():
        raise BadInput(f"{link} exists and is not a swapvec Parquet table (a link to a version): move it away")
    version = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    target = versions / version
    versions.mkdir(parents=True, exist_ok=True)
    if mode == "append" and link.exists():
        # Parquet has no atomic append: the new version is the old rows plus the new ones.
        old = df.sparkSession.read.parquet(str(link.resolve()))
        df = old.unionByName(df, allowMissingColumns=True)
    elif mode not in ("append", "overwrite"):
        raise ValueError(f"mode {mode!r}")
    df.write.parquet(str(target))
    tmp_link = link.parent / f".{link.name}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(os.path.relpath(target, link.parent), tmp_link)
    os.replace(tmp_link, link)  # rename(2): readers see the old target or the new one
    _prune_versions(versions, keep=target)


def _prune_versions(versions: Path, keep: Path) -> None:
    old = sorted(p for p in versions.iterdir() if p.is_dir() and p != keep)
    for stale in old[: max(0, len(old) - PARQUET_VERSIONS_KEPT)]:
        shutil.rmtree(stale, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------------- runs
def append_run(spark: SparkSession, output: OutputConfig, rows: Iterable[dict]) -> None:
    """Append rows to ``runs`` (schema ``RUNS_SCHEMA``)."""
    df = spark.createDataFrame([tuple(r.get(f.name) for f in RUNS_SCHEMA.fields) for r in rows], RUNS_SCHEMA)
    write_table(df, output, "runs", mode="append")


def succeeded_run(spark: SparkSession, output: OutputConfig, command: str, run_key: str) -> str | None:
    """The run_id of the first run of ``command`` with ``run_key`` that succeeded; None when there is none."""
    if not table_exists(output, "runs"):
        return None
    runs = read_table(spark, output, "runs")
    if "run_key" not in runs.columns:  # a runs table from before run keys
        return None
    done = runs.where((F.col("command") == command) & (F.col("run_key") == run_key) & (F.col("status") == "succeeded"))
    first = done.orderBy("started_at").select("run_id").first()
    return first["run_id"] if first else None

"""The one seam between swapvec and Spark's classic-only APIs (``sparkContext``, its ``_jvm``, broadcast variables).

Spark Connect and Databricks shared and serverless compute have none of them. Every use lives here, each with what
the rest of swapvec gets where they are missing:

* :func:`ship` makes driver-side arrays readable in tasks: a broadcast variable on classic Spark, else ``.npy``
  files staged under a path that the driver writes and the executors read (a local path on one machine,
  ``/dbfs/...`` or ``/Volumes/...`` on Databricks), which the tasks memory-map. Either way a task calls
  ``.value()``.
* :func:`default_parallelism`: the classic default parallelism, else the shuffle partitions.
* :func:`active_tasks`: tasks done and in all of the running stages (status tracker), else None: progress then
  comes from Spark Connect's own progress handler (``swapvec.progress``).
* :func:`jvm_console_silenced`: discards what the driver JVM ``println``s on this thread, else does nothing (on
  Spark Connect the JVM is the server's).
* :func:`session_jars`, :func:`quiet_spark_logs`, :func:`master`: for the local session swapvec builds itself,
  which is always classic; :func:`driver_process`, :func:`driver_connected`, :func:`before_driver_exit` and
  :func:`forget_session`: its driver JVM, as pyspark holds it, for ``session.LocalDriver`` to stop.
* :class:`HadoopFiles`: small files (a pointer, a lock) under a URI, through the JVM's Hadoop file system, for
  Parquet tables on object stores; None on Spark Connect, where no JVM is at hand (Parquet tables there stay on a
  shared local path).

It is also the seam between Spark versions (3.5 to 4.x). Where Spark 4.0 added an API that swapvec uses, the
function here calls it when it is there and otherwise does the same with what 3.5 has:

* :func:`to_arrow` (``DataFrame.toArrow``), :func:`from_arrow` (``createDataFrame`` of an Arrow table),
  :func:`apply_in_arrow` (``groupBy(...).applyInArrow``), :func:`local_checkpoint` (Spark Connect before 4.0 has
  none), :func:`error_condition` (``getCondition``, ``getErrorClass`` before 4.0), :func:`map_has_key` and
  :func:`map_value`.

And the seam to stage-level scheduling, which depends on both the version and the cluster manager:
:func:`task_cpus_profile` (a task resource profile for one ``mapInArrow``, or why there is none),
:func:`map_in_arrow` (with that profile), :func:`executor_cores` and :func:`task_cpus` (what the cluster offers).
"""

from __future__ import annotations

import contextlib
import inspect
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

if TYPE_CHECKING:
    from pyspark.resource import ResourceProfile


def is_classic(spark: SparkSession) -> bool:
    """True when classic-only APIs are usable: not Spark Connect, not serverless."""
    try:
        return spark.sparkContext is not None
    except Exception:  # Spark Connect raises on sparkContext access
        return False


def error_condition(exc: BaseException) -> str | None:
    """A Spark error's condition (``DELTA_MISSING_DELTA_TABLE``): ``getCondition`` from Spark 4.0, ``getErrorClass``
    before it, and on Spark Connect 3.5 (whose client errors carry none) the ``[CONDITION]`` their message starts
    with; None for an error that names none."""
    for name in ("getCondition", "getErrorClass"):
        method = getattr(exc, name, None)
        found = method() if method is not None else None
        if found:
            return found
    named = re.match(r"\s*\[([A-Z][A-Z0-9_.]*)\]", str(exc))
    return named.group(1) if named else None


def map_has_key(mapping: Column, key: Column) -> Column:
    """True where ``mapping`` holds ``key``, a column. pyspark before 4.0 takes only a literal key in
    ``functions.map_contains_key``; the SQL function takes any expression on every version."""
    return F.call_function("map_contains_key", mapping, key)


def map_value(mapping: Column, key: Column) -> Column:
    """``mapping``'s value at ``key``, a column (``mapping[key]``, which Spark Connect 3.5 takes only for a literal
    key)."""
    return F.element_at(mapping, key)


# --------------------------------------------------------------------------------------------- Spark 3.5 and 4.x
def to_arrow(df: DataFrame) -> pa.Table:
    """``df`` collected to the driver as one Arrow table (the caller bounds its size)."""
    if _has(df, "toArrow"):  # Spark 4.0
        return df.toArrow()
    schema = to_arrow_schema(df.schema)
    if is_classic(df.sparkSession):
        return pa.Table.from_batches(df._collect_as_arrow(), schema=schema)
    client = df.sparkSession.client  # Spark Connect 3.5 collects Arrow itself: its collect() starts from this table
    table, _ = client.to_table(df._plan.to_proto(client))
    return table


def from_arrow(spark: SparkSession, table: pa.Table, schema: StructType | None = None) -> DataFrame:
    """A DataFrame of an Arrow table held on the driver, through Arrow (Spark 4.0 takes the table itself; 3.5 takes
    its pandas form, converted back to Arrow with ``schema`` so that float32 stays float32)."""
    if schema is None:
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(table.schema)
    if _spark_major(spark) >= 4:
        return spark.createDataFrame(table, schema)
    frame = table.to_pandas()
    if not is_classic(spark):
        return spark.createDataFrame(frame, schema)
    # Classic 3.5 converts pandas through Arrow only with this setting on; row by row it would take minutes.
    key = "spark.sql.execution.arrow.pyspark.enabled"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "true")
    try:
        return spark.createDataFrame(frame, schema)
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def apply_in_arrow(
    df: DataFrame,
    keys: list[str],
    func: Callable[[pa.Table], pa.Table],
    schema: StructType,
    partitioned: bool = False,
) -> DataFrame:
    """``func`` run on each group of rows that share ``keys``, as one Arrow table, and its tables' rows returned.

    ``groupBy(*keys).applyInArrow`` from Spark 4.0. Before it, the rows are shuffled by ``keys`` (not when
    ``partitioned``: the caller has placed each group in one partition), sorted by them within each partition, and
    a ``mapInArrow`` task cuts its sorted batches into groups: the same groups, one group in memory at a time.
    """
    if _has(df.groupBy(*keys), "applyInArrow"):
        return df.groupBy(*keys).applyInArrow(func, schema)
    placed = df if partitioned else df.repartition(*keys)
    return placed.sortWithinPartitions(*keys).mapInArrow(_grouped(func, keys), schema)


def _grouped(
    func: Callable[[pa.Table], pa.Table], keys: list[str]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        held: list[pa.RecordBatch] = []
        current: tuple | None = None
        for batch in batches:
            values = list(zip(*(batch.column(k).to_pylist() for k in keys), strict=True))
            start = 0
            for i in range(1, len(values) + 1):
                if i < len(values) and values[i] == values[start]:
                    continue
                if held and values[start] != current:
                    yield from func(pa.Table.from_batches(held)).to_batches()
                    held = []
                held.append(batch.slice(start, i - start))
                current = values[start]
                start = i
        if held:
            yield from func(pa.Table.from_batches(held)).to_batches()

    return run


def local_checkpoint(df: DataFrame) -> DataFrame:
    """``df`` computed once and kept on the executors, its plan cut: ``localCheckpoint`` (Spark Connect before 4.0
    has none, and there the rows are cached instead, recomputed the same way should an executor lose them)."""
    if _has(df, "localCheckpoint"):
        return df.localCheckpoint(eager=True)
    kept = df.persist()
    kept.count()
    return kept


def delta_coordinates(spark_version: str, delta_version: str) -> str:
    """The Maven coordinates of Delta's jars for a Spark and a delta-spark release, as delta-spark's own
    ``configure_spark_with_delta_pip`` names them: Scala 2.12 for Spark 3 (``delta-spark_2.12:3.2.0``), 2.13 after;
    from Delta 4.1 the Spark version in the name (``delta-spark_4.2_2.13:4.4.0``).

    Examples
    --------
    >>> delta_coordinates("3.5.0", "3.2.0"), delta_coordinates("4.0.0", "4.0.0")
    ('io.delta:delta-spark_2.12:3.2.0', 'io.delta:delta-spark_2.13:4.0.0')
    >>> delta_coordinates("4.2.0", "4.4.0")
    'io.delta:delta-spark_4.2_2.13:4.4.0'
    """
    scala = "2.12" if spark_version.startswith("3.") else "2.13"
    major, minor = (int(p) for p in delta_version.split(".")[:2])
    if (major, minor) >= (4, 1):
        return f"io.delta:delta-spark_{'.'.join(spark_version.split('.')[:2])}_{scala}:{delta_version}"
    return f"io.delta:delta-spark_{scala}:{delta_version}"


def _has(obj: object, name: str) -> bool:
    """True when ``obj`` offers ``name``. Spark Connect 3.5's DataFrame raises ``PySparkNotImplementedError``, not
    AttributeError, for a method it lacks, which ``hasattr`` lets through."""
    try:
        return getattr(obj, name, None) is not None
    except NotImplementedError:
        return False


def _spark_major(spark: SparkSession) -> int:
    return int(spark.version.split(".")[0])


def default_parallelism(spark: SparkSession) -> int:
    """Task slots: the classic default parallelism, else (Spark Connect) ``spark.sql.shuffle.partitions``."""
    if is_classic(spark):
        return max(1, spark.sparkContext.defaultParallelism)
    return max(1, int(spark.conf.get("spark.sql.shuffle.partitions", "8") or 8))


def active_tasks(spark: SparkSession) -> tuple[int, int, int] | None:
    """Tasks done and in all of the active stages, and the newest active job's id (classic Spark's status tracker);
    None when no stage runs or the tracker is not there."""
    if not is_classic(spark):
        return None
    tracker = spark.sparkContext.statusTracker()
    stages = [s for s in (tracker.getStageInfo(i) for i in tracker.getActiveStageIds()) if s is not None]
    if not stages:
        return None
    jobs = tracker.getActiveJobsIds()
    return sum(s.numCompletedTasks for s in stages), sum(s.numTasks for s in stages), max(jobs, default=-1)


@contextlib.contextmanager
def jvm_console_silenced(spark: SparkSession) -> Iterator[None]:
    """Discard what the driver JVM prints with Scala's ``println`` on this thread, for the duration of a block.

    A local session's JVM shares the terminal, so a ``println`` (Delta's VACUUM says "Deleted N files...") would
    land in the command's output. ``Console.out`` is per thread, and py4j runs this Python thread's calls on one JVM
    thread (pinned threads), so other threads keep printing.
    """
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


def session_jars(spark: SparkSession) -> list[str]:
    """The jar files a classic session loaded (``spark.jars``); empty elsewhere."""
    if not is_classic(spark):
        return []
    return [j for j in (spark.sparkContext.getConf().get("spark.jars") or "").split(",") if j.endswith(".jar")]


#: The loggers that print a failed task's Java stack on the driver's console in a local session: the failure reaches
#: the user anyway, in the job's error and swapvec's one line (a corrupt Parquet input printed 156 stack lines).
_TASK_FAILURE_LOGGERS = ("org.apache.spark.executor.Executor", "org.apache.spark.scheduler.TaskSetManager")


def quiet_spark_logs(spark: SparkSession, level: str = "ERROR", task_failures: bool = False) -> None:
    """Set the JVM's log level (classic Spark; Spark Connect's server logs are not ours to change); without
    ``task_failures``, the task failures' stacks are not logged either (``SWAPVEC_DEBUG=1`` keeps them)."""
    if not is_classic(spark):
        return
    spark.sparkContext.setLogLevel(level)
    if not task_failures:
        log4j = spark.sparkContext._jvm.org.apache.logging.log4j
        for name in _TASK_FAILURE_LOGGERS:
            log4j.core.config.Configurator.setLevel(name, log4j.Level.OFF)


def master(spark: SparkSession) -> str | None:
    """The session's master URL (classic Spark), for the log."""
    return spark.sparkContext.master if is_classic(spark) else None


# ------------------------------------------------------------------------------------ the cores a stage asks for
# Stage-level scheduling: one stage's tasks ask for more CPUs than spark.task.cpus gives every task, on the executors
# already running. A task resource profile (CPUs a task, no executor resources) is scheduled without dynamic
# allocation on standalone from Spark 3.4 (SPARK-39853), on YARN and Kubernetes from 3.5.1 (SPARK-45495); never in
# local mode. A DataFrame operation carries one from Spark 4.0 (``mapInArrow(..., profile=)``, classic and Connect:
# SPARK-46812); before it only ``RDD.withResources`` does, and swapvec's per-partition work is never an RDD's.


def task_cpus(spark: SparkSession) -> int:
    """``spark.task.cpus``: the CPUs Spark gives every task of every stage (1 unless the session sets it)."""
    try:
        return max(1, int(spark.conf.get("spark.task.cpus", "1") or 1))
    except Exception:  # a platform may refuse to show a setting
        return 1


def _conf(spark: SparkSession, key: str) -> str | None:
    """A Spark setting as the session sees it (classic: the context's own), None when unset or not shown."""
    try:
        if is_classic(spark):
            return spark.sparkContext.getConf().get(key)
        return spark.conf.get(key, None)
    except Exception:  # serverless compute refuses to show some settings
        return None


def executor_cores(spark: SparkSession) -> list[int] | None:
    """The cores each executor offers now, or None when they cannot be known.

    Classic Spark: its status store's active executors (in local mode the driver, which runs the tasks). Elsewhere
    (Spark Connect has no status store): ``spark.executor.cores`` times ``spark.executor.instances`` when the session
    sets both.
    """
    if is_classic(spark):
        try:
            listed = spark.sparkContext._jsc.sc().statusStore().executorList(True)
            cores = [int(listed.apply(i).totalCores()) for i in range(listed.size())]
            # A cluster's driver is listed too, with no cores; in local mode it is the one executor.
            return [c for c in cores if c > 0] or None
        except Exception:  # the store is Spark's internal API: without it, the settings below
            pass
    each, instances = _conf(spark, "spark.executor.cores"), _conf(spark, "spark.executor.instances")
    if each and instances and each.isdigit() and instances.isdigit() and int(instances) > 0:
        return [int(each)] * int(instances)
    return None


def profile_refusal(version: str, master: str | None, dynamic_allocation: bool, has_api: bool) -> str | None:
    """Why a session of Spark ``version`` on ``master`` cannot schedule a task resource profile on a DataFrame's
    stage; None when it can.

    Examples
    --------
    >>> profile_refusal("4.0.0", "yarn", False, True) is None
    True
    >>> profile_refusal("4.0.0", "local[4]", False, True)
    'local mode: Spark schedules task resource profiles on standalone, YARN and Kubernetes clusters only'
    """
    if int(version.split(".")[0]) < 4 or not has_api:
        return f"Spark {version}: a DataFrame operation takes a resource profile from Spark 4.0 (RDDs only before)"
    if master is None:
        return "the cluster manager is not visible to this session (spark.master not shown)"
    if master.startswith("local"):
        if master.startswith("local-cluster"):  # Spark's own test cluster: standalone's scheduler
            return None
        return "local mode: Spark schedules task resource profiles on standalone, YARN and Kubernetes clusters only"
    if not master.startswith(("spark://", "yarn", "k8s://")):
        return f"master {master}: Spark schedules task resource profiles on standalone, YARN and Kubernetes only"
    if dynamic_allocation:
        return "dynamic allocation is on: a task resource profile would ask for executors of its own"
    return None


def task_cpus_profile(spark: SparkSession, cpus: int) -> tuple[ResourceProfile | None, str]:
    """A resource profile that gives each task of one stage ``cpus`` CPUs (:func:`map_in_arrow`), and the reason;
    or None and why the stage keeps the session's ``spark.task.cpus``.

    None where the session cannot schedule one (:func:`profile_refusal`), where ``spark.task.cpus`` already gives
    ``cpus``, and where no executor is known to offer ``cpus`` cores: a task asking for more than any executor has
    would never start.
    """
    refused = profile_refusal(
        spark.version,
        _conf(spark, "spark.master"),
        (_conf(spark, "spark.dynamicAllocation.enabled") or "false").strip().lower() == "true",
        "profile" in inspect.signature(type(spark.range(0)).mapInArrow).parameters,
    )
    if refused:
        return None, refused
    session = task_cpus(spark)
    if cpus <= session:
        return None, f"spark.task.cpus={session} gives each task {session} CPU{'s' * (session > 1)}"
    cores = executor_cores(spark)
    if not cores:
        return None, "the executors' cores are not known (a task asking for more CPUs than any has never starts)"
    if max(cores) < cpus:
        return None, f"no executor offers {cpus} cores (the largest {max(cores)})"
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    profile = ResourceProfileBuilder().require(TaskResourceRequests().cpus(cpus)).build
    return profile, f"stage-level scheduling: {cpus} CPUs a task for this stage alone"


def is_profile_refused(exc: BaseException) -> bool:
    """True when a job failed because the cluster refused a resource profile (a platform that changed Spark's rule)."""
    return "ResourceProfiles are only supported" in str(exc)


def map_in_arrow(
    df: DataFrame,
    func: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]],
    schema: StructType,
    profile: ResourceProfile | None = None,
) -> DataFrame:
    """``df.mapInArrow(func, schema)``, its stage scheduled with ``profile`` (:func:`task_cpus_profile`) when given."""
    if profile is None:
        return df.mapInArrow(func, schema)
    return df.mapInArrow(func, schema, profile=profile)


# ---------------------------------------------------------------------------------------------- Hadoop's files
class HadoopFiles:
    """Small files under a URI (``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``), read and written through the
    driver JVM's Hadoop file system, with the session's credentials and settings.

    A file is written with one ``create``: on an object store one request, so that a reader sees the old object
    or the new one whole. ``create_new`` fails where the file exists: atomic on HDFS; on S3 the connector checks,
    then writes, so two writers in the same instant can both succeed.
    """

    def __init__(self, spark: SparkSession, uri: str) -> None:
        jvm = spark.sparkContext._jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(uri).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self._io = jvm.org.apache.commons.io.IOUtils  # in every Spark's classpath; Java 8 has no readAllBytes

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def is_dir(self, path: str) -> bool:
        target = self._path(path)
        return bool(self._fs.exists(target) and self._fs.getFileStatus(target).isDirectory())

    def read_text(self, path: str) -> str | None:
        """The file's text, or None when there is none."""
        target = self._path(path)
        if not self._fs.exists(target):
            return None
        stream = self._fs.open(target)
        try:
            return self._io.toString(stream, "UTF-8")
        finally:
            stream.close()

    def write_text(self, path: str, text: str) -> None:
        """Write ``text`` whole, replacing any file there."""
        self._write(path, text, overwrite=True)

    def create_new(self, path: str, text: str) -> bool:
        """Write ``text`` where no file is; False when one is already there."""
        if self._fs.exists(self._path(path)):
            return False
        try:
            self._write(path, text, overwrite=False)
        except Exception as exc:
            if "FileAlreadyExists" in str(exc):
                return False
            raise
        return True

    def _write(self, path: str, text: str, overwrite: bool) -> None:
        stream = self._fs.create(self._path(path), overwrite)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def list_dirs(self, path: str) -> list[tuple[str, float]]:
        """The folders directly under ``path``: name and modification time (seconds since 1970)."""
        target = self._path(path)
        if not self._fs.exists(target):
            return []
        return [
            (status.getPath().getName(), status.getModificationTime() / 1000)
            for status in self._fs.listStatus(target)
            if status.isDirectory()
        ]

    def delete(self, path: str) -> None:
        self._fs.delete(self._path(path), True)


def hadoop_files(spark: SparkSession, uri: str) -> HadoopFiles | None:
    """:class:`HadoopFiles` for ``uri`` on classic Spark; None on Spark Connect."""
    return HadoopFiles(spark, uri) if is_classic(spark) else None


# ------------------------------------------------------------------------------- the local driver JVM of pyspark
def driver_process() -> subprocess.Popen | None:
    """The driver JVM pyspark started in this process (its ``spark-submit``), once it has connected; None before,
    and where this process started none (spark-submit's own driver, Spark Connect)."""
    from pyspark import SparkContext

    return getattr(SparkContext._gateway, "proc", None)


def driver_connected() -> bool:
    """True once this process holds a gateway to a driver JVM, its own or one spark-submit handed it."""
    from pyspark import SparkContext

    return SparkContext._gateway is not None


def before_driver_exit() -> None:
    """Stop what pyspark serves the driver JVM from this process, as ``SparkContext.stop`` does but with no call to
    the JVM: the server of the JVM's accumulator updates, whose connection the JVM's exit would end mid-read (it
    printed the EOFError); and the gateway's calls to it."""
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    server = getattr(context, "_accumulatorServer", None)
    if server is not None:
        with contextlib.suppress(Exception):
            server.shutdown()
        context._accumulatorServer = None
    # Nothing more is sent to the JVM: a Java object's finaliser (one held by the error that ended the command) would
    # call it as it exits, and py4j before 0.10.9.9 (Spark 3.5) logged that failure with a traceback to stderr.
    client = getattr(SparkContext._gateway, "_gateway_client", None)
    if client is not None:
        client.is_connected = False


def forget_session() -> None:
    """Forget the session and gateway of a driver JVM that is gone, so that a later session in this process (a
    test's, a notebook's) starts a JVM of its own rather than calling a dead one."""
    from pyspark import SparkContext

    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None
    SparkContext._active_spark_context = None
    SparkContext._gateway = SparkContext._jvm = None


# ------------------------------------------------------------------------------------------------ shipping arrays
class Shipped(Protocol):
    """Arrays readable in tasks: ``value()`` inside a task, ``release()`` on the driver when done."""

    def value(self) -> dict[str, np.ndarray]: ...

    def release(self) -> None: ...


class _Broadcast:
    def __init__(self, spark: SparkSession, arrays: dict[str, np.ndarray]) -> None:
        self._bc = spark.sparkContext.broadcast(arrays)

    def value(self) -> dict[str, np.ndarray]:
        return self._bc.value

    def release(self) -> None:
        # destroy, not unpersist: unpersist keeps the driver's copy, and one run ships weights every round
        # (in local mode the driver's copies are all there is, and they filled the heap after 18 rounds).
        self._bc.destroy(blocking=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"_bc": self._bc}


#: Per Python worker: staged arrays already mapped, by folder. A retried or reused worker maps a folder once.
_MAPPED: dict[str, dict[str, np.ndarray]] = {}


class _Files:
    def __init__(self, arrays: dict[str, np.ndarray], staging: str) -> None:
        self.folder = str(Path(staging) / f"ship-{uuid.uuid4().hex}")
        Path(self.folder).mkdir(parents=True, exist_ok=False)
        for name, array in arrays.items():
            np.save(Path(self.folder) / f"{name}.npy", np.ascontiguousarray(array))
        self.names = tuple(arrays)

    def value(self) -> dict[str, np.ndarray]:
        mapped = _MAPPED.get(self.folder)
        if mapped is None:
            if len(_MAPPED) > 4:  # a worker serves one run's rounds in turn: keep only recent folders mapped
                _MAPPED.clear()
            mapped = {n: np.load(Path(self.folder) / f"{n}.npy", mmap_mode="r") for n in self.names}
            _MAPPED[self.folder] = mapped
        return mapped

    def release(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def resolve_mode(spark: SparkSession, mode: str) -> str:
    """``auto`` becomes ``broadcast`` on classic Spark and ``files`` elsewhere."""
    if mode == "auto":
        return "broadcast" if is_classic(spark) else "files"
    return mode


def ship(spark: SparkSession, arrays: dict[str, np.ndarray], mode: str, staging: str) -> Shipped:
    """Make ``arrays`` readable in tasks. ``mode`` is ``auto``, ``broadcast`` or ``files`` (staged under
    ``staging``, a path the driver and the executors share)."""
    if resolve_mode(spark, mode) == "broadcast":
        return _Broadcast(spark, arrays)
    return _Files(arrays, staging)

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
  which is always classic.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pyspark.sql import SparkSession


def is_classic(spark: SparkSession) -> bool:
    """True when classic-only APIs are usable: not Spark Connect, not serverless."""
    try:
        return spark.sparkContext is not None
    except Exception:  # Spark Connect raises on sparkContext access
        return False


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

"""The cores the gensim backend's training stage asks Spark for: the threads a shard, and how its tasks get them.

A training task runs one shard with ``threads`` gensim threads. Spark gives every task ``spark.task.cpus`` CPUs
(1 unless set), a session setting that would cut every other stage's parallelism by the same factor. So the
training stage alone asks for its threads, with a task resource profile (``compat.task_cpus_profile``) where the
cluster manager schedules one; elsewhere its tasks keep the session's CPUs, and ``threads: auto`` trains with that
many threads. Which of the two, and why, is one event line (``train.cores``) and part of the run's statistics.

``threads: auto`` sizes the threads from the cores the executors offer when training starts
(``averaging.threads_for``): all shards at once, each with as many threads as fit, at most
``averaging.MAX_THREADS``. Where that is one thread a shard (local mode, one-core tasks, fewer cores than twice the
shards) the training is bit-reproducible as ``threads: 1`` is; above one it is not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from pyspark.sql import SparkSession

from swapvec.compat import executor_cores, task_cpus, task_cpus_profile
from swapvec.log import event, get_logger
from swapvec.train.averaging import MAX_THREADS, threads_for

if TYPE_CHECKING:
    from pyspark.resource import ResourceProfile

_log = get_logger("train.gensim")
_CROWDED = "tasks run more threads than Spark gave them CPUs and share cores: set spark.task.cpus to the threads"


@dataclass(frozen=True)
class Cores:
    """What the training stage runs on.

    Attributes
    ----------
    threads : int
        gensim threads training each shard.
    task_cpus : int
        CPUs Spark gives each training task: ``threads`` with a profile, else ``spark.task.cpus``.
    profile : ResourceProfile or None
        The training stage's task resource profile; None: the session's ``spark.task.cpus``.
    reason : str
        Why the profile is there or not (``compat.task_cpus_profile``).
    cores : int or None
        Cores the executors offered when training started; None when they cannot be known (Spark Connect without
        ``spark.executor.cores`` and ``spark.executor.instances``).
    executors : int or None
        Executors seen (in local mode 1, the driver).
    """

    threads: int
    task_cpus: int
    profile: ResourceProfile | None
    reason: str
    cores: int | None
    executors: int | None

    @property
    def scheduling(self) -> str:
        """``profile`` (stage-level scheduling) or ``spark.task.cpus``."""
        return "profile" if self.profile is not None else "spark.task.cpus"

    def without_profile(self, reason: str, auto: bool, session_cpus: int) -> Cores:
        """The same training on the session's CPUs: the cluster refused the profile (``reason``)."""
        threads = min(session_cpus, MAX_THREADS) if auto else self.threads
        return replace(self, threads=threads, task_cpus=session_cpus, profile=None, reason=reason)

    def stats(self) -> dict[str, Any]:
        """The run's statistics of them (``runs.metrics`` takes the numbers, ``runs.details`` the words)."""
        return {
            "cores": self.cores,
            "executors": self.executors,
            "threads": self.threads,
            "task_cpus": self.task_cpus,
            "scheduling": self.scheduling,
            "scheduling_reason": self.reason,
        }


def training_cores(spark: SparkSession, shards: int, threads: int | Literal["auto"]) -> Cores:
    """The threads of each of ``shards`` shards and how the training tasks get their CPUs; logged as ``train.cores``.

    ``threads`` is ``train.threads``. ``auto`` takes :func:`~swapvec.train.averaging.threads_for` of the executors'
    cores where a profile can give a task that many CPUs, else ``spark.task.cpus`` (at most ``MAX_THREADS``). A
    number is used as it is, with a profile where one can be had; where tasks then run more threads than Spark gave
    them CPUs on a cluster, they share cores with other tasks, which is logged as a warning.
    """
    offered = executor_cores(spark)
    session = task_cpus(spark)
    if threads == "auto":
        # Cores unknown: no profile can be sized; one CPU above the session's asks only for the reason there is none.
        wanted = threads_for(shards, offered) if offered else session + 1
        profile, reason = task_cpus_profile(spark, max(wanted, session))
        chosen = wanted if profile is not None else min(session, MAX_THREADS)
    else:
        profile, reason = task_cpus_profile(spark, threads)
        chosen = threads
    cores = Cores(
        threads=chosen,
        task_cpus=chosen if profile is not None else session,
        profile=profile,
        reason=reason,
        cores=sum(offered) if offered else None,
        executors=len(offered) if offered else None,
    )
    log_cores(cores, shards)
    return cores


def log_cores(cores: Cores, shards: int) -> None:
    """The ``train.cores`` event: a warning where tasks run more threads than their CPUs on more than one machine's
    worth of cores (one executor whose cores hold every shard's threads shares nothing)."""
    alone = cores.executors == 1 and cores.cores is not None and shards * cores.threads <= cores.cores
    crowded = cores.threads > cores.task_cpus and not alone
    event(
        _log,
        "train.cores",
        level=logging.WARNING if crowded else logging.INFO,
        cores=cores.cores,
        executors=cores.executors,
        shards=shards,
        threads=cores.threads,
        task_cpus=cores.task_cpus,
        scheduling=cores.scheduling,
        reason=cores.reason,
        **({"hint": _CROWDED} if crowded else {}),
    )

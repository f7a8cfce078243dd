"""Stage-level scheduling on a real standalone cluster: the training stage asks for its threads' CPUs, no other stage.

One worker offers 4 cores. ``swapvec run`` with ``train.threads: auto`` (the default) and 2 shards must train each
round as 2 tasks of 2 CPUs at once (2 threads a shard), while tokenising the 4 input files still runs 4 one-CPU tasks
at once. What ran is read from Spark's own records, the application's event log: each stage's resource profile and
each task's launch and finish times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cluster import Cluster, spark_env
from tests.conftest import SEED_GROUPS, SEED_LINES
from tests.jvm import SPARK_HOME, short_jvm_opts

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 2


@pytest.fixture(scope="module")
def four_cores(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.start(workers=1, cores=4, memory="2g")
    finally:
        cluster.stop()
    assert not cluster.leftover_pids()


@pytest.fixture(scope="module")
def events(four_cores, tmp_path_factory) -> tuple[list[dict], Path]:
    """The seed's case, its corpus in 4 files, run on the cluster by spark-submit with an event log; returns the
    log's events and the output folder."""
    root = tmp_path_factory.mktemp("cores")
    corpus, log_dir = root / "corpus", root / "events"
    corpus.mkdir()
    log_dir.mkdir()
    for part in range(4):  # a file each: 4 partitions for the stages that read and tokenise them
        (corpus / f"part-{part}.txt").write_text("\n".join(SEED_LINES * 50) + "\n")
    (root / "groups.txt").write_text(SEED_GROUPS)
    conf = {
        "spark.sql.shuffle.partitions": 2,
        "spark.ui.enabled": "false",
        "spark.log.level": "WARN",
        "spark.executor.memory": "1g",
        "spark.executor.extraJavaOptions": short_jvm_opts(),
        # The executors run this interpreter, where swapvec is installed (the cluster is on this machine).
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": log_dir.as_uri(),
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
    }
    settings = [
        f"input.path={corpus}",
        f"augment.groups_path={root / 'groups.txt'}",
        f"output.path={root / 'out'}",
        "output.format=parquet",  # Parquet: no Delta jars to ship
        "train.min_count=1",
        "train.num_partitions=2",
        f"train.sync_rounds={ROUNDS}",
        "evaluate.baseline=false",
    ]
    command = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", four_cores.master_url, "--driver-memory", "1g"]
    command += [a for key, value in conf.items() for a in ("--conf", f"{key}={value}")]
    command += [str(REPO / "jobs" / "run.py"), *[a for s in settings for a in ("--set", s)]]
    proc = subprocess.run(
        command,
        cwd=root,
        env=spark_env(SPARK_SUBMIT_OPTS=short_jvm_opts()),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    (log,) = log_dir.iterdir()
    return [json.loads(line) for line in log.read_text().splitlines()], root / "out"


def _most_at_once(tasks: list[tuple[int, int]]) -> int:
    """The most tasks running at the same time, from their launch and finish times (ms)."""
    edges = sorted([(start, 1) for start, _ in tasks] + [(end, -1) for _, end in tasks])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def _stages(events: list[dict]) -> list[dict]:
    """Each stage that ran: its profile's CPUs a task, its tasks' times, and whether it reads the corpus's text."""
    cpus = {
        e["Resource Profile Id"]: e["Task Resource Requests"]["cpus"]["Amount"]
        for e in events
        if e["Event"] == "SparkListenerResourceProfileAdded"
    }
    tasks = defaultdict(list)
    for e in events:
        if e["Event"] == "SparkListenerTaskEnd" and e["Task End Reason"]["Reason"] == "Success":
            info = e["Task Info"]
            tasks[(e["Stage ID"], e["Stage Attempt ID"])].append((info["Launch Time"], info["Finish Time"]))
    stages = []
    for e in events:
        if e["Event"] == "SparkListenerStageCompleted":
            info = e["Stage Info"]
            key = (info["Stage ID"], info["Stage Attempt ID"])
            plan = " ".join(r["Name"] for r in info["RDD Info"])
            stages.append(
                {
                    "cpus": cpus[info["Resource Profile Id"]],
                    "tasks": tasks[key],
                    "tokenises": "FileScan text" in plan and "regexp_extract_all" in plan,
                }
            )
    return stages


def test_training_tasks_take_two_cpus_each_at_once_while_tokenising_runs_four_tasks_at_once(events):
    stages = _stages(events[0])
    training = [s for s in stages if s["cpus"] == 2]
    assert len(training) == ROUNDS, "one stage a round asks for 2 CPUs a task"
    for stage in training:
        assert len(stage["tasks"]) == 2 and _most_at_once(stage["tasks"]) == 2  # both shards at once
    # Every other stage kept the session's one CPU a task; reading and tokenising the 4 files ran 4 tasks at once.
    assert all(s["cpus"] == 1 for s in stages if s not in training)
    tokenising = [s for s in stages if s["tokenises"] and len(s["tasks"]) == 4]
    assert tokenising and max(_most_at_once(s["tasks"]) for s in tokenising) == 4


def test_the_runs_row_records_the_cores_seen_the_shards_and_the_threads(events):
    runs = pq.read_table(events[1] / "runs", columns=["metrics", "details"])
    metrics = dict(runs.column("metrics")[0].as_py())
    assert {k: metrics[f"train_{k}"] for k in ("cores", "executors", "shards", "threads", "task_cpus")} == {
        "cores": 4,
        "executors": 1,
        "shards": 2,
        "threads": 2,
        "task_cpus": 2,
    }
    details = json.loads(runs.column("details")[0].as_py())
    assert details["train_scheduling"] == "profile"
    assert "stage-level scheduling" in details["train_scheduling_reason"]

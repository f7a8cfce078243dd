"""spark-submit on a real standalone cluster (a master and two one-core workers on loopback), shipped the way
clusters need: the environment built by ``swapvec package`` (``--archives``) and the package (``--py-files``).

The pipeline runs on the cluster with a worker and its executor killed mid-training: the job must finish and write,
bit for bit, the vectors that the same settings give on local Spark (the suite's session), where nothing was lost.
One cluster run checks both the shipping and the recovery; the local run is the cheap reference.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from swapvec.session import _delta_jars
from tests.cluster import Cluster, spark_env
from tests.conftest import read_independently
from tests.jvm import SPARK_HOME, short_jvm_opts

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROUNDS = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.start(workers=2, cores=1, memory="1g")
    finally:
        cluster.stop()
    assert not cluster.leftover_pids()


def _printed_command(stdout: str) -> list[str]:
    """The spark-submit argument list that ``swapvec package`` printed."""
    text = stdout[stdout.index("spark-submit ") :].replace("\\\n", " ")
    return shlex.split(text)


def _offline(command: list[str]) -> list[str]:
    """Delta's jars from the local cache when the project has seen them (no resolution at every start)."""
    jars = _delta_jars()
    if not jars or "--packages" not in command:
        return command
    i = command.index("--packages")
    return [*command[:i], "--jars", ",".join(jars), *command[i + 2 :]]


@pytest.fixture(scope="module")
def submit_command(cluster) -> list[str]:
    """Build with ``swapvec package``.

    The folder is in the user's cache, not in the checkout, so that the environment (190 MB, a minute or more to
    build) is built once per machine and reused by later runs and fresh clones while the versions it packs are the
    same: exactly the reuse ``swapvec package`` promises its users. A change of versions rebuilds it here too.
    """
    dist = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "swapvec" / "test-cluster-dist"
    args = [str(BIN / "swapvec"), "package", "--dist", str(dist), "--master", cluster.master_url]
    proc = subprocess.run([*args, "--config", "conf/local.yaml"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    command = _offline(_printed_command(proc.stdout))
    assert command[0] == "spark-submit" and f"{dist}/swapvec-env.tar.gz#environment" in command
    return [str(SPARK_HOME / "bin" / "spark-submit"), *command[1:]]


def _settings(out: Path) -> list[str]:
    """The run's settings beside conf/local.yaml: the Lee corpus and sample groups, two shards."""
    from gensim.test.utils import datapath

    return [
        f"input.path={datapath('lee_background.cor')}",
        f"augment.groups_path={REPO / 'conf' / 'groups.txt'}",
        f"output.path={out}",
        "evaluate.baseline=false",
        "train.backend=gensim",
        "train.num_partitions=2",
        f"train.sync_rounds={ROUNDS}",
    ]


def _run(command: list[str], out: Path, on_line: Callable[[str], None] = lambda line: None, timeout: float = 600):
    """Run the job with output under ``out``; return its exit code and its output (also kept in ``out``.log).

    spark-submit sends the Python driver's stderr, where swapvec logs its events, to its own stdout.
    """
    args = [*command, *[a for s in _settings(out) for a in ("--set", s)]]
    # Sizes for two one-core executors (Spark's 200 shuffle partitions and Delta's 50 cost more than the job here).
    sizes = {
        "spark.sql.shuffle.partitions": 2,
        "spark.databricks.delta.snapshotPartitions": 2,
        "spark.ui.enabled": "false",
        "spark.log.level": "WARN",
        "spark.executor.extraJavaOptions": short_jvm_opts(),
    }
    driver_conf = ["--driver-memory", "1g", *[a for k, v in sizes.items() for a in ("--conf", f"{k}={v}")]]
    args = [args[0], *driver_conf, *args[1:]]
    proc = subprocess.Popen(
        args,
        cwd=REPO,
        env=spark_env(SPARK_SUBMIT_OPTS=short_jvm_opts()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            on_line(line)
        code = proc.wait()
    finally:
        watchdog.cancel()
    log = "".join(lines)
    Path(f"{out}.log").write_text(log)
    return code, log


def _vectors(out: Path, fmt: str = "delta") -> pa.Table:
    table = read_independently(out / "vectors", fmt).select(["word", "vector", "count"]).sort_by("word")
    # One reader's strings may be large or views, the other's not: compare values, not layouts.
    return table.set_column(0, "word", table.column("word").cast(pa.string()))


def _float_bytes(table: pa.Table) -> bytes:
    return np.asarray(pc.list_flatten(table.column("vector")), dtype=np.float32).tobytes()


@pytest.fixture(scope="module")
def lost_executor(cluster, submit_command, tmp_path_factory) -> tuple[Path, str]:
    """The job on the cluster, with worker 1 and its executor killed once round 2 is done (round 3's tasks are then
    running on both executors); returns the output folder and the job's log."""
    out = tmp_path_factory.mktemp("lost-executor") / "out"
    killed = []

    def kill_in_round_three(line: str) -> None:
        if not killed and "train.round" in line and "round=2/" in line:
            cluster.kill_worker(1)
            killed.append(line)

    code, log = _run(submit_command, out, on_line=kill_in_round_three)
    assert killed, "training never reached round 2"
    assert code == 0, log[-4000:]
    return out, log


def test_spark_submit_on_a_standalone_cluster_with_the_packed_environment(cluster, lost_executor):
    out, log = lost_executor
    vectors = _vectors(out)
    assert vectors.num_rows > 1000
    assert vectors.column("vector")[0].values.type == pa.float32()
    assert "troops -> military 1" in log  # the report the driver printed at the end
    # Each worker's executor unpacked the environment it ran its Python in.
    for worker in ("worker-0", "worker-1"):
        unpacked = list((cluster.root / "work" / worker).glob("app-*/*/environment/bin/python"))
        assert unpacked, f"{worker} never unpacked the environment"


def test_an_executor_lost_mid_training_gives_the_vectors_of_a_local_run(spark, lost_executor, tmp_path):
    from swapvec.config import load_config
    from swapvec.pipeline import execute

    out, log = lost_executor
    assert "Lost executor" in log, "the driver never noticed the lost executor"
    assert log.count("train.round") == ROUNDS
    # The reference on Parquet: the same vectors, without the Delta writes (the cluster's run wrote Delta).
    settings = [*_settings(tmp_path / "local"), "output.format=parquet"]
    execute(spark, load_config(str(REPO / "conf" / "local.yaml"), settings), "run")
    local, disturbed = _vectors(tmp_path / "local", "parquet"), _vectors(out)
    assert disturbed.column("word").equals(local.column("word"))
    assert disturbed.column("count").equals(local.column("count"))
    assert _float_bytes(disturbed) == _float_bytes(local)

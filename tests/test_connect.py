"""``swapvec run`` through a real Spark Connect server, the way Databricks shared and serverless compute reach Spark.

The server is Spark's own (``SparkConnectServer`` from the installed pyspark, a process of its own) on loopback,
with Delta's jars and SQL extension but not Delta's Connect plugin: the ``DeltaTable`` API cannot work there, so
every Delta operation must be SQL or the DataFrame reader and writer. The client is ``swapvec`` as a user runs it,
with ``SPARK_REMOTE``: no JVM on its side, no ``sparkContext``, no broadcast (the weights travel as files).
The tables are read back with the independent readers the rest of the suite uses (deltalake, pyarrow).
"""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from swapvec.session import _delta_jars
from tests.cluster import LOOPBACK, free_port, spark_env
from tests.conftest import SEED_GROUPS, SEED_LINES, read_independently
from tests.jvm import SPARK_HOME, short_jvm_opts

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@pytest.fixture(scope="module")
def remote(spark, tmp_path_factory):
    """A Spark Connect server on a free loopback port; yields its ``sc://`` URL. Stopped by its process group.

    Depends on the suite's session only for Delta's jars, which that session has found (and remembered) by then.
    """
    jars = _delta_jars()
    assert jars, "Delta's jars are not cached"
    root = tmp_path_factory.mktemp("connect-server")
    port = free_port()
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.connect.grpc.binding.address": LOOPBACK,
        "spark.connect.grpc.binding.port": str(port),
        # Sizes for two cores, as the cluster test's: Delta's 50 snapshot partitions made each overwrite 4 s, not 1.
        "spark.sql.shuffle.partitions": "2",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false",
        "spark.log.level": "WARN",
    }
    command = [str(SPARK_HOME / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--master", "local[2,3]"]
    command += ["--driver-memory", "2g", "--jars", ",".join(jars)]
    command += [a for key, value in conf.items() for a in ("--conf", f"{key}={value}")]
    # The short-lived JVMs' options (C1 alone): four short runs, where C2's compiling cost 40 s more CPU on 2 cores.
    with open(root / "server.log", "wb") as log:
        server = subprocess.Popen(
            [*command, "spark-internal"],
            env=spark_env(PYSPARK_PYTHON=sys.executable, SPARK_SUBMIT_OPTS=short_jvm_opts()),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Connect server did not start:\n{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"sc://{LOOPBACK}:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=60)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((LOOPBACK, port)) == 0


def _swapvec_run(remote: str, settings: list[str], cwd: Path) -> tuple[int, str, str]:
    """``swapvec run`` with ``SPARK_REMOTE``, its stderr a terminal (as a user's), so that progress is drawn;
    returns the exit code, stdout and what the terminal showed."""
    terminal, child_end = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "swapvec"), "run", *[a for s in settings for a in ("--set", s)]],
        cwd=cwd,
        env=spark_env(SPARK_REMOTE=remote),
        stdout=subprocess.PIPE,
        stderr=child_end,
        text=True,
    )
    os.close(child_end)
    shown = bytearray()

    def drain() -> None:
        with contextlib.suppress(OSError):  # EIO once the child has closed its end
            while chunk := os.read(terminal, 65536):
                shown.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out = proc.stdout.read()
    code = proc.wait(timeout=600)
    reader.join(timeout=30)
    os.close(terminal)
    return code, out, shown.decode(errors="replace")


def _check_tables(out: Path, fmt: str) -> pa.Table:
    """The run's tables as an independent reader sees them; returns ``vectors``."""
    vectors = read_independently(out / "vectors", fmt)
    assert pa.types.is_float32(vectors.column("vector").type.value_type)
    assert read_independently(out / "similarities", fmt).num_rows > 0
    assert read_independently(out / "runs", fmt).column("status").to_pylist() == ["succeeded"]
    return vectors


def test_the_seed_case_through_spark_connect_into_delta(remote, tmp_path):
    """Delta through SQL alone: the tables are created, marked and written without Delta's Connect plugin."""
    (tmp_path / "corpus.txt").write_text("\n".join(SEED_LINES * 50) + "\n")
    (tmp_path / "groups.txt").write_text(SEED_GROUPS)
    settings = ["input.path=corpus.txt", "augment.groups_path=groups.txt", "output.path=out", "train.min_count=1"]
    code, out, shown = _swapvec_run(remote, [*settings, "output.format=delta"], tmp_path)
    assert code == 0, shown[-3000:]
    for member in ("movies", "films", "cinema"):
        assert f"{member} -> entertainment 1" in out, out
    assert "transport=files" in shown  # no broadcast on Connect: the weights went through files
    # The cluster manager read through Connect's settings: a local server keeps one CPU a task, and says so.
    assert 'threads=1 task_cpus=1 scheduling=spark.task.cpus reason="local mode' in shown, shown[-3000:]
    assert "Traceback" not in shown
    assert _check_tables(tmp_path / "out", "delta").num_rows == 4


def test_the_lee_sample_through_spark_connect_into_parquet_with_progress_on_the_terminal(remote, tmp_path):
    """A real corpus in rounds (each round's weights in files the tasks read), Parquet's versions and link."""
    settings = [
        "input.path=sample:lee",
        f"augment.groups_path={REPO / 'conf' / 'groups.txt'}",
        "output.path=out",
        "output.format=parquet",
        "train.sync_rounds=2",
        "tokenize.phrases=true",  # detected in Spark (aggregations), joined in the tasks (mapInArrow)
    ]
    code, out, shown = _swapvec_run(remote, settings, tmp_path)
    assert code == 0, shown[-3000:]
    assert "hub members whose nearest word is the hub                 1.000" in out, out
    assert "transport=files" in shown and "Traceback" not in shown
    assert _check_tables(tmp_path / "out", "parquet").num_rows > 1000
    assert read_independently(tmp_path / "out" / "phrases", "parquet").num_rows > 100
    # The Connect progress handler drew the tasks of a stage's operation on the line (a carriage return, no newline).
    assert "\rtrain: " in shown and "tasks " in shown, shown[-3000:]

"""The console script and the jobs as a user runs them: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEED_GROUPS, SEED_LINES

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def swapvec(*args: str, cwd: Path, script: list[str] | None = None) -> subprocess.CompletedProcess:
    command = script or [str(BIN / "swapvec")]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swapvec: ")]
    assert len(errors) == 1 and text in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not [line for line in proc.stderr.splitlines() if line.startswith("\tat ")], proc.stderr[-2000:]  # Java's


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "corpus.txt").write_text("\n".join(SEED_LINES * 50) + "\n")
    (tmp_path / "groups.txt").write_text(SEED_GROUPS)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--set", "train.windw=3"], "config: train.windw: unknown key"),
        (["train", "--set", "train.window=0"], "config: train.window: Input should be greater than or equal to 1"),
        (["run", "--set", "input.path=nowhere.txt"], "input.path does not exist: nowhere.txt"),
        (["run", "--set", "input.path=corpus.txt", "--set", "output.path=corpus.txt"], "is a file, not a folder"),
        (
            ["run", "--set", "input.path=corpus.txt", "--set", "augment.groups_path=lonely.txt"],
            "lonely.txt:1: a group needs at least two words",
        ),
        (
            ["run", "--set", "input.path=corpus.txt", "--set", "augment.groups_path=repel.txt"],
            "repel.txt:2: a repel line ('!=') needs augment.method specialize or swap+specialize, not swap",
        ),
        (["similarity", "--set", "output.path=empty"], "run `swapvec train` first"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        # spark-submit would split the printed --archives at the comma and read '#' as a link's name.
        (["package", "--dist", "a#b,c"], "--dist 'a#b,c': spark-submit cannot carry files from a folder named with"),
        # Refused before pip installs anything: spark-submit read 'dist sp/swapvec-env.tar.gz#environment' as one
        # file name, and '[1]' failed only after the whole install.
        (["package", "--dist", "dist sp"], "--dist 'dist sp': spark-submit cannot carry files from a folder named"),
        (["package", "--dist", "dist[1]"], "named with '[' ']'"),
        # Refused in the config: the JVM exited at start with a Java stack and a hint about Maven.
        (["run", "--set", "spark.master=nonsense"], "config: spark.master: not a Spark master URL"),
        (["run", "--set", "spark.conf.spark.driver.memory=abc"], "spark.driver.memory: 'abc' is not a size"),
        # Java's reason, not Py4J's "An error occurred while calling o44.sql." (exit 1, a retry's code).
        pytest.param(
            ["run", "--set", "input.path=corpus.txt", "--set", "output.path=nofs://bucket/out"],
            'No FileSystem for scheme "nofs"',
            marks=pytest.mark.spark,
        ),
        # A failed task's Java stack was logged by the local executor (156 lines), and the cause was only there.
        pytest.param(
            ["run", "--set", "input.path=garbage.parquet"],
            "could not be read as parquet: RuntimeException",
            marks=pytest.mark.spark,
        ),
        # The groups file is tokenised before the corpus: the pattern is checked there too (was Java's stack).
        pytest.param(
            [
                "run",
                "--set",
                "input.path=corpus.txt",
                "--set",
                "augment.groups_path=groups.txt",
                "--set",
                "tokenize.pattern=(",
            ],
            "config: tokenize.pattern: not a valid Java regex",
            marks=pytest.mark.spark,
        ),
        (["run", "--config", "missing.yaml"], "config file not found: missing.yaml"),
        # Hadoop read it as a URI with a relative path: an 8.6 kB line with a Java stack, then exit 1.
        (["run", "--set", "input.path=corpus.txt", "--set", "output.path=out:1"], "output.path out:1: not a URI"),
        # Written under ./fileserver/share/out, and reported as written to file://fileserver/share/out.
        (
            ["run", "--set", "input.path=corpus.txt", "--set", "output.path=file://fileserver/share/out"],
            "output.path file://fileserver/share/out: a file URI with the host 'fileserver' names another machine's",
        ),
        # The JVM refused -Xmx4gb at start, with a message that named no key (exit 1).
        (["run", "--set", "spark.conf.spark.driver.memory=4gb"], "spark.driver.memory: '4gb' is not a size the"),
        # Hadoop knows the class of abfss:// but this Spark lacks its jar: ClassNotFoundException, exit 1, where a
        # scheme Hadoop does not know at all gave exit 2 (a local session adds s3a://'s connector itself). Its
        # credentials are not printed.
        pytest.param(
            ["run", "--set", "input.path=corpus.txt", "--set", "output.path=abfss://AKIA:SECRET-1@box/out"],
            "the connector for abfss:// is missing: org.apache.hadoop.fs.azurebfs.SecureAzureBlobFileSystem is not on",
            marks=pytest.mark.spark,
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(workdir, args, message):
    (workdir / "lonely.txt").write_text("alone\n")
    (workdir / "repel.txt").write_text("movies films\ncheap != expensive\n")
    (workdir / "garbage.parquet").write_bytes(bytes(range(256)) * 4)
    proc = swapvec(*args, cwd=workdir)
    assert_one_line_error(proc, 2, message)
    assert "SECRET" not in proc.stderr + proc.stdout
    assert not (workdir / "fileserver").exists()


def test_config_errors_never_echo_a_secret(workdir):
    """A config refused for its shape or a malformed value is echoed as it would be logged: a ``spark.conf`` written
    as a list of maps printed every value, a master URL its password."""
    (workdir / "listed.yaml").write_text("spark:\n  conf:\n    - spark.hadoop.fs.s3a.secret.key: SECRET-1\n")
    proc = swapvec("run", "--config", "listed.yaml", cwd=workdir)
    assert_one_line_error(proc, 2, "config: spark.conf: Input should be a valid dictionary")
    proc2 = swapvec("run", "--set", "spark.master=spark://admin:SECRET-2@host:70x77", cwd=workdir)
    assert_one_line_error(proc2, 2, "config: spark.master: not a Spark master URL")
    assert "SECRET-" not in proc.stderr + proc2.stderr


def test_the_job_files_behave_as_the_console_script(workdir):
    proc = swapvec("--set", "train.windw=3", cwd=workdir, script=[sys.executable, str(ROOT / "jobs" / "train_job.py")])
    assert_one_line_error(proc, 2, "config: train.windw: unknown key")


@pytest.mark.spark
def test_a_run_from_the_console_prints_group_closeness_and_exits_0(workdir):
    proc = swapvec(
        "run",
        "--set", "input.path=corpus.txt",
        "--set", "augment.groups_path=groups.txt",
        "--set", "train.min_count=1",
        "--set", "train.backend=mllib",
        "--set", "log.format=json",
        # Secrets a user may put in config: a storage key in Spark conf, a password inside a URL.
        "--set", "spark.conf.fs.azure.account.key.acct.dfs.core.windows.net=SECRET-KEY-1",
        "--set", "similarity.words=null",
        "--set", "train.staging_path=file://user:SECRET-PW-2@localhost/tmp/unused",
        # Secrets no list of names holds: a connector's own key, and a password in the driver's Java options.
        "--set", "spark.conf.spark.redis.auth=SECRET-3",
        "--set", "spark.conf.spark.driver.extraJavaOptions=-Dapp.db.password=SECRET-4",
        cwd=workdir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "members with all group-mates in top 10" in proc.stdout
    assert "movies -> entertainment 1" in proc.stdout
    assert (workdir / "warehouse" / "vectors" / "_delta_log").is_dir()
    events = [line for line in proc.stderr.splitlines() if line.startswith('{"ts"')]
    assert sum('"event": "run.start"' in e for e in events) == 1  # the resolved config, logged once
    assert "SECRET-" not in proc.stderr + proc.stdout
    from deltalake import DeltaTable

    [config] = DeltaTable(str(workdir / "warehouse" / "runs")).to_pyarrow_table().column("config").to_pylist()
    assert "SECRET-" not in config and "redacted" in config


def test_a_stop_that_lands_in_a_finaliser_is_kept_and_not_printed():
    """A signal whose handler runs inside a finaliser (py4j's, by the hundred while the JVM starts, and in training)
    raises KeyboardInterrupt where Python can only print it: the run went on to the end, once in five tries of the stop
    at the JVM's start, and once in a loaded suite's stop in training. The stop is noted, raised once the session is up
    and at the next stage or training round, and nothing is printed."""
    import os
    import signal
    import time

    from swapvec.cli import _Stop
    from swapvec.errors import stop_point

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    hook, printed = sys.unraisablehook, []
    stop = _Stop()
    try:
        sys.unraisablehook = printed.append  # what Python would print
        stop.listen()

        class Finalised:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)  # the handler runs here, inside the finaliser

        Finalised()  # collected at once
        assert stop.signal == signal.SIGTERM
        # The run stops at its next stage or training round (in training, it went on to the end: exit 0).
        with pytest.raises(KeyboardInterrupt):
            stop_point()
        assert stop.report() == 128 + signal.SIGTERM
        stop_point()  # reported: what runs next in the process is not stopped
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook
    assert printed == []

"""Faults: retried tasks, a driver killed mid-write, concurrent writers, many runs on the same tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet
import pytest
from deltalake import DeltaTable

from swapvec.config import load_config
from swapvec.log import setup_logging
from swapvec.pipeline import execute
from tests.conftest import SEED_GROUPS, SEED_LINES, read_independently

BIN = Path(sys.executable).parent


#: The injected faults: (kind, round, partition). A raise, and a Python worker's death, in different rounds.
FAULTS = (("raise", 1, 0), ("worker_exit", 2, 1))


def _failing_once(original, marks: Path):
    """``gensim_avg._round_task`` wrapped so that each of :data:`FAULTS` strikes the first attempt of its round's
    partition: ``raise`` raises, ``worker_exit`` kills the task's Python worker; each leaves a marker file."""

    def wrapped(*args):
        inner = original(*args)
        round_index = args[-1]  # the round is _round_task's last argument

        def run(batches):
            from pyspark import TaskContext

            ctx = TaskContext.get()
            for kind, fail_round, partition in FAULTS:
                if (round_index, ctx.partitionId(), ctx.attemptNumber()) == (fail_round, partition, 0):
                    (marks / kind).touch()
                    if kind == "worker_exit":
                        os._exit(17)
                    raise RuntimeError("injected failure on the first attempt")
            yield from inner(batches)

        return run

    return wrapped


def test_retried_tasks_give_the_same_vectors(spark, tmp_path, monkeypatch):
    """The suite's session tries a task up to 3 times (local[2,3]). Failures on first attempts, raised or a Python
    worker's death, must give a clean run's vectors: a fault that never fired (the round task renamed, a round that
    never ran) would make the comparison vacuous, so each leaves a mark."""
    import hashlib

    from gensim.test.utils import datapath
    from pyspark.sql import functions as F

    from swapvec.steps import train_params
    from swapvec.store import read_corpus
    from swapvec.tokenize import tokenize
    from swapvec.train import gensim_avg, train

    settings = ["train.min_count=2", "train.epochs=1", "train.sync_rounds=3", "train.backend=gensim"]
    corpus = tmp_path / "lee-half.txt"  # half of the Lee corpus, trained twice
    corpus.write_text("".join(Path(datapath("lee_background.cor")).read_text().splitlines(keepends=True)[:150]))
    cfg = load_config(None, [f"input.path={corpus}", *settings])
    sentences = tokenize(read_corpus(spark, cfg.input), cfg.tokenize).withColumn("copy", F.lit(0))
    sentences = sentences.localCheckpoint(eager=True)

    def digest() -> str:
        vectors, _ = train(spark, sentences, train_params(cfg))
        rows = vectors.orderBy("word").collect()
        return hashlib.sha256(json.dumps([(r.word, list(r.vector)) for r in rows]).encode()).hexdigest()

    clean = digest()
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setattr(gensim_avg, "_round_task", _failing_once(gensim_avg._round_task, marks))
    assert digest() == clean
    assert sorted(p.name for p in marks.iterdir()) == ["raise", "worker_exit"]


@pytest.fixture
def seed_files(tmp_path):
    (tmp_path / "corpus.txt").write_text("\n".join(SEED_LINES * 50) + "\n")
    (tmp_path / "groups.txt").write_text(SEED_GROUPS)
    return tmp_path


def _settings(root: Path, fmt: str) -> list[str]:
    return [
        f"input.path={root / 'corpus.txt'}",
        f"augment.groups_path={root / 'groups.txt'}",
        f"output.path={root / 'out'}",
        f"output.format={fmt}",
        "train.min_count=1",
        "train.backend=mllib",
        "train.epochs=1",
    ]


def _read(root: Path, table: str, fmt: str):
    return read_independently(root / "out" / table, fmt)


def _run_ids(root: Path, table: str, fmt: str) -> set[str]:
    return set(_read(root, table, fmt).column("run_id").to_pylist())


def _data_files(out: Path) -> set[Path]:
    """The Parquet data files under the output, but the runs log's and Delta's own (checkpoints)."""
    return {f for f in out.rglob("*.parquet") if "_delta_log" not in f.parts and "runs" not in f.relative_to(out).parts}


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_driver_killed_mid_write_leaves_each_table_old_or_new(spark, seed_files, fmt):
    """SIGKILL to the process group as soon as the table's first new data file exists: inside the write, almost
    always before its commit (a Delta log entry, or the rename of the Parquet link). Any command's table write is
    this write; tokenize's is the cheapest to reach."""
    root = seed_files
    out = root / "out"
    first = execute(spark, load_config(None, _settings(root, fmt)), "tokenize").run_id
    version = DeltaTable(str(out / "sentences")).version() if fmt == "delta" else None
    _tokenize_killed_in_its_write(root, fmt)
    ids = _run_ids(root, "sentences", fmt)
    assert len(ids) == 1 and _read(root, "sentences", fmt).num_rows == 200  # one run's rows, never a mix
    if ids == {first} and fmt == "delta":
        assert DeltaTable(str(out / "sentences")).version() == version
    runs = _read(root, "runs", fmt)  # appended after the write: at most the killed run's whole row
    assert first in runs.column("run_id").to_pylist() and runs.num_rows in (1, 2)
    again = execute(spark, load_config(None, _settings(root, fmt)), "tokenize").run_id
    assert _run_ids(root, "sentences", fmt) == {again}
    assert _read(root, "sentences", fmt).num_rows == 200
    if fmt == "delta":
        writes = [h for h in DeltaTable(str(out / "sentences")).history() if h.get("operation") == "WRITE"]
        assert len(writes) in (2, 3)  # the first run, perhaps the killed run's commit, the re-run


def _tokenize_killed_in_its_write(root: Path, fmt: str) -> None:
    """A `swapvec tokenize` in its own process group, SIGKILLed as soon as a new data file of its table exists."""
    before = _data_files(root / "out")
    args = [str(BIN / "swapvec"), "tokenize", *[a for s in _settings(root, fmt) for a in ("--set", s)]]
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL, start_new_session=True, cwd=root)
    killed = False
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if _data_files(root / "out") - before:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    proc.wait(timeout=120)
    assert killed and proc.returncode == -signal.SIGKILL, "the run ended before it wrote a data file"


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_a_run_killed_in_a_tables_first_write_leaves_a_folder_the_next_run_writes(spark, seed_files, fmt):
    """The same kill in the first write of a table, with no earlier run (a scheduled job's first run preempted).
    Its uncommitted files must not make the table's folder look like data swapvec did not write: a Delta table is
    created, empty and marked, before its rows are written (a create-as-select in one commit left only a log folder
    and a data file, which the next run refused)."""
    _tokenize_killed_in_its_write(seed_files, fmt)
    again = execute(spark, load_config(None, _settings(seed_files, fmt)), "tokenize").run_id
    assert _run_ids(seed_files, "sentences", fmt) == {again}
    assert _read(seed_files, "sentences", fmt).num_rows == 200


def _meeting_in_the_write(original, meeting: Path, table: str):
    """``store.delta.write`` or ``store.parquet.write`` wrapped so that the two writes of ``table`` meet inside
    their jobs: partition 0 of each waits until the other's has arrived. A Delta write has read its snapshot before
    its job starts, so both transactions are open at once and the second to commit must conflict with the first."""

    def wrapped(df, path, *args, **kwargs):
        if Path(str(path)).name != table:
            return original(df, path, *args, **kwargs)

        def meet(batches):
            import uuid

            from pyspark import TaskContext

            if TaskContext.get().partitionId() == 0:
                (meeting / uuid.uuid4().hex).touch()
                deadline = time.monotonic() + 120
                while len(list(meeting.iterdir())) < 2 and time.monotonic() < deadline:
                    time.sleep(0.01)
            yield from batches

        return original(df.mapInArrow(meet, df.schema), path, *args, **kwargs)

    return wrapped


@pytest.mark.parametrize("fmt", ["delta"])
def test_two_writers_at_once_one_wins_cleanly(spark, seed_files, fmt, monkeypatch, capsys):
    """Two `swapvec tokenize` at once on one output (two jobs on one driver: the commit protocol is the storage's,
    the same for two drivers), their writes made to overlap. Delta: exactly one commits, the other fails in one line
    with exit 1 (a retry's code). (Parquet takes one writer at a time: the tests below.)"""
    import threading

    from swapvec import cli, session
    from swapvec.store import delta, parquet

    root = seed_files
    # The table exists before the race (two writers creating a Delta table at once conflict by design). Any
    # command's table would do: tokenize's is the cheapest to race.
    execute(spark, load_config(None, _settings(root, fmt)), "tokenize")
    meeting = root / "meeting"
    meeting.mkdir()
    module = delta if fmt == "delta" else parquet
    monkeypatch.setattr(module, "write", _meeting_in_the_write(module.write, meeting, "sentences"))
    monkeypatch.setattr(session, "get_spark", lambda *args, **kwargs: spark)
    monkeypatch.chdir(root)
    args = ["tokenize", *[a for s in _settings(root, fmt) for a in ("--set", s)]]
    codes: list[int] = []
    writers = [threading.Thread(target=lambda: codes.append(cli.main(args))) for _ in range(2)]
    for writer in writers:
        writer.start()
    try:
        for writer in writers:
            writer.join(timeout=600)
    finally:
        setup_logging("text", "WARNING")  # as the suite's session set it; main set the run's level
    said = capsys.readouterr()
    assert len(list(meeting.iterdir())) == 2, "the two writes never met"
    errors = [line for line in said.err.splitlines() if line.startswith("swapvec: ")]
    assert sorted(codes) == [0, 1], said.err[-3000:]
    assert len(errors) == 1 and "Concurrent" in errors[0], said.err[-3000:]  # the loser says why in one line
    assert "Traceback" not in said.err
    winners = {line.split("run_id ")[1].split(",")[0] for line in said.out.splitlines() if "run_id" in line}
    ids = _run_ids(root, "sentences", fmt)
    assert len(ids) == 1 and ids <= winners
    assert _read(root, "sentences", fmt).num_rows == 200


def _lock(root: Path, **holder) -> Path:
    """The Parquet writer's lock of ``root/out`` as a holder would have written it."""
    import socket

    (root / "out").mkdir(exist_ok=True)
    lock = root / "out" / "_swapvec.lock"
    holder = {"run_id": "their-run", "host": socket.gethostname(), "pid": os.getpid(), "since": "then", **holder}
    lock.write_text(json.dumps({"beat": time.time(), **holder}))
    return lock


def _tokenize(spark, root: Path, monkeypatch, capsys) -> tuple[int, list[str]]:
    from swapvec import cli, session

    monkeypatch.setattr(session, "get_spark", lambda *args, **kwargs: spark)
    monkeypatch.chdir(root)
    try:
        code = cli.main(["tokenize", *[a for s in _settings(root, "parquet") for a in ("--set", s)]])
    finally:
        setup_logging("text", "WARNING")  # as the suite's session set it; main set the run's level
    said = capsys.readouterr()
    assert "Traceback" not in said.err
    return code, [line for line in said.err.splitlines() if line.startswith("swapvec: ")]


def test_a_second_parquet_writer_is_refused_at_once_naming_the_first(spark, seed_files, monkeypatch, capsys):
    """Parquet has no log to catch two writers when they commit: a run takes the output path's lock before its first
    write and holds it to its end. A second run while it is held fails at once, with a retry's code, naming the first;
    nothing of the first's is touched, and the refusal is recorded in runs."""
    root = seed_files
    execute(spark, load_config(None, _settings(root, "parquet")), "tokenize")
    before = _run_ids(root, "sentences", "parquet")
    lock = _lock(root)  # held by a live process of this machine (this one), beating now
    code, said = _tokenize(spark, root, monkeypatch, capsys)
    assert code == 1 and len(said) == 1, said
    assert "is being written by run their-run" in said[0] and "one writer at a time" in said[0], said
    assert _run_ids(root, "sentences", "parquet") == before and lock.exists()
    assert [r["status"] for r in _read(root, "runs", "parquet").to_pylist()].count("failed") == 1


@pytest.mark.parametrize(
    "holder",
    [
        {"pid": 2**22 + 12345},  # this machine, a process that has ended (pids stop below 2**22)
        {"host": "elsewhere", "beat": time.time() - 3600},  # another machine, silent for an hour
    ],
    ids=["its-process-ended", "silent-past-the-stale-time"],
)
def test_a_lock_whose_writer_stopped_is_taken_over(spark, seed_files, monkeypatch, capsys, holder):
    """A writer killed with its lock held (SIGKILL, a lost machine) must not block the output path for ever."""
    root = seed_files
    lock = _lock(root, **holder)
    code, said = _tokenize(spark, root, monkeypatch, capsys)
    assert code == 0, said
    assert not lock.exists()  # released at the end
    assert len(_run_ids(root, "sentences", "parquet")) == 1


def test_a_failed_parquet_run_releases_its_lock(spark, seed_files, monkeypatch):
    from swapvec.store import Store

    root = seed_files
    write = Store.write

    def failing(self, df, table, **kwargs):  # the table's write fails, as a full disk would
        if table == "sentences":
            raise OSError("No space left on device")
        return write(self, df, table, **kwargs)

    monkeypatch.setattr(Store, "write", failing)
    with pytest.raises(OSError, match="No space left"):
        execute(spark, load_config(None, _settings(root, "parquet")), "tokenize")
    assert not (root / "out" / "_swapvec.lock").exists()
    assert [r["status"] for r in _read(root, "runs", "parquet").to_pylist()] == ["failed"]


#: Runs in a row: past Delta's checkpoint interval, where a log that grows without bound or a VACUUM that misreads a
#: checkpointed log would show. The interval is lowered from Delta's 10 commits to CHECKPOINT_INTERVAL for the test's
#: tables, so that fewer runs (each a few seconds) get there.
RUNS_IN_A_ROW, CHECKPOINT_INTERVAL = 2, 2
DEFAULT_INTERVAL = "spark.databricks.delta.properties.defaults.checkpointInterval"


@pytest.fixture
def short_checkpoint_interval(spark):
    spark.conf.set(DEFAULT_INTERVAL, str(CHECKPOINT_INTERVAL))
    yield
    spark.conf.unset(DEFAULT_INTERVAL)


def test_runs_in_a_row_grow_one_version_each_with_bounded_files(spark, seed_files, short_checkpoint_interval):
    root = seed_files
    settings = [*_settings(root, "delta"), "output.retention_hours=0"]
    execute(spark, load_config(None, settings), "tokenize")
    table = root / "out" / "sentences"
    start = DeltaTable(str(table)).version()
    files_per_version = len(DeltaTable(str(table)).file_uris())
    for _ in range(RUNS_IN_A_ROW):
        execute(spark, load_config(None, settings), "tokenize")
    assert DeltaTable(str(table)).version() == start + RUNS_IN_A_ROW
    assert DeltaTable(str(table)).metadata().configuration["delta.checkpointInterval"] == str(CHECKPOINT_INTERVAL)
    assert list((table / "_delta_log").glob("*.checkpoint.parquet"))  # the log was checkpointed on the way
    data_files = [p for p in table.glob("*.parquet")]
    assert len(data_files) == files_per_version  # older versions' files vacuumed
    runs = DeltaTable(str(root / "out" / "runs")).to_pyarrow_table()
    assert runs.num_rows == RUNS_IN_A_ROW + 1 and set(runs.column("status").to_pylist()) == {"succeeded"}


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: its id -> (its parent's id, its start time and id as one key), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] not in ("Z", "X"):
            found[int(entry.name)] = (int(fields[1]), f"{entry.name}:{fields[19]}")
    return found


def _descendants(root: int) -> dict[str, str]:
    """The live descendants of ``root``: start key -> command line."""
    processes, found, todo = _processes(), {}, [root]
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found[processes[child][1]] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            todo.append(child)
    return found


def _still_running(keys: set[str]) -> dict[str, str]:
    """Those of the processes named by start keys that still run (the same process: its id and start time)."""
    alive = {key for _, key in _processes().values()}
    return {key: Path(f"/proc/{key.split(':')[0]}/cmdline").read_text(errors="replace") for key in keys & alive}


#: When a stop is sent, as a user or a scheduler sends it: the moment is found by the processes swapvec runs or by
#: what it logs.
MOMENTS = {
    "spark-submit starting": lambda lines, seen: bool(seen),
    "driver JVM starting": lambda lines, seen: any("deploy.SparkSubmit" in c for c in seen.values()),
    "session up": lambda lines, seen: any("session.local" in line for line in lines),
    "training": lambda lines, seen: any("stage.start stage=train" in line for line in lines),
}


def _stopped(root: Path, settings: list[str], moment: str, signum: int, group: bool = False):
    """Run `swapvec run`, send ``signum`` at ``moment`` (to the swapvec process alone, or with ``group`` to its process
    group, as a terminal's Ctrl-C), and return its exit code, its stderr lines, and the processes started under it
    that outlived it (after which they are killed, so that a failure leaves nothing behind)."""
    import threading

    proc = subprocess.Popen(
        [str(BIN / "swapvec"), "run", *[a for s in settings for a in ("--set", s)]],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 300
    while proc.poll() is None and not MOMENTS[moment](lines, seen) and time.monotonic() < deadline:
        seen.update(_descendants(proc.pid))
        time.sleep(0.01)
    if moment == "training":
        time.sleep(1)  # inside the rounds
    seen.update(_descendants(proc.pid))
    assert proc.poll() is None, f"the run ended before {moment}: " + "".join(lines)[-2000:]
    (os.killpg if group else os.kill)(proc.pid, signum)
    while proc.poll() is None:  # the processes it starts while it stops are its too
        seen.update(_descendants(proc.pid))
        time.sleep(0.01)
    left = _still_running(set(seen))
    for key in left:
        os.kill(int(key.split(":")[0]), signal.SIGKILL)
    reader.join(timeout=30)
    return proc.returncode, lines, left


STOPS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


@pytest.mark.parametrize("moment", ["spark-submit starting", "driver JVM starting", "session up"])
@pytest.mark.parametrize(("signum", "code", "word"), STOPS)
def test_a_stop_to_swapvec_alone_leaves_no_jvm_at_any_moment(spark, seed_files, moment, signum, code, word):
    """A stop sent to the swapvec process alone (a scheduler's SIGTERM, a `kill -INT`) while its JVM starts left the
    JVM running, orphaned, for minutes, after a Java stack (the connection file's folder gone). Now the start is
    killed, or the JVM stopped with the command; a stop once the session is up is recorded in `runs` as a stop."""
    root = seed_files
    # Delta tables already there: the session's first checks of them (its first Spark SQL) take seconds, the window
    # between the session's start and the run's in which a SIGTERM left no `runs` row.
    settings = [*_settings(root, "delta"), "evaluate.baseline=false"]
    if moment == "session up":
        execute(spark, load_config(None, settings), "tokenize")
    returncode, lines, left = _stopped(root, settings, moment, signum)
    assert not left, f"processes outlived swapvec: {left}"
    assert returncode == code, "".join(lines)[-3000:]
    said = [line for line in lines if line.startswith("swapvec: ")]
    assert said == [f"swapvec: {word}\n"], "".join(lines)[-3000:]
    said = "".join(lines)
    assert "Traceback" not in said and not [line for line in lines if line.startswith("\tat ")], said[-3000:]
    if moment == "session up":
        runs = DeltaTable(str(root / "out" / "runs")).to_pyarrow_table().to_pylist()
        stopped = [r for r in runs if r["status"] == "failed"]
        assert [r["error"] for r in stopped] == [f"{word} ({signal.Signals(signum).name})"], runs


@pytest.mark.parametrize(
    ("signum", "code", "word", "group"),
    [
        (signal.SIGINT, 130, "interrupted", True),  # a terminal's Ctrl-C, to the process group
        (signal.SIGINT, 130, "interrupted", False),  # kill -INT to swapvec alone
        (signal.SIGTERM, 143, "terminated", False),  # a scheduler stopping the job
    ],
)
@pytest.mark.spark
def test_a_run_stopped_in_training_exits_128_plus_the_signal_in_one_line(seed_files, signum, code, word, group):
    """Ctrl-C reaches the whole process group; pyspark cancels the jobs, and a round blocked on its job's result
    raised the cancellation (exit 1, "failed: Py4JJavaError", a retry's code) instead of the interrupt, and `runs`
    recorded SPARK_JOB_CANCELLED. SIGTERM ended the process with no message and no ``runs`` row; it now stops the
    run as Ctrl-C does. Either way the JVM ends with swapvec, and `runs` says which stop it was."""
    root = seed_files
    # gensim, whose 30 rounds last far longer than the second the interrupt waits (MLlib's one epoch does not).
    # Parquet: no table is written before training, and the failed run's row is then appended without Delta.
    settings = [*_settings(root, "parquet"), "train.backend=gensim", "train.sync_rounds=30", "evaluate.baseline=false"]
    returncode, lines, left = _stopped(root, settings, "training", signum, group=group)
    assert not left, f"processes outlived swapvec: {left}"
    assert returncode == code, "".join(lines)[-2000:]
    said = [line for line in lines if line.startswith("swapvec: ")]
    assert said == [f"swapvec: {word}\n"] and "Traceback" not in "".join(lines), "".join(lines)[-2000:]
    runs = pyarrow.parquet.read_table(root / "out" / "runs").to_pylist()
    assert [(r["status"], r["error"]) for r in runs] == [("failed", f"{word} ({signal.Signals(signum).name})")], runs

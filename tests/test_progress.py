"""Progress lines: tasks done of total on a terminal, nothing elsewhere."""

from __future__ import annotations

import io
import re
import time

from pyspark.sql.connect.shell.progress import StageInfo

from swapvec.log import StatusLine
from swapvec.progress import ConnectHandler, progress, step


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _slow_job(spark) -> None:
    def slow(batches):
        for batch in batches:
            time.sleep(0.4)
            yield batch

    spark.range(0, 8, numPartitions=8).mapInArrow(slow, "id long").count()


def test_a_terminal_shows_tasks_done_of_total(spark):
    terminal = FakeTerminal()
    with progress(spark, "train", stream=terminal, interval=0.05):
        _slow_job(spark)
    shown = terminal.getvalue()
    counts = [tuple(map(int, m)) for m in re.findall(r"train: Spark job (\d+): tasks (\d+)/(\d+)", shown)]
    assert counts, shown
    assert any(total == 8 for _, _, total in counts), counts  # the 8 slow tasks (then count()'s final 1-task stage)
    assert all(0 <= done <= total for _, done, total in counts), counts
    # Jobs are numbered in the stage; a later job never shows a smaller number (the line never jumps back).
    assert [job for job, _, _ in counts] == sorted(job for job, _, _ in counts) and counts[0][0] == 1
    assert shown.endswith("\r")  # the line is blanked when the stage ends


def test_no_terminal_no_output(spark, monkeypatch):
    stream = io.StringIO()
    with progress(spark, "train", stream=stream, interval=0.05):
        _slow_job(spark)
    assert stream.getvalue() == ""
    terminal = FakeTerminal()
    with progress(spark, "train", stream=terminal, interval=0.05, enabled=False):
        _slow_job(spark)
    monkeypatch.setenv("SWAPVEC_PROGRESS", "0")
    with progress(spark, "train", stream=terminal, interval=0.05):
        _slow_job(spark)
    assert terminal.getvalue() == ""


def test_the_connect_handler_draws_the_operations_tasks():
    terminal = FakeTerminal()
    handler = ConnectHandler(StatusLine(terminal, "similarity"))
    stages = [StageInfo(1, 4, 4, 0, True), StageInfo(2, 8, 3, 0, False)]
    handler(stages=stages, inflight_tasks=2, operation_id="op", done=False)
    handler(stages=stages, inflight_tasks=0, operation_id="op", done=True)
    assert terminal.getvalue() == "\rsimilarity: Spark job 1: tasks 7/12"


def test_a_stage_names_its_step_on_the_line(spark):
    terminal = FakeTerminal()
    with progress(spark, "train", stream=terminal, interval=0.05):
        step("round 2/5")
        _slow_job(spark)
    step("round 3/5")  # after the stage: nothing is drawn, nothing fails
    assert re.search(r"train: round 2/5, Spark job 1: tasks \d/8", terminal.getvalue()), terminal.getvalue()

"""Progress lines: tasks done of total on a terminal, nothing elsewhere."""

from __future__ import annotations

import io
import re
import time

from pyspark.sql.connect.shell.progress import StageInfo

from swapvec.log import StatusLine
from swapvec.progress import ConnectHandler, progress


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
    counts = [(int(done), int(total)) for done, total in re.findall(r"train: tasks (\d+)/(\d+)", shown)]
    assert counts, shown
    assert any(total == 8 for _, total in counts), counts  # the 8 slow tasks (then count()'s final 1-task stage)
    assert all(0 <= done <= total for done, total in counts), counts
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
    assert terminal.getvalue() == "\rsimilarity: tasks 7/12"

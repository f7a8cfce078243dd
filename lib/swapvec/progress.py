"""Progress of long stages on a terminal: one line on stderr, ``train: round 3/10, Spark job 4: tasks 1/2``,
redrawn in place. Jobs are numbered within the stage, so the tasks start again at 0 for the next job; a stage with
steps of its own (training's rounds) names the current one with :func:`step`.

Classic Spark's status tracker (``compat.active_tasks``: the active stages' tasks done of total) is polled from a
daemon thread; Spark Connect pushes its progress to a handler (``spark.registerProgressHandler``). Nothing is written
when the stream is not a terminal (logs, CI, a scheduler), when ``SWAPVEC_PROGRESS=0``, or when ``log.progress`` is
false.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from swapvec.compat import active_tasks, is_classic
from swapvec.log import StatusLine

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Seconds between two polls of Spark's status tracker.
POLL_SECONDS = 0.5
#: The lines being drawn (one a stage; a list, as stages do not nest but a test may draw two).
_lines: list[StatusLine] = []


def step(text: str | None) -> None:
    """Name the step a stage is at (``round 3/10``) on its progress line, if one is drawn; None clears it."""
    for line in _lines:
        line.step = text


def wanted(stream: TextIO, enabled: bool = True) -> bool:
    """True when progress should be drawn on ``stream``: enabled, not switched off by the environment, a terminal."""
    if not enabled or os.environ.get("SWAPVEC_PROGRESS") == "0":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _poll(spark: SparkSession, line: StatusLine, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            tasks = active_tasks(spark)
        except Exception:  # the session is stopping: progress is never worth an error
            return
        if tasks is not None:
            line.draw(*tasks)


class ConnectHandler:
    """A Spark Connect progress handler that draws the tasks done of total of the current operation."""

    def __init__(self, line: StatusLine) -> None:
        self.line = line

    def __call__(self, stages: Iterable[Any] | None, inflight_tasks: int, operation_id: str | None, done: bool) -> None:
        stages = list(stages or [])
        total = sum(s.num_tasks for s in stages)
        if total and not done:
            self.line.draw(sum(s.num_completed_tasks for s in stages), total, operation_id)


@contextlib.contextmanager
def progress(
    spark: SparkSession,
    label: str,
    *,
    enabled: bool = True,
    stream: TextIO | None = None,
    interval: float = POLL_SECONDS,
) -> Iterator[None]:
    """Show the tasks done of total of the Spark jobs run inside the block, on a terminal only.

    Parameters
    ----------
    spark
        The session whose jobs are shown (classic or Spark Connect).
    label
        What the line is about, e.g. the stage's name.
    enabled
        False: show nothing (``log.progress``).
    stream
        Where to draw; ``sys.stderr`` when None. Nothing is drawn unless it is a terminal.
    interval
        Seconds between polls of the status tracker (classic Spark).

    Examples
    --------
    >>> with progress(spark, "train"):  # doctest: +SKIP
    ...     model = fit(df)
    """
    stream = stream if stream is not None else sys.stderr
    if not wanted(stream, enabled):
        yield
        return
    line = StatusLine(stream, label)
    _lines.append(line)
    try:
        yield from _drawn(spark, line, interval)
    finally:
        _lines.remove(line)


def _drawn(spark: SparkSession, line: StatusLine, interval: float) -> Iterator[None]:
    if is_classic(spark):
        stop = threading.Event()
        poller = threading.Thread(
            target=_poll, args=(spark, line, stop, interval), name="swapvec-progress", daemon=True
        )
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join(timeout=max(1.0, 2 * interval))
            line.clear()
        return
    handler = ConnectHandler(line)
    spark.registerProgressHandler(handler)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            spark.removeProgressHandler(handler)
        line.clear()

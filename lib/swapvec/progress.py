"""Progress of long stages on a terminal: one line on stderr, ``train: tasks 12/40``, redrawn in place.

Classic Spark is polled through ``sparkContext.statusTracker()`` (the active stages' tasks done of total) from a
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

if TYPE_CHECKING:  # imported lazily: the logging handler uses clear_line before Spark is needed
    from pyspark.sql import SparkSession

#: Seconds between two polls of Spark's status tracker.
POLL_SECONDS = 0.5

_lock = threading.Lock()
#: Streams on which a progress line is drawn now, with its width: a log record clears it first (``clear_line``).
_shown: dict[int, int] = {}


def wanted(stream: TextIO, enabled: bool = True) -> bool:
    """True when progress should be drawn on ``stream``: enabled, not switched off by the environment, a terminal."""
    if not enabled or os.environ.get("SWAPVEC_PROGRESS") == "0":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Line:
    """One status line on a stream, redrawn in place with a carriage return."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label

    def draw(self, done: int, total: int) -> None:
        text = f"{self.label}: tasks {done}/{total}"
        with _lock:
            width = _shown.get(id(self.stream), 0)
            self.stream.write("\r" + text.ljust(width))
            self.stream.flush()
            _shown[id(self.stream)] = len(text)

    def clear(self) -> None:
        clear_line(self.stream)


def clear_line(stream: TextIO) -> None:
    """Blank the progress line on ``stream``, if one is drawn, so that the next write starts a clean line."""
    with _lock:
        width = _shown.pop(id(stream), 0)
        if width:
            stream.write("\r" + " " * width + "\r")
            stream.flush()


def _classic_tasks(spark: SparkSession) -> tuple[int, int] | None:
    """Tasks done and in all of the active stages, from the status tracker; None when no stage is running."""
    tracker = spark.sparkContext.statusTracker()
    stages = [tracker.getStageInfo(i) for i in tracker.getActiveStageIds()]
    stages = [s for s in stages if s is not None]
    if not stages:
        return None
    return sum(s.numCompletedTasks for s in stages), sum(s.numTasks for s in stages)


def _poll(spark: SparkSession, line: _Line, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            tasks = _classic_tasks(spark)
        except Exception:  # the session is stopping: progress is never worth an error
            return
        if tasks is not None:
            line.draw(*tasks)


class ConnectHandler:
    """A Spark Connect progress handler that draws the tasks done of total of the current operation."""

    def __init__(self, line: _Line) -> None:
        self.line = line

    def __call__(self, stages: Iterable[Any] | None, inflight_tasks: int, operation_id: str | None, done: bool) -> None:
        stages = list(stages or [])
        total = sum(s.num_tasks for s in stages)
        if total and not done:
            self.line.draw(sum(s.num_completed_tasks for s in stages), total)


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
    from swapvec.session import is_classic

    line = _Line(stream, label)
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

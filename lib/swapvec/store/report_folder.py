"""The report's folder, ``<output.path>/report``: who owns it, and how a new report replaces the last one.

The folder is replaced as a whole (the pages are drawn beside it, then renamed in), so a reader never sees half a
report. Only a folder swapvec made is replaced: one that holds nothing but a report's files and either swapvec's
marker file or the pages of a report written before the marker; anything else is refused, before any work by
:func:`check_report_folder` and again at the swap. What the pages say is :mod:`swapvec.report`'s.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from swapvec.errors import BadInput
from swapvec.log import event, get_logger
from swapvec.store.delta import foreign_table_message
from swapvec.store.paths import is_uri, local_path

_log = get_logger("report")

#: The file that marks a report folder as swapvec's, so that a rerun may replace it.
MARKER = ".swapvec-report"
#: The names swapvec writes in a report folder (older reports have PNG plots); a folder with any other entry holds
#: someone's data.
_REPORT_FILE = re.compile(r"report\.md|report\.html|(ranks|group-\d+)\.(svg|png)|" + re.escape(MARKER))


def made_by_swapvec(folder: Path, unfinished: bool = False) -> bool:
    """True when a rerun may replace ``folder``: it holds only the files a report is made of, and swapvec's marker or
    the pages of a report from before the marker (``unfinished``: pages a killed run left half drawn, unmarked). An
    empty folder holds nothing to lose; a link or a file is never swapvec's."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    if not entries:
        return True
    if any(e.is_symlink() or not e.is_file() or not _REPORT_FILE.fullmatch(e.name) for e in entries):
        return False
    return unfinished or (folder / MARKER).is_file() or _earlier_report(folder)


def _earlier_report(folder: Path) -> bool:
    """True when ``folder`` holds the pages :func:`swapvec.report.render` wrote before reports carried the marker:
    report.md opening with the ``# swapvec report`` heading, and report.html whose title starts ``swapvec report``."""
    md, page = folder / "report.md", folder / "report.html"
    if not (md.is_file() and page.is_file()):
        return False
    with md.open(encoding="utf-8", errors="replace") as handle:
        heading = handle.readline()
    with page.open(encoding="utf-8", errors="replace") as handle:
        head = handle.read(400)  # the title comes right after the doctype and charset
    return heading.startswith("# swapvec report") and "<title>swapvec report" in head


def check_report_folder(output_path: str) -> None:
    """Refuse, before any work, an output path whose ``report`` folder swapvec did not make; the report is written
    last, and a refusal there would come after the whole run's training.

    Raises
    ------
    BadInput
        ``<output.path>/report`` exists and is not :func:`made_by_swapvec`.
    """
    if is_uri(output_path):
        return  # no report is written there
    folder = local_path(output_path) / "report"
    if (folder.exists() or folder.is_symlink()) and not made_by_swapvec(folder):
        raise BadInput(foreign_table_message(str(folder), made="a report folder"))


#: The folders :func:`publish_report` makes beside ``report``: the pages being drawn, and the last report set aside.
_STAGING = re.compile(r"\.report-(old-)?[0-9a-f]{8}")


def remove_stale_staging(base_dir: Path, before: float) -> None:
    """Remove what killed runs left beside the report (a SIGKILL during the writes leaves a run's
    ``.report-XXXXXXXX``): only folders named so, holding nothing but a report's files (half drawn, maybe), changed
    before ``before`` (the finding run's start, in epoch seconds), and locked by no live :func:`publish_report`."""
    for folder in sorted(base_dir.glob(".report-*")):
        try:
            if _STAGING.fullmatch(folder.name) and made_by_swapvec(folder, True) and folder.lstat().st_mtime < before:
                handle = _locked(folder, wait=False)
                shutil.rmtree(folder)
                os.close(handle)
                event(_log, "report.staging_removed", folder=folder.name)
        except (BlockingIOError, FileNotFoundError):  # a live run's (or a lock no one can tell), or gone meanwhile
            continue


def _locked(folder: Path, wait: bool = True) -> int:
    """A handle of ``folder`` holding its ``flock``, which the system drops when its holder dies, however. Without
    ``wait``, BlockingIOError when it is held, or when the file system takes no such lock (a writer goes on)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if not wait:
            os.close(handle)
            raise BlockingIOError(str(exc)) from None
    return handle


def _swap_in(staging: Path, final: Path) -> None:
    """Rename ``staging`` to ``final``; a report already there is renamed aside first and checked where it now lies, so
    that a file someone put in it during the run is seen: it is then put back and refused, never deleted."""
    old = final.parent / f".report-old-{uuid.uuid4().hex[:8]}"
    if final.exists() or final.is_symlink():
        os.replace(final, old)
        if not made_by_swapvec(old):
            os.replace(old, final)
            raise BadInput(foreign_table_message(str(final), made="a report folder"))
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def publish_report(
    output_path: str,
    draw: Callable[[Path], None],
    ready: Callable[[], None] | None = None,
    started: float | None = None,
) -> Path | None:
    """Draw a report with ``draw`` (given an empty folder) and make it ``<output_path>/report``; returns report.md's
    path, or None for a URI output path, where no report is written.

    A ``report`` folder already there is replaced only when swapvec made it (:func:`made_by_swapvec`).

    Parameters
    ----------
    ready
        Called once the pages are drawn, before they replace the folder's: what must succeed first (the run's
        writes); when it raises, the pages are dropped and the earlier report stays.
    started
        When the run began (epoch seconds; None: now): what killed runs left before it goes
        (:func:`remove_stale_staging`).

    Raises
    ------
    BadInput
        ``<output_path>/report`` holds data swapvec did not write; it is left as it was.
    """
    if is_uri(output_path):
        event(_log, "report.skipped", reason="output.path is a URI; the report is written to local folders only")
        return None
    check_report_folder(output_path)  # before the plots are drawn
    base_dir = local_path(output_path)
    base_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(base_dir, time.time() if started is None else started)
    staging = base_dir / f".report-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    final = base_dir / "report"
    drawing, lock = time.monotonic(), _locked(staging)  # no run takes a live run's folder for a dead one's
    try:
        draw(staging)
        # The report stage's time includes waiting for the writes (``ready``); this is the drawing's own.
        event(_log, "report.drawn", seconds=round(time.monotonic() - drawing, 2))
        (staging / MARKER).write_text(
            "Written by swapvec, which replaces this folder at each report; files added here stop that.\n",
            encoding="utf-8",
        )
        if ready is not None:
            ready()
        _swap_in(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)
    event(_log, "report.written", path=str(final / "report.md"))
    return final / "report.md"

"""Parquet tables made atomic: each write goes to its own version folder, and one ``rename`` switches a link to it.

``<output.path>/<table>`` is a symbolic link to ``_versions/<table>/<version>``; plain readers (Spark, pyarrow,
pandas) read it as ordinary Parquet. ``rename(2)`` of a link is atomic on a local or POSIX-mounted file system, so a
reader sees the old version or the new one. Object stores have no atomic rename: swapvec refuses Parquet output on
a URI (use Delta there).

An append (the ``runs`` log) never rewrites: the link points at one folder, ``_versions/<table>/log``, and each append
renames its own new file into it. Concurrent appends cannot lose each other's rows (there is no read-modify-write),
and nothing is pruned from the log. A table from before this layout (a version folder) is moved into the log once,
under an exclusive lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from swapvec.errors import BadInput
from swapvec.store.delta import foreign_table_message

#: Versions always kept besides the current one; older ones go once they are older than ``output.retention_hours``
#: (as Delta's VACUUM), so that a reader that resolved the link before a swap, or reads a run's set by its
#: ``table_versions``, finishes.
VERSIONS_KEPT = 2


def is_table(link: Path) -> bool:
    return link.is_symlink() and link.exists()


def foreign(link: Path) -> bool:
    """True when something other than a swapvec Parquet table (a link into its own ``_versions`` folder) is at
    ``link``."""
    if link.is_symlink():
        target = Path(os.readlink(link))
        return target.is_absolute() or target.parts[:2] != ("_versions", link.name)
    return link.exists()


def read(spark: SparkSession, link: Path) -> DataFrame:
    # The version folder, not the link: a swap during a long read must not mix two versions.
    target = link.resolve()
    reader = spark.read
    if target.name == "log":
        # Only an append log mixes files written by versions with more columns; merging schemas reads every file's
        # footer, which a version folder (one write, one schema) does not need.
        reader = reader.option("mergeSchema", "true")
    return reader.parquet(str(target))


def write(df: DataFrame, link: Path, mode: str, retention_hours: float = 168.0) -> str:
    """``overwrite``: write ``df`` as a new version and switch ``link`` to it; returns the version's folder name
    (under ``_versions/<table>``). ``append``: add ``df``'s rows to the table's log (module docstring); returns the
    new file's name."""
    versions = link.parent / "_versions" / link.name
    if foreign(link):
        raise BadInput(foreign_table_message(str(link)))
    if mode not in ("append", "overwrite"):
        raise ValueError(f"mode {mode!r}")
    versions.mkdir(parents=True, exist_ok=True)
    if mode == "append":
        return _append(df, link, versions)
    target = versions / _version_name()
    df.write.parquet(str(target))
    _switch(link, target)
    _prune(versions, keep=target, hours=retention_hours)
    return target.name


#: The names :func:`_version_name` gives, now and before it counted microseconds (``20240101T120000-1a2b3c4d``).
_VERSION = re.compile(r"\d{8}T\d{6}(\.\d{6})?-[0-9a-f]{8}")


def _version_name() -> str:
    """A name that sorts in the order of writing (microseconds; the older rule, to the second, sorted two writes of
    one second by their random suffix, and pruning could take the newer one)."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S.%f')}-{uuid.uuid4().hex[:8]}"


def _switch(link: Path, target: Path) -> None:
    tmp_link = link.parent / f".{link.name}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(os.path.relpath(target, link.parent), tmp_link)
    os.replace(tmp_link, link)  # rename(2): readers see the old target or the new one


def _append(df: DataFrame, link: Path, versions: Path) -> str:
    """Add ``df``'s rows to the table's log folder as new files; returns the name of the first file added."""
    log = versions / "log"
    if not (link.is_symlink() and link.resolve() == log.resolve() and log.is_dir()):
        with _locked(versions):  # one writer moves an older layout's rows into the log, the others wait
            if link.exists() and link.resolve() != log.resolve():
                _add_files(read(df.sparkSession, link).unionByName(df.limit(0), allowMissingColumns=True), log)
            log.mkdir(exist_ok=True)
            if not (link.is_symlink() and link.resolve() == log.resolve()):
                _switch(link, log)
    return _add_files(df, log)[0]


def _add_files(df: DataFrame, log: Path) -> list[str]:
    """Write ``df`` beside the log, then rename each of its files into it (one rename a file: atomic)."""
    staging = log.parent / f".append-{uuid.uuid4().hex}"
    df.coalesce(1).write.parquet(str(staging))
    log.mkdir(exist_ok=True)
    names = []
    for part in sorted(staging.glob("part-*.parquet")):
        name = f"{_version_name()}.parquet"
        os.replace(part, log / name)
        names.append(name)
    shutil.rmtree(staging, ignore_errors=True)
    return names


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(versions: Path, keep: Path, hours: float) -> None:
    """Delete the version folders past ``VERSIONS_KEPT`` and the retention; only those :func:`_version_name` named
    (anything else there, such as a folder someone put beside them, swapvec did not write and never deletes)."""
    old = sorted(
        p for p in versions.iterdir() if p != keep and _VERSION.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
    )
    cutoff = time.time() - hours * 3600
    for stale in old[: max(0, len(old) - VERSIONS_KEPT)]:
        if stale.stat().st_mtime < cutoff:
            shutil.rmtree(stale, ignore_errors=True)

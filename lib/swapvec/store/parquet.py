"""Parquet tables made atomic, keyed and single-writer, on a local or mounted disk or on an object store.

Under ``output.path``:

* ``_versions/<table>/<version>/``: one write of a table (its part files), with ``_swapvec.json`` saying which run
  wrote it and with which run key. Readers skip files whose names start with ``_``.
* The current version: on a local or mounted file system, ``<table>`` is a symbolic link to the version folder,
  switched by one ``rename(2)``, so that plain readers (Spark, pyarrow, pandas) read ``<table>`` as ordinary Parquet.
  Object stores have no links and no atomic rename: there ``_versions/<table>/CURRENT`` names the current version,
  one small object written in one request, which a reader sees whole, old or new; ``<table>`` itself holds nothing.
* ``_versions/runs/log/``: the ``runs`` table. An append never rewrites: each adds its own file (locally renamed in
  whole), so concurrent appends cannot lose each other's rows.
* ``_swapvec.lock``: the writer's lock. Delta detects concurrent writers when they commit; Parquet has no log to do
  so, so a command takes the lock before its first write and holds it to its end: a second command on the same
  output path is refused at once, naming the first. A lock whose writer stopped without releasing it (killed) is
  taken over: at once on the same machine when its process is gone, otherwise once its heartbeat is older than
  :data:`STALE_AFTER`. On S3 two commands starting in the same instant can both take it (the connector checks, then
  writes); on a local disk, HDFS, GCS and ABFS they cannot.

With a run key, a write whose key is not newer than the current version's (same table) is skipped, as Delta's
idempotent writes are: a backfill of an older date never replaces a newer date's table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from pyspark.sql import DataFrame, SparkSession

from swapvec.compat import hadoop_files
from swapvec.errors import BadInput, SwapvecError
from swapvec.store.delta import Txn, foreign_table_message
from swapvec.store.paths import is_uri, local_path, table_path

#: Versions always kept besides the current one; older ones go once they are older than ``output.retention_hours``
#: (as Delta's VACUUM), so that a reader that resolved the current version before a switch, or reads a run's set by
#: its ``table_versions``, finishes.
VERSIONS_KEPT = 2
#: A lock whose holder has given no sign of life for this long is taken over; the holder renews it every
#: :data:`HEARTBEAT` seconds while it runs.
STALE_AFTER = 600.0
HEARTBEAT = 30.0
LOCK = "_swapvec.lock"
#: The current version's name, on an object store.
CURRENT = "CURRENT"
#: Who wrote a version, inside its folder.
WRITTEN_BY = "_swapvec.json"
#: The names :func:`_version_name` gives, now and before it counted microseconds (``20240101T120000-1a2b3c4d``).
_VERSION = re.compile(r"(\d{8}T\d{6})(\.\d{6})?-[0-9a-f]{8}")


class Files(Protocol):
    """Small files beside the tables: the current version's name, who wrote a version, the lock."""

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def read_text(self, path: str) -> str | None: ...

    def write_text(self, path: str, text: str) -> None: ...

    def create_new(self, path: str, text: str) -> bool: ...

    def list_dirs(self, path: str) -> list[tuple[str, float]]: ...

    def delete(self, path: str) -> None: ...


class LocalFiles:
    """:class:`Files` on a local or mounted file system: writes land whole by a rename, a new file by ``O_EXCL``."""

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_text(self, path: str, text: str) -> None:
        tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
        Path(tmp).write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def create_new(self, path: str, text: str) -> bool:
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        return True

    def list_dirs(self, path: str) -> list[tuple[str, float]]:
        folder = Path(path)
        if not folder.is_dir():
            return []
        return [(p.name, p.stat().st_mtime) for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]

    def delete(self, path: str) -> None:
        target = Path(path)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)


class WriterBusy(SwapvecError):
    """Another command holds the output path's lock (exit 1: a retry once it is done succeeds)."""


class Tables:
    """swapvec's Parquet tables under one output path (module docstring).

    Parameters
    ----------
    base
        ``output.path``: a local path or a URI.
    spark
        The session that reads and writes; may be None for the checks made before a session starts (local only).
    """

    def __init__(self, base: str, spark: SparkSession | None) -> None:
        self.local = not is_uri(base)
        self.base = str(local_path(base)) if self.local else base.rstrip("/")
        self.spark = spark
        self._files: Files | None = LocalFiles() if self.local else None

    @property
    def files(self) -> Files:
        if self._files is None:
            found = hadoop_files(self._session(), self.base)
            if found is None:
                raise BadInput(
                    f"output.format=parquet under {self.base} needs classic Spark (the driver's Hadoop file system "
                    "writes each table's pointer and the writer's lock); on Spark Connect use output.format=delta"
                )
            self._files = found
        return self._files

    def _session(self) -> SparkSession:
        if self.spark is None:
            raise RuntimeError("Parquet tables under a URI are reached through a session")
        return self.spark

    # ------------------------------------------------------------------------------------------------ where
    def path(self, table: str) -> str:
        return table_path(self.base, table)

    def versions(self, table: str) -> str:
        return f"{self.base}/_versions/{table}"

    def version_path(self, table: str, version: str) -> str:
        """Where one version of ``table`` is (the name ``runs.details.table_versions`` records)."""
        return f"{self.versions(table)}/{version}"

    def current(self, table: str) -> str | None:
        """The name of the table's current version folder (``log`` for the runs table), or None when there is no
        table."""
        if self.local:
            link = Path(self.path(table))
            if not (link.is_symlink() and link.exists()):
                return None
            return link.resolve().name
        text = self.files.read_text(f"{self.versions(table)}/{CURRENT}")
        return json.loads(text)["version"] if text else None

    def is_table(self, table: str) -> bool:
        return self.current(table) is not None

    def refusal(self, table: str) -> str | None:
        """Why nothing may be written at ``table`` (something swapvec did not write is there), or None."""
        if self.local:
            link = Path(self.path(table))
            if link.is_symlink():
                target = Path(os.readlink(link))
                ours = not target.is_absolute() and target.parts[:2] == ("_versions", link.name)
                return None if ours else foreign_table_message(str(link))
            return foreign_table_message(str(link)) if link.exists() else None
        # On an object store swapvec writes nothing at <table>; whatever is there is someone else's.
        return foreign_table_message(self.path(table)) if self.files.exists(self.path(table)) else None

    def holds_delta(self, table: str) -> bool:
        """True when a Delta table is at ``table``'s path (the same output path run before as Delta)."""
        return self.files.is_dir(f"{self.path(table)}/_delta_log")

    # ------------------------------------------------------------------------------------------------ read
    def read(self, table: str, version: str | None = None) -> DataFrame:
        """The table's current version (or ``version``). The version folder, not the link: a switch during a long
        read must not mix two versions."""
        version = version or self.current(table)
        reader = self._session().read
        if version == "log":
            # Only an append log mixes files written by versions with more columns; merging schemas reads every
            # file's footer, which a version folder (one write, one schema) does not need.
            reader = reader.option("mergeSchema", "true")
        return reader.parquet(self.version_path(table, version))

    def written_by(self, table: str) -> dict[str, Any] | None:
        """Who wrote the table's current version (run id, run key), or None."""
        version = self.current(table)
        if version is None:
            return None
        text = self.files.read_text(f"{self.version_path(table, version)}/{WRITTEN_BY}")
        return json.loads(text) if text else None

    # ------------------------------------------------------------------------------------------------ write
    def write(self, df: DataFrame, table: str, mode: str, retention_hours: float, txn: Txn | None = None) -> str | None:
        """``overwrite``: write ``df`` as a new version and make it current; returns its name, or None when ``txn``'s
        key is not newer than the current version's (nothing written). ``append``: add ``df``'s rows to the table's
        log; returns the new file's name."""
        refusal = self.refusal(table)
        if refusal:
            raise BadInput(refusal)
        if mode not in ("append", "overwrite"):
            raise ValueError(f"mode {mode!r}")
        if mode == "append":
            return self._append(df, table)
        if txn is not None:
            before = self.written_by(table) or {}
            if before.get("app_id") == txn.app_id and before.get("txn_version", -1) >= txn.version:
                return None
        name = _version_name()
        target = self.version_path(table, name)
        df.write.parquet(target)
        by = {"app_id": txn.app_id, "txn_version": txn.version, **txn.metadata} if txn else {}
        self.files.write_text(f"{target}/{WRITTEN_BY}", json.dumps(by))
        self._make_current(table, name)
        self._prune(table, keep=name, hours=retention_hours)
        return name

    def _make_current(self, table: str, version: str) -> None:
        if self.local:
            link = Path(self.path(table))
            tmp_link = link.parent / f".{link.name}.{uuid.uuid4().hex[:8]}.tmp"
            os.symlink(os.path.relpath(self.version_path(table, version), link.parent), tmp_link)
            os.replace(tmp_link, link)  # rename(2): readers see the old target or the new one
        else:
            self.files.write_text(f"{self.versions(table)}/{CURRENT}", json.dumps({"version": version}))

    def _append(self, df: DataFrame, table: str) -> str:
        """Add ``df``'s rows to the table's log folder as a new file; returns its name."""
        log = self.version_path(table, "log")
        if self.current(table) != "log":
            with self._migrating(table):  # one writer moves an older layout's rows into the log, the others wait
                if self.is_table(table) and self.current(table) != "log":
                    old = self.read(table).unionByName(df.limit(0), allowMissingColumns=True)
                    self._add_file(old, log)
                if self.local:
                    Path(log).mkdir(parents=True, exist_ok=True)
                if self.current(table) != "log":
                    self._make_current(table, "log")
        return self._add_file(df, log)

    def _add_file(self, df: DataFrame, log: str) -> str:
        """Write ``df`` as one file of the log. Locally it is written beside the log and renamed in (a reader never
        sees half a file); on an object store the job's commit puts the file, which appears whole."""
        name = f"{_version_name()}.parquet"
        if not self.local:
            df.coalesce(1).write.mode("append").parquet(log)
            return name
        staging = Path(log).parent / f".append-{uuid.uuid4().hex}"
        df.coalesce(1).write.parquet(str(staging))
        Path(log).mkdir(parents=True, exist_ok=True)
        for part in sorted(staging.glob("part-*.parquet")):
            os.replace(part, Path(log) / name)
        shutil.rmtree(staging, ignore_errors=True)
        return name

    @contextlib.contextmanager
    def _migrating(self, table: str) -> Iterator[None]:
        if not self.local:
            yield
            return
        Path(self.versions(table)).mkdir(parents=True, exist_ok=True)
        with open(Path(self.versions(table)) / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _prune(self, table: str, keep: str, hours: float) -> None:
        """Delete the version folders past :data:`VERSIONS_KEPT` and the retention, judged by the time in their
        names (an object store's folders have no time); only the folders swapvec named (anything else there, such
        as a folder someone put beside them, swapvec did not write and never deletes)."""
        old = sorted(name for name, _ in self.files.list_dirs(self.versions(table)) if name != keep and _written(name))
        cutoff = time.time() - hours * 3600
        for stale in old[: max(0, len(old) - VERSIONS_KEPT)]:
            if _written(stale) < cutoff:
                self.files.delete(self.version_path(table, stale))

    # ------------------------------------------------------------------------------------------------ lock
    @contextlib.contextmanager
    def writer(self, run_id: str) -> Iterator[None]:
        """Hold the output path's lock while the block runs (module docstring); :class:`WriterBusy` when another
        command holds it."""
        path = f"{self.base}/{LOCK}"
        if self.local:
            Path(self.base).mkdir(parents=True, exist_ok=True)
        me = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(), "since": _now()}
        if not self.files.create_new(path, json.dumps({**me, "beat": time.time()})):
            holder = _parse(self.files.read_text(path))
            if holder is not None and not _stale(holder):
                raise WriterBusy(
                    f"{self.base} is being written by run {holder.get('run_id')} (host {holder.get('host')}, pid "
                    f"{holder.get('pid')}, since {holder.get('since')}): Parquet tables take one writer at a time; "
                    f"run again once it is done (a lock whose writer stopped is taken over {STALE_AFTER / 60:.0f} "
                    "minutes after its last sign of life, or at once on its machine)"
                )
            self.files.write_text(path, json.dumps({**me, "beat": time.time(), "took_over": holder}))
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT):
                held = _parse(self.files.read_text(path))
                if held is None or held.get("run_id") != run_id:
                    return
                with contextlib.suppress(Exception):  # a missed beat only brings the takeover nearer
                    self.files.write_text(path, json.dumps({**held, "beat": time.time()}))

        heart = threading.Thread(target=beat, name="swapvec-lock", daemon=True)
        heart.start()
        try:
            yield
        finally:
            stop.set()
            heart.join(timeout=HEARTBEAT)
            held = _parse(self.files.read_text(path))
            if held is not None and held.get("run_id") == run_id:
                self.files.delete(path)


def _parse(text: str | None) -> dict[str, Any] | None:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return {}


def _stale(holder: dict[str, Any]) -> bool:
    """True when the lock's writer is gone: its process has ended (same machine), or it has given no sign of life for
    :data:`STALE_AFTER` seconds."""
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    beat = holder.get("beat")
    return not isinstance(beat, int | float) or time.time() - beat > STALE_AFTER


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version_name() -> str:
    """A name that sorts in the order of writing, to the microsecond, and says when it was written."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S.%f')}-{uuid.uuid4().hex[:8]}"


def _written(name: str) -> float:
    """When a version folder named by :func:`_version_name` was written (seconds since 1970); 0 for other names."""
    found = _VERSION.fullmatch(name)
    if not found:
        return 0.0
    return dt.datetime.strptime(found[1], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC).timestamp()

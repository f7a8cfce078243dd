"""All of swapvec's reads and writes: the corpus, and the tables under ``output.path`` in Delta or Parquet.

:class:`Store` is the one interface the commands use for tables: ``read``, ``write``, ``exists``. Every write is
atomic, so a reader sees the previous version of a table or the new one, never a mix (``store.delta``: one commit;
``store.parquet``: a version folder made current by one rename, or on an object store by one small object). The
corpus is read by :func:`read_corpus`. Where a path is a URI and where it is local is decided once, in
``store.paths``.

Tables: ``sentences``, ``augmented``, ``vectors``, ``baseline_vectors``, ``similarities`` and ``runs`` (the run log,
``swapvec.runs``).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from swapvec.config import OutputConfig
from swapvec.errors import BadInput
from swapvec.log import event, get_logger
from swapvec.store import delta, parquet
from swapvec.store.corpus import check_input, check_no_pattern, read_corpus, resolve_input_path
from swapvec.store.delta import Txn
from swapvec.store.paths import is_uri, local_path, table_path

__all__ = ["Store", "Txn", "check_input", "is_uri", "local_path", "read_corpus", "resolve_input_path"]

_log = get_logger("store")

#: The command that writes each table, named when a command needs a table that is not there.
_MAKERS = {
    "sentences": "swapvec tokenize",
    "augmented": "swapvec augment",
    "vectors": "swapvec train",
    "similarities": "swapvec similarity",
    "baseline_vectors": "swapvec run with evaluate.baseline",
}


class Store:
    """The tables under ``output.path``, in ``output.format``.

    Parameters
    ----------
    output
        Where the tables live and in which format.
    spark
        The session that reads and writes. Only :meth:`exists` and :meth:`check` of local tables work without one
        (before a session starts).
    """

    def __init__(self, output: OutputConfig, spark: SparkSession | None = None) -> None:
        self.output = output
        self.spark = spark
        self.format = output.format
        self.parquet = parquet.Tables(output.path, spark)

    def path(self, table: str) -> str:
        return table_path(self.output.path, table)

    @property
    def local(self) -> bool:
        """True when the tables are on a local or mounted file system (not behind a URI)."""
        return not is_uri(self.output.path)

    def check(self) -> None:
        """Refuse an output path that cannot hold tables, before any work is done.

        Raises
        ------
        BadInput
            A local path under a file, one this process may not write, or one with characters Spark reads as a file
            pattern.
        """
        if not self.local:
            return
        check_no_pattern(self.output.path, "output.path")
        base = local_path(self.output.path)
        for parent in (base, *base.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise BadInput(f"output.path {self.output.path}: {parent} is a file, not a folder")
                try:  # a real write: access(2) says yes to root on a file system that refuses it
                    with tempfile.TemporaryFile(dir=parent):
                        pass
                except OSError as exc:
                    cause = exc.strerror or type(exc).__name__
                    raise BadInput(f"output.path {self.output.path}: cannot write in {parent}: {cause}") from None
                break

    def check_apart_from(self, input_path: str) -> None:
        """Refuse an output path that is the corpus or lies inside it: a second run would read the tables as the
        corpus (local paths; URIs are not looked into).

        Raises
        ------
        BadInput
            The two paths overlap.
        """
        if not self.local or is_uri(input_path):
            return
        out, corpus = local_path(self.output.path).resolve(), local_path(input_path).resolve()
        if out == corpus or corpus in out.parents:
            raise BadInput(
                f"output.path {self.output.path} is input.path {input_path} or inside it: keep the tables apart"
            )

    def exists(self, table: str) -> bool:
        if self.format == "parquet":
            return self.parquet.is_table(table)
        if not self.local:
            return delta.is_table(self.session(), self.path(table))  # only Spark can read a URI
        return (Path(self.path(table)) / "_delta_log").is_dir()

    def foreign(self, table: str) -> bool:
        """True when something swapvec did not write is at the table's path: a Delta table without swapvec's owner
        mark, a folder or file that is no table, a link that is not swapvec's. Such data is never written over."""
        return self._refusal(table) is not None

    def check_owned(self, tables: Iterable[str]) -> None:
        """Refuse, before any work, to write where something swapvec did not write is (:meth:`foreign`).

        Raises
        ------
        BadInput
            The first such table path, in one line.
        """
        for table in tables:
            refusal = self._refusal(table)
            if refusal is not None:
                raise BadInput(refusal)

    def _refusal(self, table: str) -> str | None:
        """Why nothing may be written at the table's path (:meth:`foreign`), or None when swapvec may write there."""
        path = self.path(table)
        if self.format == "parquet":
            if self.parquet.holds_delta(table):
                return _other_format(path, "delta", self.format)
            return self.parquet.refusal(table)
        if self.local:
            local = Path(path)
            if self.parquet.is_table(table) and self.parquet.refusal(table) is None:
                return _other_format(path, "parquet", self.format)
            if not local.exists() and not local.is_symlink():
                return None
            if not (local / "_delta_log").is_dir():
                # An empty folder holds nothing to lose; anything else would be vacuumed away with the table.
                return delta.foreign_table_message(path) if not local.is_dir() or any(local.iterdir()) else None
        elif not delta.is_table(self.session(), path):
            return None
        if delta.owned(self.session(), path):
            return None
        return delta.foreign_table_message(path, unmarked_delta=True)

    def missing(self, table: str, needed_by: str = "") -> BadInput:
        """The error for a table that is not there, naming the command that makes it."""
        hint = f" (needed by {needed_by}; run `{_MAKERS.get(table, 'swapvec run')}` first)" if needed_by else ""
        return BadInput(f"no {self.format} table at {self.path(table)}{hint}")

    def read(self, table: str, *, needed_by: str = "") -> DataFrame:
        """The table's current version; a missing table is a BadInput naming the command that makes it."""
        if not self.exists(table):
            raise self.missing(table, needed_by)
        if self.format == "delta":
            return self.session().read.format("delta").load(self.path(table))
        return self.parquet.read(table)

    def write(
        self, df: DataFrame, table: str, *, mode: str = "overwrite", txn: Txn | None = None, evolve_schema: bool = False
    ) -> int | str | None:
        """Write ``df`` as ``table`` atomically (``overwrite`` or ``append``) and return the version written.

        Parameters
        ----------
        txn
            Make the write idempotent (``store.delta.Txn``): skipped when the table holds this key's output or a later
            key's.
        evolve_schema
            Let an append add columns to an older table (Delta ``mergeSchema``; Parquet unions by name).

        Returns
        -------
        int, str or None
            The Delta version of the commit (readable with ``versionAsOf``), or the Parquet version folder's name;
            None when Delta skipped the write because ``txn``'s app id already committed its version or a later one.
        """
        started = time.monotonic()
        if self.format == "delta":
            written = delta.write(df, self.path(table), mode, txn, self.output.retention_hours, evolve_schema)
        else:
            written = self.parquet.write(df, table, mode, self.output.retention_hours, txn)
        if written is None:
            event(
                _log,
                "table.kept",
                table=table,
                reason="it holds this run key's output of this config, or a later key's",
            )
            return None
        event(
            _log,
            "table.written",
            table=table,
            format=self.format,
            mode=mode,
            version=written,
            seconds=round(time.monotonic() - started, 2),
        )
        return written

    def last_write_metadata(self, table: str) -> dict | None:
        """The metadata of the keyed write that made the table's current version (``Txn.metadata``: run id, run key),
        or None: no table, or a current version that was not a keyed write."""
        if not self.exists(table):
            return None
        if self.format == "parquet":
            written = self.parquet.written_by(table)
            return {k: v for k, v in written.items() if k not in ("app_id", "txn_version")} if written else None
        return delta.last_write_metadata(self.session(), self.path(table))

    def writer(self, run_id: str) -> contextlib.AbstractContextManager[None]:
        """Held by a command from before its first write to its end: Parquet's lock (one writer at a time,
        ``store.parquet``); nothing for Delta, whose commits detect a concurrent writer."""
        return self.parquet.writer(run_id) if self.format == "parquet" else contextlib.nullcontext()

    def session(self) -> SparkSession:
        """The session the store reads and writes with."""
        if self.spark is None:
            raise RuntimeError("this Store was made without a session; only local exists() and check() work so")
        return self.spark


def _other_format(path: str, other: str, given: str) -> str:
    # Most often the same output path run again with the other output.format: say so, not "foreign".
    return (
        f"{path} holds a {other} table and output.format is {given}: set output.format={other}, or choose another "
        "output.path"
    )

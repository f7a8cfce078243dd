"""All of swapvec's reads and writes: the corpus, and the tables under ``output.path`` in Delta or Parquet.

:class:`Store` is the one interface the commands use for tables: ``read``, ``write``, ``exists``. Every write is
atomic, so a reader sees the previous version of a table or the new one, never a mix (``store.delta``: one commit;
``store.parquet``: a link switched by one rename). The corpus is read by :func:`read_corpus`. Where a path is a URI
and where it is local is decided once, in ``store.paths``.

Tables: ``sentences``, ``augmented``, ``vectors``, ``baseline_vectors``, ``similarities`` and ``runs`` (the run log,
``swapvec.runs``).
"""

from __future__ import annotations

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
            Parquet output to a URI (no atomic rename there), a local path under a file, one this process may not
            write, or one with characters Spark reads as a file pattern.
        """
        if not self.local:
            if self.format == "parquet":
                raise BadInput(
                    "output.format=parquet needs a local or mounted path (atomic rename); use delta on a URI"
                )
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
        if not self.local:
            # Only Delta is written to URIs; its log is the table, and only Spark can read a URI.
            return delta.is_table(self.session(), self.path(table))
        local = Path(self.path(table))
        if self.format == "delta":
            return (local / "_delta_log").is_dir()
        return parquet.is_table(local)

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
        if self.local:
            local = Path(path)
            other = "delta" if (local / "_delta_log").is_dir() else "parquet" if parquet.is_table(local) else None
            if other and other != self.format and not (other == "parquet" and parquet.foreign(local)):
                # Most often the same output path run again with the other output.format: say so, not "foreign".
                return (
                    f"{path} holds a {other} table and output.format is {self.format}: set output.format={other}, "
                    "or choose another output.path"
                )
            if self.format == "parquet":
                return delta.foreign_table_message(path) if parquet.foreign(local) else None
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
        return parquet.read(self.session(), Path(self.path(table)))

    def write(
        self, df: DataFrame, table: str, *, mode: str = "overwrite", txn: Txn | None = None, evolve_schema: bool = False
    ) -> int | str | None:
        """Write ``df`` as ``table`` atomically (``overwrite`` or ``append``) and return the version written.

        Parameters
        ----------
        txn
            Delta only: make the write idempotent (``store.delta.Txn``); Parquet has no log to record it in.
        evolve_schema
            Let an append add columns to an older table (Delta ``mergeSchema``; Parquet unions by name).

        Returns
        -------
        int, str or None
            The Delta version of the commit (readable with ``versionAsOf``), or the Parquet version folder's name;
            None when Delta skipped the write because ``txn``'s app id already committed its version or a later one.
        """
        started = time.monotonic()
        path = self.path(table)
        if self.format == "delta":
            written = delta.write(df, path, mode, txn, self.output.retention_hours, evolve_schema)
            if written is None:
                event(_log, "table.kept", table=table, reason="it holds this run key's output or a later one's")
                return None
        else:
            written = parquet.write(df, Path(path), mode, self.output.retention_hours)
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
        """The metadata of the keyed write that made a Delta table's current version (``Txn.metadata``), or None:
        no table, Parquet, or a last commit that was not a keyed write."""
        if self.format != "delta" or not self.exists(table):
            return None
        return delta.last_write_metadata(self.session(), self.path(table))

    def session(self) -> SparkSession:
        """The session the store reads and writes with."""
        if self.spark is None:
            raise RuntimeError("this Store was made without a session; only local exists() and check() work so")
        return self.spark

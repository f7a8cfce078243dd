"""One run's results read together: its ``runs`` row, and its tables at the versions that row recorded.

A run writes its tables one after the other, and later runs overwrite them. The ``runs`` row of each run names the
versions it wrote (``details.table_versions``: a Delta version, or the name of a Parquet version folder
``_versions/<table>/<name>``); read at those versions, one run's tables belong together, whatever ran since.

Two readers, one rule for which run is meant (:func:`find_run`):

* Spark (:func:`spark_rows`, :func:`spark_table`): DataFrames, for any ``output.path`` Spark reaches.
* Arrow, without a JVM (:func:`arrow_rows`, :func:`arrow_files`): a local ``output.path``, read with pyarrow
  (Parquet) or deltalake (Delta, ``pip install 'swapvec[export]'``). Nothing here imports pyspark, so a machine that
  only loads vectors needs no Spark.

:func:`vectors_of` chooses between them for a run's ``vectors`` table, and gives its words and counts whole (the
vocabulary) and its vectors in batches (never the whole matrix).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from swapvec.errors import BadInput, one_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The columns of ``runs`` a reader needs, present in every swapvec's ``runs`` table.
_RUN_COLUMNS = ["run_id", "command", "status", "ended_at", "metrics", "row_counts", "details"]
#: Rows of a vectors table read at a time without Spark: at 100 dimensions, 6.5 MB of float32 and its Arrow form.
BATCH_ROWS = 16_384
#: With Spark, the vectors reach the driver in slices of about this many bytes (one Spark job each).
SLICE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class RunRow:
    """One row of ``runs``, its details parsed."""

    run_id: str
    command: str
    status: str
    ended_at: dt.datetime | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def versions(self) -> dict[str, int | str]:
        """Table -> the version this run wrote (``details.table_versions``)."""
        return self.details.get("table_versions") or {}

    @classmethod
    def of(cls, row: dict[str, Any]) -> RunRow:
        """From a row as a reader returns it (maps as dicts or as lists of pairs, details as JSON text)."""
        return cls(
            run_id=row["run_id"],
            command=row["command"],
            status=row["status"],
            ended_at=row.get("ended_at"),
            metrics=dict(row.get("metrics") or {}),
            row_counts=dict(row.get("row_counts") or {}),
            details=json.loads(row["details"]) if row.get("details") else {},
        )


def find_run(rows: Iterable[RunRow], where: str, run_id: str | None = None, table: str = "vectors") -> RunRow:
    """The run whose ``table`` to read: ``run_id``'s, or the newest succeeded run that wrote ``table``.

    A skipped run (its run key had succeeded already) stands for the run it names (``details.same_as``).

    Parameters
    ----------
    rows
        The ``runs`` table's rows.
    where
        The output path, for the messages.
    run_id
        A run's id; None for the newest succeeded run that wrote ``table``.
    table
        The table the caller reads.

    Raises
    ------
    BadInput
        No such run, a run that failed, or one whose row names no version of ``table``.
    """
    by_id = {row.run_id: row for row in rows}
    if run_id is None:
        wrote = [row for row in by_id.values() if row.status == "succeeded" and table in row.versions]
        if not wrote:
            raise BadInput(f"no succeeded run under {where} wrote {table} (run `swapvec run` first)")
        return max(wrote, key=lambda row: (row.ended_at or dt.datetime.min, row.run_id))
    row = by_id.get(run_id)
    if row is None:
        raise BadInput(f"no run {run_id} under {where}")
    if row.status == "skipped" and row.details.get("same_as") in by_id:
        row = by_id[row.details["same_as"]]
    if row.status != "succeeded":
        raise BadInput(f"run {row.run_id} under {where} {row.status}: its tables are not a complete set")
    if table not in row.versions:
        raise BadInput(f"run {row.run_id} under {where} ({row.command}) wrote no {table}")
    return row


def output_format(path: str | Path) -> str | None:
    """The format of the tables at a local ``output.path``, from its ``runs`` table; None when there is none."""
    runs = Path(path) / "runs"
    if (runs / "_delta_log").is_dir():
        return "delta"
    if runs.is_symlink() and runs.exists():
        return "parquet"
    return None


def check_format(path: str | Path, fmt: str, where: str | None = None) -> None:
    """Refuse a local ``output.path`` whose ``runs`` table is missing, or is of the other format than ``fmt``.
    ``where``: the path as the user gave it, for the message.

    Raises
    ------
    BadInput
        With the setting to change when the tables are the other format's.
    """
    found, where = output_format(path), where or str(path)
    if found is None and not Path(path).is_dir():
        raise BadInput(f"no tables at {where}: there is no such folder (run `swapvec run` first)")
    if found is None:
        raise BadInput(f"no {fmt} runs table under {where} (run `swapvec run` first)")
    if found != fmt:
        raise BadInput(f"{where} holds {found} tables and output.format is {fmt}: set output.format={found}")


def has_arrow_reader(fmt: str) -> bool:
    """True when tables of ``fmt`` can be read without Spark here (Delta needs the deltalake package)."""
    if fmt == "parquet":
        return True
    try:
        import deltalake  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------ without a JVM (Arrow)
def arrow_rows(path: str | Path, fmt: str) -> list[RunRow]:
    """The ``runs`` rows of a local ``output.path``, read without Spark."""
    runs = Path(path) / "runs"
    if fmt == "delta":
        from deltalake import DeltaTable, QueryBuilder

        # delta-rs's own reader, not its pyarrow dataset: that left Arrow's scan threads running into the
        # interpreter's exit, which then aborted ("terminate called without an active exception", exit 134) about
        # one time in two, after the command's work and its message.
        query = QueryBuilder().register("runs", DeltaTable(str(runs)))
        table = pa.table(query.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs").read_all())
    else:
        import pyarrow.dataset as pads

        # The log folder the link points at (files of several schemas: only columns every one holds are read).
        table = pads.dataset(str(runs.resolve()), format="parquet").to_table(columns=_RUN_COLUMNS)
    return [RunRow.of(row) for row in table.to_pylist()]


def arrow_files(path: str | Path, fmt: str, table: str, version: int | str) -> list[str] | None:
    """The Parquet files of ``table`` under a local ``output.path`` at ``version`` (a run's ``table_versions``
    entry), to be read one batch at a time; None for a Delta table whose files alone are not the table (a reader
    feature such as deletion vectors or column mapping): Spark reads that one.

    Raises
    ------
    BadInput
        That version is no longer kept (``output.retention_hours`` passed, and later runs wrote the table).
    """
    if fmt == "delta":
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError, DeltaProtocolError

        where = Path(path) / table
        try:
            delta = DeltaTable(str(where), version=int(version))
            if delta.protocol().min_reader_version > 1:
                return None
            files = delta.file_uris()
        except DeltaProtocolError:  # a feature deltalake does not read
            return None
        except DeltaError as exc:  # its log is gone, or the table
            raise BadInput(f"version {version} of {where} cannot be read: {one_line(exc)}") from None
        if not all(Path(file).is_file() for file in files):
            raise BadInput(f"the files of version {version} of {where} are gone (output.retention_hours passed)")
        return files
    folder = version_folder(Path(path), table, version)
    # As Spark reads a folder: files whose names start with "_" or "." are not data (_SUCCESS, .crc).
    return sorted(str(f) for f in folder.iterdir() if f.is_file() and not f.name.startswith(("_", ".")))


def version_folder(base: Path, table: str, version: int | str) -> Path:
    """Where a Parquet table's version lives, ``<output.path>/_versions/<table>/<version>`` (``base``: the local
    ``output.path``, read without a JVM).

    Raises
    ------
    BadInput
        The folder is gone: a version is kept until ``output.retention_hours`` pass after later runs wrote the table.
    """
    folder = base.absolute() / "_versions" / table / str(version)
    if not folder.is_dir():
        raise BadInput(f"{folder} is gone: a Parquet version is kept until output.retention_hours pass")
    return folder


# ------------------------------------------------------------------------------------------------------------ Spark
def spark_rows(spark: SparkSession, path: str, fmt: str) -> list[RunRow]:
    """The ``runs`` rows under ``output.path``, read with Spark (the number of runs: small)."""
    from swapvec.config import OutputConfig
    from swapvec.store import Store

    runs = Store(OutputConfig(path=path, format=fmt), spark).read("runs", needed_by="reading a run's tables")
    return [RunRow.of(row.asDict(recursive=True)) for row in runs.select(*_RUN_COLUMNS).collect()]


def spark_format(spark: SparkSession, path: str) -> str:
    """The format of the tables under ``output.path`` (a URI too): Parquet where swapvec's Parquet ``runs`` table
    is, else Delta."""
    from swapvec.store.parquet import Tables

    return "parquet" if Tables(path, spark).is_table("runs") else "delta"


def spark_table(spark: SparkSession, path: str, fmt: str, table: str, version: int | str) -> DataFrame:
    """``table`` under ``output.path`` at ``version`` (a run's ``table_versions`` entry), read with Spark."""
    from swapvec.store.parquet import Tables
    from swapvec.store.paths import is_uri, local_path, table_path

    if fmt == "delta":
        return spark.read.format("delta").option("versionAsOf", int(version)).load(table_path(path, table))
    if not is_uri(path):
        version_folder(local_path(path), table, version)  # gone: said in one line, before Spark lists it
    return Tables(path, spark).read(table, str(version))


# --------------------------------------------------------------------------------------------------- a run's vectors
@dataclass
class ArrowVectors:
    """A vectors table's version read without Spark: its Parquet files in turn, a batch at a time. Not a pyarrow
    dataset's scan, which decodes a row group whole and reads files ahead: hundreds of MB for a million vectors."""

    files: list[str]

    def words(self) -> pa.Table:
        return pa.concat_tables(pq.read_table(file, columns=["word", "count"]) for file in self.files)

    def vectors(self, words: int) -> Iterator[pa.RecordBatch]:
        for file in self.files:  # the order of words(): the rows come in the table's order
            parquet = pq.ParquetFile(file, pre_buffer=False)
            yield from parquet.iter_batches(BATCH_ROWS, columns=["word", "vector"], use_threads=False)


@dataclass
class SparkVectors:
    """A vectors table's version read with Spark: the vectors reach the driver in slices of a hash of the word, as
    Arrow, each about ``SLICE_BYTES``."""

    df: DataFrame

    def words(self) -> pa.Table:
        from swapvec.compat import to_arrow

        return to_arrow(self.df.select("word", "count"))  # the vocabulary: words and counts only

    def vectors(self, words: int) -> Iterator[pa.RecordBatch]:
        from pyspark.sql import functions as F

        from swapvec.compat import to_arrow

        first = self.df.select(F.size("vector").alias("size")).first()
        slices = max(1, math.ceil(words * (first["size"] if first else 0) * 4 / SLICE_BYTES))
        for i in range(slices):
            part = self.df.where(F.pmod(F.xxhash64("word"), F.lit(slices)) == i).select("word", "vector")
            yield from to_arrow(part).combine_chunks().to_batches()  # one batch a slice: one lookup of its words


#: A run's vectors table, as :func:`vectors_of` opens it.
Vectors = ArrowVectors | SparkVectors


def vectors_of(path: str, fmt: str | None, run_id: str | None, spark: Any) -> tuple[Vectors, RunRow]:
    """The ``vectors`` table of the run meant (:func:`find_run`), read without a JVM where it can be (a local folder;
    Parquet, or Delta with deltalake installed) and with Spark otherwise; and that run's row.

    Parameters
    ----------
    path
        The ``output.path``.
    fmt
        ``delta`` or ``parquet``; None: the format found at ``path``.
    run_id
        The run meant; None for the newest succeeded run that wrote vectors.
    spark
        A session, a function that starts one (called only when Spark must read), or None: the active session.

    Raises
    ------
    BadInput
        No tables at ``path``, tables of the other format than ``fmt``, or no such run (:func:`find_run`).
    """
    local = Path(path)
    if local.is_dir():
        fmt = fmt or output_format(local) or "delta"
        check_format(local, fmt, path)
        if has_arrow_reader(fmt):
            row = find_run(arrow_rows(local, fmt), path, run_id)
            files = arrow_files(local, fmt, "vectors", row.versions["vectors"])
            if files is not None:
                return ArrowVectors(files), row
    try:
        from swapvec.store.paths import is_uri, local_path
    except ImportError:  # no pyspark: Spark cannot read it either
        raise BadInput(f"no swapvec tables at {path} that this machine can read without Spark") from None
    if not is_uri(path):
        check_format(local_path(path), fmt or "delta", path)  # before a JVM starts
    session = _session(spark, path)
    fmt = fmt or spark_format(session, path)
    row = find_run(spark_rows(session, path, fmt), path, run_id)
    return SparkVectors(spark_table(session, path, fmt, "vectors", row.versions["vectors"])), row


def _session(spark: Any, path: str) -> SparkSession:
    if callable(spark):
        return spark()
    if spark is not None:
        return spark
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None:
        raise BadInput(f"reading {path} needs Spark here: pass spark=, or pip install 'swapvec[export]' for Delta")
    return active

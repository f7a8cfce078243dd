"""A command's context (:class:`Command`): its session, config, tables, run record and resume decision, with what
its steps share: timed stages, writes (one table, or several at once), what it persists for its length, and the
constraints, the prior model and the replayed sentences, each read once.

:mod:`swapvec.pipeline` makes one a command and hands it to the command's function; :mod:`swapvec.steps` holds the
steps that function chains.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from swapvec import runs
from swapvec.compat import local_checkpoint
from swapvec.config import Config
from swapvec.errors import one_line, stop_point
from swapvec.groups import read_groups_file
from swapvec.lexicon import Constraints, load_all
from swapvec.log import event, get_logger
from swapvec.model import Prior, read_prior
from swapvec.progress import progress
from swapvec.runs import Resume, RunRecord
from swapvec.store import Store

_log = get_logger("pipeline")

T = TypeVar("T")


@dataclass(frozen=True)
class Command:
    """One command's session, config, tables, record and resume decision, handed to the function that runs it.

    The steps return what they make; the command keeps only what it owns: the run record (``record``, where each
    step's stats are added) and what lives as long as it does (:meth:`persist`, the memos below)."""

    spark: SparkSession
    cfg: Config
    store: Store
    record: RunRecord
    resume: Resume
    #: What the command persisted for its whole length (:meth:`persist`); unpersisted by :meth:`release`.
    _persisted: list[DataFrame] = field(default_factory=list)
    #: The stages running, outermost first (:meth:`stage`).
    _stages: list[str] = field(default_factory=list)
    #: Values made once a command whatever step asks first (:meth:`once`).
    _once: dict[str, object] = field(default_factory=dict)

    def persist(self, df: DataFrame) -> DataFrame:
        """``df`` persisted (memory, then disk) until the command ends."""
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        self._persisted.append(df)
        return df

    def release(self) -> None:
        """Unpersist what :meth:`persist` kept."""
        for df in self._persisted:
            df.unpersist()
        self._persisted.clear()

    def once(self, name: str, make: Callable[[], T]) -> T:
        """``make()``, made the first time ``name`` is asked for and the same value every time after."""
        if name not in self._once:
            self._once[name] = make()
        return self._once[name]  # type: ignore[return-value]

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage, log its start and end as events, and show its progress on a terminal. A stage run inside
        another (the report, drawn while the tables are written) says so (``within``); the outer one draws the line."""
        stop_point()
        started, within = time.monotonic(), (self._stages[-1] if self._stages else None)
        where = {"within": within} if within else {}
        event(_log, "stage.start", stage=name, run_id=self.record.run_id, **where)
        outcome = "stage.failed"
        self._stages.append(name)
        try:
            with progress(self.spark, name, enabled=self.cfg.log.progress and within is None):
                yield
            outcome = "stage.done"
        finally:
            self._stages.pop()
            event(_log, outcome, stage=name, seconds=round(time.monotonic() - started, 2), **where)

    def kept(self, table: str) -> bool:
        """True when ``table`` already holds this run key's output made with this config, or a later key's: read it,
        do not write it."""
        return table in self.resume.kept

    def read_kept(self, table: str) -> DataFrame:
        self.record.details[f"{table}_of_run"] = self.resume.kept[table].run_id
        return local_checkpoint(self.store.read(table).drop("run_id"))

    def write(self, df: DataFrame | None, table: str) -> None:
        """Write one of the command's tables, or note that it was kept (``df`` is None only for a kept table)."""
        if self.kept(table):
            runs.keep(self.record, table, self.resume.kept[table])
        else:
            runs.write_output(self.store, df, table, self.record, self.cfg.run.key, self.resume.config)

    def write_all(self, tables: dict[str, DataFrame | None]) -> None:
        """:meth:`write` each table, all at once (:meth:`writing`)."""
        with self.writing(tables):
            pass

    @contextlib.contextmanager
    def writing(self, tables: dict[str, DataFrame | None]) -> Iterator[Callable[[], None]]:
        """:meth:`write` each table, all at once, while the block runs; yields ``written``, which waits for the
        writes and raises the first failure, in ``tables``' order. The block's end waits for them too, also when the
        block fails: its error is then raised. Every failed write that is not the error raised is logged, once
        (``table.write_failed``).

        A write waits mostly on the driver (the commit, the log), so three tables together take 0.6x their time one
        after another in a warm session, 0.9x in a fresh JVM, whose first Delta write warms up alone; the driver's
        Python is free meanwhile, for the report. Each write is its own commit.
        """
        pool = ThreadPoolExecutor(max_workers=max(1, len(tables)), thread_name_prefix="swapvec-write")
        futures = [pool.submit(self.write, df, table) for table, df in tables.items()]
        said: set[int] = set()

        def failures() -> list[tuple[str, BaseException]]:
            done = zip(tables, futures, strict=True)
            return [(table, f.exception()) for table, f in done if f.exception() is not None]

        def say(table: str, error: BaseException) -> None:  # a failure not raised is logged, once
            if id(error) not in said:
                said.add(id(error))
                event(_log, "table.write_failed", level=logging.ERROR, table=table, error=one_line(error))

        def written() -> None:
            wait(futures)
            versions = self.record.details.get("table_versions", {})
            for table in tables:  # recorded in the order of ``tables``, whichever write ended first
                if table in versions:
                    versions[table] = versions.pop(table)
            failed = failures()
            for table, error in failed[1:]:
                say(table, error)
            if failed:
                raise failed[0][1]

        try:
            yield written
        except BaseException as exc:
            pool.shutdown(wait=True)
            for table, error in failures():  # the block's error is raised: the writes' are said, not lost
                if error is not exc:
                    say(table, error)
            raise
        pool.shutdown(wait=True)
        written()

    @functools.cached_property
    def constraints(self) -> Constraints:
        """The groups file's groups and repel lines and the lexicon's pairs (none without the files), read once."""
        a = self.cfg.augment
        return load_all(self.spark, a.groups_path, a.lexicon_path, self.cfg.tokenize)

    @functools.cached_property
    def named_phrases(self) -> set[tuple[str, ...]]:
        """The phrases the groups file and the lexicon name. Files without one are only read in Python, so that the
        commands that need nothing else of them (``tokenize``) start no Spark job for them."""
        a = self.cfg.augment
        files = [path for path in (a.groups_path, a.lexicon_path) if path]
        if "constraints" in self.__dict__ or any(" " in t for path in files for t in read_groups_file(path).terms()):
            return self.constraints.phrases
        return set()

    @functools.cached_property
    def prior(self) -> Prior | None:
        """``train.init_from``'s model and replay sample, checked against this run's settings (None without it),
        read once."""
        return read_prior(self.spark, self.cfg.train) if self.cfg.train.init_from else None

    @property
    def prior_model(self) -> DataFrame | None:
        return self.prior.model if self.prior is not None else None

    @functools.cached_property
    def affected_only(self) -> bool:
        """``augment.affected_only`` as this command applies it, decided once: ``swapvec run`` on
        ``train.init_optional``'s first day has no model to add the groups to, and trains the whole corpus for
        ``train.epochs`` (the affected sentences alone, one pass, would make a model of the group words and nothing
        else)."""
        if not self.cfg.augment.affected_only:
            return False
        if self.record.command == "run" and self.prior is None:
            event(_log, "augment.affected_only_skipped", reason="no model yet (train.init_optional): a full run")
            return False
        return True

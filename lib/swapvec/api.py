"""The Python API for notebooks and pipelines: ``swapvec.run(spark, config, overrides)`` runs the whole pipeline, as
``swapvec run`` does (the same :func:`swapvec.pipeline.execute`), and returns a :class:`RunResult`: the run's id, its
metrics and its tables as DataFrames, read at the versions its ``runs`` row recorded.

Examples
--------
>>> import swapvec  # doctest: +SKIP
>>> result = swapvec.run(spark, "conf/local.yaml", {"output.path": "out", "train.epochs": 3})  # doctest: +SKIP
>>> result.similarities.where("word = 'movies'").show()  # doctest: +SKIP
>>> result.keyedvectors().most_similar("movies")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession

from swapvec import results
from swapvec.config import Config, load_config
from swapvec.pipeline import execute
from swapvec.runs import RunRecord

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


@dataclass
class RunResult:
    """What a run made: its id, status, numbers and tables.

    Attributes
    ----------
    run_id
        This run's id (its row in ``runs``).
    status
        ``succeeded``, or ``skipped`` when ``run.key`` names a run that already succeeded: then nothing was written,
        ``same_as`` is that run's id, and the metrics and tables are that run's.
    metrics, row_counts, details
        As the ``runs`` row holds them (``details``: per-group ranks, what the guarantee moved, ``table_versions``).
    summary
        The text ``swapvec run`` prints: the scores and each group's ranks.
    tables
        Table name -> DataFrame of the table at the version this run wrote (``vectors``, ``similarities``,
        ``model``, ...), whatever ran since.
    config
        The config the run was given.
    report
        The report's folder (``report.md``, ``report.html``); None under a URI ``output.path``.
    """

    run_id: str
    status: str
    metrics: dict[str, float]
    row_counts: dict[str, int]
    details: dict[str, Any]
    summary: str
    tables: dict[str, DataFrame]
    config: Config
    report: Path | None = None
    same_as: str | None = field(default=None)

    @property
    def vectors(self) -> DataFrame:
        """``word, vector array<float>, count, run_id``: the run's vectors."""
        return self.tables["vectors"]

    @property
    def similarities(self) -> DataFrame:
        """``word, neighbor, rank, similarity, mode, run_id``: each word's nearest words."""
        return self.tables["similarities"]

    def keyedvectors(self) -> KeyedVectors:
        """The run's vectors as gensim KeyedVectors on the driver, most frequent word first (as
        :func:`swapvec.load_keyedvectors` reads them; memory: vocabulary x vector_size x 4 bytes)."""
        from swapvec.export import keyedvectors_of

        return keyedvectors_of(self.vectors)


def run(
    spark: SparkSession,
    config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> RunResult:
    """Run the whole pipeline (``swapvec run``) and return what it made.

    Parameters
    ----------
    spark
        The session: the platform's (a notebook's ``spark``), or ``swapvec.session.get_spark()``.
    config
        A YAML file's path; a mapping of sections (``{"train": {"epochs": 3}}``) or of dotted keys
        (``{"train.epochs": 3}``); a :class:`~swapvec.config.Config`; or None for the built-in defaults. No file is
        read unless named here.
    overrides
        Dotted keys over ``config``, as ``--set`` gives them: a mapping of values taken as they are
        (``{"run.key": "2024-05-01"}``), or ``key=value`` strings read as YAML (``["train.epochs=3"]``).

    Returns
    -------
    RunResult

    Raises
    ------
    BadInput
        A config, path, groups file or table that cannot work, in one line; nothing was written.
    SwapvecError, Exception
        Other failures (worth retrying); a ``failed`` row is appended to ``runs`` when possible.

    Examples
    --------
    >>> result = swapvec.run(spark, {"input.path": "corpus.txt", "augment.groups_path": "groups.txt"})  # doctest: +SKIP
    >>> result.metrics["group_hub_first"]  # doctest: +SKIP
    1.0
    """
    if isinstance(config, Config):
        config = config.to_dict(given_only=True)
    cfg = load_config(config, overrides or ())
    return result_of(spark, cfg, execute(spark, cfg, "run"))


def result_of(spark: SparkSession, cfg: Config, record: RunRecord) -> RunResult:
    """A command's :class:`RunResult`: its record, and its tables at the versions it wrote (for a skipped run, the
    earlier run's, read from ``runs``)."""
    made, same_as = record, record.details.get("same_as")
    if record.status == "skipped" and same_as:
        rows = results.spark_rows(spark, cfg.output.path, cfg.output.format)
        made = next((row for row in rows if row.run_id == same_as), record)
    versions = made.details.get("table_versions") or {}
    out = cfg.output
    tables = {name: results.spark_table(spark, out.path, out.format, name, v) for name, v in versions.items()}
    return RunResult(
        run_id=record.run_id,
        status=record.status,
        metrics=dict(made.metrics),
        row_counts=dict(made.row_counts),
        details=dict(made.details),
        summary=record.summary,
        tables=tables,
        config=cfg,
        report=record.report_dir,
        same_as=same_as,
    )

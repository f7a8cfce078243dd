"""The commands: each chains the stages, owns its run record, and appends it to ``runs``.

``run(spark, cfg)`` runs every stage and writes ``vectors``, ``similarities`` (and ``baseline_vectors`` with
``evaluate.baseline``); ``execute(spark, cfg, command)`` runs one command: ``run`` or a single stage (``tokenize``,
``augment``, ``train``, ``similarity``, ``evaluate``), which reads the previous stage's table and writes its own. The
console script, the jobs, the notebooks and the tests all call ``execute``.

Stages are functions of DataFrames in their own modules (``tokenize``, ``augment``, ``train``, ``retrofit``,
``specialize``, ``guarantee``, ``similarity``, ``evaluate``, ``report``); each returns its result and a few stats.
What a keyed run must still do is decided before any of them runs (``runs.resume``).

This module is long because every command's chain of stages is here, so that one command reads in one file.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec import runs, tracking
from swapvec.augment import augment_corpus, count_words
from swapvec.config import Config
from swapvec.errors import BadInput
from swapvec.evaluate import Evaluation, evaluate, summary
from swapvec.groups import Group, Repel, check_groups_file, group_words, load_constraints
from swapvec.guarantee import guarantee
from swapvec.log import event, get_logger
from swapvec.progress import progress
from swapvec.report import write_report
from swapvec.retrofit import retrofit
from swapvec.runs import Resume, RunRecord
from swapvec.similarity import similarities
from swapvec.specialize import SpecializeParams, specialize
from swapvec.stats import Stats
from swapvec.store import Store, check_input, read_corpus
from swapvec.tokenize import check_pattern, check_spaced, tokenize
from swapvec.train import train

_log = get_logger("pipeline")

COMMANDS = ("run", "tokenize", "augment", "train", "similarity", "evaluate")
#: The tables each command writes, in the order it writes them.
OUTPUTS = {
    "run": ("vectors", "similarities", "baseline_vectors"),
    "tokenize": ("sentences",),
    "augment": ("augmented",),
    "train": ("vectors",),
    "similarity": ("similarities",),
    "evaluate": (),
}
#: The table each single-stage command reads.
NEEDS = {"augment": "sentences", "train": "augmented", "similarity": "vectors", "evaluate": "vectors"}


@dataclass
class _Command:
    """One command's session, config, tables, record and resume decision, handed to the function that runs it."""

    spark: SparkSession
    cfg: Config
    store: Store
    record: RunRecord
    resume: Resume

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage, log its start and end as events, and show its progress on a terminal."""
        started = time.monotonic()
        event(_log, "stage.start", stage=name, run_id=self.record.run_id)
        outcome = "stage.failed"
        try:
            with progress(self.spark, name, enabled=self.cfg.log.progress):
                yield
            outcome = "stage.done"
        finally:
            event(_log, outcome, stage=name, seconds=round(time.monotonic() - started, 2))

    def kept(self, table: str) -> bool:
        """True when ``table`` already holds this run key's output (or a later key's): read it, do not write it."""
        return table in self.resume.kept

    def read_kept(self, table: str) -> DataFrame:
        self.record.details[f"{table}_of_run"] = self.resume.kept[table]
        return self.store.read(table).drop("run_id").localCheckpoint(eager=True)

    def write(self, df: DataFrame | None, table: str) -> None:
        """Write one of the command's tables, or note that it was kept (``df`` is None only for a kept table)."""
        if self.kept(table):
            runs.keep(self.record, table)
        else:
            runs.write_output(self.store, df, table, self.record, self.cfg.run.key)

    @functools.cached_property
    def constraints(self) -> tuple[list[Group], list[Repel]]:
        """The groups file's groups and repel lines (none without a file), read once."""
        path = self.cfg.augment.groups_path
        return load_constraints(self.spark, path, self.cfg.tokenize) if path else ([], [])


# ------------------------------------------------------------------------------------ stages, as the commands use them
def _sentences(c: _Command) -> DataFrame:
    check_pattern(c.spark, c.cfg.tokenize)
    sentences = tokenize(read_corpus(c.spark, c.cfg.input), c.cfg.tokenize)
    check_spaced(sentences, c.cfg.tokenize)
    return sentences


def _train(c: _Command, sentences: DataFrame, groups: list[Group]) -> DataFrame:
    vectors, stats = train(c.spark, sentences, c.cfg, group_words=group_words(groups))
    numbers = {f"train_{k}": float(v) for k, v in stats.items() if isinstance(v, int | float)}
    c.record.add(Stats(row_counts={"vectors": int(stats["vocab_size"])}, metrics=numbers))
    return vectors


def _placed(c: _Command, step: str, move: Callable[[], tuple[DataFrame, Stats]]) -> DataFrame:
    """The vectors a step that moves words returns (retrofit, specialize, guarantee), materialised; its stats and
    ``<step>_seconds`` recorded."""
    started = time.monotonic()
    moved, stats = move()
    moved = moved.localCheckpoint(eager=True)
    stats.metrics[f"{step}_seconds"] = time.monotonic() - started
    c.record.add(stats)
    return moved


def _fit(c: _Command, vectors: DataFrame, groups: list[Group], repels: list[Repel]) -> DataFrame:
    """The trained vectors retrofitted or specialised (``augment.method``); as they are otherwise."""
    a, seed = c.cfg.augment, c.cfg.train.seed
    if a.after_training == "retrofit" and groups:
        return _placed(
            c, "retrofit", lambda: (retrofit(vectors, groups, a.retrofit_iterations, a.retrofit_weight), Stats())
        )
    if a.after_training == "specialize" and (groups or repels):
        return _placed(c, "specialize", lambda: specialize(vectors, groups, repels, SpecializeParams(), seed))
    return vectors


def _guarantee(c: _Command, vectors: DataFrame, groups: list[Group]) -> DataFrame:
    """The group words moved until the groups' promise holds (``augment.guarantee``); the vectors otherwise."""
    if not c.cfg.augment.guarantee or not groups:
        return vectors
    return _placed(c, "guarantee", lambda: guarantee(vectors, groups))


def _similarities(c: _Command, vectors: DataFrame, vocab_size: int | None = None) -> DataFrame:
    sims, stats = similarities(c.spark, vectors.select("word", "vector"), c.cfg.similarity, vocab_size=vocab_size)
    c.record.add(stats)
    return sims


def _evaluate(c: _Command, vectors: DataFrame, baseline_vectors: DataFrame | None) -> None:
    """Evaluate (against the run without groups when there is one), record it and write the report."""
    groups, repels = c.constraints
    with c.stage("evaluate"):
        baseline = None
        if baseline_vectors is not None:
            baseline = evaluate(baseline_vectors, groups, c.cfg.evaluate.max_vocab, repels)
        evaluation: Evaluation = evaluate(vectors, groups, c.cfg.evaluate.max_vocab, repels)
        c.record.add(evaluation.stats(baseline))
        c.record.summary = summary(evaluation, baseline)
    with c.stage("report"):
        report = write_report(c.cfg, c.record.run_id, vectors, groups, evaluation, baseline_vectors, baseline)
        c.record.report_dir = report.parent if report else None


# ------------------------------------------------------------------------------------------------------- commands
def _run(c: _Command) -> None:
    cfg, (groups, repels) = c.cfg, c.constraints
    sentences = trained = None
    if c.kept("vectors"):
        vectors = c.read_kept("vectors")
    else:
        with c.stage("tokenize"):
            sentences = _sentences(c).persist(StorageLevel.MEMORY_AND_DISK)
        with c.stage("augment"):
            augmented, stats = augment_corpus(
                sentences, groups, cfg.augment, cfg.train.seed, corpus=f"the corpus at {cfg.input.path}"
            )
            c.record.add(stats)
        with c.stage("train"):
            trained = _train(c, augmented, groups)
        augmented.unpersist()
        vectors = trained
        if cfg.augment.after_training:
            with c.stage(cfg.augment.after_training):
                vectors = _fit(c, trained, groups, repels)
        with c.stage("guarantee"):
            vectors = _guarantee(c, vectors, groups)
    baseline_vectors = None
    if cfg.evaluate.baseline and (groups or repels):
        with c.stage("baseline"):
            baseline_vectors = _baseline(c, sentences, trained, groups)
    if sentences is not None:
        sentences.unpersist()
    sims = None
    if not c.kept("similarities"):
        with c.stage("similarity"):
            sims = _similarities(c, vectors, vocab_size=c.record.row_counts.get("vectors"))
    with c.stage("write"):
        c.write(vectors, "vectors")
        c.write(sims, "similarities")
        if baseline_vectors is not None:  # so that a later `swapvec evaluate` can still compare with them
            c.write(baseline_vectors, "baseline_vectors")
    _evaluate(c, vectors, baseline_vectors)


def _baseline(c: _Command, sentences: DataFrame | None, trained: DataFrame | None, groups: list[Group]) -> DataFrame:
    """The run without groups: the same corpus without copies, the same words exempt from subsampling, so that the
    comparison isolates the augmentation."""
    if c.kept("baseline_vectors"):
        return c.read_kept("baseline_vectors")
    if not c.cfg.augment.copies and trained is not None:
        # Retrofitting or specialising alone trained on the corpus as it is: the trained vectors are the run without
        # groups.
        c.record.metrics["baseline_train_seconds"] = c.record.metrics.get("train_seconds", 0.0)
        return trained
    if sentences is None:  # the run's own vectors were kept from an earlier attempt
        sentences = _sentences(c)
    vectors, stats = train(c.spark, sentences.withColumn("copy", F.lit(0)), c.cfg, group_words=group_words(groups))
    c.record.metrics["baseline_train_seconds"] = float(stats["seconds"])
    return vectors


def _tokenize(c: _Command) -> None:
    if c.kept("sentences"):
        return c.write(None, "sentences")
    with c.stage("tokenize"):
        sentences = _sentences(c).localCheckpoint(eager=True)
        c.record.add(count_words(sentences, f"the corpus at {c.cfg.input.path}"))
        c.write(sentences, "sentences")


def _augment(c: _Command) -> None:
    if c.kept("augmented"):
        return c.write(None, "augmented")
    sentences = c.store.read("sentences", needed_by="augment").drop("run_id")
    with c.stage("augment"):
        augmented, stats = augment_corpus(sentences, c.constraints[0], c.cfg.augment, c.cfg.train.seed)
        c.record.add(stats)
        c.write(augmented, "augmented")
        augmented.unpersist()


def _train_command(c: _Command) -> None:
    if c.kept("vectors"):
        return c.write(None, "vectors")
    augmented = c.store.read("augmented", needed_by="train").drop("run_id")
    groups, repels = c.constraints
    with c.stage("train"):
        vectors = _guarantee(c, _fit(c, _train(c, augmented, groups), groups, repels), groups)
        c.write(vectors, "vectors")


def _similarity(c: _Command) -> None:
    if c.kept("similarities"):
        return c.write(None, "similarities")
    vectors = c.store.read("vectors", needed_by="similarity")
    with c.stage("similarity"):
        c.write(_similarities(c, vectors), "similarities")


def _evaluate_command(c: _Command) -> None:
    vectors = c.store.read("vectors", needed_by="evaluate")
    baseline_vectors = None
    if c.cfg.evaluate.baseline and any(c.constraints) and c.store.exists("baseline_vectors"):
        # The vectors without groups that `swapvec run` trained beside the run's own: the before of the report.
        stored = c.store.read("baseline_vectors").localCheckpoint(eager=True)
        first = stored.select("run_id").first()
        c.record.details["baseline_of_run"] = first.run_id if first else None
        baseline_vectors = stored.drop("run_id")
    _evaluate(c, vectors, baseline_vectors)


_COMMANDS: dict[str, Callable[[_Command], None]] = {
    "run": _run,
    "tokenize": _tokenize,
    "augment": _augment,
    "train": _train_command,
    "similarity": _similarity,
    "evaluate": _evaluate_command,
}


def preflight(cfg: Config, command: str) -> None:
    """Every check that needs no Spark, before a session is started: paths, the groups file, the input table.

    Raises
    ------
    BadInput
        The first problem found, in one line.
    """
    if command not in _COMMANDS:
        raise BadInput(f"unknown command {command!r}; one of {', '.join(COMMANDS)}")
    store = Store(cfg.output)
    store.check()
    if command in ("run", "tokenize"):
        store.check_apart_from(check_input(cfg.input.path))
    if cfg.augment.groups_path and command in ("run", "augment", "train", "evaluate"):
        check_groups_file(cfg.augment.groups_path, cfg.tokenize, cfg.augment.method)
    needed = NEEDS.get(command)
    if needed and store.local and not store.exists(needed):
        raise store.missing(needed, needed_by=command)


def execute(spark: SparkSession, cfg: Config, command: str = "run", run_id: str | None = None) -> RunRecord:
    """Run one command and record it in ``runs``.

    Parameters
    ----------
    spark
        The session (``session.get_spark()``, or the platform's).
    cfg
        A validated config (``config.load_config``).
    command
        One of ``COMMANDS``.
    run_id
        An id for this run; a fresh one when None.

    Returns
    -------
    RunRecord
        ``status`` is ``skipped`` when ``run.key`` names a run of this command that already succeeded: nothing was
        written, and ``details["same_as"]`` is that run's id.

    Raises
    ------
    BadInput
        The input or config cannot work; the tables written earlier are untouched.
    SwapvecError, Exception
        Other failures (worth retrying); a ``failed`` row is appended to ``runs`` when possible.
    """
    preflight(cfg, command)
    store = Store(cfg.output, spark)
    # Before any work, and before the runs row: data swapvec did not write is never written over (nor vacuumed).
    store.check_owned((*OUTPUTS[command], "runs"))
    record = RunRecord(run_id=run_id or runs.new_run_id(), command=command)
    event(_log, "run.start", run_id=record.run_id, command=command, config=json.loads(cfg.to_json()))
    plan = runs.resume(store, command, cfg.run.key, OUTPUTS[command])
    if plan.same_as is not None:
        record.status = "skipped"
        record.details["same_as"] = plan.same_as
        record.summary = f"run key {cfg.run.key}: {command} already succeeded in run {plan.same_as}; nothing written"
        event(_log, "run.skipped", run_id=record.run_id, command=command, run_key=cfg.run.key, same_as=plan.same_as)
        runs.append(store, cfg, record)
        return record
    try:
        _COMMANDS[command](_Command(spark, cfg, store, record, plan))
    except BaseException as exc:
        record.failed(exc)
        raise
    finally:
        runs.append(store, cfg, record)
        tracking.log_run(cfg, record)
    event(_log, "run.done", run_id=record.run_id, command=command, metrics=record.metrics)
    return record


def run(spark: SparkSession, cfg: Config) -> RunRecord:
    """The whole pipeline (``swapvec run``): ``execute(spark, cfg, "run")``."""
    return execute(spark, cfg, "run")

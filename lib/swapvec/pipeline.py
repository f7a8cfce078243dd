"""The pipeline's stages and the commands that chain them; what the CLI, the jobs, the notebooks and the tests call.

``run(spark, cfg)`` runs every stage and writes ``vectors``, ``similarities`` and a row of ``runs``; the single-stage
commands (``tokenize``, ``augment``, ``train``, ``similarity``, ``evaluate``) read the previous stage's table and
write their own. Every command appends one row to ``runs``, also when it fails after the config was accepted.

With a run key (``run.key``) a command is idempotent: when the same command already succeeded with that key, it
writes nothing and records a ``skipped`` row naming the earlier run; a retry of a failed attempt writes only the
Delta tables the attempt did not commit (``tables.write_table``). On Parquet the ``runs`` table is the only record:
a retry of a failed attempt rewrites every table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec import tables, tracking
from swapvec.augment import Group, augment, load_groups, parse_groups, substitutions
from swapvec.config import Config
from swapvec.errors import BadInput, SwapvecError
from swapvec.evaluate import Evaluation, evaluate, summary
from swapvec.log import event, get_logger
from swapvec.progress import progress
from swapvec.report import write_report
from swapvec.retrofit import retrofit
from swapvec.similarity import TABLE_COLUMNS, search_metrics, similarities
from swapvec.tokenize import check_pattern, tokenize
from swapvec.train import train

_log = get_logger("pipeline")

COMMANDS = ("run", "tokenize", "augment", "train", "similarity", "evaluate")


@dataclass
class RunResult:
    """What a command did: its id, status, counts and metrics (as stored in ``runs``) and a readable summary."""

    run_id: str
    command: str
    status: str = "succeeded"
    row_counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    report_dir: Path | None = None


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def _stage(spark: SparkSession, cfg: Config, run_id: str, name: str) -> Iterator[None]:
    """Time a stage, log its start and end as events, and show its progress on a terminal."""
    started = time.monotonic()
    event(_log, "stage.start", stage=name, run_id=run_id)
    outcome = "stage.failed"
    try:
        with progress(spark, name, enabled=cfg.log.progress):
            yield
        outcome = "stage.done"
    finally:
        event(_log, outcome, stage=name, seconds=round(time.monotonic() - started, 2))


def _stages(spark: SparkSession, cfg: Config, result: RunResult) -> Callable[[str], contextlib.AbstractContextManager]:
    return functools.partial(_stage, spark, cfg, result.run_id)


# --------------------------------------------------------------------------------------------------------- stages
def stage_tokenize(spark: SparkSession, cfg: Config) -> DataFrame:
    """Read the corpus and tokenise it: ``sentence_id, chunk, tokens``."""
    check_pattern(spark, cfg.tokenize)
    return tokenize(tables.read_corpus(spark, cfg.input), cfg.tokenize)


def _words(df: DataFrame) -> DataFrame:
    return df.select(F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum(F.size("tokens")), F.lit(0)).alias("words"))


def stage_augment(
    spark: SparkSession, cfg: Config, sentences: DataFrame, result: RunResult
) -> tuple[DataFrame, list[Group]]:
    """Add the groups' swapped copies; record counts and the augmentation factor in ``result``.

    Raises
    ------
    BadInput
        An empty corpus, a bad groups file, or a corpus in which no group word occurs.
    """
    before = _words(sentences).first()
    if before.rows == 0:
        raise BadInput(f"the corpus at {cfg.input.path} has no tokens: it is empty or holds no words")
    result.row_counts.update(sentences=before.rows, words=before.words)
    groups: list[Group] = []
    if cfg.augment.groups_path:
        groups = load_groups(spark, cfg.augment.groups_path, cfg.tokenize)
        group_words = sorted({w for g in groups for w in g.words})
        found = {
            r.word
            for r in sentences.select(F.explode("tokens").alias("word"))
            .where(F.col("word").isin(group_words))
            .distinct()
            .collect()
        }
        if not found:
            raise BadInput(f"no word of {cfg.augment.groups_path} occurs in the corpus (after tokenisation)")
        absent = [w for w in group_words if w not in found]
        if absent:
            event(_log, "groups.absent_from_corpus", words=absent, note="learned from swapped copies only, if at all")
        result.details["groups_absent_from_corpus"] = absent
        result.row_counts["groups"] = len(groups)
    # Retrofitting alone trains on the corpus as it is; it pulls the groups together after training.
    subs = substitutions(groups) if cfg.augment.method != "retrofit" else {}
    augmented = augment(sentences, subs, cfg.augment.max_copies_per_sentence, cfg.train.seed)
    augmented = augmented.persist(StorageLevel.MEMORY_AND_DISK)
    after = _words(augmented).first()
    result.row_counts.update(augmented_sentences=after.rows, augmented_words=after.words)
    result.metrics["augmentation_factor"] = after.words / before.words if before.words else 1.0
    event(
        _log,
        "augment.done",
        sentences=before.rows,
        copies=after.rows - before.rows,
        factor=round(result.metrics["augmentation_factor"], 4),
    )
    return augmented, groups


def stage_train(
    spark: SparkSession, cfg: Config, augmented: DataFrame, groups: list[Group], result: RunResult
) -> DataFrame:
    vectors, stats = train(spark, augmented, cfg, group_words={w for g in groups for w in g.words})
    result.row_counts["vectors"] = int(stats["vocab_size"])
    result.metrics.update({f"train_{k}": float(v) for k, v in stats.items() if isinstance(v, int | float)})
    return vectors


def stage_retrofit(cfg: Config, vectors: DataFrame, groups: list[Group], result: RunResult) -> DataFrame:
    """Retrofit the group words (``augment.method`` retrofit or both); the trained vectors otherwise."""
    if cfg.augment.method == "swap" or not groups:
        return vectors
    started = time.monotonic()
    fitted = retrofit(vectors, groups, cfg.augment.retrofit_iterations, cfg.augment.retrofit_weight)
    fitted = fitted.localCheckpoint(eager=True)
    result.metrics["retrofit_seconds"] = time.monotonic() - started
    return fitted


def stage_evaluate(
    cfg: Config, vectors: DataFrame, groups: list[Group], result: RunResult, baseline: Evaluation | None = None
) -> Evaluation:
    evaluation = evaluate(vectors, groups, cfg.evaluate.max_vocab)
    result.metrics.update(evaluation.metrics)
    if baseline is not None:
        result.metrics.update({f"baseline_{k}": v for k, v in baseline.metrics.items()})
    result.details["groups"] = evaluation.groups
    result.summary = summary(evaluation, baseline)
    return evaluation


def _write(df: DataFrame, cfg: Config, table: str, result: RunResult) -> None:
    """Write a stage table with the run's id; with a run key, a table that already holds the key's output is kept."""
    rows = df.withColumn("run_id", F.lit(result.run_id))
    if not tables.write_table(rows, cfg.output, table, run_key=cfg.run.key, run_id=result.run_id):
        result.details.setdefault("tables_kept", []).append(table)


def _vectors_of_earlier_attempt(spark: SparkSession, cfg: Config, result: RunResult) -> DataFrame | None:
    """The vectors an earlier, failed attempt with this run key committed (Delta), or None.

    Their write will be skipped as done, so the retry computes the similarities, the evaluation and the report from
    them: every output of the run key then agrees, also with MLlib's non-deterministic training.
    """
    if cfg.run.key is None:
        return None
    written = tables.written_by(spark, cfg.output, "vectors")
    if written is None or written["run_key"] != cfg.run.key:
        return None
    event(_log, "run.resumed", run_key=cfg.run.key, vectors_of=written["run_id"])
    result.details["vectors_of_run"] = written["run_id"]
    return tables.read_table(spark, cfg.output, "vectors").drop("run_id")


# ------------------------------------------------------------------------------------------------------- commands
def _cmd_run(spark: SparkSession, cfg: Config, result: RunResult) -> None:
    stage = _stages(spark, cfg, result)
    with stage("tokenize"):
        sentences = stage_tokenize(spark, cfg).persist(StorageLevel.MEMORY_AND_DISK)
    with stage("augment"):
        augmented, groups = stage_augment(spark, cfg, sentences, result)
    with stage("train"):
        trained = stage_train(spark, cfg, augmented, groups, result)
    with stage("retrofit"):
        vectors = stage_retrofit(cfg, trained, groups, result)
    committed = _vectors_of_earlier_attempt(spark, cfg, result)
    if committed is not None:
        vectors = committed
    augmented.unpersist()
    baseline, plain = None, None
    if cfg.evaluate.baseline and groups and cfg.augment.method == "retrofit":
        with stage("baseline"):
            # Retrofitting alone trained on the corpus as it is: the trained vectors are the run without groups.
            plain = trained
            baseline = evaluate(plain, groups, cfg.evaluate.max_vocab)
            result.metrics["baseline_train_seconds"] = result.metrics.get("train_train_seconds", 0.0)
    elif cfg.evaluate.baseline and groups:
        with stage("baseline"):
            # The same words exempt from subsampling, so that the comparison isolates the augmentation.
            plain, stats = train(
                spark, sentences.withColumn("copy", F.lit(0)), cfg, group_words={w for g in groups for w in g.words}
            )
            baseline = evaluate(plain, groups, cfg.evaluate.max_vocab)
            result.metrics["baseline_train_seconds"] = float(stats.get("train_seconds", 0.0))
    sentences.unpersist()
    with stage("similarity"):
        sims = _similarities(spark, vectors, cfg, result, vocab_size=result.row_counts["vectors"])
    with stage("write"):
        _write(vectors, cfg, "vectors", result)
        _write(sims, cfg, "similarities", result)
        if plain is not None:  # so that a later `swapvec evaluate` can still compare with the run without groups
            _write(plain, cfg, "baseline_vectors", result)
    with stage("evaluate"):
        evaluation = stage_evaluate(cfg, vectors, groups, result, baseline)
    with stage("report"):
        report = write_report(cfg, result.run_id, vectors, groups, evaluation, plain, baseline)
        result.report_dir = report.parent if report else None


def _cmd_tokenize(spark: SparkSession, cfg: Config, result: RunResult) -> None:
    with _stages(spark, cfg, result)("tokenize"):
        sentences = stage_tokenize(spark, cfg).localCheckpoint(eager=True)
        counts = _words(sentences).first()
        if counts.rows == 0:
            raise BadInput(f"the corpus at {cfg.input.path} has no tokens: it is empty or holds no words")
        result.row_counts.update(sentences=counts.rows, words=counts.words)
        _write(sentences, cfg, "sentences", result)


def _cmd_augment(spark: SparkSession, cfg: Config, result: RunResult) -> None:
    sentences = tables.read_table(spark, cfg.output, "sentences", needed_by="augment").drop("run_id")
    with _stages(spark, cfg, result)("augment"):
        augmented, _ = stage_augment(spark, cfg, sentences, result)
        _write(augmented, cfg, "augmented", result)
        augmented.unpersist()


def _cmd_train(spark: SparkSession, cfg: Config, result: RunResult) -> None:
    augmented = tables.read_table(spark, cfg.output, "augmented", needed_by="train").drop("run_id")
    groups = load_groups(spark, cfg.augment.groups_path, cfg.tokenize) if cfg.augment.groups_path else []
    with _stages(spark, cfg, result)("train"):
        vectors = stage_train(spark, cfg, augmented, groups, result)
        vectors = stage_retrofit(cfg, vectors, groups, result)
        _write(vectors, cfg, "vectors", result)


def _similarities(
    spark: SparkSession, vectors: DataFrame, cfg: Config, result: RunResult, vocab_size: int | None = None
) -> DataFrame:
    """The ``similarities`` table, computed once (checkpointed), with how it was searched in ``result``."""
    sims = similarities(spark, vectors, cfg.similarity, vocab_size=vocab_size).localCheckpoint(eager=True)
    result.row_counts["similarities"] = sims.count()
    if cfg.similarity.mode == "approximate":
        searched = search_metrics(sims)
        result.metrics.update(searched)
        event(_log, "similarity.searched", **searched)
    return sims.select(*TABLE_COLUMNS)


def _cmd_similarity(spark: SparkSession, cfg: Config, result: RunResult) -> None:
    vectors = tables.read_table(spark, cfg.output, "vectors", needed_by="similarity")
    with _stages(spark, cfg, result)("similarity"):
        sims = _similarities(spark, vectors.select("word", "vector"), cfg, result)
        _write(sims, cfg, "similarities", result)


def _cmd_evaluate(spark: SparkSession, cfg: Config, result: RunResult) -> None:
    vectors = tables.read_table(spark, cfg.output, "vectors", needed_by="evaluate")
    groups = load_groups(spark, cfg.augment.groups_path, cfg.tokenize) if cfg.augment.groups_path else []
    stage = _stages(spark, cfg, result)
    plain, baseline = None, None
    if cfg.evaluate.baseline and groups and tables.table_exists(cfg.output, "baseline_vectors"):
        with stage("baseline"):
            # The vectors without groups that `swapvec run` trained beside the run's own: the before of the report.
            stored = tables.read_table(spark, cfg.output, "baseline_vectors").localCheckpoint(eager=True)
            first = stored.select("run_id").first()
            result.details["baseline_of_run"] = first.run_id if first else None
            plain = stored.drop("run_id")
            baseline = evaluate(plain, groups, cfg.evaluate.max_vocab)
    with stage("evaluate"):
        evaluation = stage_evaluate(cfg, vectors, groups, result, baseline)
    with stage("report"):
        report = write_report(cfg, result.run_id, vectors, groups, evaluation, plain, baseline)
        result.report_dir = report.parent if report else None


_COMMANDS: dict[str, Callable[[SparkSession, Config, RunResult], None]] = {
    "run": _cmd_run,
    "tokenize": _cmd_tokenize,
    "augment": _cmd_augment,
    "train": _cmd_train,
    "similarity": _cmd_similarity,
    "evaluate": _cmd_evaluate,
}


#: The table each single-stage command reads.
_NEEDS = {"augment": "sentences", "train": "augmented", "similarity": "vectors", "evaluate": "vectors"}


def preflight(cfg: Config, command: str) -> None:
    """Every check that needs no Spark, before a session is started: paths, the groups file, the input table.

    Raises
    ------
    BadInput
        The first problem found, in one line.
    """
    if command not in _COMMANDS:
        raise BadInput(f"unknown command {command!r}; one of {', '.join(COMMANDS)}")
    tables.check_output(cfg.output)
    if command in ("run", "tokenize"):
        if not cfg.input.path:
            raise BadInput("config: input.path: is required (a text file or folder, a Parquet or Delta path)")
        path = tables.resolve_input_path(cfg.input.path)
        if "://" not in path and not Path(path.removeprefix("file:")).exists():
            raise BadInput(f"input.path does not exist: {cfg.input.path}")
    if cfg.augment.groups_path and command in ("run", "augment", "train", "evaluate"):
        file = Path(cfg.augment.groups_path)
        if not file.is_file():
            raise BadInput(f"augment.groups_path: file not found: {cfg.augment.groups_path}")
        try:
            parse_groups(file.read_text(encoding="utf-8"), source=file.name)
        except UnicodeDecodeError:
            raise BadInput(f"augment.groups_path: {file} is not UTF-8 text") from None
    needed = _NEEDS.get(command)
    if needed and "://" not in cfg.output.path and not tables.table_exists(cfg.output, needed):
        raise tables.missing_table(cfg.output, needed, needed_by=command)


def execute(spark: SparkSession, cfg: Config, command: str = "run", run_id: str | None = None) -> RunResult:
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
    RunResult
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
    result = RunResult(run_id=run_id or new_run_id(), command=command)
    started = dt.datetime.now(dt.UTC)
    event(_log, "run.start", run_id=result.run_id, command=command, config=json.loads(cfg.to_json()))
    earlier = tables.succeeded_run(spark, cfg.output, command, cfg.run.key) if cfg.run.key else None
    if earlier is not None:
        return _skip(spark, cfg, result, started, earlier)
    error = None
    try:
        _COMMANDS[command](spark, cfg, result)
    except BaseException as exc:
        result.status = "failed"
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:1000]
        raise
    finally:
        _record(spark, cfg, result, started, result.status, error)
        tracking.log_run(cfg, result, result.status, result.report_dir)
    event(_log, "run.done", run_id=result.run_id, command=command, metrics=result.metrics)
    return result


def _skip(spark: SparkSession, cfg: Config, result: RunResult, started: dt.datetime, earlier: str) -> RunResult:
    """Record that this run key's command already succeeded (in run ``earlier``), and do nothing else."""
    result.status = "skipped"
    result.details["same_as"] = earlier
    result.summary = f"run key {cfg.run.key}: {result.command} already succeeded in run {earlier}; nothing written"
    event(_log, "run.skipped", run_id=result.run_id, command=result.command, run_key=cfg.run.key, same_as=earlier)
    _record(spark, cfg, result, started, result.status, None)
    return result


def _record(
    spark: SparkSession, cfg: Config, result: RunResult, started: dt.datetime, status: str, error: str | None
) -> None:
    row = {
        "run_id": result.run_id,
        "command": result.command,
        "status": status,
        "started_at": started,
        "ended_at": dt.datetime.now(dt.UTC),
        "config": cfg.to_json(),
        "row_counts": {k: int(v) for k, v in result.row_counts.items()},
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "details": json.dumps(result.details, default=str),
        "error": error,
        "run_key": cfg.run.key,
    }
    try:
        tables.append_run(spark, cfg.output, [row])
    except Exception as exc:  # recording must not hide the run's own outcome
        if status == "succeeded":
            raise SwapvecError(f"the run succeeded but its runs row could not be written: {exc}") from exc
        event(_log, "runs.write_failed", run_id=result.run_id, error=str(exc).splitlines()[0] if str(exc) else "")

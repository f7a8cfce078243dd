"""The commands: each chains the stages, owns its run record, and appends it to ``runs``.

``run(spark, cfg)`` runs every stage and writes ``vectors``, ``model`` and ``replay`` (gensim), ``similarities`` (and
``baseline_vectors`` with ``evaluate.baseline``); ``execute(spark, cfg, command)`` runs one command: ``run`` or a
single stage (``tokenize``, ``augment``, ``train``, ``similarity``, ``evaluate``), which reads the previous stage's
table and writes its own. The console script, the jobs, the notebooks and the tests all call ``execute``.

Stages are functions of DataFrames in their own modules (``tokenize``, ``augment``, ``train``, ``retrofit``,
``specialize``, ``guarantee``, ``similarity``, ``evaluate``, ``report``); each returns its result and a few stats.
The steps that several commands chain, and the context a command hands them, are in :mod:`swapvec.steps`. What a
keyed run must still do is decided before any stage runs (``runs.resume``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession

from swapvec import runs, tracking
from swapvec.augment import affected_sentences, augment_corpus, count_words
from swapvec.command import Command
from swapvec.compat import local_checkpoint
from swapvec.config import Config
from swapvec.errors import BadInput, stop_point, stopped_by
from swapvec.groups import check_groups_file
from swapvec.lexicon import check_lexicon_file
from swapvec.log import event, get_logger
from swapvec.phrases import apply
from swapvec.runs import RunRecord
from swapvec.similarity import neighbours_per_word, query_words
from swapvec.similarity.kernels import require_faiss
from swapvec.steps import baseline_of, evaluated, replay_sample, reported, sentences_of, similarities_of, vectors_of
from swapvec.store import Store, check_input
from swapvec.store.parquet import WriterBusy
from swapvec.store.paths import check_location
from swapvec.store.report_folder import check_report_folder

_log = get_logger("pipeline")

COMMANDS = ("run", "tokenize", "augment", "train", "similarity", "evaluate")
#: The tables each command writes, in the order it writes them.
OUTPUTS = {
    "run": ("vectors", "model", "replay", "similarities", "baseline_vectors", "phrases"),
    "tokenize": ("sentences", "phrases"),
    "augment": ("augmented",),
    "train": ("vectors", "model", "replay"),
    "similarity": ("similarities",),
    "evaluate": (),
}
#: The table each single-stage command reads.
NEEDS = {"augment": "sentences", "train": "augmented", "similarity": "vectors", "evaluate": "vectors"}


# ------------------------------------------------------------------------------------------------------- commands
def _run(c: Command) -> None:
    affected, groups = c.affected_only, c.constraints.groups  # decided, and read and checked, before any work
    sentences = phrases = trained_vectors = model = None
    if c.kept("vectors"):
        vectors = c.read_kept("vectors")
    else:
        with c.stage("tokenize"):
            sentences, phrases = sentences_of(c)
            if affected:
                sentences = affected_sentences(sentences, groups)
            sentences = c.persist(sentences)
        with c.stage("augment"):
            corpus = f"the corpus at {c.cfg.input.path}"
            # With affected_only the sentences are those that hold a group word: none is not an empty corpus.
            none = f"no sentence of {corpus} holds a group word: augment.affected_only has nothing to train"
            augmented, stats = augment_corpus(
                sentences, groups, c.cfg.augment, c.cfg.train.seed, corpus, none if affected else None
            )
            c.record.add(stats)
        # A continuation's earlier sentences mixed in, with their copies; the similarities' top_k checked against the
        # vocabulary before training rather than after it.
        own, top_k = stats.row_counts["sentences"], lambda size: neighbours_per_word(c.cfg.similarity, size)
        trained_vectors, vectors, model = vectors_of(c, augmented, own_count=own, vocab_check=top_k)
    baseline_vectors = None
    if c.cfg.evaluate.baseline and c.constraints:
        with c.stage("baseline"):
            baseline_vectors = baseline_of(c, sentences, trained_vectors)
    sims = None
    if not c.kept("similarities"):
        with c.stage("similarity"):
            sims = similarities_of(c, vectors, vocab_size=c.record.row_counts.get("vectors"))
    # Before the writes, whose Spark jobs would queue its collect behind theirs.
    evaluations = evaluated(c, vectors, baseline_vectors)
    with c.stage("write"):
        replay = None if c.kept("replay") else replay_sample(c, sentences)  # reads the persisted sentences
        tables = {"vectors": vectors, "model": model, "replay": replay, "similarities": sims, "phrases": phrases}
        if baseline_vectors is not None:  # so that a later `swapvec evaluate` can still compare with them
            tables["baseline_vectors"] = baseline_vectors
        # The writes wait on the JVM; the driver's Python draws the report meanwhile.
        with c.writing(_made_or_kept(c, tables)) as written:
            reported(c, evaluations, written)


def _made_or_kept(c: Command, tables: dict[str, DataFrame | None]) -> dict[str, DataFrame | None]:
    """The tables this run made, and those it did not make (None) but keeps from an earlier run of its key."""
    return {table: df for table, df in tables.items() if df is not None or c.kept(table)}


def _tokenize(c: Command) -> None:
    if c.kept("sentences"):
        c.write(None, "sentences")
        if c.kept("phrases"):
            c.write(None, "phrases")
        return
    with c.stage("tokenize"):
        sentences, phrases = sentences_of(c)
        sentences = local_checkpoint(sentences)
        c.record.add(count_words(sentences, f"the corpus at {c.cfg.input.path}"))
        c.write_all({"sentences": sentences, **({"phrases": phrases} if phrases is not None else {})})


def _augment(c: Command) -> None:
    if c.kept("augmented"):
        return c.write(None, "augmented")
    sentences = c.store.read("sentences", needed_by="augment").drop("run_id")
    # The named phrases, in case `swapvec tokenize` ran without the groups file (joined phrases are left as they are).
    sentences = apply(sentences, c.named_phrases, [], c.cfg.tokenize.phrase_joiner)
    if c.affected_only:
        sentences = affected_sentences(sentences, c.constraints.groups)
    with c.stage("augment"):
        augmented, stats = augment_corpus(sentences, c.constraints.groups, c.cfg.augment, c.cfg.train.seed)
        c.record.add(stats)
        c.write(augmented, "augmented")
        augmented.unpersist()


def _train_command(c: Command) -> None:
    if c.kept("vectors"):
        return c.write(None, "vectors")
    augmented = c.store.read("augmented", needed_by="train").drop("run_id")
    _, vectors, model = vectors_of(c, augmented)
    with c.stage("write"):
        tables = {"vectors": vectors, "model": model, "replay": replay_sample(c, augmented)}
        c.write_all(_made_or_kept(c, tables))


def _similarity(c: Command) -> None:
    if c.kept("similarities"):
        return c.write(None, "similarities")
    vectors = c.store.read("vectors", needed_by="similarity")
    with c.stage("similarity"):
        c.write(similarities_of(c, vectors), "similarities")


def _evaluate_command(c: Command) -> None:
    vectors = c.store.read("vectors", needed_by="evaluate")
    baseline_vectors = None
    if c.cfg.evaluate.baseline and c.constraints and c.store.exists("baseline_vectors"):
        # The vectors without groups that `swapvec run` trained beside the run's own: the before of the report.
        stored = local_checkpoint(c.store.read("baseline_vectors"))
        first = stored.select("run_id").first()
        c.record.details["baseline_of_run"] = first.run_id if first else None
        baseline_vectors = stored.drop("run_id")
    reported(c, evaluated(c, vectors, baseline_vectors))


_COMMANDS: dict[str, Callable[[Command], None]] = {
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
    for key, path in (
        ("output.path", cfg.output.path),
        ("train.staging_path", cfg.train.staging_path),
        ("train.init_from", cfg.train.init_from),
    ):
        if path:
            check_location(path, key)
    store = Store(cfg.output)
    store.check()
    if command in ("run", "tokenize"):
        store.check_apart_from(check_input(cfg.input.path))
    if command in ("run", "evaluate"):  # the commands that write the report (steps.evaluated)
        check_report_folder(cfg.output.path)
    # The tokenize and augment commands read them for their phrases.
    if cfg.augment.groups_path and command != "similarity":
        check_groups_file(cfg.augment.groups_path, cfg.tokenize, cfg.augment.method)
    if cfg.augment.lexicon_path and command != "similarity":
        check_lexicon_file(cfg.augment.lexicon_path, cfg.tokenize)
    if command in ("run", "similarity"):
        query_words(cfg.similarity, cfg.tokenize.phrase_joiner)  # a words file that is not there
        if cfg.similarity.mode == "approximate":
            require_faiss("similarity.mode approximate")
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
    record = RunRecord(run_id=run_id or runs.new_run_id(), command=command)
    with contextlib.ExitStack() as held:
        try:
            stop_point()  # a stop that came while the session started, its KeyboardInterrupt lost in a finaliser
            # Before any work, and before the runs row: data swapvec did not write is never written over (nor
            # vacuumed).
            store.check_owned((*OUTPUTS[command], "runs"))
            event(_log, "run.start", run_id=record.run_id, command=command, config=json.loads(cfg.to_json()))
            # Parquet: one writer at a time on an output path, from before the first write to the runs row.
            held.enter_context(store.writer(record.run_id))
            plan = runs.resume(store, command, cfg, OUTPUTS[command])
        except WriterBusy as exc:
            record.failed(exc)
            runs.append(store, cfg, record)
            raise
        except BaseException as exc:
            if stopped_by(exc):  # a stop before the run began (SIGTERM as the session came up) is recorded too
                _record_stop(store, cfg, record, exc)
            raise
        if plan.same_as is not None:
            record.status = "skipped"
            record.details["same_as"] = plan.same_as
            record.summary = (
                f"run key {cfg.run.key}: {command} already succeeded in run {plan.same_as}; nothing written"
            )
            event(_log, "run.skipped", run_id=record.run_id, command=command, run_key=cfg.run.key, same_as=plan.same_as)
            runs.append(store, cfg, record)
            return record
        c = Command(spark, cfg, store, record, plan)
        try:
            _COMMANDS[command](c)
        except BaseException as exc:
            record.failed(exc)
            raise
        finally:
            c.release()
            runs.append(store, cfg, record)
            tracking.log_run(cfg, record)
    event(_log, "run.done", run_id=record.run_id, command=command, metrics=record.metrics)
    return record


def _record_stop(store: Store, cfg: Config, record: RunRecord, exc: BaseException) -> None:
    """Append the ``failed`` row of a run stopped before it began, unless ``runs`` is not swapvec's to write."""
    record.failed(exc)
    try:
        foreign = store.foreign("runs")
    except Exception:  # the session is going too: nothing can be recorded
        return
    if not foreign:
        runs.append(store, cfg, record)
        tracking.log_run(cfg, record)


def run(spark: SparkSession, cfg: Config) -> RunRecord:
    """The whole pipeline (``swapvec run``): ``execute(spark, cfg, "run")``."""
    return execute(spark, cfg, "run")

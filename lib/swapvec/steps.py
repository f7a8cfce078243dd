"""The steps that several commands chain, each given the command's context (:class:`swapvec.command.Command`).

:mod:`swapvec.pipeline` holds the commands; each is a short chain of these steps, and each step calls one stage (a
function of DataFrames in its own module: ``tokenize``, ``augment``, ``train``, ``retrofit``, ``specialize``,
``guarantee``, ``similarity``, ``evaluate``, ``report``) with the settings that stage uses, never the whole config,
records the stats it returns on the run record, and returns what it made: the command keeps no step's result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from swapvec import replay
from swapvec.augment import augment, substitutions
from swapvec.collocations import detect
from swapvec.command import Command
from swapvec.compat import local_checkpoint
from swapvec.config import Config
from swapvec.evaluate import Evaluation, evaluate
from swapvec.groups import constrained_words, group_words
from swapvec.guarantee import guarantee
from swapvec.log import event, get_logger
from swapvec.phrases import TABLE_SCHEMA, apply, table_rows
from swapvec.report import ReportInfo, render
from swapvec.retrofit import retrofit
from swapvec.similarity import similarities
from swapvec.specialize import SpecializeParams, specialize
from swapvec.stats import Stats
from swapvec.store import read_corpus
from swapvec.store.paths import absolute, table_path
from swapvec.store.report_folder import publish_report
from swapvec.summary import compared, kept_by, summary
from swapvec.tokenize import check_pattern, check_spaced, chunked, token_rows
from swapvec.train import TrainParams, train

_log = get_logger("pipeline")


class Tokenized(NamedTuple):
    """The corpus as the stages after tokenisation read it."""

    #: ``tokens`` and ids, in sentences of at most ``tokenize.max_sentence_length``.
    sentences: DataFrame
    #: The ``phrases`` table of the phrases detected in the corpus (``tokenize.phrases``); None otherwise.
    phrases: DataFrame | None


def sentences_of(c: Command) -> Tokenized:
    """The corpus, read and tokenised, its phrases made tokens (:func:`phrased`)."""
    cfg = c.cfg.tokenize
    check_pattern(c.spark, cfg)
    rows = token_rows(read_corpus(c.spark, c.cfg.input), cfg)
    check_spaced(rows, cfg)
    rows, phrases = phrased(c, rows)
    return Tokenized(chunked(rows, cfg.max_sentence_length), phrases)


def phrased(c: Command, rows: DataFrame) -> tuple[DataFrame, DataFrame | None]:
    """``rows`` (a ``tokens`` column) with the phrases the groups file and the lexicon name made tokens, and with
    ``tokenize.phrases`` the phrases detected in them too, with the ``phrases`` table of those (their stats recorded);
    None for the table otherwise."""
    cfg, named = c.cfg.tokenize, c.named_phrases
    if not cfg.phrases:
        return apply(rows, named, [], cfg.phrase_joiner), None
    rows = c.persist(rows)  # read once a pass, and once more by the stages after
    groups_words = constrained_words(c.constraints.groups, c.constraints.repels)
    detected = detect(rows, cfg, named, kept_apart=set(groups_words))
    c.record.add(detected.stats)
    c.record.row_counts["phrases"] = len(detected.phrases)
    return detected.rows, c.spark.createDataFrame(table_rows(detected.phrases), TABLE_SCHEMA)


def train_params(cfg: Config, affected_only: bool = False) -> TrainParams:
    """What training reads of ``cfg``; ``affected_only``: the sentences are those of the prior model's corpus that
    hold a group word (:attr:`Command.affected_only`), trained for ``augment.affected_epochs``."""
    t = cfg.train
    if affected_only:  # the model trained its epochs over these sentences already
        t = t.replaced(epochs=cfg.augment.affected_epochs)
    staging = absolute(t.staging_path) if t.staging_path else table_path(cfg.output.path, "_staging")
    return TrainParams(t, staging, cfg.tokenize.max_sentence_length, same_corpus=affected_only)


class Vectors(NamedTuple):
    """What :func:`vectors_of` makes."""

    #: The trained vectors (``word, vector, count``), before any step after training.
    trained: DataFrame
    #: The run's vectors: the trained ones retrofitted or specialised, and moved by the guarantee step.
    final: DataFrame
    #: The model table (gensim: the trained vectors with ``output`` and ``train_count``), written beside them; None
    #: otherwise.
    model: DataFrame | None


def vectors_of(
    c: Command, augmented: DataFrame, own_count: int | None = None, vocab_check: Callable[[int], None] | None = None
) -> Vectors:
    """Train on ``augmented`` (with a continuation's replayed sentences mixed in, :func:`with_replay`), then fit
    (:func:`fitted`) and keep the groups' promise (:func:`guaranteed`), each its own stage. ``augmented`` is
    unpersisted once trained. ``own_count``: :func:`with_replay`'s; ``vocab_check``: ``train.train``'s."""
    with c.stage("train"):
        trained_vectors, model = trained(c, with_replay(c, augmented, own_count), vocab_check)
    augmented.unpersist()
    vectors = trained_vectors
    if c.cfg.augment.after_training:
        with c.stage(c.cfg.augment.after_training):
            vectors = fitted(c, trained_vectors)
    with c.stage("guarantee"):
        vectors = guaranteed(c, vectors)
    return Vectors(trained_vectors, vectors, model)


def trained(
    c: Command, sentences: DataFrame, vocab_check: Callable[[int], None] | None = None
) -> tuple[DataFrame, DataFrame | None]:
    """The vectors trained on ``sentences`` (from ``train.init_from``'s model when set), the group words exempt from
    subsampling, and the gensim backend's model table (None with MLlib). ``vocab_check``: ``train.train``'s."""
    words = group_words(c.constraints.groups)
    params = train_params(c.cfg, c.affected_only)
    vectors, stats = train(
        c.spark, sentences, params, group_words=words, prior=c.prior_model, with_model=True, vocab_check=vocab_check
    )
    numbers = {f"train_{k}": float(v) for k, v in stats.items() if isinstance(v, int | float)}
    # The words (how the weights travelled, how the tasks got their cores and why) go to the details.
    words = {f"train_{k}": v for k, v in stats.items() if isinstance(v, str)}
    c.record.add(Stats(row_counts={"vectors": int(stats["vocab_size"])}, metrics=numbers, details=words))
    model = vectors if "output" in vectors.columns else None
    return vectors.select("word", "vector", "count"), model


def with_replay(c: Command, sentences: DataFrame, own_count: int | None = None) -> DataFrame:
    """``sentences`` with the earlier ones a continuation trains again mixed in (:mod:`swapvec.replay`), and their
    swapped copies when ``sentences`` has copies; ``sentences`` as they are when there is nothing to replay (no
    prior sample, ``train.replay_share`` 0, or ``augment.affected_only``: those sentences are the model's already).

    The draw is made once a command (:func:`_drawn`), sized by ``own_count``, the run's own sentences (counted when
    not given), persisted, so that the training's baseline and a lost executor read the same sentences again."""
    t, prior = c.cfg.train, c.prior
    if prior is None or prior.sample is None or t.replay_share == 0 or c.affected_only:
        return sentences
    drawn = c.once("replayed", lambda: _drawn(c, prior.sample, sentences, own_count))
    if drawn is None:
        return sentences
    if "copy" in sentences.columns:
        subs = substitutions(c.constraints.groups) if c.cfg.augment.copies else {}
        drawn = augment(drawn, subs, c.cfg.augment.max_copies_per_sentence, t.seed)
    return replay.mixed(sentences, drawn, t.seed)


def _drawn(c: Command, sample: DataFrame, sentences: DataFrame, own_count: int | None) -> DataFrame | None:
    """The prior's sentences to replay beside ``sentences`` (``own_count`` of them, counted when None), persisted;
    None when none is drawn. Their count is recorded."""
    t = c.cfg.train
    if own_count is None:
        own_count = replay.originals(sentences).count()
    drawn, wanted = replay.drawn(sample, t.replay_share, own_count, t.seed)
    count = 0
    if drawn is not None:
        drawn = c.persist(drawn)
        count = drawn.count()
    c.record.row_counts["replayed_sentences"] = count
    # Fewer than wanted when the sample holds fewer (train.replay_keep): said, since the share is then lower.
    event(_log, "train.replay", own_sentences=own_count, wanted=wanted, drawn=count, share=t.replay_share)
    return drawn


def replay_sample(c: Command, sentences: DataFrame | None) -> DataFrame | None:
    """The ``replay`` table of this run's model (gensim, ``train.replay_keep`` above 0): its prior's sample and
    ``sentences``' own (the corpus read again when None: an earlier attempt of the run key kept the vectors); the
    prior's sample alone when the run trained sentences the prior had (``affected_only``)."""
    t, prior = c.cfg.train, c.prior
    if t.backend != "gensim" or t.replay_keep == 0:
        return None
    earlier = prior.sample if prior is not None else None
    if c.affected_only:
        return earlier
    if sentences is None:
        sentences = sentences_of(c).sentences
    return replay.sample(sentences, earlier, t.replay_keep, t.seed)


def _placed(c: Command, step: str, move: Callable[[], tuple[DataFrame, Stats]]) -> DataFrame:
    """The vectors a step that moves words returns (retrofit, specialize, guarantee), materialised; its stats and
    ``<step>_seconds`` recorded."""
    started = time.monotonic()
    moved, stats = move()
    moved = local_checkpoint(moved)
    stats.metrics[f"{step}_seconds"] = time.monotonic() - started
    c.record.add(stats)
    return moved


def fitted(c: Command, vectors: DataFrame) -> DataFrame:
    """The trained vectors retrofitted or specialised (``augment.method``); as they are otherwise."""
    a, constraints = c.cfg.augment, c.constraints
    if a.after_training == "retrofit" and constraints.groups:
        iterations, weight = a.retrofit_iterations, a.retrofit_weight
        return _placed(c, "retrofit", lambda: (retrofit(vectors, constraints.groups, iterations, weight), Stats()))
    if a.after_training == "specialize" and constraints.pairs:
        params = SpecializeParams(regularization=a.specialize_regularization)
        seed, outside = c.cfg.train.seed, a.specialize_outside
        moved = lambda: specialize(vectors, constraints.pairs, params, seed, outside, apart=a.guarantee)  # noqa: E731
        return _placed(c, "specialize", moved)
    return vectors


def guaranteed(c: Command, vectors: DataFrame) -> DataFrame:
    """The group words moved until the groups' promise holds (``augment.guarantee``); the vectors otherwise."""
    if not c.cfg.augment.guarantee or not c.constraints.groups:
        return vectors
    return _placed(c, "guarantee", lambda: guarantee(vectors, c.constraints.groups))


def similarities_of(c: Command, vectors: DataFrame, vocab_size: int | None = None) -> DataFrame:
    """The ``similarities`` table of ``vectors``."""
    joiner = c.cfg.tokenize.phrase_joiner  # for the phrases among similarity.words
    sims, stats = similarities(c.spark, vectors.select("word", "vector"), c.cfg.similarity, vocab_size, joiner)
    c.record.add(stats)
    return sims


def baseline_of(c: Command, sentences: DataFrame | None, trained_vectors: DataFrame | None) -> DataFrame:
    """The run without the constraints: the same corpus without copies, the same words exempt from subsampling, so
    that the comparison isolates the augmentation; with a lexicon, or without copies, the trained vectors (before
    retrofitting or specialisation); with ``augment.affected_only``, the model the run started from."""
    if c.kept("baseline_vectors"):
        return c.read_kept("baseline_vectors")
    if c.affected_only:  # groups added to a trained model: that model is the run without them
        return c.prior.model.select("word", "vector", "count")
    if (not c.cfg.augment.copies or c.constraints.lexicon) and trained_vectors is not None:
        c.record.metrics["baseline_train_seconds"] = c.record.metrics.get("train_seconds", 0.0)
        return trained_vectors
    if sentences is None:  # the run's own vectors were kept from an earlier attempt
        sentences = sentences_of(c).sentences
    words = group_words(c.constraints.groups)
    originals = with_replay(c, sentences).withColumn("copy", F.lit(0))  # what the run trained, without copies
    vectors, stats = train(c.spark, originals, train_params(c.cfg), group_words=words, prior=c.prior_model)
    c.record.metrics["baseline_train_seconds"] = float(stats["seconds"])
    return vectors


def evaluated(
    c: Command, vectors: DataFrame, baseline_vectors: DataFrame | None
) -> tuple[Evaluation, Evaluation | None]:
    """The evaluation of ``vectors`` and of the baseline when there is one (the vectors collected to the driver, in
    them), recorded."""
    constraints, max_vocab = c.constraints, c.cfg.evaluate.max_vocab
    with c.stage("evaluate"):
        baseline = None
        if baseline_vectors is not None:
            baseline = evaluate(baseline_vectors, constraints, max_vocab)
        evaluation: Evaluation = evaluate(vectors, constraints, max_vocab)
        c.record.add(evaluation.stats(baseline))
        moves, joiner, (heads, by) = c.record.details.get("guarantee"), c.cfg.tokenize.phrase_joiner, _headings(c)
        c.record.summary = summary(evaluation, baseline, joiner, heads, moves, by)
    return evaluation, baseline


def _headings(c: Command) -> tuple[tuple[str, str], str]:
    """What the summary and the report call the baseline and the run (:func:`swapvec.summary.compared`), and what
    kept a promise before the guarantee step (:func:`swapvec.summary.kept_by`)."""
    return compared(c.cfg.augment, c.affected_only), kept_by(c.cfg.augment.after_training)


def reported(
    c: Command, evaluations: tuple[Evaluation, Evaluation | None], written: Callable[[], None] | None = None
) -> None:
    """Write the report of :func:`evaluated`'s ``evaluations`` under ``output.path``. ``written``: the run's tables are
    being written meanwhile (:meth:`Command.writing`); the report's pages replace the last ones only once they are,
    so that a report never describes tables that did not land."""
    evaluation, baseline = evaluations
    a, groups, moves = c.cfg.augment, c.constraints.groups, c.record.details.get("guarantee")
    heads, by = _headings(c)
    info = ReportInfo(
        run_id=c.record.run_id,
        groups_path=a.groups_path,
        lexicon_path=a.lexicon_path,
        method=a.method if a.groups_path or a.lexicon_path else "none",
        backend=c.cfg.train.backend,
        max_vocab=c.cfg.evaluate.max_vocab,
        joiner=c.cfg.tokenize.phrase_joiner,
        heads=heads,
        kept_by=by,
    )
    with c.stage("report"):
        report = publish_report(
            c.cfg.output.path,
            lambda folder: render(folder, info, groups, evaluation, baseline, moves),
            ready=written,
            started=c.record.started_at.timestamp(),
        )
        c.record.report_dir = report.parent if report else None

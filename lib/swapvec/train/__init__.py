"""Training: one global vocabulary counted by Spark, then the configured backend.

Both backends return ``word string, vector array<float>, count bigint``, where ``count`` is the word's frequency in
the corpus as written (swapped copies do not count), and the same statistics (:func:`train`). The vocabulary is the
corpus's too: a run with groups has the words of the same run without them (:func:`vocabulary`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from swapvec.compat import local_checkpoint, to_arrow
from swapvec.config import TrainConfig
from swapvec.errors import BadInput
from swapvec.log import event, get_logger
from swapvec.replay import REPLAYED

_log = get_logger("train")

#: The ``vector`` column's type in every backend's output and in the ``vectors`` table.
VECTOR_TYPE = T.ArrayType(T.FloatType(), containsNull=True)


@dataclass(frozen=True)
class TrainParams:
    """What training reads: the ``train`` settings, and what it needs of the run around it, resolved by the command
    (:func:`swapvec.steps.train_params`)."""

    #: The ``train`` section (with ``augment.affected_epochs`` as its epochs when the sentences are affected only).
    train: TrainConfig
    #: Where the gensim backend's shipped weights are staged when they travel through files (``train.staging_path``,
    #: or ``_staging`` under ``output.path``).
    staging: str
    #: ``tokenize.max_sentence_length``: MLlib's own split, kept at the tokeniser's.
    max_sentence_length: int
    #: The sentences were drawn from the corpus the prior model was trained on (``augment.affected_only``).
    same_corpus: bool = False


def vocabulary(
    sentences: DataFrame,
    min_count: int,
    max_vocab_size: int | None = None,
    group_words: Collection[str] = (),
    prior: DataFrame | None = None,
    same_corpus: bool = False,
) -> DataFrame:
    """``idx int, word string, count bigint, train_count bigint, run_count bigint``: the words to train, most trained
    first.

    ``count`` is a word's frequency in the corpus as written (rows with ``copy`` 0, or every row without that
    column), ``train_count`` in what is trained on (swapped copies count: gensim samples by it). A word is in when
    its ``count`` reaches ``min_count``, so copies never let a word in or out; a group word whose copies alone make
    it reach ``min_count`` is kept (logged by :func:`train`). Ties are broken by the word, so the order (and every
    index) is the same on every run. ``idx`` is numbered by a global window: one partition, which is fine at
    vocabulary size (millions of rows at most). With ``prior`` (an earlier run's model table), its words join and
    its counts are added: the vocabulary is the union, under ``min_count`` of the summed counts. With
    ``same_corpus`` (sentences drawn from the corpus the prior was trained on), each word's counts are the larger
    of the two, not their sum: the prior already counted those sentences. Sentences replayed from the prior's sample
    (``replay``) count for nothing, for the same reason. ``run_count`` is ``train_count`` in ``sentences`` alone,
    without the prior's: what this run brings (replayed sentences ride along). ``max_vocab_size`` keeps the words of
    highest ``count``, the corpus's, not ``train_count``'s.
    """
    own = ~F.col(REPLAYED) if REPLAYED in sentences.columns else F.lit(True)
    original = own & (F.col("copy") == 0) if "copy" in sentences.columns else own
    counts = (
        sentences.select(
            F.explode("tokens").alias("word"),
            original.cast("long").alias("original"),
            own.cast("long").alias("own"),
        )
        .groupBy("word")
        .agg(F.sum("original").alias("count"), F.sum("own").alias("train_count"))
        .withColumn("run_count", F.col("train_count"))
    )
    if prior is not None:
        combine = F.max if same_corpus else F.sum
        earlier = prior.select("word", F.col("count").cast("long"), F.col("train_count").cast("long"))
        counts = (
            counts.unionByName(earlier.withColumn("run_count", F.lit(0).cast("long")))
            .groupBy("word")
            .agg(
                combine("count").alias("count"),
                combine("train_count").alias("train_count"),
                F.sum("run_count").alias("run_count"),
            )
        )
    kept = F.col("count") >= min_count
    if group_words:
        kept = kept | (F.col("word").isin(list(group_words)) & (F.col("train_count") >= min_count))
    counts = counts.where(kept)
    if max_vocab_size is not None:
        # The corpus's most frequent words, as the run without groups keeps: copies must not push a word out (ranked
        # by train_count, a group's members outnumbered their hub and took its place).
        top = F.row_number().over(Window.orderBy(F.desc("count"), F.asc("word")))
        counts = counts.withColumn("_top", top).where(F.col("_top") <= max_vocab_size).drop("_top")
    ranked = counts.select(
        (F.row_number().over(Window.orderBy(F.desc("train_count"), F.asc("word"))) - 1).cast("int").alias("idx"),
        "word",
        F.col("count").cast("bigint").alias("count"),
        F.col("train_count").cast("bigint").alias("train_count"),
        F.col("run_count").cast("bigint").alias("run_count"),
    )
    return ranked


def train(
    spark: SparkSession,
    sentences: DataFrame,
    params: TrainParams,
    group_words: Collection[str] = (),
    prior: DataFrame | None = None,
    with_model: bool = False,
    vocab_check: Callable[[int], None] | None = None,
) -> tuple[DataFrame, dict[str, Any]]:
    """Train word vectors on ``sentences`` (``tokens`` column and ids) with ``params.train.backend``.

    ``group_words`` are exempt from subsampling (gensim; MLlib does not subsample). ``prior``, an earlier run's model
    table (``train.init_from``), gives the gensim backend its starting weights and counts. With ``with_model``, the
    gensim backend's vectors keep ``output`` and ``train_count``, the model table's columns. ``vocab_check`` is
    called with the vocabulary's size before any training: what a later stage would refuse for that size (a
    ``similarity.top_k`` not below it) is refused before the training's hour, not after it.

    Returns
    -------
    (DataFrame, dict)
        The vectors, and training statistics, named without a stage prefix (the caller adds one): ``vocab_size``,
        ``shards``, ``epochs``, ``words`` (words trained, counted once per epoch), ``seconds`` (of training),
        ``words_per_second``; the gensim backend adds ``sync_rounds``, ``transport`` (a string) and the cores it
        trained on: ``cores`` and ``executors`` seen (None when unknown), ``threads`` a shard, ``task_cpus`` (what
        Spark gave a training task), ``scheduling`` and ``scheduling_reason`` (strings; ``train.cores``).

    Raises
    ------
    BadInput
        The corpus leaves no word with ``min_count`` occurrences.
    """
    t = params.train
    min_count = t.min_count
    # One job, bounded by the vocabulary (words and counts, a fraction of the weights the backends hold): collected
    # once, it costs 0.6x a persisted table counted and collected again.
    query = vocabulary(sentences, min_count, t.max_vocab_size, group_words, prior, params.same_corpus)
    vocab = to_arrow(query).sort_by("idx")
    size = vocab.num_rows
    if size == 0:
        raise BadInput(f"no word occurs at least train.min_count={min_count} times: the corpus is empty or too small")
    if vocab_check is not None:
        vocab_check(size)
    if group_words:
        rare = sorted(vocab.filter(pc.less(vocab["count"], min_count))["word"].to_pylist())
        if rare:
            event(_log, "vocab.kept_by_copies", words=rare, min_count=min_count, note="group words below min_count")
    if t.backend == "mllib":
        from swapvec.train.mllib import train_mllib

        vectors, stats = train_mllib(spark, sentences, vocab, params)
    else:
        from swapvec.train.gensim_avg import train_gensim

        vectors, stats = train_gensim(spark, sentences, vocab, params, keep_words=group_words, prior=prior)
    seconds = stats["seconds"]
    stats["epochs"] = t.epochs
    stats["seconds"] = round(seconds, 3)
    stats["words_per_second"] = round(stats["words"] / seconds, 1) if seconds > 0 else 0.0
    # One schema whatever the backend (MLlib's arrays are declared non-null; gensim's are not).
    columns = [F.col("word").cast("string"), F.col("vector").cast(VECTOR_TYPE), F.col("count").cast("bigint")]
    if with_model and "output" in vectors.columns:
        columns += [F.col("output").cast(VECTOR_TYPE), F.col("train_count").cast("bigint")]
    vectors = local_checkpoint(vectors.select(*columns))
    return vectors, stats

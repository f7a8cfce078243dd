"""Training: one global vocabulary counted by Spark, then the configured backend.

Both backends return ``word string, vector array<float>, count bigint``, where ``count`` is the word's frequency in
the training corpus (the augmented one: swapped copies count), and the same statistics (:func:`train`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from swapvec.config import Config
from swapvec.errors import BadInput

#: The ``vector`` column's type in every backend's output and in the ``vectors`` table.
VECTOR_TYPE = T.ArrayType(T.FloatType(), containsNull=True)


def vocabulary(sentences: DataFrame, min_count: int, max_vocab_size: int | None = None) -> DataFrame:
    """``idx int, word string, count bigint``: words seen at least ``min_count`` times, most frequent first.

    Ties are broken by the word, so the order (and every index) is the same on every run. ``idx`` is numbered by a
    global window: one partition, which is fine at vocabulary size (millions of rows at most).
    """
    counts = (
        sentences.select(F.explode("tokens").alias("word"))
        .groupBy("word")
        .agg(F.count(F.lit(1)).alias("count"))
        .where(F.col("count") >= min_count)
    )
    ranked = counts.select(
        (F.row_number().over(Window.orderBy(F.desc("count"), F.asc("word"))) - 1).cast("int").alias("idx"),
        "word",
        F.col("count").cast("bigint").alias("count"),
    )
    if max_vocab_size is not None:
        ranked = ranked.where(F.col("idx") < max_vocab_size)
    return ranked


def train(
    spark: SparkSession, sentences: DataFrame, cfg: Config, group_words: Collection[str] = ()
) -> tuple[DataFrame, dict[str, Any]]:
    """Train word vectors on ``sentences`` (``tokens`` column and ids) with ``cfg.train.backend``.

    ``group_words`` are exempt from subsampling (gensim; MLlib does not subsample).

    Returns
    -------
    (DataFrame, dict)
        The vectors, and training statistics, named without a stage prefix (the caller adds one): ``vocab_size``,
        ``shards``, ``words`` (words trained, counted once per epoch), ``seconds`` (of training),
        ``words_per_second``; the gensim backend adds ``sync_rounds`` and ``transport`` (a string).

    Raises
    ------
    BadInput
        The corpus leaves no word with ``min_count`` occurrences.
    """
    vocab = vocabulary(sentences, cfg.train.min_count, cfg.train.max_vocab_size).persist()
    size = vocab.count()
    if size == 0:
        vocab.unpersist()
        raise BadInput(
            f"no word occurs at least train.min_count={cfg.train.min_count} times: the corpus is empty or too small"
        )
    try:
        if cfg.train.backend == "mllib":
            from swapvec.train.mllib import train_mllib

            vectors, stats = train_mllib(spark, sentences, vocab, size, cfg)
        else:
            from swapvec.train.gensim_avg import train_gensim

            vectors, stats = train_gensim(spark, sentences, vocab, size, cfg, keep_words=group_words)
        seconds = stats["seconds"]
        stats["seconds"] = round(seconds, 3)
        stats["words_per_second"] = round(stats["words"] / seconds, 1) if seconds > 0 else 0.0
        # One schema whatever the backend (MLlib's arrays are declared non-null; gensim's are not).
        vectors = vectors.select(
            F.col("word").cast("string"), F.col("vector").cast(VECTOR_TYPE), F.col("count").cast("bigint")
        ).localCheckpoint(eager=True)
    finally:
        with contextlib.suppress(Exception):  # the JVM may be gone; the error being raised says why
            vocab.unpersist()
    return vectors, stats

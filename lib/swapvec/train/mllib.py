"""The ``mllib`` backend: pyspark.ml's Word2Vec (skip-gram, hierarchical softmax), with swapvec's names mapped once."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyspark.ml.feature import Word2Vec
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec.compat import from_arrow
from swapvec.train.memory import check_driver_memory

if TYPE_CHECKING:
    from swapvec.train import TrainParams

#: swapvec (gensim) name -> MLlib param name. Options MLlib lacks (sg, hs, negative, sample) are not mapped.
PARAM_NAMES = {
    "vector_size": "vectorSize",
    "window": "windowSize",
    "min_count": "minCount",
    "epochs": "maxIter",
    "num_partitions": "numPartitions",
    "seed": "seed",
    "alpha": "stepSize",
}


def mllib_params(params: TrainParams) -> dict[str, object]:
    """MLlib's parameters for swapvec's; sentences were already split to ``tokenize.max_sentence_length``."""
    mapped: dict[str, object] = {mllib: getattr(params.train, ours) for ours, mllib in PARAM_NAMES.items()}
    mapped["maxSentenceLength"] = params.max_sentence_length
    return mapped


def train_mllib(
    spark: SparkSession, sentences: DataFrame, vocab: pa.Table, params: TrainParams
) -> tuple[DataFrame, dict[str, Any]]:
    """Fit MLlib Word2Vec on ``tokens``; return ``word, vector array<float>, count bigint`` and statistics.

    MLlib keeps words with at least ``min_count`` occurrences, as ``vocab`` (``train.vocabulary``'s rows) does, so
    the join loses nothing. The statistics are ``vocab_size``, ``shards`` (MLlib's partitions), ``words`` (every
    input token, counted once per epoch: MLlib does not say how many it kept) and ``seconds`` (of the fit).
    """
    # MLlib keeps the input and output weights on the driver (SPARK-12096), broadcasts both every iteration (the
    # driver holds the values and their serialised blocks), collects the partitions' sums and copies the result
    # into the model: about ten copies of vocabulary x vector_size floats. Four were counted before, and 60,000
    # words x 4096 dims (3.9 GB by that count) then passed the check and crashed a 4 GiB driver
    # (bench/scale_checks.py vocabulary).
    size = params.train.vector_size
    check_driver_memory(spark, vocab.num_rows, size, 10 * 4 * vocab.num_rows * size)
    tokens = sentences.select("tokens")
    words = tokens.select(F.sum(F.size("tokens"))).first()[0] or 0
    started = time.monotonic()
    model = Word2Vec(inputCol="tokens", outputCol="_vector", **mllib_params(params)).fit(tokens)
    seconds = time.monotonic() - started
    vectors = model.getVectors().select("word", vector_to_array("vector", "float32").alias("vector"))
    counts = from_arrow(spark, vocab.select(["word", "count"]))
    vectors = vectors.join(counts, "word").select("word", "vector", F.col("count").cast("bigint"))
    stats = {
        "vocab_size": vocab.num_rows,
        "shards": params.train.num_partitions,
        "words": int(words) * params.train.epochs,
        "seconds": seconds,
    }
    return vectors, stats

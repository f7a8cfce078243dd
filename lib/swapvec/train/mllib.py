"""The ``mllib`` backend: pyspark.ml's Word2Vec (skip-gram, hierarchical softmax), with swapvec's names mapped once."""

from __future__ import annotations

from pyspark.ml.feature import Word2Vec
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from swapvec.config import Config

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


def mllib_params(cfg: Config) -> dict[str, object]:
    """MLlib's parameters for a config; sentences were already split to ``tokenize.max_sentence_length``."""
    params = {mllib: getattr(cfg.train, ours) for ours, mllib in PARAM_NAMES.items()}
    params["maxSentenceLength"] = cfg.tokenize.max_sentence_length
    return params


def train_mllib(sentences: DataFrame, counts: DataFrame, cfg: Config) -> DataFrame:
    """Fit MLlib Word2Vec on ``tokens``; return ``word, vector array<float>, count bigint``.

    MLlib keeps words with at least ``min_count`` occurrences, as ``counts`` does, so the join loses nothing.
    """
    model = Word2Vec(inputCol="tokens", outputCol="_vector", **mllib_params(cfg)).fit(sentences.select("tokens"))
    vectors = model.getVectors().select("word", vector_to_array("vector", "float32").alias("vector"))
    return vectors.join(counts, "word").select("word", "vector", F.col("count").cast("bigint"))

"""The ``replay`` table, and the earlier sentences a continuation trains again (``train.replay_share``).

A continuation (``train.init_from``) that trains its new sentences alone pulls the model toward their contexts: GCIDE
trained in 5 parts, each continued from the last, ends about 0.04 of WS-353 below one run over the whole corpus. So a
continuation also trains a fifth as many sentences as its own, drawn uniformly from the sentences its model was
trained on before (experience replay), which keeps WS-353 and SimLex-999 within 0.01 of the one run for a fifth to
a quarter more training time.

Every gensim run writes ``replay`` (``key bigint, tokens array<string>``): a uniform sample of all the sentences its
model has been trained on, the earlier runs' included. It holds the ``train.replay_keep`` sentences of smallest
seeded hash (``key``) among the prior's sample and this run's own sentences, which are the smallest of all the
sentences ever trained: a bottom-k sample merges exactly. A continuation draws ``train.replay_share`` x its own
sentence count from its prior's sample, ordered by a second hash salted with that count, so that runs of different
sizes replay different sentences. Drawn sentences are trained like the run's own (with their swapped copies), among
them in a seeded order, but count for nothing: the model's counts carried them already (``train.vocabulary``).
They are stored as the run that first trained them tokenised them.

Memory: the sample stays in Spark: its bound is found on the keys alone (``replay_keep`` x 8 bytes in a task), then
the rows are kept where they are by a filter; the driver holds one number of it.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

REPLAY = "replay"
#: The column that marks drawn sentences (and their copies) in the sentences a continuation trains.
REPLAYED = "replayed"


def _smallest(rows: DataFrame, key: str, n: int) -> DataFrame:
    """The rows whose ``key`` is among the ``n`` smallest (rows that tie with the n-th kept too). The bound is found
    on the keys alone (8 bytes a row in the tasks that take it, one number to the driver), so no task holds ``n``
    rows of tokens, and the rows are kept where they are, by a filter."""
    bound = rows.select(key).orderBy(key).limit(n).agg(F.max(key)).first()[0]
    return rows.where(F.col(key) <= bound) if bound is not None else rows.limit(0)


def originals(sentences: DataFrame) -> DataFrame:
    """The sentences as the corpus has them: ``copy`` 0 where there are swapped copies."""
    return sentences.where(F.col("copy") == 0) if "copy" in sentences.columns else sentences


def sample(sentences: DataFrame, prior_sample: DataFrame | None, keep: int, seed: int) -> DataFrame:
    """The ``replay`` table of a run: the rows of smallest key among ``prior_sample`` and the run's own original
    sentences (``copy`` 0 where there are copies; none is replayed: the draw is mixed in after them), ``keep`` of
    them (two sentences of one hash would both be kept). Finding the bound is one Spark job, run now."""
    key = F.xxhash64("tokens", "sentence_id", "chunk", F.lit(seed))
    rows = originals(sentences).select(key.alias("key"), "tokens")
    if prior_sample is not None:
        rows = rows.unionByName(prior_sample.select("key", "tokens"))
    return _smallest(rows, "key", keep)


def drawn(prior_sample: DataFrame, share: float, own_count: int, seed: int) -> tuple[DataFrame | None, int]:
    """``round(share x own_count)`` sentences of ``prior_sample`` (all of it when it holds fewer) as sentences
    (``sentence_id, chunk, tokens``), marked replayed, and that number; None when it is none."""
    wanted = round(share * own_count)
    if wanted == 0:
        return None, wanted
    order = F.xxhash64("key", F.lit(own_count), F.lit(seed))
    rows = prior_sample.select(order.alias("sentence_id"), F.lit(0).alias("chunk"), "tokens")
    return _smallest(rows, "sentence_id", wanted).withColumn(REPLAYED, F.lit(True)), wanted


def mixed(sentences: DataFrame, replayed: DataFrame, seed: int) -> DataFrame:
    """``sentences`` and the ``replayed`` ones in one seeded order.

    The tasks train a shard's sentences in ``sentence_id`` order, so the run's own sentences take a seeded hash of
    their id (the chunks and copies of one sentence keep theirs, and stay together), among which the drawn ones,
    ordered by a hash already, fall. A run that replays nothing keeps the corpus's order."""
    ordered = sentences.withColumn("sentence_id", F.xxhash64("sentence_id", F.lit(seed))).withColumn(
        REPLAYED, F.lit(False)
    )
    return ordered.unionByName(replayed.select(*[F.col(c) for c in ordered.columns]))

"""The similarity stage: the top-k cosine neighbours of every word (or of chosen words), computed on the executors.

The words are numbered in one global order and packed into key blocks of ``KEY_BLOCK_ROWS`` words; each task gets
every key block once (a cross join with the tasks' ids) and rebuilds the unit matrix of all words, so the matrix
never passes through the driver. A task is a query group in a shard:

* ``exact`` (default): one shard of all words; each task scores its query group against all words with faiss's
  fused brute-force kernel (``nearest.exact_top_k``), two groups a task slot.
* ``approximate``: each task builds an inverted-file index of its shard's words, checks it on a fixed sample of
  query words and searches its query group in it (``kernels.tune_nprobe``, ``tasks.approximate_task``). Usually
  there is one shard, so each task builds the same index and searches its share of the queries; past
  ``MAX_SHARD_ROWS`` words there are several, and each word's candidates from every shard are merged by a window
  over the word, with the tie rule of the search (``swapvec.similarity.nearest``).

Neighbours follow one rule whatever the mode (``nearest.rank_candidates``): a word is never its own neighbour and
ties go to the lower word index, so the table is the same on every run and every retry.

Cost per task: vocabulary x vector_size x 4 bytes for the matrix (400 MB for a million 100-dimensional words),
plus, in approximate mode, the shard's index (a copy of its vectors and an 8-byte id a word).
"""

from __future__ import annotations

import math
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from swapvec.compat import apply_in_arrow, default_parallelism, local_checkpoint
from swapvec.config import SimilarityConfig
from swapvec.errors import BadInput
from swapvec.log import event, get_logger
from swapvec.partitioning import spread_key
from swapvec.phrases import token_of
from swapvec.similarity.tasks import (
    BLOCK_ARROW,
    CANDIDATE_ARROW,
    TABLE_ARROW,
    TABLE_COLUMNS,
    approximate_task,
    exact_task,
    pack,
)
from swapvec.stats import Stats

__all__ = ["KEY_BLOCK_ROWS", "MAX_SHARD_ROWS", "TABLE_COLUMNS", "neighbours_per_word", "query_words", "similarities"]

_log = get_logger("similarity")

#: Words a key block holds (a task rebuilds the matrix from all blocks).
KEY_BLOCK_ROWS = 16_384
#: Approximate mode: at most this many words in one task's index (its copy of the vectors: 800 MB at 100 dims).
MAX_SHARD_ROWS = 2_000_000


def neighbours_per_word(cfg: SimilarityConfig, vocab_size: int) -> int:
    """``top_k``, or fewer when the vocabulary is smaller and ``top_k`` was left at its default.

    Parameters
    ----------
    cfg
        The ``similarity`` section; ``top_k`` counts as set by the user when it is in ``given``.
    vocab_size
        Words in the vocabulary.

    Returns
    -------
    int
        Neighbours per word, from 1 to ``vocab_size - 1``.

    Raises
    ------
    BadInput
        A ``top_k`` the user set that is not below the vocabulary size, or a vocabulary of one word.
    """
    if vocab_size < 2:
        raise BadInput(f"the vocabulary has {vocab_size} word(s): no neighbours to compute")
    if cfg.top_k < vocab_size:
        return cfg.top_k
    if "top_k" in cfg.given:
        raise BadInput(f"config: similarity.top_k: {cfg.top_k} must be below the vocabulary size ({vocab_size} words)")
    event(_log, "similarity.top_k_clamped", top_k=cfg.top_k, vocab_size=vocab_size, used=vocab_size - 1)
    return vocab_size - 1


def query_words(cfg: SimilarityConfig, joiner: str = "_") -> list[str] | None:
    """``similarity.words`` as a list, or None for every word.

    Given inline (empty entries dropped) or as the path of a UTF-8 file: one word a line, ``#`` starts a comment. A
    phrase may be written as in the groups file (``"motion picture"``), or spaced: its words are joined by ``joiner``.

    Raises
    ------
    BadInput
        A path that is not a file.
    """
    if cfg.words is None:
        return None
    if isinstance(cfg.words, list):
        written = cfg.words
    else:
        file = Path(cfg.words)
        if not file.is_file():
            raise BadInput(f"similarity.words: file not found: {cfg.words}")
        written = [line.split("#", 1)[0] for line in file.read_text(encoding="utf-8").splitlines()]
    return [token for w in written if (token := token_of(w, joiner))]


def similarities(
    spark: SparkSession,
    vectors: DataFrame,
    cfg: SimilarityConfig,
    vocab_size: int | None = None,
    joiner: str = "_",
) -> tuple[DataFrame, Stats]:
    """The ``similarities`` table: the top-k cosine neighbours of the query words, computed once.

    Parameters
    ----------
    spark
        The session.
    vectors
        ``word string, vector array<float>``, one row a word.
    cfg
        ``top_k`` neighbours per word; ``words`` restricts the query words (neighbours still range over all
        words); ``mode`` exact or approximate; for approximate, ``nprobe`` lists to start from and
        ``recall_target`` on the check sample (0: search ``nprobe`` lists as given).
    vocab_size
        The number of rows of ``vectors`` when the caller knows it (saves a count).
    joiner
        ``tokenize.phrase_joiner``, for the phrases among ``cfg.words``.

    Returns
    -------
    (DataFrame, Stats)
        ``TABLE_COLUMNS``: ``word, neighbor, rank int (1 = nearest), similarity double, mode string`` (``exact``
        or ``approximate``: how the word was searched), already computed (a local checkpoint), so that writing it
        does not search again. The stats hold ``row_counts["similarities"]`` and, in approximate mode, ``metrics``
        on how the search went (``similarity_exact_share``, ``similarity_nprobe``, ``similarity_sample_recall``:
        see ``_search_metrics``), which are also logged as the event ``similarity.searched``; in exact mode none.

    Raises
    ------
    BadInput
        ``top_k`` not below the vocabulary size, or none of ``words`` in the vocabulary.
    """
    size = vocab_size if vocab_size is not None else vectors.count()
    k = neighbours_per_word(cfg, size)
    wanted = query_words(cfg, joiner)
    # One global order of the words (one partition: vocabulary-sized, millions of rows at most).
    indexed = vectors.select(
        "word", "vector", (F.row_number().over(Window.orderBy("word")) - 1).cast("int").alias("idx")
    )
    if wanted is not None:
        present = indexed.where(F.col("word").isin(wanted)).select("word")
        n_queries = present.count()
        if n_queries == 0:
            raise BadInput("similarity.words: none of the words is in the vocabulary")
        flagged = indexed.join(present.withColumn("_q", F.lit(True)), "word", "left")
    else:
        n_queries = size
        flagged = indexed.withColumn("_q", F.lit(True))
    slots = default_parallelism(spark)
    if cfg.mode == "exact":
        shards = 1
        # Two groups a slot: a task slowed by a busy core is balanced by the others.
        groups = max(1, min(math.ceil(n_queries / cfg.block_size), 2 * slots))
    else:
        # Every query is searched in every shard, and searching costs about the same in total whatever the number
        # of shards (each query scans a share of each shard's words), so shards are only for memory.
        shards = max(1, math.ceil(size / MAX_SHARD_ROWS))
        groups = max(1, min(math.ceil(n_queries / cfg.block_size), slots // shards))
    shard_rows = math.ceil(size / shards)
    per_group = math.ceil(n_queries / groups)
    event(_log, "similarity.plan", mode=cfg.mode, words=size, queries=n_queries, groups=groups, shards=shards, k=k)
    qrank = F.row_number().over(Window.partitionBy("_q").orderBy("idx")) - 1
    flagged = flagged.withColumn(
        "qgroup", F.when(F.col("_q"), (qrank / per_group).cast("int")).otherwise(F.lit(None).cast("int"))
    ).withColumn("kblock", (F.col("idx") / KEY_BLOCK_ROWS).cast("int"))
    blocks = apply_in_arrow(
        flagged.select("kblock", "idx", "word", "vector", "qgroup"), ["kblock"], pack, from_arrow_schema(BLOCK_ARROW)
    )
    # One partition a task (a query group in a shard), each with every key block.
    tasks = spark.range(groups * shards).select(
        (F.col("id") % groups).cast("int").alias("qgroup_id"),
        (F.col("id") / groups).cast("int").alias("shard"),
        spread_key(spark, groups * shards, F.col("id")).alias("task"),
    )
    pairs = tasks.crossJoin(blocks).repartition(groups * shards, "task")
    if cfg.mode == "exact":
        sims = local_checkpoint(
            apply_in_arrow(pairs, ["task"], exact_task(k), from_arrow_schema(TABLE_ARROW), partitioned=True)
        )
        return sims, Stats(row_counts={"similarities": sims.count()})
    candidates = apply_in_arrow(
        pairs,
        ["task"],
        approximate_task(k, shard_rows, cfg.nprobe, cfg.recall_target),
        from_arrow_schema(CANDIDATE_ARROW),
        partitioned=True,
    )
    if shards > 1:
        # Each shard's best k, merged per word: same tie rule as within a shard (similarity, then word index). A word
        # is approximate if any shard searched it so ("approximate" < "exact"), at the most lists, least recall.
        best = Window.partitionBy("word").orderBy(F.desc("similarity"), F.asc("nidx"))
        every = Window.partitionBy("word")
        candidates = (
            candidates.withColumn("rank", F.row_number().over(best))
            .withColumn("mode", F.min("mode").over(every))
            .withColumn("nprobe", F.max("nprobe").over(every))
            .withColumn("sample_recall", F.min("sample_recall").over(every))
            .where(F.col("rank") <= k)
        )
    searched = local_checkpoint(
        candidates.select(
            "word",
            "neighbor",
            F.col("rank").cast("int").alias("rank"),
            F.col("similarity").cast("double").alias("similarity"),
            "mode",
            "nprobe",
            "sample_recall",
        )
    )
    rows, metrics = _search_metrics(searched)
    event(_log, "similarity.searched", **metrics)
    return searched.select(*TABLE_COLUMNS), Stats(row_counts={"similarities": rows}, metrics=metrics)


def _search_metrics(searched: DataFrame) -> tuple[int, dict[str, float]]:
    """Rows of approximate mode's result, and how it searched, for ``runs.metrics``.

    ``similarity_exact_share``: share of query words searched exactly; ``similarity_nprobe``: most lists searched
    among the indexes used (absent when none was); ``similarity_sample_recall``: least recall on the check sample
    among the indexes checked (1 for a shard searched exactly; absent when none was checked).
    """
    first = F.col("rank") == 1  # one row a query word
    row = searched.agg(
        F.count(F.lit(1)).alias("rows"),
        F.avg(F.when(first, (F.col("mode") == "exact").cast("double"))).alias("exact_share"),
        F.max(F.when(first, F.col("nprobe"))).alias("nprobe"),
        F.min(F.when(first, F.col("sample_recall"))).alias("sample_recall"),
    ).first()
    if row.exact_share is None:  # no rows
        return int(row.rows), {}
    metrics = {"similarity_exact_share": float(row.exact_share)}
    if row.nprobe is not None:
        metrics["similarity_nprobe"] = float(row.nprobe)
    if row.sample_recall is not None:
        metrics["similarity_sample_recall"] = round(float(row.sample_recall), 4)
    return int(row.rows), metrics

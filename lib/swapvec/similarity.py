"""Top-k cosine neighbours of every word (or of chosen words), computed on the executors in blocks.

The vectors are packed into key blocks of ``KEY_BLOCK_ROWS`` words; each task gets every key block once (a cross
join with the tasks' ids) and rebuilds the normalised matrix. The matrix never passes through the driver.

* ``exact`` (default): each task scores its group of query words against all words with faiss's brute-force
  kernel (float32 GEMM fused with a top-k heap; one thread per task, parallelism comes from tasks). Measured on
  50,000 x 100 vectors (bench/RESULTS.md) it is the same cosine as numpy's ``argpartition`` at a fraction of the
  time: selecting the top k from each row of scores, not the GEMM, was what cost. Ties go to the lower word index.
* ``approximate``: each task builds an HNSW graph (faiss, ``HNSW_M`` links, ``HNSW_EF_CONSTRUCTION``) over a shard
  of contiguous words and searches its group of query words in it. Usually there is one shard, so each task builds
  the same graph of all words and searches its share of the queries; past ``MAX_SHARD_ROWS`` words or on many
  slots there are several, and each word's candidates from every shard are merged by a window over the word.
  Building is single-threaded in a fixed order, so the graph and the neighbours are the same on every run and
  every retry.

Cost per task: vocabulary x vector_size x 4 bytes for the matrix (400 MB for a million 100-dimensional words),
plus, in approximate mode, the shard's graph (about ``2 * HNSW_M * 4`` bytes a word).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from swapvec.config import SimilarityConfig
from swapvec.errors import BadInput
from swapvec.log import event, get_logger

_log = get_logger("similarity")

KEY_BLOCK_ROWS = 16_384
SCORE_CHUNK_BYTES = 128 * 2**20
#: Approximate mode: at most this many words in one task's graph (its vectors and links: about 1 GB at 100 dims).
MAX_SHARD_ROWS = 2_000_000
#: HNSW links per node and candidate list while building: faiss's speed/recall middle ground for 100 dimensions.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

SIMILARITY_SCHEMA = "word string, neighbor string, rank int, similarity double, mode string"
_CANDIDATE_ARROW = pa.schema(
    [
        ("word", pa.string()),
        ("neighbor", pa.string()),
        ("nidx", pa.int32()),
        ("rank", pa.int32()),
        ("similarity", pa.float32()),
    ]
)
_CANDIDATE_SCHEMA = "word string, neighbor string, nidx int, rank int, similarity float"
_BLOCK_ARROW = pa.schema(
    [
        ("kblock", pa.int32()),
        ("words", pa.list_(pa.string())),
        ("query", pa.list_(pa.int32())),
        ("matrix", pa.binary()),
        ("dim", pa.int32()),
    ]
)
_BLOCK_SCHEMA = "kblock int, words array<string>, query array<int>, matrix binary, dim int"


def neighbours_per_word(cfg: SimilarityConfig, vocab_size: int) -> int:
    """``top_k``, or fewer when the vocabulary is smaller and ``top_k`` was left at its default.

    Raises
    ------
    BadInput
        A ``top_k`` the user set that is not below the vocabulary size, or a vocabulary of one word.
    """
    if vocab_size < 2:
        raise BadInput(f"the vocabulary has {vocab_size} word(s): no neighbours to compute")
    if cfg.top_k < vocab_size:
        return cfg.top_k
    if "top_k" in cfg.model_fields_set:
        raise BadInput(f"config: similarity.top_k: {cfg.top_k} must be below the vocabulary size ({vocab_size} words)")
    event(_log, "similarity.top_k_clamped", top_k=cfg.top_k, vocab_size=vocab_size, used=vocab_size - 1)
    return vocab_size - 1


def query_words(cfg: SimilarityConfig) -> list[str] | None:
    """``similarity.words`` as a list: given inline, or read from a file (one word a line, ``#`` comments)."""
    if cfg.words is None:
        return None
    if isinstance(cfg.words, list):
        return [w for w in cfg.words if w]
    file = Path(cfg.words)
    if not file.is_file():
        raise BadInput(f"similarity.words: file not found: {cfg.words}")
    return [w for line in file.read_text(encoding="utf-8").splitlines() if (w := line.split("#", 1)[0].strip())]


def _pack(table: pa.Table) -> pa.Table:
    """One key block: its words, which query group each belongs to, and its normalised vectors as float32 bytes."""
    table = table.sort_by("idx")
    vectors = table.column("vector").combine_chunks()
    dim = len(vectors[0]) if len(vectors) else 0
    matrix = vectors.values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    offsets = pa.array([0, table.num_rows], pa.int32())
    return pa.Table.from_arrays(
        [
            pa.array([table.column("kblock")[0].as_py()], pa.int32()),
            pa.ListArray.from_arrays(offsets, table.column("word").combine_chunks().cast(pa.string())),
            pa.ListArray.from_arrays(offsets, table.column("qgroup").combine_chunks().cast(pa.int32())),
            pa.array([matrix.tobytes()], pa.binary()),
            pa.array([dim], pa.int32()),
        ],
        schema=_BLOCK_ARROW,
    )


def top_k(queries: np.ndarray, query_rows: np.ndarray, matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by cosine of ``queries`` (normalised rows of ``matrix`` at ``query_rows``) among all rows, in numpy.

    A word is never its own neighbour. Ties go to the lower row, so the result is the same on every run. This is
    the reference ``exact_top_k`` agrees with; it is slow (``argpartition`` of every row of scores).

    Returns
    -------
    (indices, scores)
        ``len(queries) x k`` row indices into ``matrix`` and their cosines, best first.
    """
    n = matrix.shape[0]
    chunk = max(1, min(len(queries), SCORE_CHUNK_BYTES // max(1, 4 * n)))
    out_idx = np.empty((len(queries), k), dtype=np.int64)
    out_val = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        stop = min(start + chunk, len(queries))
        scores = queries[start:stop] @ matrix.T
        scores[np.arange(stop - start), query_rows[start:stop]] = -np.inf
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.argsort(-scores, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        # Sort the k candidates by score, then by row, for a stable order among ties.
        order = np.lexsort((part, -part_scores), axis=1)
        out_idx[start:stop] = np.take_along_axis(part, order, axis=1)
        out_val[start:stop] = np.take_along_axis(part_scores, order, axis=1)
    return out_idx, out_val


def exact_top_k(
    queries: np.ndarray, query_rows: np.ndarray, matrix: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``top_k``'s result (same neighbours, same tie rule), computed with faiss's fused GEMM + heap kernel.

    faiss returns ``k + 2`` candidates (room for the word itself and one more); a row whose k-th and (k+1)-th
    candidates tie is recomputed with ``top_k``, so ties at the cut still go to the lower row.
    """
    import faiss

    n = matrix.shape[0]
    if n <= k + 2 or len(queries) == 0:
        return top_k(queries, query_rows, matrix, k)
    scores, index = faiss.knn(
        np.ascontiguousarray(queries, dtype=np.float32),
        np.ascontiguousarray(matrix, dtype=np.float32),
        k + 2,
        metric=faiss.METRIC_INNER_PRODUCT,
    )
    scores = np.where(index == query_rows[:, None], -np.inf, scores)  # the word itself goes last
    order = np.lexsort((index, -scores), axis=1)
    index, scores = np.take_along_axis(index, order, axis=1), np.take_along_axis(scores, order, axis=1)
    out_idx, out_val = index[:, :k].astype(np.int64), scores[:, :k].astype(np.float32)
    tied = np.flatnonzero(scores[:, k - 1] == scores[:, k])
    if len(tied):
        out_idx[tied], out_val[tied] = top_k(queries[tied], query_rows[tied], matrix, k)
    return out_idx, out_val


def approximate_top_k(
    shard: np.ndarray, queries: np.ndarray, query_rows: np.ndarray, k: int, ef_search: int
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k of ``queries`` among the rows of ``shard`` with an HNSW graph (inner product).

    ``query_rows`` are the queries' rows in ``shard`` (-1 when outside it) so that a word is not its own neighbour.

    Returns
    -------
    (indices, scores)
        ``len(queries) x k`` rows of ``shard`` (-1 where the shard has fewer candidates) and cosines, best first.
    """
    import faiss

    if len(queries) == 0:
        return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
    index = faiss.IndexHNSWFlat(shard.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(np.ascontiguousarray(shard, dtype=np.float32))
    index.hnsw.efSearch = max(ef_search, k + 1)
    scores, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k + 1, shard.shape[0]))
    scores = np.where((found == query_rows[:, None]) | (found < 0), -np.inf, scores)
    order = np.lexsort((found, -scores), axis=1)[:, :k]
    found, scores = np.take_along_axis(found, order, axis=1), np.take_along_axis(scores, order, axis=1)
    return np.where(np.isfinite(scores), found, -1), scores


def _unpack(table: pa.Table) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """All key blocks of a task, in word-index order: words, query group per word (-1: not a query), matrix."""
    table = table.sort_by("kblock")
    dim = table.column("dim")[0].as_py()
    words = pa.concat_arrays([chunk.flatten() for chunk in table.column("words").chunks])
    qgroups = pa.concat_arrays([chunk.flatten() for chunk in table.column("query").chunks])
    qgroups = qgroups.fill_null(-1).to_numpy(zero_copy_only=False)
    matrix = np.concatenate(
        [np.frombuffer(b.as_py(), dtype=np.float32).reshape(-1, dim) for b in table.column("matrix")]
    )
    return words, qgroups, matrix


def _one_thread():
    """Tasks are the parallelism: one BLAS and one OpenMP thread each, so tasks do not oversubscribe the cores."""
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    return threadpool_limits(limits=1)


def _exact_task(k: int):
    def run(table: pa.Table) -> pa.Table:
        group = table.column("qgroup_id")[0].as_py()
        words, qgroups, matrix = _unpack(table)
        rows = np.flatnonzero(qgroups == group)
        with _one_thread():
            idx, val = exact_top_k(matrix[rows], rows, matrix, k)
        return pa.Table.from_arrays(
            [
                words.take(pa.array(np.repeat(rows, k))),
                words.take(pa.array(idx.reshape(-1))),
                pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), len(rows))),
                pa.array(val.reshape(-1).astype(np.float64)),
                pa.array(np.full(len(rows) * k, "exact", dtype=object), pa.string()),
            ],
            names=["word", "neighbor", "rank", "similarity", "mode"],
        )

    return run


def _approximate_task(k: int, shard_rows: int, ef_search: int):
    def run(table: pa.Table) -> pa.Table:
        group, shard = table.column("qgroup_id")[0].as_py(), table.column("shard")[0].as_py()
        words, qgroups, matrix = _unpack(table)
        lo, hi = shard * shard_rows, min((shard + 1) * shard_rows, len(matrix))
        rows = np.flatnonzero(qgroups == group)
        local_rows = np.where((rows >= lo) & (rows < hi), rows - lo, -1)
        with _one_thread():
            idx, val = approximate_top_k(matrix[lo:hi], matrix[rows], local_rows, k, ef_search)
        keep = idx.reshape(-1) >= 0
        query_rows = np.repeat(rows, idx.shape[1])[keep]
        neighbour_rows = idx.reshape(-1)[keep] + lo
        ranks = np.tile(np.arange(1, idx.shape[1] + 1, dtype=np.int32), len(rows))[keep]  # -1s are only at the end
        return pa.Table.from_arrays(
            [
                words.take(pa.array(query_rows)),
                words.take(pa.array(neighbour_rows)),
                pa.array(neighbour_rows.astype(np.int32)),
                pa.array(ranks),
                pa.array(val.reshape(-1)[keep].astype(np.float32)),
            ],
            schema=_CANDIDATE_ARROW,
        )

    return run


def _parallelism(spark: SparkSession) -> int:
    """Task slots: the classic default parallelism, else (Spark Connect) the shuffle partitions."""
    from swapvec.session import is_classic

    if is_classic(spark):
        return max(1, spark.sparkContext.defaultParallelism)
    return max(1, int(spark.conf.get("spark.sql.shuffle.partitions", "8") or 8))


def similarities(
    spark: SparkSession, vectors: DataFrame, cfg: SimilarityConfig, vocab_size: int | None = None
) -> DataFrame:
    """``word, neighbor, rank int (1 = nearest), similarity double, mode``: top-k cosine neighbours.

    Parameters
    ----------
    vectors
        ``word string, vector array<float>``.
    cfg
        ``top_k`` neighbours per word; ``words`` restricts the query words (neighbours still range over all
        words); ``mode`` exact or approximate (recorded in the ``mode`` column); ``ef_search`` for approximate.
    vocab_size
        The number of rows of ``vectors`` when the caller knows it (saves a count).

    Raises
    ------
    BadInput
        ``top_k`` not below the vocabulary size, or none of ``words`` in the vocabulary.
    """
    size = vocab_size if vocab_size is not None else vectors.count()
    k = neighbours_per_word(cfg, size)
    wanted = query_words(cfg)
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
    slots = _parallelism(spark)
    if cfg.mode == "exact":
        shards = 1
        # Two groups a slot: a task slowed by a busy core is balanced by the others.
        groups = max(1, min(math.ceil(n_queries / cfg.block_size), 2 * slots))
    else:
        # A task builds its shard's graph and searches its query group in it; every query is searched in every
        # shard. With S shards over P slots the wall time is about build(N / S) + search(N x S / P): building costs
        # about a quarter of searching per word here (ef_construction 64 against ef_search 128-256), which puts
        # the best S near (P / 8) ** (1/3): one shard (the graph built once per task) up to 20 slots.
        shards = max(1, math.ceil(size / MAX_SHARD_ROWS), round((slots / 8) ** (1 / 3)))
        groups = max(1, min(math.ceil(n_queries / cfg.block_size), slots // shards))
    shard_rows = math.ceil(size / shards)
    per_group = math.ceil(n_queries / groups)
    event(_log, "similarity.plan", mode=cfg.mode, words=size, queries=n_queries, groups=groups, shards=shards, k=k)
    qrank = F.row_number().over(Window.partitionBy("_q").orderBy("idx")) - 1
    flagged = flagged.withColumn(
        "qgroup", F.when(F.col("_q"), (qrank / per_group).cast("int")).otherwise(F.lit(None).cast("int"))
    ).withColumn("kblock", (F.col("idx") / KEY_BLOCK_ROWS).cast("int"))
    blocks = (
        flagged.select("kblock", "idx", "word", "vector", "qgroup").groupBy("kblock").applyInArrow(_pack, _BLOCK_SCHEMA)
    )
    tasks = spark.range(groups * shards).select(
        (F.col("id") % groups).cast("int").alias("qgroup_id"), (F.col("id") / groups).cast("int").alias("shard")
    )
    pairs = tasks.crossJoin(blocks).repartition(groups * shards, "qgroup_id", "shard")
    if cfg.mode == "exact":
        return pairs.groupBy("qgroup_id").applyInArrow(_exact_task(k), SIMILARITY_SCHEMA)
    candidates = pairs.groupBy("qgroup_id", "shard").applyInArrow(
        _approximate_task(k, shard_rows, cfg.ef_search), _CANDIDATE_SCHEMA
    )
    if shards > 1:
        # Each shard's best k, merged per word: same tie rule as within a shard (similarity, then word index).
        best = Window.partitionBy("word").orderBy(F.desc("similarity"), F.asc("nidx"))
        candidates = candidates.withColumn("rank", F.row_number().over(best)).where(F.col("rank") <= k)
    return candidates.select(
        "word",
        "neighbor",
        F.col("rank").cast("int").alias("rank"),
        F.col("similarity").cast("double").alias("similarity"),
        F.lit("approximate").alias("mode"),
    )

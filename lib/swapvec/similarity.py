"""Top-k cosine neighbours of every word (or of chosen words), computed on the executors in blocks.

The vectors are packed into key blocks of ``KEY_BLOCK_ROWS`` words; each task gets every key block once (a cross
join with the tasks' ids) and rebuilds the normalised matrix. The matrix never passes through the driver.

* ``exact`` (default): each task scores its group of query words against all words with faiss's brute-force
  kernel (float32 GEMM fused with a top-k heap; one thread per task, parallelism comes from tasks). Measured on
  50,000 x 100 vectors (bench/RESULTS.md) it is the same cosine as numpy's ``argpartition`` at a fraction of the
  time: selecting the top k from each row of scores, not the GEMM, was what cost. Ties go to the lower word index.
* ``approximate``: each task builds an inverted-file index (faiss ``IndexIVFFlat``: the words of a shard grouped
  around ``LISTS_PER_SQRT x sqrt(words)`` k-means centroids) and searches its group of query words in the ``nprobe``
  lists nearest each query. How many lists must be searched to find most true neighbours depends on the vectors
  (trained vectors of 46,618 words: 32 lists find 99%; word-like mixtures at 1,000,000 words need about 256 for
  95%), so each index is first checked on a fixed sample of ``TUNE_SAMPLE`` query words whose exact neighbours the
  task also computes, raising ``nprobe`` by steps of sqrt(2) until ``recall_target`` of them are found. An index
  that misses the target while still scanning less than ``MAX_SCAN_SHARE`` of its words is not used (exact search
  would cost about as much): its words are searched exactly. When there are no more query words than the sample,
  every task searches exactly, which then costs less than building an index.
  Inverted files and not HNSW graphs (bench/RESULTS.md): on word-like vectors at 1,000,000 words faiss's HNSW
  (M 16) took 255 s to build and reached 95% only at ef 4096, 12.8 ms a query; the inverted file took 36 s and
  reached 95% at 2.0 ms (exact search: 16 ms a query).
  Usually there is one shard, so each task builds the same index of all words and searches its share of the
  queries; past ``MAX_SHARD_ROWS`` words there are several, and each word's candidates from every shard are merged
  by a window over the word. k-means (seeded), the check and the search run on one thread in a fixed order, so the
  index, the chosen ``nprobe`` and the neighbours are the same on every run and every retry.

Cost per task: vocabulary x vector_size x 4 bytes for the matrix (400 MB for a million 100-dimensional words),
plus, in approximate mode, the shard's index (a copy of its vectors and an 8-byte id a word).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from swapvec.config import SimilarityConfig
from swapvec.errors import BadInput
from swapvec.log import event, get_logger
from swapvec.partitioning import spread_key

_log = get_logger("similarity")

KEY_BLOCK_ROWS = 16_384
SCORE_CHUNK_BYTES = 128 * 2**20
#: Approximate mode: queries searched at once, so that their lists to scan take at most this much memory.
SEARCH_CHUNK_BYTES = 256 * 2**20
#: Approximate mode: at most this many words in one task's index (its copy of the vectors: 800 MB at 100 dims).
MAX_SHARD_ROWS = 2_000_000
#: Approximate mode: k-means lists per square root of the shard's words (4,000 lists for a million words), trained
#: on at most ``TRAIN_POINTS_PER_LIST`` words a list (faiss's own sampling, seeded).
LISTS_PER_SQRT = 4
TRAIN_POINTS_PER_LIST = 64
#: Approximate mode: query words each index is checked on (the same words in every task, so every run agrees).
TUNE_SAMPLE = 1000
#: Approximate mode: ``nprobe`` is raised while the index misses the recall target and scans less than this share
#: of its words; past it an inverted file scans at about half exact search's cost (measured: 6.4% of the lists in
#: 14% of exact's time), so the shard is searched exactly instead.
MAX_SCAN_SHARE = 0.25

# The tasks' wire formats, as Arrow schemas (Spark's are derived from them with ``from_arrow_schema``).
#: What ``similarities`` returns: the table's columns, then how approximate mode searched each word (null: exactly).
_SIMILARITY_ARROW = pa.schema(
    [
        ("word", pa.string()),
        ("neighbor", pa.string()),
        ("rank", pa.int32()),
        ("similarity", pa.float64()),
        ("mode", pa.string()),
        ("nprobe", pa.int32()),
        ("sample_recall", pa.float32()),
    ]
)
#: The columns of the ``similarities`` table.
TABLE_COLUMNS = ("word", "neighbor", "rank", "similarity", "mode")
#: One shard's candidates for its query group: ``nidx`` (the neighbour's word index) breaks ties when shards merge.
_CANDIDATE_ARROW = pa.schema(
    [
        ("word", pa.string()),
        ("neighbor", pa.string()),
        ("nidx", pa.int32()),
        ("rank", pa.int32()),
        ("similarity", pa.float32()),
        ("mode", pa.string()),
        ("nprobe", pa.int32()),
        ("sample_recall", pa.float32()),
    ]
)
_BLOCK_ARROW = pa.schema(
    [
        ("kblock", pa.int32()),
        ("words", pa.list_(pa.string())),
        ("query", pa.list_(pa.int32())),
        ("matrix", pa.binary()),
        ("dim", pa.int32()),
    ]
)


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

    A word is never its own neighbour (a ``query_rows`` entry of -1: the query is not a row of ``matrix``). Ties go
    to the lower row, so the result is the same on every run. This is the reference ``exact_top_k`` agrees with; it
    is slow (``argpartition`` of every row of scores).

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
        inside = np.flatnonzero(query_rows[start:stop] >= 0)
        scores[inside, query_rows[start:stop][inside]] = -np.inf
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


def build_index(shard: np.ndarray):
    """An inverted-file index (inner product) of the rows of ``shard``: seeded k-means on one thread, so the same
    lists on every run. Its ``nlist`` is ``LISTS_PER_SQRT x sqrt(rows)``, at most one list per 39 rows (faiss's
    least training points a centroid)."""
    import faiss

    rows, dim = shard.shape
    lists = max(1, min(round(LISTS_PER_SQRT * math.sqrt(rows)), rows // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1
    index.cp.spherical = True  # unit centroids for cosine
    index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
    vectors = np.ascontiguousarray(shard, dtype=np.float32)
    index.train(vectors)
    index.add(vectors)
    return index


def search_index(
    index, queries: np.ndarray, query_rows: np.ndarray, k: int, nprobe: int
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k of ``queries`` among the rows of the shard ``index`` was built on, in its ``nprobe``
    nearest lists.

    ``query_rows`` are the queries' rows in the shard (-1 when outside it) so that a word is not its own neighbour.

    Returns
    -------
    (indices, scores)
        ``len(queries) x k`` rows of the shard (-1 where it has fewer candidates) and cosines, best first.
    """
    if len(queries) == 0:
        return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    index.nprobe = probes = min(nprobe, index.nlist)
    wanted = min(k + 1, index.ntotal)
    # Queries in the order of their nearest list: neighbouring queries scan mostly the same lists, which then stay in
    # cache (measured: 0.52 -> 0.36 ms a query, 100,000 word-like vectors at 181 lists, two tasks on two cores).
    order = np.argsort(index.quantizer.search(queries, 1)[1][:, 0], kind="stable")
    scores = np.empty((len(queries), wanted), dtype=np.float32)
    found = np.empty((len(queries), wanted), dtype=np.int64)
    chunk = max(1, SEARCH_CHUNK_BYTES // (12 * probes))  # each query's lists and their scores: 12 bytes a list
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        centre_scores, lists = index.quantizer.search(queries[part], probes)
        scores[part], found[part] = index.search_preassigned(queries[part], wanted, lists, centre_scores)
    scores = np.where((found == query_rows[:, None]) | (found < 0), -np.inf, scores)
    order = np.lexsort((found, -scores), axis=1)[:, :k]
    found, scores = np.take_along_axis(found, order, axis=1), np.take_along_axis(scores, order, axis=1)
    found, scores = _pad(found, scores, k)
    return np.where(np.isfinite(scores), found, -1), scores


def exact_in_shard(
    shard: np.ndarray, queries: np.ndarray, query_rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``search_index``'s result computed exactly (``exact_top_k``), for shards whose index misses the target."""
    if len(shard) > k + 2:
        return exact_top_k(queries, query_rows, shard, k)
    scores = queries @ shard.T  # a shard of a few words
    inside = np.flatnonzero(query_rows >= 0)
    scores[inside, query_rows[inside]] = -np.inf
    rows = np.broadcast_to(np.arange(len(shard)), scores.shape)
    order = np.lexsort((rows, -scores), axis=1)[:, :k]
    found, scores = _pad(order, np.take_along_axis(scores, order, axis=1), k)
    return np.where(np.isfinite(scores), found, -1), scores


def _pad(found: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` columns: missing candidates are row -1 with score -inf."""
    short = k - found.shape[1]
    if short <= 0:
        return found, scores
    return (
        np.pad(found, ((0, 0), (0, short)), constant_values=-1),
        np.pad(scores, ((0, 0), (0, short)), constant_values=-np.inf),
    )


def tune_nprobe(
    index,
    shard: np.ndarray,
    sample: np.ndarray,
    sample_rows: np.ndarray,
    k: int,
    start: int,
    target: float,
    max_scan_share: float = MAX_SCAN_SHARE,
) -> tuple[int | None, float]:
    """The first ``nprobe`` of ``start, 1.41 x start, 2 x start, ...`` with which ``index`` finds ``target`` of the
    exact top-k neighbours of ``sample`` (query vectors; ``sample_rows`` as for ``search_index``), among those that
    search less than ``max_scan_share`` of the lists. The sample's recall must clear the target by two standard
    errors of its per-query recalls, so that the recall over all query words meets it too (about 97.5% confidence).

    Returns
    -------
    (nprobe, recall)
        ``nprobe`` is None when every width below that share misses the target; ``recall`` is the last measured.
    """
    truth, _ = exact_in_shard(shard, sample, sample_rows, k)
    expected = (truth >= 0).sum(axis=1)
    widest = max(1, math.floor(max_scan_share * index.nlist))
    nprobe, step = min(start, widest), 0
    while True:
        found, _ = search_index(index, sample, sample_rows, k, nprobe)
        hits = np.array([len(np.intersect1d(f[f >= 0], t[t >= 0])) for f, t in zip(found, truth, strict=True)])
        recall = hits.sum() / expected.sum() if expected.sum() else 1.0
        each = hits[expected > 0] / expected[expected > 0]
        error = each.std(ddof=1) / math.sqrt(len(each)) if len(each) > 1 else 0.0
        if recall - 2 * error >= target:
            return nprobe, float(recall)
        if nprobe >= widest:
            return None, float(recall)
        step += 1
        nprobe = min(widest, max(nprobe + 1, round(start * 2 ** (step / 2))))


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
                pa.nulls(len(rows) * k, pa.int32()),
                pa.nulls(len(rows) * k, pa.float32()),
            ],
            schema=_SIMILARITY_ARROW,
        )

    return run


def _approximate_task(k: int, shard_rows: int, nprobe: int, recall_target: float):
    sample_size, max_scan_share = TUNE_SAMPLE, MAX_SCAN_SHARE

    def run(table: pa.Table) -> pa.Table:
        group, shard = table.column("qgroup_id")[0].as_py(), table.column("shard")[0].as_py()
        words, qgroups, matrix = _unpack(table)
        lo, hi = shard * shard_rows, min((shard + 1) * shard_rows, len(matrix))
        part = matrix[lo:hi]

        def local(rows: np.ndarray) -> np.ndarray:
            return np.where((rows >= lo) & (rows < hi), rows - lo, -1)

        rows = np.flatnonzero(qgroups == group)
        every_query = np.flatnonzero(qgroups >= 0)
        probes, recall = None, 1.0  # searched exactly
        with _one_thread():
            if len(every_query) > sample_size:  # else exact search of all queries costs less than an index
                index = build_index(part)
                probes, recall = nprobe, float("nan")
                if recall_target > 0:
                    # The same sample in every task (all tasks see all query words), so a shard's tasks agree.
                    sample = np.sort(np.random.default_rng(0).choice(every_query, sample_size, replace=False))
                    probes, recall = tune_nprobe(
                        index, part, matrix[sample], local(sample), k, nprobe, recall_target, max_scan_share
                    )
                    event(_log, "similarity.index_checked", shard=shard, nprobe=probes, sample_recall=round(recall, 4))
            if probes is None:
                recall = 1.0
                idx, val = exact_in_shard(part, matrix[rows], local(rows), k)
            else:
                idx, val = search_index(index, matrix[rows], local(rows), k, probes)
        keep = idx.reshape(-1) >= 0
        query_rows = np.repeat(rows, idx.shape[1])[keep]
        neighbour_rows = idx.reshape(-1)[keep] + lo
        ranks = np.tile(np.arange(1, idx.shape[1] + 1, dtype=np.int32), len(rows))[keep]  # -1s are only at the end
        n = len(query_rows)
        return pa.Table.from_arrays(
            [
                words.take(pa.array(query_rows)),
                words.take(pa.array(neighbour_rows)),
                pa.array(neighbour_rows.astype(np.int32)),
                pa.array(ranks),
                pa.array(val.reshape(-1)[keep].astype(np.float32)),
                pa.array(["approximate" if probes else "exact"] * n, pa.string()),
                pa.array([probes] * n, pa.int32()),
                pa.array([None if np.isnan(recall) else recall] * n, pa.float32()),
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
    """``word, neighbor, rank int (1 = nearest), similarity double, mode, nprobe, sample_recall``: top-k cosine
    neighbours. The table keeps ``TABLE_COLUMNS``; ``nprobe`` and ``sample_recall`` (null when searched exactly)
    are for ``search_metrics``.

    Parameters
    ----------
    vectors
        ``word string, vector array<float>``.
    cfg
        ``top_k`` neighbours per word; ``words`` restricts the query words (neighbours still range over all
        words); ``mode`` exact or approximate (recorded per word in ``mode``); for approximate, ``nprobe`` to
        start from and ``recall_target`` on the sample (0: search ``nprobe`` lists as given).
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
        # A task builds its shard's index and searches its query group in it; every query is searched in every
        # shard. Searching costs about the same in total whatever the number of shards (each query scans a share of
        # each shard's words), so shards are only for memory: past MAX_SHARD_ROWS words.
        shards = max(1, math.ceil(size / MAX_SHARD_ROWS))
        groups = max(1, min(math.ceil(n_queries / cfg.block_size), slots // shards))
    shard_rows = math.ceil(size / shards)
    per_group = math.ceil(n_queries / groups)
    event(_log, "similarity.plan", mode=cfg.mode, words=size, queries=n_queries, groups=groups, shards=shards, k=k)
    qrank = F.row_number().over(Window.partitionBy("_q").orderBy("idx")) - 1
    flagged = flagged.withColumn(
        "qgroup", F.when(F.col("_q"), (qrank / per_group).cast("int")).otherwise(F.lit(None).cast("int"))
    ).withColumn("kblock", (F.col("idx") / KEY_BLOCK_ROWS).cast("int"))
    blocks = (
        flagged.select("kblock", "idx", "word", "vector", "qgroup")
        .groupBy("kblock")
        .applyInArrow(_pack, from_arrow_schema(_BLOCK_ARROW))
    )
    # One partition a task (a query group in a shard), each with every key block.
    tasks = spark.range(groups * shards).select(
        (F.col("id") % groups).cast("int").alias("qgroup_id"),
        (F.col("id") / groups).cast("int").alias("shard"),
        spread_key(spark, groups * shards, F.col("id")).alias("task"),
    )
    pairs = tasks.crossJoin(blocks).repartition(groups * shards, "task")
    if cfg.mode == "exact":
        return pairs.groupBy("task").applyInArrow(_exact_task(k), from_arrow_schema(_SIMILARITY_ARROW))
    candidates = pairs.groupBy("task").applyInArrow(
        _approximate_task(k, shard_rows, cfg.nprobe, cfg.recall_target), from_arrow_schema(_CANDIDATE_ARROW)
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
    return candidates.select(
        "word",
        "neighbor",
        F.col("rank").cast("int").alias("rank"),
        F.col("similarity").cast("double").alias("similarity"),
        "mode",
        "nprobe",
        "sample_recall",
    )


def search_metrics(sims: DataFrame) -> dict[str, float]:
    """How approximate mode searched, for ``runs``: share of words searched exactly, most lists searched
    (``nprobe``) and least recall on the sample among the indexes used. ``sims`` is ``similarities``' result."""
    row = (
        sims.where(F.col("rank") == 1)
        .agg(
            F.avg((F.col("mode") == "exact").cast("double")).alias("exact_share"),
            F.max("nprobe").alias("nprobe"),
            F.min("sample_recall").alias("sample_recall"),
        )
        .first()
    )
    if row is None or row.exact_share is None:
        return {}
    metrics = {"similarity_exact_share": float(row.exact_share)}
    if row.nprobe is not None:
        metrics["similarity_nprobe"] = float(row.nprobe)
    if row.sample_recall is not None:
        metrics["similarity_sample_recall"] = round(float(row.sample_recall), 4)
    return metrics

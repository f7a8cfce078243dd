"""Exact top-k cosine neighbours of every word (or of chosen words), computed on the executors in blocks.

The vectors are packed into key blocks; each task gets every key block once (a cross join with the query
groups), rebuilds the normalised matrix and scores its query words against all words in chunks, keeping the
top k. The matrix never passes through the driver. Cost per task: vocabulary x vector_size x 4 bytes for the
matrix, plus one chunk of scores (bounded to 128 MiB).
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

_SIMILARITY_ARROW = pa.schema(
    [("word", pa.string()), ("neighbor", pa.string()), ("rank", pa.int32()), ("similarity", pa.float64())]
)
SIMILARITY_SCHEMA = "word string, neighbor string, rank int, similarity double"
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
    return pa.Table.from_pydict(
        {
            "kblock": [table.column("kblock")[0].as_py()],
            "words": [table.column("word").to_pylist()],
            "query": [table.column("qgroup").to_pylist()],
            "matrix": [matrix.tobytes()],
            "dim": [dim],
        },
        schema=_BLOCK_ARROW,
    )


def top_k(queries: np.ndarray, query_rows: np.ndarray, matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by cosine of ``queries`` (normalised rows of ``matrix`` at ``query_rows``) among all rows.

    A word is never its own neighbour. Ties go to the lower row, so the result is the same on every run.

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


def _score(k: int):
    def run(table: pa.Table) -> pa.Table:
        from threadpoolctl import threadpool_limits

        table = table.sort_by("kblock")
        dim = table.column("dim")[0].as_py()
        words = np.array([w for block in table.column("words").to_pylist() for w in block], dtype=object)
        qgroups = np.array([-1 if q is None else q for b in table.column("query").to_pylist() for q in b])
        matrix = np.concatenate(
            [np.frombuffer(b, dtype=np.float32).reshape(-1, dim) for b in table.column("matrix").to_pylist()]
        )
        rows = np.flatnonzero(qgroups == table.column("qgroup_id")[0].as_py())
        with threadpool_limits(limits=1):  # parallelism comes from tasks
            idx, val = top_k(matrix[rows], rows, matrix, k)
        return pa.Table.from_pydict(
            {
                "word": np.repeat(words[rows], k).tolist(),
                "neighbor": words[idx.reshape(-1)].tolist(),
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(rows)),
                "similarity": val.reshape(-1).astype(np.float64),
            },
            schema=_SIMILARITY_ARROW,
        )

    return run


def similarities(
    spark: SparkSession, vectors: DataFrame, cfg: SimilarityConfig, vocab_size: int | None = None
) -> DataFrame:
    """``word, neighbor, rank int (1 = nearest), similarity double``: exact top-k cosine neighbours.

    Parameters
    ----------
    vectors
        ``word string, vector array<float>``.
    cfg
        ``top_k`` neighbours per word; ``words`` restricts the query words (neighbours still range over all words).

    Raises
    ------
    BadInput
        ``top_k`` not below the vocabulary size, or none of ``words`` in the vocabulary.
    """
    size = vocab_size if vocab_size is not None else vectors.count()
    k = neighbours_per_word(cfg, size)
    wanted = query_words(cfg)
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
    parallelism = int(spark.conf.get("spark.sql.shuffle.partitions", "8") or 8)
    groups = max(1, min(math.ceil(n_queries / max(cfg.block_size // 8, 16)), 2 * parallelism))
    per_group = math.ceil(n_queries / groups)
    qrank = F.row_number().over(Window.partitionBy("_q").orderBy("idx")) - 1
    flagged = flagged.withColumn(
        "qgroup", F.when(F.col("_q"), (qrank / per_group).cast("int")).otherwise(F.lit(None).cast("int"))
    ).withColumn("kblock", (F.col("idx") / KEY_BLOCK_ROWS).cast("int"))
    blocks = (
        flagged.select("kblock", "idx", "word", "vector", "qgroup").groupBy("kblock").applyInArrow(_pack, _BLOCK_SCHEMA)
    )
    query_groups = spark.range(groups).select(F.col("id").cast("int").alias("qgroup_id"))
    pairs = query_groups.crossJoin(blocks).repartition(groups, "qgroup_id")
    return pairs.groupBy("qgroup_id").applyInArrow(_score(k), SIMILARITY_SCHEMA)

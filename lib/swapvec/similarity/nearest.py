"""Nearest-word search: the ``k`` nearest words of query vectors by cosine, exactly, by one rule.

Every step that looks for a word's neighbours searches here: the similarity table (``swapvec.similarity``), the
evaluation, the group guarantee, the repel step and the report's figures.

The rule, applied by :func:`rank_candidates`: a word is never its own neighbour; neighbours come by cosine, highest
first, and equal cosines go to the lower row, so the result is the same on every run and every retry. The rows of a
vectors table are counted in word order, as the similarity stage numbers them: there the lower row is the word that
sorts first. A query with fewer than ``k`` candidates gets row -1 with cosine -inf in the missing places.

The search is blockwise over the vocabulary: a block of rows is scored against the queries, its best ``k`` a query
are kept (:func:`block_top_k`) and merged with the best of the blocks before by the same rule. The best ``k`` of the
union is the best ``k`` of the best of each block, so memory is bounded by a block whatever the vocabulary, and the
blocks change nothing but the cosines' last bit: a BLAS may round one product differently by its place in a block,
so copies of a word tie where their cosines come out equal, and the rule orders what the arithmetic gives it.

* :func:`top_k`: among the rows of a matrix in memory, in numpy (the reference).
* :func:`exact_top_k`: the same neighbours with faiss's brute-force kernel (a float32 GEMM fused with a top-k heap),
  because selecting the top k from each row of scores, not the product, is what costs in numpy. faiss is an optional
  dependency (``swapvec[faiss]``): without it :func:`top_k` computes them, several times slower.
* :func:`nearest_words`: among the rows of a vectors table, in one Spark job: a task's blocks are its Arrow batches,
  and the driver merges the tasks' best. Only ``queries x k`` rows reach the driver, whatever the vocabulary.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import from_arrow_schema

from swapvec.arrow import list_column, to_matrix

#: Query rows scored at once, so that their scores against a block take at most this much memory.
SCORE_CHUNK_BYTES = 128 * 2**20
#: Rows of a block of :func:`top_k`: the product stays one large GEMM, and a chunk of 128 queries fits
#: ``SCORE_CHUNK_BYTES``.
BLOCK_ROWS = 2**18

_FOUND = pa.schema(
    [("query", pa.int32()), ("word", pa.string()), ("score", pa.float64()), ("vector", pa.list_(pa.float32()))]
)


def unit_rows(matrix: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """``matrix`` as rows of length 1 in ``dtype`` (a zero row stays zero), so that inner products are cosines."""
    matrix = matrix.astype(dtype)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(dtype)


def rank_candidates(
    rows: np.ndarray, scores: np.ndarray, query_rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of each query's candidates, by the rule of this module.

    The query's own row is dropped (a word is never its own neighbour), candidates are ordered by score, highest
    first, then by row, lowest first (so ties go to the lower row), and cut to ``k``. Places left empty (fewer than
    ``k`` candidates, or candidate rows of -1 as faiss returns them) are row -1 with score -inf.

    Parameters
    ----------
    rows, scores
        ``queries x candidates``: candidate rows (-1: none) and their cosines.
    query_rows
        Each query's own row (-1: the query is not one of the rows).
    k
        Neighbours per query, at least 1.

    Returns
    -------
    (rows, scores)
        ``queries x k``, int64 rows and float32 cosines, best first.
    """
    scores = np.where((rows == query_rows[:, None]) | (rows < 0), -np.inf, scores)
    order = np.lexsort((rows, -scores), axis=1)[:, :k]
    rows = np.take_along_axis(rows, order, axis=1).astype(np.int64, copy=False)
    scores = np.take_along_axis(scores, order, axis=1).astype(np.float32, copy=False)
    short = k - rows.shape[1]
    if short > 0:
        rows = np.pad(rows, ((0, 0), (0, short)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, short)), constant_values=-np.inf)
    return np.where(scores == -np.inf, -1, rows), scores


def _best_k_and_ties_at_the_cut(
    rows: np.ndarray, scores: np.ndarray, query_rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best ``k`` of ``k + 2`` candidates per query (room for the query's own row and one more), and the queries
    whose ``k``-th and ``(k + 1)``-th candidates tie.

    The candidates hold every score above the ``k``-th, but a run of equal scores at the cut may be split: rows
    outside them may tie with the ``k``-th and be lower. Those queries must be ranked among all rows.
    """
    rows, scores = rank_candidates(rows, scores, query_rows, k + 1)
    tied = np.flatnonzero(scores[:, k - 1] == scores[:, k])
    return rows[:, :k].copy(), scores[:, :k].copy(), tied


def block_top_k(scores: np.ndarray, rows: np.ndarray, query_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rank_candidates` over one block of rows, without sorting the whole block.

    The ``k + 2`` best scores of each query are selected (``argpartition``) and ranked; a query whose cut falls in a
    run of equal scores is ranked among all rows of the block, so ties at the cut still go to the lower row.

    Parameters
    ----------
    scores
        ``queries x block``: the cosines of each query with the block's rows.
    rows
        The block's rows, one a column of ``scores``, in any order.
    query_rows, k
        As for :func:`rank_candidates`.

    Returns
    -------
    (rows, scores)
        As :func:`rank_candidates`: ``queries x k``, best first.
    """
    if scores.shape[1] <= k + 2:
        return rank_candidates(np.broadcast_to(rows, scores.shape), scores, query_rows, k)
    part = np.argpartition(-scores, k + 1, axis=1)[:, : k + 2]
    best, val, tied = _best_k_and_ties_at_the_cut(rows[part], np.take_along_axis(scores, part, axis=1), query_rows, k)
    if len(tied):
        best[tied], val[tied] = rank_candidates(
            np.broadcast_to(rows, (len(tied), len(rows))), scores[tied], query_rows[tied], k
        )
    return best, val


def _scores(queries: np.ndarray, block: np.ndarray, norms: np.ndarray | None) -> np.ndarray:
    """Cosines of unit ``queries`` with the rows of ``block``: their inner products, divided by the rows' ``norms``
    when the rows are not unit (a zero row scores 0)."""
    products = queries @ block.T
    return products if norms is None else products / np.where(norms > 0, norms, np.inf)[None, :]


def top_k(
    queries: np.ndarray, query_rows: np.ndarray, matrix: np.ndarray, k: int, norms: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by cosine of ``queries`` among the rows of ``matrix``, in numpy: the reference.

    Chunks of queries are scored against blocks of ``BLOCK_ROWS`` rows; :func:`exact_top_k` is the same result,
    faster, where the rows are unit.

    Parameters
    ----------
    queries
        Unit float32 vectors, one a row.
    query_rows
        Each query's row in ``matrix`` (-1 when it is not one), so that a word is not its own neighbour.
    matrix
        Float32 vectors of all words: unit rows, or rows of the lengths ``norms``.
    k
        Neighbours per query, at least 1; with fewer rows than ``k + 1`` the last places are empty.
    norms
        The rows' lengths where they are not unit (as gensim keeps them), None where they are.

    Returns
    -------
    (indices, scores)
        ``len(queries) x k`` int64 rows of ``matrix`` (-1: none) and their float32 cosines, best first.
    """
    n = matrix.shape[0]
    width = max(1, min(n, BLOCK_ROWS))
    chunk = max(1, min(len(queries), SCORE_CHUNK_BYTES // (4 * width)))
    out_idx = np.empty((len(queries), k), dtype=np.int64)
    out_val = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        stop = min(start + chunk, len(queries))
        own = query_rows[start:stop]
        idx = np.full((stop - start, 0), -1, np.int64)
        val = np.empty((stop - start, 0), np.float32)
        for lo in range(0, n, width):
            hi = min(lo + width, n)
            scores = _scores(queries[start:stop], matrix[lo:hi], None if norms is None else norms[lo:hi])
            found = block_top_k(scores, np.arange(lo, hi), own, k)
            if lo == 0:
                idx, val = found
            else:
                idx, val = rank_candidates(np.hstack([idx, found[0]]), np.hstack([val, found[1]]), own, k)
        if n == 0:
            idx, val = rank_candidates(idx, val, own, k)
        out_idx[start:stop], out_val[start:stop] = idx, val
    return out_idx, out_val


@functools.cache
def faiss_module() -> Any | None:
    """faiss, or None where it is not installed (it is an optional dependency: ``pip install 'swapvec[faiss]'``)."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def exact_top_k(
    queries: np.ndarray, query_rows: np.ndarray, matrix: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k`'s neighbours among unit rows (same rows, same order), computed with faiss's fused GEMM + heap
    kernel.

    faiss returns ``k + 2`` candidates; a query whose ``k``-th and ``(k + 1)``-th tie is recomputed with
    :func:`top_k`, so ties at the cut still go to the lower row. The cosines are faiss's float32 sums, which may
    differ from numpy's in the last bits. faiss uses its OpenMP threads; the Spark tasks hold them to one. Without
    faiss, :func:`top_k` computes them.
    """
    faiss = faiss_module()
    if faiss is None or matrix.shape[0] <= k + 2 or len(queries) == 0:
        return top_k(queries, query_rows, matrix, k)
    scores, rows = faiss.knn(
        np.ascontiguousarray(queries, dtype=np.float32),
        np.ascontiguousarray(matrix, dtype=np.float32),
        k + 2,
        metric=faiss.METRIC_INNER_PRODUCT,
    )
    idx, val, tied = _best_k_and_ties_at_the_cut(rows, scores, query_rows, k)
    if len(tied):
        idx[tied], val[tied] = top_k(queries[tied], query_rows[tied], matrix, k)
    return idx, val


def _word_order(words: np.ndarray) -> np.ndarray:
    """Each of ``words``' (distinct) place in word order: the rows the rule ranks a table's words by."""
    return np.unique(words, return_inverse=True)[1].reshape(-1)


def nearest_words(vectors: DataFrame, queries: np.ndarray, n: int) -> list[list[tuple[str, float, np.ndarray]]]:
    """The ``n`` nearest words (cosine) of each query vector among the rows of a vectors table, by the rule.

    One pass of the table (``mapInArrow``): each task keeps its best ``n`` a query over its batches, the driver
    merges the tasks' best. The queries are vectors, not rows of the table, so no row is left out as the query's
    own: the guarantee searches a table without the group words, and the repel step one that holds its words where
    specialisation left them, not where it moved them since (it leaves a pair's own words out itself).

    Parameters
    ----------
    vectors
        ``word string, vector array<float>``, one row a word (other columns are not read).
    queries
        Query vectors, one a row, of any length (they are made unit here).
    n
        Neighbours per query, at least 1.

    Returns
    -------
    list
        Per query, ``(word, cosine, vector)`` best first; the vectors as stored; fewer than ``n`` when the table has
        fewer rows.
    """
    units = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    units = units.astype(np.float32)
    nobody = np.full(len(units), -1)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # The best n a query so far (scores, words, vectors): bounded by queries x n rows, whatever the table.
        kept_scores = np.empty((len(units), 0), np.float32)
        kept_words: list[str] = []
        kept_vectors = np.empty((0, units.shape[1]), np.float32)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            matrix = to_matrix(batch.column("vector"))
            scores = np.concatenate([kept_scores, _scores(units, matrix, np.linalg.norm(matrix, axis=1))], axis=1)
            words = kept_words + batch.column("word").to_pylist()
            pool = np.concatenate([kept_vectors, matrix])
            rows = _word_order(np.array(words))
            best, _ = block_top_k(scores, rows, nobody, min(n, len(words)))
            at = np.empty(len(rows), np.int64)
            at[rows] = np.arange(len(rows))
            union = np.unique(at[best[best >= 0]])
            kept_scores, kept_vectors = scores[:, union], pool[union]
            kept_words = [words[i] for i in union]
        if not kept_words:
            return
        keep = min(n, len(kept_words))
        rows = _word_order(np.array(kept_words))
        best, _ = rank_candidates(np.broadcast_to(rows, kept_scores.shape), kept_scores, nobody, keep)
        at = np.empty(len(rows), np.int64)
        at[rows] = np.arange(len(rows))
        tops = at[best]
        flat = tops.reshape(-1)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(np.repeat(np.arange(len(units), dtype=np.int32), keep)),
                pa.array([kept_words[i] for i in flat], pa.string()),
                pa.array(np.take_along_axis(kept_scores, tops, axis=1).reshape(-1).astype(np.float64)),
                list_column(kept_vectors[flat]),
            ],
            schema=_FOUND,
        )

    found = vectors.select("word", "vector").mapInArrow(task, from_arrow_schema(_FOUND)).collect()
    per_query: list[list[Any]] = [[] for _ in range(len(queries))]
    for row in found:
        per_query[row.query].append(row)
    nearest: list[list[tuple[str, float, np.ndarray]]] = []
    for rows in per_query:
        if not rows:
            nearest.append([])
            continue
        order = _word_order(np.array([r.word for r in rows]))
        scores = np.array([[r.score for r in rows]])
        best, _ = rank_candidates(order[None, :], scores, np.array([-1]), n)
        at = np.empty(len(rows), np.int64)
        at[order] = np.arange(len(rows))
        chosen = [rows[at[b]] for b in best[0] if b >= 0]
        nearest.append([(r.word, r.score, np.asarray(r.vector, dtype=np.float32)) for r in chosen])
    return nearest

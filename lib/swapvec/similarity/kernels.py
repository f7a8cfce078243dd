"""The numpy and faiss kernels of the similarity stage: exact top-k, inverted-file indexes, and the recall check.

Everything here works on in-memory float32 matrices of unit rows and knows nothing of Spark, so the Spark tasks
(``swapvec.similarity.tasks``), the tests and ``bench/similarity_bench.py`` call the same code.

Every top-k here follows one rule, applied by :func:`rank_candidates`: a word is never its own neighbour, ties go to
the lower row (so the result is the same on every run), and a query with fewer than ``k`` candidates gets row -1
with score -inf in the missing places.

* :func:`top_k` is the numpy reference; :func:`exact_top_k` computes the same neighbours with faiss's brute-force
  kernel (a float32 GEMM fused with a top-k heap), because selecting the top k from each row of scores, not the
  product, is what costs in numpy. faiss is an optional dependency (``swapvec[faiss]``): without it exact mode
  uses the numpy kernel, the same neighbours, several times slower.
* :func:`build_index` and :func:`search_index` are the inverted file (faiss ``IndexIVFFlat``) of approximate mode,
  chosen over HNSW graphs because on word-like vectors at a million words the graph needs a far longer build and a
  search about as costly as an exact one to reach 95% recall (bench/RESULTS.md, "Similarities: which index for
  approximate mode").
* :func:`tune_nprobe` picks how many lists a search scans. The number needed varies several-fold between sets of
  vectors and users cannot know it in advance, so each index is checked on a sample of query words against their
  exact neighbours and widened step by step until it finds enough of them.

k-means is seeded and every kernel runs on the caller's threads in a fixed order, so an index, its chosen width and
its neighbours are the same on every run and every retry.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from swapvec.errors import BadInput

#: Exact numpy kernel: query rows scored at once, so that their scores take at most this much memory.
SCORE_CHUNK_BYTES = 128 * 2**20
#: Inverted file: queries searched at once, so that their lists to scan take at most this much memory.
SEARCH_CHUNK_BYTES = 256 * 2**20
#: Inverted file: k-means lists per square root of the shard's words (4,000 lists for a million words), trained on at
#: most ``TRAIN_POINTS_PER_LIST`` words a list (faiss's own sampling, seeded).
LISTS_PER_SQRT = 4
TRAIN_POINTS_PER_LIST = 64
#: ``nprobe`` is raised while the index misses the recall target and scans less than this share of its lists; past
#: it an inverted file costs about half of exact search, which then is the better buy (bench/RESULTS.md,
#: "Similarities: which index for approximate mode").
MAX_SCAN_SHARE = 0.25


def unit_rows(matrix: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """``matrix`` as rows of length 1 in ``dtype`` (a zero row stays zero), so that inner products are cosines."""
    matrix = matrix.astype(dtype)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(dtype)


def rank_candidates(
    rows: np.ndarray, scores: np.ndarray, query_rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of each query's candidates, by the rule every top-k of this module follows.

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


def _all_rows(scores: np.ndarray, query_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``rank_candidates`` with every row of the matrix a candidate (``scores``: queries x rows)."""
    return rank_candidates(np.broadcast_to(np.arange(scores.shape[1]), scores.shape), scores, query_rows, k)


def top_k(queries: np.ndarray, query_rows: np.ndarray, matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by cosine of ``queries`` among the rows of ``matrix``, in numpy: the reference.

    Slow (``argpartition`` of every row of scores); :func:`exact_top_k` is the same result, fast.

    Parameters
    ----------
    queries
        Unit float32 vectors, one a row.
    query_rows
        Each query's row in ``matrix`` (-1 when it is not one), so that a word is not its own neighbour.
    matrix
        Unit float32 vectors of all words.
    k
        Neighbours per query, at least 1; with fewer rows than ``k + 1`` the last places are empty.

    Returns
    -------
    (indices, scores)
        ``len(queries) x k`` int64 rows of ``matrix`` (-1: none) and their float32 cosines, best first.
    """
    n = matrix.shape[0]
    chunk = max(1, min(len(queries), SCORE_CHUNK_BYTES // max(1, 4 * n)))
    out_idx = np.empty((len(queries), k), dtype=np.int64)
    out_val = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        stop = min(start + chunk, len(queries))
        scores, own = queries[start:stop] @ matrix.T, query_rows[start:stop]
        if n <= k + 2:
            out_idx[start:stop], out_val[start:stop] = _all_rows(scores, own, k)
            continue
        part = np.argpartition(-scores, k + 1, axis=1)[:, : k + 2]
        idx, val, tied = _best_k_and_ties_at_the_cut(part, np.take_along_axis(scores, part, axis=1), own, k)
        if len(tied):
            idx[tied], val[tied] = _all_rows(scores[tied], own[tied], k)
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


def require_faiss(why: str) -> Any:
    """faiss, or a BadInput saying how to install it."""
    faiss = faiss_module()
    if faiss is None:
        raise BadInput(f"{why} needs faiss, which is not installed: pip install 'swapvec[faiss]' (or faiss-cpu)")
    return faiss


def exact_top_k(
    queries: np.ndarray, query_rows: np.ndarray, matrix: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k`'s neighbours (same rows, same order), computed with faiss's fused GEMM + heap kernel.

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


def build_index(shard: np.ndarray) -> Any:
    """An inverted-file index (inner product) of the unit rows of ``shard``.

    k-means is seeded and spherical (unit centroids, for cosine) and trains on one thread when the caller holds to
    one, so the lists are the same on every run. There are ``LISTS_PER_SQRT x sqrt(rows)`` lists, at most one per 39
    rows (faiss's least number of training points a centroid).

    Returns
    -------
    faiss.IndexIVFFlat
        Holding a copy of ``shard`` and an 8-byte id a row.
    """
    faiss = require_faiss("similarity.mode approximate")

    rows, dim = shard.shape
    lists = max(1, min(round(LISTS_PER_SQRT * math.sqrt(rows)), rows // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1
    index.cp.spherical = True
    index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
    vectors = np.ascontiguousarray(shard, dtype=np.float32)
    index.train(vectors)
    index.add(vectors)
    return index


def search_index(
    index: Any, queries: np.ndarray, query_rows: np.ndarray, k: int, nprobe: int
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k of ``queries`` among the rows of the shard ``index`` was built on, in each query's
    ``nprobe`` nearest lists.

    The found candidates are ranked by :func:`rank_candidates`. Where several rows tie at the cut, faiss keeps those
    it scanned first: rows of one list are scanned in row order, so identical vectors (which share a list) go to
    the lower row as in exact search, but rows tying across lists may not.

    Parameters
    ----------
    index
        From :func:`build_index`.
    queries
        Unit float32 vectors.
    query_rows
        The queries' rows in the shard (-1 when outside it), so that a word is not its own neighbour.
    k
        Neighbours per query.
    nprobe
        Lists searched per query, at most the index's ``nlist``.

    Returns
    -------
    (indices, scores)
        ``len(queries) x k`` rows of the shard (-1 where it has fewer candidates) and cosines, best first.
    """
    if len(queries) == 0:
        return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    index.nprobe = probes = min(nprobe, index.nlist)
    wanted = min(k + 1, index.ntotal)  # room for the query's own row
    # Queries in the order of their nearest list: neighbouring queries scan mostly the same lists, which then stay in
    # cache (bench/RESULTS.md, "Similarities: approximate mode against exact").
    order = np.argsort(index.quantizer.search(queries, 1)[1][:, 0], kind="stable")
    scores = np.empty((len(queries), wanted), dtype=np.float32)
    found = np.empty((len(queries), wanted), dtype=np.int64)
    chunk = max(1, SEARCH_CHUNK_BYTES // (12 * probes))  # each query's lists and their scores: 12 bytes a list
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        centre_scores, lists = index.quantizer.search(queries[part], probes)
        scores[part], found[part] = index.search_preassigned(queries[part], wanted, lists, centre_scores)
    return rank_candidates(found, scores, query_rows, k)


def nprobe_widths(start: int, widest: int) -> Iterator[int]:
    """The widths :func:`tune_nprobe` tries: ``start``, then about ``start x 1.41 ** step`` (always at least one
    more list than the last), up to and including ``widest``.

    Examples
    --------
    >>> list(nprobe_widths(1, 12))
    [1, 2, 3, 4, 5, 6, 8, 11, 12]
    """
    nprobe, step = min(start, widest), 0
    while True:
        yield nprobe
        if nprobe >= widest:
            return
        step += 1
        nprobe = min(widest, max(nprobe + 1, round(start * 2 ** (step / 2))))


def tune_nprobe(
    index: Any,
    shard: np.ndarray,
    sample: np.ndarray,
    sample_rows: np.ndarray,
    k: int,
    start: int,
    target: float,
    max_scan_share: float = MAX_SCAN_SHARE,
) -> tuple[int | None, float]:
    """The first width of :func:`nprobe_widths` with which ``index`` finds ``target`` of the exact top-k neighbours
    of ``sample``, among the widths that scan at most ``max_scan_share`` of the lists.

    The sample's recall must clear the target by two standard errors of its per-query recalls, so that the recall
    over all query words meets it too (about 97.5% confidence).

    Parameters
    ----------
    index, shard
        The index and the unit rows it was built on.
    sample, sample_rows
        Query vectors and their rows in ``shard``, as for :func:`search_index`.
    k
        Neighbours per query.
    start
        The first width tried.
    target
        Share of the exact neighbours to find, in [0, 1].
    max_scan_share
        The widest width tried, as a share of the index's lists.

    Returns
    -------
    (nprobe, recall)
        ``nprobe`` is None when every width tried misses the target; ``recall`` is the last one measured.
    """
    truth, _ = exact_top_k(sample, sample_rows, shard, k)
    expected = (truth >= 0).sum(axis=1)
    recall = 1.0
    for nprobe in nprobe_widths(start, max(1, math.floor(max_scan_share * index.nlist))):
        found, _ = search_index(index, sample, sample_rows, k, nprobe)
        hits = np.array([len(np.intersect1d(f[f >= 0], t[t >= 0])) for f, t in zip(found, truth, strict=True)])
        recall = float(hits.sum() / expected.sum()) if expected.sum() else 1.0
        each = hits[expected > 0] / expected[expected > 0]
        error = each.std(ddof=1) / math.sqrt(len(each)) if len(each) > 1 else 0.0
        if recall - 2 * error >= target:
            return nprobe, recall
    return None, recall

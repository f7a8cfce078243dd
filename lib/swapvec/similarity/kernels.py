"""The faiss kernels of approximate mode: inverted-file indexes, their search, and the recall check.

Everything here works on in-memory float32 matrices of unit rows and knows nothing of Spark, so the Spark tasks
(``swapvec.similarity.tasks``), the tests and ``bench/similarity_bench.py`` call the same code. Exact search, and the
rule every search here follows (a word is never its own neighbour, ties go to the lower row), is
``swapvec.similarity.nearest``; the candidates an index finds are ranked by its :func:`rank_candidates`.

* :func:`build_index` and :func:`search_index` are the inverted file (faiss ``IndexIVFFlat``) of approximate mode,
  chosen over HNSW graphs because on word-like vectors at a million words the graph needs a far longer build and a
  search about as costly as an exact one to reach 95% recall.
* :func:`tune_nprobe` picks how many lists a search scans. The number needed varies several-fold between sets of
  vectors and users cannot know it in advance, so each index is checked on a sample of query words against their
  exact neighbours and widened step by step until it finds enough of them.

k-means is seeded and every kernel runs on the caller's threads in a fixed order, so an index, its chosen width and
its neighbours are the same on every run and every retry.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from swapvec.errors import BadInput
from swapvec.similarity.nearest import exact_top_k, faiss_module, rank_candidates

#: Inverted file: queries searched at once, so that their lists to scan take at most this much memory.
SEARCH_CHUNK_BYTES = 256 * 2**20
#: Inverted file: k-means lists per square root of the shard's words (4,000 lists for a million words), trained on at
#: most ``TRAIN_POINTS_PER_LIST`` words a list (faiss's own sampling, seeded).
LISTS_PER_SQRT = 4
TRAIN_POINTS_PER_LIST = 64
#: ``nprobe`` is raised while the index misses the recall target and scans less than this share of its lists; past
#: it an inverted file costs about half of exact search, which then is the better buy.
MAX_SCAN_SHARE = 0.25


def require_faiss(why: str) -> Any:
    """faiss, or a BadInput saying how to install it."""
    faiss = faiss_module()
    if faiss is None:
        raise BadInput(f"{why} needs faiss, which is not installed: pip install 'swapvec[faiss]' (or faiss-cpu)")
    return faiss


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
    # cache.
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

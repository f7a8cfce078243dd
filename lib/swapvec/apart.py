"""The repel promise: after specialisation, no repelled pair inside each other's top 10, over the whole vocabulary.

Attract-Repel pushes a repelled pair apart against the words it sees (the batch's, its negatives), so a pair can end
with a negative cosine and still inside a top 10 where a word's neighbourhood is sparse: 2 to 5 of WordNet's 1,562
antonym pairs on GCIDE did. This step finds those pairs and turns each apart in the plane of its two vectors, only as
far as it needs, moving nothing but the pair (``augment.guarantee``, as for the groups).

*Finding them cheaply.* A pair ``(a, b)`` is outside both top 10s when 10 other words are nearer ``a`` than ``b`` is,
and 10 nearer ``b`` than ``a`` is. The constrained words are on the driver already: counting among them (at most
``POOL`` of them) is a lower bound on the count over the vocabulary, so a pair that passes is outside. Only the pairs
that fail (a few) are checked against the whole vocabulary, with ``swapvec.similarity.nearest.nearest_words`` (one
Spark job for their words).

*Turning apart.* With ``m`` and ``n`` the unit bisector and half-difference of the unit vectors, ``a = cos(h) m +
sin(h) n`` and ``b = cos(h) m - sin(h) n``; a new half-angle gives the pair the cosine ``MARGIN`` below the lower of
its two words' 10th-nearest cosines (the partner left out). Each vector keeps its length. A turned word also leaves
the neighbourhoods it was in, which can bring another pair inside, so the next round checks every pair again (the
driver's count is cheap), until a round turns none or after ``ROUNDS`` rounds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
from pyspark.sql import DataFrame

from swapvec.evaluate import TOP
from swapvec.similarity.nearest import nearest_words, unit_rows

#: ``search(queries, n)``: per query row, its ``n`` nearest words as ``(word, cosine, ...)``, best first.
Search = Callable[[np.ndarray, int], Sequence[Sequence[tuple]]]

#: At most this many constrained words to count against (a seeded draw beyond): the count is a lower bound anyway.
POOL = 20_000
#: The cosine a turned pair ends below its words' 10th-nearest cosine.
MARGIN = 0.05
#: A round that turns pairs can bring others inside; on GCIDE with WordNet's relations the third round turned none.
ROUNDS = 5
_CHUNK = 1024
_SLACK = 1e-4


def table_search(table: Callable[[], DataFrame]) -> Search:
    """A :data:`Search` over a vectors table (``word, vector``), built on the first search and read once a search
    (``nearest_words``: one Spark job)."""
    built = functools.cache(table)
    return lambda queries, n: nearest_words(built(), queries, n)


def _maybe_inside(unit: np.ndarray, pairs: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """The pairs (rows of ``pairs``) that fewer than ``TOP`` words of ``pool`` may separate from either side.

    Each word is compared with the pool once, however many pairs it is in: a pair is outside its word's top ``TOP``
    when the word's ``TOP + 2``-th nearest cosine in the pool is above the pair's, since the word itself and its
    partner are at most two of those nearer. The pool's cosines are float32, so the cut is lowered by ``_SLACK``,
    far more than their error (under 1e-6 for unit rows): a pair too close to call is checked over the vocabulary.
    """
    keep = TOP + 2
    if len(pool) < keep:
        return np.ones(len(pairs), bool)
    cosines = np.einsum("ij,ij->i", unit[pairs[:, 0]], unit[pairs[:, 1]])
    words = np.unique(pairs)
    cut = np.empty(len(words))
    candidates = unit[pool].astype(np.float32).T
    for start in range(0, len(words), _CHUNK):
        scores = unit[words[start : start + _CHUNK]].astype(np.float32) @ candidates
        cut[start : start + _CHUNK] = np.partition(scores, -keep, axis=1)[:, -keep] - _SLACK
    return (cut[np.searchsorted(words, pairs[:, 0])] <= cosines) | (cut[np.searchsorted(words, pairs[:, 1])] <= cosines)


def _turned(a: np.ndarray, b: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit ``a`` and ``b`` turned apart in their plane until their cosine is ``target``."""
    m, n = unit_rows((a + b)[None], np.float64)[0], unit_rows((a - b)[None], np.float64)[0]
    half = np.arccos(np.clip(target, -1.0, 1.0)) / 2
    return np.cos(half) * m + np.sin(half) * n, np.cos(half) * m - np.sin(half) * n


def keep_apart(
    search: Search, words: list[str], moved: np.ndarray, repel: np.ndarray, seed: int = 1
) -> tuple[np.ndarray, dict[str, float]]:
    """``moved`` (the constrained words' vectors, rows of ``words``) with every repel pair (rows of ``repel``) out of
    each other's top 10 over the vocabulary, and the stats ``apart_pairs_checked`` (checks over the vocabulary, a
    pair once a round), ``apart_pairs_turned``, ``apart_rounds``.

    ``search(queries, n)`` gives the ``n`` nearest words of each query row over the whole vocabulary with ``moved``
    in it, as ``(word, cosine, ...)`` best first (:func:`table_search`); it is called only when a pair needs it.

    A round checks every pair again, since turning a pair apart also moves its words away from the words whose
    neighbours they were. The cosines the search gives for the constrained words are taken from the driver (where
    they are now, not where specialisation left them); the search's other words never move.
    """
    lengths = np.linalg.norm(moved, axis=1, keepdims=True)
    unit = unit_rows(moved, np.float64)
    rng = np.random.default_rng(seed)
    pool = np.arange(len(words)) if len(words) <= POOL else np.sort(rng.choice(len(words), POOL, replace=False))
    row_of = {w: i for i, w in enumerate(words)}
    checked, turned, rounds = 0, set(), 0
    while len(repel) and rounds < ROUNDS:
        rounds += 1
        suspects = repel[_maybe_inside(unit, repel, pool)]
        if not len(suspects):
            break
        checked += len(suspects)
        rows = np.unique(suspects)
        found = search(unit[rows].astype(np.float32), TOP + 2)
        neighbours = {
            int(r): {w: float(unit[r] @ unit[row_of[w]]) if w in row_of else c for w, c, *_ in hits}
            for r, hits in zip(rows, found, strict=True)
        }
        turned_now = 0
        for a, b in suspects:
            cos = float(unit[a] @ unit[b])
            cuts = []
            for own, other in ((a, b), (b, a)):
                others = sorted(
                    (c for w, c in neighbours[int(own)].items() if w not in (words[own], words[other])), reverse=True
                )
                cuts.append(others[TOP - 1] if len(others) >= TOP else -1.0)
            if cos < min(cuts):
                continue  # outside both top 10s over the vocabulary
            unit[a], unit[b] = _turned(unit[a], unit[b], min(cuts) - MARGIN)
            turned.add((int(a), int(b)))
            turned_now += 1
        if not turned_now:
            break
    stats = {"apart_pairs_checked": float(checked), "apart_pairs_turned": float(len(turned)), "apart_rounds": rounds}
    out = moved.astype(np.float32)  # a copy; rows not turned stay bit for bit
    changed = sorted({i for pair in turned for i in pair})
    out[changed] = unit[changed] * lengths[changed]
    return out, stats

"""Specialisation (Attract-Repel, Mrksic et al., TACL 2017): after training, pull each group's words together and
push the two sides of each repel line apart, moving only the words the constraints name.

Constraints are pairs of words (:class:`swapvec.lexicon.Pairs`): attract pairs from the groups (every two words of a
plain group; a hub and each of its members) and the lexicon's attract lines, repel pairs from ``left != right``
lines (every left word with every right word). Training runs
over mini-batches of pairs, on unit vectors, and compares each pair ``(l, r)`` with *negative examples*: ``t_l``
and ``t_r`` taken from the candidates (below): for an attract pair, the candidate nearest to ``l`` and to ``r``; for
a repel pair, the mean of the :attr:`SpecializeParams.repel_farthest` candidates farthest from each (the paper takes
the one farthest). Per pair, with ``x`` the unit vectors and ``max(0, .)`` the hinge::

    attract:  max(0, d_att + x_l.t_l - x_l.x_r) + max(0, d_att + x_r.t_r - x_l.x_r)
    repel:    max(0, d_rpl + x_l.x_r - x_l.t_l) + max(0, d_rpl + x_l.x_r - x_r.t_r)

and each moved word is held to its trained direction by ``regularization * |x - x_trained|^2``. An attract pair
ends more similar to each other than to any candidate by ``attract_margin``; a repel pair less similar to each
other than each is, on average, to its farthest candidates.

*Why the mean.* The repel term's gradient pulls each word toward ``t``. The one farthest candidate is mostly a rare
word, another at each batch, so a repelled word would be dragged in a direction the batches' order draws, and the
words related to it with it: how much WS-353 falls below the trained vectors would then depend on the seed (up to
0.055 on GCIDE with WordNet's relations; ``network``/``hardware`` 0.61 -> 0.06). The mean of the 100 farthest (about
half the candidates) is a steadier direction: WS-353 falls 0.031 at worst, SimLex-999 ends a little higher, and
WordNet's direct antonyms end further apart. A mean of fewer (30) parts the antonyms further still but costs about
0.01 more of WS-353.

The candidates are the batch's other words, as in the paper, and :attr:`SpecializeParams.negatives` words drawn
from the rest of the vocabulary by a seeded hash (their vectors are read, never moved), so that a file of a few
lines has negatives too. AdaGrad, as in the paper (batches of 50 pairs, learning rate 0.05, attract margin 0.6), with
a stronger pull toward the trained vectors (:class:`SpecializeParams`); attract and repel batches alternate in a
seeded order, so a seed gives the same vectors.
The moved vectors are scaled back to their trained lengths.

*Outside the constraints* (``augment.specialize_outside``): the words no pair names do not move under Attract-Repel.
Post-specialisation (Vulic et al., NAACL 2018) learns the change from the constrained words and applies it to every
other word; swapvec learns it as one linear map (:func:`carry_map`: least squares from the trained to the specialised
directions) and applies it in the tasks, each vector kept at its length. It raises both SimLex-999 and WS-353 on
words no constraint names (on GCIDE with every constraint that names a benchmark word removed: 0.333 -> 0.360 and
0.540 -> 0.553).

Memory: the driver holds the constrained words' vectors three times in float64 (current, trained, AdaGrad's sums:
24 bytes x words x vector_size; 240 MB for 100,000 words of 100 dimensions) and the negatives' once; words outside
the constraints are not read to the driver. The map is ``vector_size^2`` floats in each task's closure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from swapvec.apart import keep_apart, table_search
from swapvec.arrow import list_column, to_matrix
from swapvec.compat import from_arrow, local_checkpoint, to_arrow
from swapvec.lexicon import Pairs
from swapvec.retrofit import replace_vectors
from swapvec.similarity.nearest import unit_rows
from swapvec.stats import Stats


@dataclass(frozen=True)
class SpecializeParams:
    """Attract-Repel's settings: the paper's, but for ``regularization``, ``repel_margin`` and ``repel_farthest`` (and
    ``min_steps``).

    With the paper's (regularization 1e-9, repel margin 0), WordNet's 33,000 synonym and 1,500 antonym pairs on
    GCIDE's vectors cost 0.11 of WS-353 and most of the analogies; a pull of 0.5 toward the trained vectors keeps
    WS-353 within 0.02, and a repel margin of 0.3 still takes the antonyms' mean cosine below 0. With WordNet's
    similar-to pairs and indirect antonyms too (94,000 pairs), 0.45 is the pull that holds SimLex-999 near 0.50,
    WS-353 within 0.03 and the antonyms below cosine 0 together, at each of four seeds, with the repel step's mean
    of the 100 farthest candidates (``repel_farthest``).
    """

    epochs: int = 5
    batch_size: int = 50
    attract_margin: float = 0.6
    repel_margin: float = 0.3
    regularization: float = 0.45
    learning_rate: float = 0.05
    #: Vocabulary words drawn as negatives beside the batch's own words.
    negatives: int = 100
    #: At least this many batches of each kind: a few lines fill one batch, which five epochs would barely move.
    min_steps: int = 100
    #: A repel pair's negative example is the mean of this many farthest candidates (the paper: 1; see above).
    repel_farthest: int = 100


def _rows(pairs, index: dict[str, int]) -> np.ndarray:
    """``k x 2`` rows of ``index`` of the word pairs whose two words are in ``index``, sorted."""
    rows = sorted((index[a], index[b]) for a, b in pairs if a in index and b in index)
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def _batch_step(x, fixed, pairs, attract: bool, anchor, sums, p: SpecializeParams) -> None:
    """One AdaGrad step on the words of one batch of pairs (rows of ``x``, changed in place)."""
    words = np.unique(pairs)  # the batch's words: the only rows that move
    left, right = np.searchsorted(words, pairs[:, 0]), np.searchsorted(words, pairs[:, 1])
    xw = x[words]
    candidates = np.concatenate([xw, fixed])
    sims = xw @ candidates.T
    rows = np.arange(len(pairs))
    found = len(candidates) > 2  # one pair and no other word: no negative example, nothing to compare with
    many = 1 if attract or not found else min(p.repel_farthest, len(candidates) - 2)
    means = []  # per side, pairs x candidates: each pair's negative example is its row's product with the candidates
    for own, other in ((left, right), (right, left)):
        own_sims = sims[own]  # a copy: a pair is not its own negative
        own_sims[rows, own] = own_sims[rows, other] = -np.inf if attract else np.inf
        picked = own_sims.argmax(axis=1)[:, None] if attract else np.argpartition(own_sims, many - 1)[:, :many]
        weights = np.zeros_like(own_sims)
        np.put_along_axis(weights, picked, 1.0 / many, axis=1)
        means.append(weights)
    tl, tr = means[0] @ candidates, means[1] @ candidates
    xl, xr = xw[left], xw[right]
    same = np.einsum("ij,ij->i", xl, xr)
    sign = 1.0 if attract else -1.0
    margin = p.attract_margin if attract else p.repel_margin
    # attract: d + x_l.t_l - x_l.x_r; repel: d - x_l.t_l + x_l.x_r (and the same from r's side).
    on_l = (found & (margin + sign * (np.einsum("ij,ij->i", xl, tl) - same) > 0))[:, None]
    on_r = (found & (margin + sign * (np.einsum("ij,ij->i", xr, tr) - same) > 0))[:, None]
    # Each term's gradient summed into its word's row in one product; the batch's words among a pair's negative
    # candidates take their share through the same weights (the negatives beyond the batch never move).
    to = np.concatenate([left, right])
    terms = np.concatenate([on_l * (tl - xr) - on_r * xr, on_r * (tr - xl) - on_l * xl])
    scatter = np.zeros((len(words), len(to)))
    scatter[to, np.arange(len(to))] = sign
    shares = means[0][:, : len(words)].T @ (on_l * xl) + means[1][:, : len(words)].T @ (on_r * xr)
    grad = scatter @ terms + sign * shares + 2 * p.regularization * (xw - anchor[words])
    sums[words] += grad**2
    x[words] = unit_rows(xw - p.learning_rate * grad / (np.sqrt(sums[words]) + 1e-10), np.float64)


def specialize_matrix(
    vectors: np.ndarray,
    attract: np.ndarray,
    repel: np.ndarray,
    negatives: np.ndarray | None = None,
    params: SpecializeParams = SpecializeParams(),
    seed: int = 1,
) -> np.ndarray:
    """Specialise the rows of ``vectors`` under the pairs; the pure numpy core of :func:`specialize`.

    Parameters
    ----------
    vectors
        ``n x dim`` trained vectors of the constrained words.
    attract, repel
        ``k x 2`` row pairs of ``vectors`` to pull together and to push apart (either may be empty).
    negatives
        ``m x dim`` vectors of other words, candidates for negative examples only (never moved).
    params, seed
        Settings, and the seed of the batches' order.

    Returns
    -------
    numpy.ndarray
        ``n x dim`` float32, each row at its trained length.

    Examples
    --------
    Two words at cosine 0.99, repelled, with three other words as negatives, end with a negative cosine:

    >>> v = np.array([[1.0, 0.1, 0.0], [1.0, 0.0, 0.1]], dtype=np.float32)
    >>> others = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]], dtype=np.float32)
    >>> out = specialize_matrix(v, np.empty((0, 2), np.int64), np.array([[0, 1]]), others)
    >>> bool(out[0] @ out[1] < 0)
    True
    """
    lengths = np.linalg.norm(vectors, axis=1, keepdims=True)
    anchor = unit_rows(vectors, np.float64)
    x = anchor.copy()
    dim = vectors.shape[1]
    fixed = np.empty((0, dim)) if negatives is None else unit_rows(np.asarray(negatives).reshape(-1, dim), np.float64)
    sums = np.zeros_like(x)
    rng = np.random.default_rng(seed)
    kinds = [(True, np.asarray(attract, np.int64)), (False, np.asarray(repel, np.int64))]
    per_epoch = max((-(-len(pairs) // params.batch_size) for _, pairs in kinds), default=0)
    epochs = max(params.epochs, -(-params.min_steps // per_epoch)) if per_epoch else 0
    for _ in range(epochs):
        batches = []
        for attract_kind, pairs in kinds:
            order = rng.permutation(len(pairs))
            starts = range(0, len(pairs), params.batch_size)
            batches += [(attract_kind, pairs[order[i : i + params.batch_size]]) for i in starts]
        for i in rng.permutation(len(batches)):
            _batch_step(x, fixed, batches[i][1], batches[i][0], anchor, sums, params)
    return (x * lengths).astype(np.float32)


def carry_map(trained: np.ndarray, moved: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """The ``dim x dim`` linear map that best takes the constrained words' trained directions to their specialised
    ones (least squares on unit rows, pulled toward the identity by ``ridge``): post-specialisation's map.

    Examples
    --------
    Rows turned a quarter turn are mapped by a quarter turn:

    >>> rows = np.random.default_rng(0).normal(size=(50, 2))
    >>> turn = np.array([[0.0, 1.0], [-1.0, 0.0]])
    >>> bool(np.allclose(carry_map(rows, rows @ turn, ridge=0.0), turn))
    True
    """
    x, y = unit_rows(trained, np.float64), unit_rows(moved, np.float64)
    eye = np.eye(x.shape[1])
    return np.linalg.solve(x.T @ x + ridge * eye, x.T @ y + ridge * eye)


def _mapped(vectors: DataFrame, mapping: np.ndarray) -> DataFrame:
    """``vectors`` with every ``vector`` replaced by its direction under ``mapping``, at its own length; in the
    tasks (``mapInArrow``), ``mapping`` in the closure."""
    index = vectors.columns.index("vector")
    mapping = mapping.astype(np.float32)

    def batches(stream):
        for batch in stream:
            column = batch.column(index)
            rows = to_matrix(column, mapping.shape[0])
            out = unit_rows(unit_rows(rows) @ mapping) * np.linalg.norm(rows, axis=1, keepdims=True)
            yield batch.set_column(index, batch.schema.field(index), list_column(out).cast(column.type))

    return vectors.mapInArrow(batches, vectors.schema)


def specialize(
    vectors: DataFrame, pairs: Pairs, params: SpecializeParams, seed: int, outside: bool = False, apart: bool = True
) -> tuple[DataFrame, Stats]:
    """The ``vectors`` table with the words of ``pairs`` specialised (see the module docstring), and its stats:
    ``specialize_words``, ``specialize_attract_pairs``, ``specialize_repel_pairs``, ``specialize_seconds``.

    With ``outside``, every other word is moved too, by :func:`carry_map` learnt from the constrained words
    (post-specialisation, Vulic et al., NAACL 2018, with a linear map), in the tasks. With ``apart``, the repel pairs
    still inside each other's top 10 over the whole table are turned apart (:func:`swapvec.apart.keep_apart`).

    Only the constrained words' rows and :attr:`SpecializeParams.negatives` others are read to the driver.
    """
    started = time.monotonic()
    # A join, not isin: a lexicon names hundreds of thousands of words.
    wanted = from_arrow(vectors.sparkSession, pa.table({"word": pa.array(pairs.words, pa.string())}))
    table = to_arrow(vectors.join(F.broadcast(wanted), "word").select("word", "vector").orderBy("word"))
    words = table.column("word").to_pylist()
    index = {w: i for i, w in enumerate(words)}
    attract, repel = _rows(pairs.attract, index), _rows(pairs.repel, index)
    stats = Stats(
        metrics={
            "specialize_words": float(len(words)),
            "specialize_attract_pairs": float(len(attract)),
            "specialize_repel_pairs": float(len(repel)),
        }
    )
    if not len(attract) and not len(repel):
        return vectors, stats
    others = to_arrow(
        vectors.join(F.broadcast(wanted), "word", "left_anti")
        .orderBy(F.xxhash64("word", F.lit(seed)), "word")
        .limit(params.negatives)
        .select("vector")
    )
    trained = to_matrix(table.column("vector"))
    moved = specialize_matrix(
        trained, attract, repel, to_matrix(others.column("vector")) if others.num_rows else None, params, seed
    )
    if outside:
        vectors = _mapped(vectors, carry_map(trained, moved))
        stats.metrics["specialize_outside"] = 1.0
    if apart and len(repel):
        specialised = dict(zip(words, moved, strict=True))  # the table as specialisation left it, built if needed
        search = table_search(lambda: local_checkpoint(replace_vectors(vectors, specialised)))
        moved, kept_apart = keep_apart(search, words, moved, repel, seed)
        stats.metrics.update(kept_apart)
    stats.metrics["specialize_seconds"] = time.monotonic() - started
    return replace_vectors(vectors, dict(zip(words, moved, strict=True))), stats

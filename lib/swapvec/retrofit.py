"""Retrofitting (Faruqui et al., 2015): draw each group word toward its group-mates after training.

Each group word's vector ``q_i`` starts at its trained direction ``q̂_i`` and is updated ``iterations`` times::

    q_i <- (q̂_i + sum_j beta_ij q_j) / (1 + sum_j beta_ij),   beta_ij = weight / deg(i)

over its mates ``j`` (``Group.mates``: every other member of a plain group; for a hub group, a member's one mate is
the hub and the hub's mates are its members). With ``weight`` 1 this is Faruqui et al.'s choice (alpha 1, beta
1/degree): the mates' mean weighs as much as the word's own trained vector. All words are updated together from the
previous pass (Jacobi order), so the result does not depend on the order of the groups.

As in Faruqui et al.'s code the update runs on unit vectors (cosine is what neighbours use); each retrofitted
vector is then scaled back to its trained length. Words outside the groups keep their vectors.

Only the group words' rows are read to the driver: bounded by the number of group words x vector_size floats
(60 groups of 2-4 words x 100 floats is 100 kB), whatever the vocabulary.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from swapvec.arrow import list_column
from swapvec.compat import from_arrow
from swapvec.groups import Group, group_words


def retrofit_matrix(
    trained: np.ndarray, mates: list[list[int]], iterations: int = 10, weight: float = 1.0
) -> np.ndarray:
    """Retrofit the rows of ``trained`` along the mate lists; the pure numpy core of ``retrofit``.

    Parameters
    ----------
    trained
        ``n x dim`` trained vectors (any length; zero rows stay zero).
    mates
        ``mates[i]``: the rows ``i`` is drawn toward (may be empty: the row is left as it is).
    iterations
        Passes, >= 1 (Faruqui et al. use 10; the update converges within a few).
    weight
        > 0: the mates' pull against the trained vector; 1 is Faruqui et al.'s.

    Returns
    -------
    numpy.ndarray
        ``n x dim`` float32, each row with its trained length.

    Examples
    --------
    Two orthogonal unit vectors that are each other's mate end at cosine 0.8 (each 2/3 itself, 1/3 the other):

    >>> out = retrofit_matrix(np.eye(2, dtype=np.float32), [[1], [0]], iterations=50)
    >>> round(float(out[0] @ out[1] / np.linalg.norm(out[0]) / np.linalg.norm(out[1])), 3)
    0.8
    """
    norms = np.linalg.norm(trained, axis=1, keepdims=True)
    anchor = trained / np.where(norms > 0, norms, 1.0)
    current = anchor.copy()
    degree = np.array([len(m) for m in mates], dtype=np.float64)[:, None]
    sources = np.array([j for m in mates for j in m], dtype=np.int64)
    targets = np.repeat(np.arange(len(mates)), [len(m) for m in mates])
    for _ in range(iterations):
        pulled = np.zeros_like(current, dtype=np.float64)
        np.add.at(pulled, targets, current[sources])
        # beta_ij = weight / deg(i): the sum over mates is weight x their mean.
        mean = pulled / np.where(degree > 0, degree, 1.0)
        current = np.where(degree > 0, (anchor + weight * mean) / (1.0 + weight), anchor)
    lengths = np.linalg.norm(current, axis=1, keepdims=True)
    return (current / np.where(lengths > 0, lengths, 1.0) * norms).astype(np.float32)


def retrofit(vectors: DataFrame, groups: list[Group], iterations: int = 10, weight: float = 1.0) -> DataFrame:
    """The ``vectors`` table with its group words retrofitted toward their group-mates (see the module docstring).

    Parameters
    ----------
    vectors
        ``word string, vector array<float>, count bigint`` (other columns are kept as they are).
    groups
        The word groups; words without a vector are left out of the graph.
    iterations, weight
        See ``retrofit_matrix``.

    Returns
    -------
    DataFrame
        The same rows and columns; only the group words' ``vector`` differs.
    """
    wanted = group_words(groups)
    if not wanted:
        return vectors
    # The group words' rows only (bounded by the number of group words; see the module docstring).
    rows = vectors.where(F.col("word").isin(wanted)).select("word", "vector").orderBy("word").collect()
    if not rows:
        return vectors
    index = {r.word: i for i, r in enumerate(rows)}
    trained = np.array([r.vector for r in rows], dtype=np.float32)
    mates: list[list[int]] = [[] for _ in rows]
    for group in groups:
        for word in group.words:
            if word in index:
                mates[index[word]] = [index[m] for m in group.mates(word) if m in index]
    fitted = retrofit_matrix(trained, mates, iterations, weight)
    return replace_vectors(vectors, {w: fitted[i] for w, i in index.items()})


#: Up to this many replaced words are broadcast to the join; more (a lexicon's) are joined by a shuffle.
BROADCAST_WORDS = 10_000


def replace_vectors(vectors: DataFrame, new: dict[str, np.ndarray]) -> DataFrame:
    """``vectors`` with the ``vector`` of the words in ``new`` replaced; ``new`` travels in the plan as Arrow."""
    if not new:
        return vectors
    vector_type = vectors.schema["vector"].dataType
    schema = T.StructType([T.StructField("word", T.StringType()), T.StructField("_new", vector_type)])
    matrix = np.stack([np.asarray(v, np.float32) for v in new.values()])
    arrow = pa.table({"word": pa.array(list(new), pa.string()), "_new": list_column(matrix)})
    table = from_arrow(vectors.sparkSession, arrow, schema)
    if len(new) <= BROADCAST_WORDS:
        table = F.broadcast(table)
    columns = [F.coalesce("_new", "vector").alias("vector") if c == "vector" else F.col(c) for c in vectors.columns]
    return vectors.join(table, "word", "left").select(*columns)

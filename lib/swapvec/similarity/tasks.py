"""What the similarity stage's Spark tasks run inside ``applyInArrow``, and the Arrow schemas they exchange.

The plan (``swapvec.similarity``) packs the words into key blocks with :func:`pack`, sends every key block to every
task, and runs :func:`exact_task` or :func:`approximate_task` once a task. The schemas are declared here once, as
Arrow schemas; the plan derives Spark's from them with ``from_arrow_schema``.

Tasks are the parallelism: each runs its kernels on one BLAS and one OpenMP thread (:func:`_one_thread`), so that the
tasks of an executor do not oversubscribe its cores, and so that k-means and the searches run in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from swapvec.log import event, get_logger
from swapvec.similarity.kernels import MAX_SCAN_SHARE, build_index, search_index, tune_nprobe
from swapvec.similarity.nearest import exact_top_k, faiss_module, unit_rows

_log = get_logger("similarity")

#: Approximate mode: query words each index is checked on (the same words in every task, so every run agrees).
TUNE_SAMPLE = 1000

#: The ``similarities`` table: ``rank`` 1 is the nearest; ``mode`` says how the word was searched.
TABLE_ARROW = pa.schema(
    [
        ("word", pa.string()),
        ("neighbor", pa.string()),
        ("rank", pa.int32()),
        ("similarity", pa.float64()),
        ("mode", pa.string()),
    ]
)
#: The columns of the ``similarities`` table.
TABLE_COLUMNS = tuple(TABLE_ARROW.names)
#: Approximate mode: one shard's candidates for its query group, then how the shard searched each word (``nprobe``
#: null and ``sample_recall`` 1: exactly; ``sample_recall`` null: not checked). ``nidx`` (the neighbour's word index)
#: breaks ties when the shards' candidates are merged.
CANDIDATE_ARROW = pa.schema(
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
#: One key block: its words in word-index order, each word's query group (null: not a query word), and its unit
#: vectors as one float32 buffer of ``words x dim``.
BLOCK_ARROW = pa.schema(
    [
        ("kblock", pa.int32()),
        ("words", pa.list_(pa.string())),
        ("query", pa.list_(pa.int32())),
        ("matrix", pa.binary()),
        ("dim", pa.int32()),
    ]
)


def pack(table: pa.Table) -> pa.Table:
    """One key block (``kblock, idx, word, vector, qgroup`` rows) as one ``BLOCK_ARROW`` row."""
    table = table.sort_by("idx")
    vectors = table.column("vector").combine_chunks()
    dim = len(vectors[0]) if len(vectors) else 0
    matrix = unit_rows(vectors.values.to_numpy(zero_copy_only=False).reshape(-1, dim))
    offsets = pa.array([0, table.num_rows], pa.int32())
    return pa.Table.from_arrays(
        [
            pa.array([table.column("kblock")[0].as_py()], pa.int32()),
            pa.ListArray.from_arrays(offsets, table.column("word").combine_chunks().cast(pa.string())),
            pa.ListArray.from_arrays(offsets, table.column("qgroup").combine_chunks().cast(pa.int32())),
            pa.array([matrix.tobytes()], pa.binary()),
            pa.array([dim], pa.int32()),
        ],
        schema=BLOCK_ARROW,
    )


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


def _one_thread() -> Any:
    """A context in which BLAS and faiss's OpenMP use one thread (faiss's setting is per process and stays)."""
    from threadpoolctl import threadpool_limits

    faiss = faiss_module()
    if faiss is not None:
        faiss.omp_set_num_threads(1)
    return threadpool_limits(limits=1)


def exact_task(k: int) -> Callable[[pa.Table], pa.Table]:
    """A task of exact mode: the top ``k`` of its query group (the task's ``qgroup_id``) among all words, as
    ``TABLE_ARROW`` rows."""

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
            schema=TABLE_ARROW,
        )

    return run


def approximate_task(k: int, shard_rows: int, nprobe: int, recall_target: float) -> Callable[[pa.Table], pa.Table]:
    """A task of approximate mode: the top ``k`` of its query group among the words of its shard (rows
    ``shard x shard_rows`` on), as ``CANDIDATE_ARROW`` rows.

    With more query words than ``TUNE_SAMPLE``, the task builds the shard's index and, when ``recall_target`` is
    above 0, widens its search from ``nprobe`` lists until the sample reaches the target; an index that cannot is
    not used and the shard is searched exactly. With fewer query words, exact search costs less than an index.
    """
    # Read here, on the driver, so that the tasks see the values the plan was made with.
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
            if len(every_query) > sample_size:
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
                idx, val = exact_top_k(matrix[rows], local(rows), part, k)
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
            schema=CANDIDATE_ARROW,
        )

    return run

"""How a round's changes travel from the shards to the driver: blocks of vocabulary rows, summed on the executors.

A shard's change (:class:`~swapvec.train.averaging.ShardUpdate`) leaves its task as one record per block of
``BLOCK_ROWS`` vocabulary rows (``UPDATE_SCHEMA``); each block is summed over the shards in one task
(:func:`sum_task`, ``SUM_SCHEMA``), so the driver receives one summed change per round, whatever the number of
shards, and no Arrow cell grows with the vocabulary. A change is raw bytes (:func:`pack_change`), not pickle.

The sum runs in shard order: float32 addition is not associative, and a fixed order makes a round's sum the same on
every run and every retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from swapvec.train.averaging import ShardUpdate

__all__ = [
    "BLOCK_ROWS",
    "SUM_SCHEMA",
    "UPDATE_SCHEMA",
    "blocks",
    "pack_change",
    "round_change",
    "shard_records",
    "sum_task",
    "unpack_change",
]

#: Vocabulary rows per block of a change: bounds one Arrow cell to 2 x BLOCK_ROWS x vector_size x 4 bytes.
BLOCK_ROWS = 8192

# Spark's schemas are derived from these with ``from_arrow_schema``.
#: A shard's change to one vocabulary block in one round, as the round's tasks emit it.
UPDATE_SCHEMA = pa.schema(
    [("block", pa.int32()), ("shard", pa.int32()), ("words", pa.int64()), ("payload", pa.binary())]
)
#: One vocabulary block's change summed over the shards.
SUM_SCHEMA = pa.schema([("block", pa.int32()), ("words", pa.int64()), ("payload", pa.binary())])


def pack_change(rows: np.ndarray, d_in: np.ndarray, d_out: np.ndarray, updates: np.ndarray) -> bytes:
    """A change to some rows as raw bytes: ``n`` (int64), then rows, updates (int32), then d_in, d_out (float32)."""
    n = len(rows)
    return b"".join(
        (
            np.int64(n).tobytes(),
            np.ascontiguousarray(rows, dtype=np.int32).tobytes(),
            np.ascontiguousarray(updates, dtype=np.int32).tobytes(),
            np.ascontiguousarray(d_in, dtype=np.float32).tobytes(),
            np.ascontiguousarray(d_out, dtype=np.float32).tobytes(),
        )
    )


def unpack_change(payload: bytes, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of :func:`pack_change`: ``rows, d_in, d_out, updates`` as views of ``payload``."""
    n = int(np.frombuffer(payload, dtype=np.int64, count=1)[0])
    rows = np.frombuffer(payload, dtype=np.int32, count=n, offset=8)
    updates = np.frombuffer(payload, dtype=np.int32, count=n, offset=8 + 4 * n)
    d_in = np.frombuffer(payload, dtype=np.float32, count=n * dim, offset=8 + 8 * n).reshape(n, dim)
    d_out = np.frombuffer(payload, dtype=np.float32, count=n * dim, offset=8 + 8 * n + 4 * n * dim).reshape(n, dim)
    return rows, d_in, d_out, updates


def blocks(update: ShardUpdate, vocab_size: int) -> Iterator[tuple[int, int, int]]:
    """``(block, start, stop)``: the slice of ``update.rows`` inside each block of ``BLOCK_ROWS`` vocabulary rows."""
    for block in range(-(-vocab_size // BLOCK_ROWS)):
        start, stop = np.searchsorted(update.rows, [block * BLOCK_ROWS, (block + 1) * BLOCK_ROWS])
        yield block, int(start), int(stop)


def shard_records(shard: int, update: ShardUpdate, vocab_size: int) -> Iterator[pa.RecordBatch]:
    """``UPDATE_SCHEMA``: one record per vocabulary block, also when empty, so that every block's sum sees every
    shard; the shard's words are counted in block 0."""
    for block, start, stop in blocks(update, vocab_size):
        payload = pack_change(
            update.rows[start:stop], update.d_in[start:stop], update.d_out[start:stop], update.updates[start:stop]
        )
        yield pa.RecordBatch.from_pydict(
            {
                "block": [block],
                "shard": [shard],
                "words": [int(update.words) if block == 0 else 0],
                "payload": [payload],
            },
            schema=UPDATE_SCHEMA,
        )


def sum_task(vocab_size: int, dim: int) -> Callable[[pa.Table], pa.Table]:
    """``UPDATE_SCHEMA`` records of one block to their ``SUM_SCHEMA`` sum over the shards, added in shard order."""

    def run(table: pa.Table) -> pa.Table:
        table = table.sort_by("shard")
        block = table.column("block")[0].as_py()
        first = block * BLOCK_ROWS
        size = min(BLOCK_ROWS, vocab_size - first)
        d_in = np.zeros((size, dim), dtype=np.float32)
        d_out = np.zeros((size, dim), dtype=np.float32)
        updates = np.zeros(size, dtype=np.int64)
        for payload in table.column("payload").to_pylist():
            rows, u_in, u_out, u_updates = unpack_change(payload, dim)
            local = rows - first
            d_in[local] += u_in
            d_out[local] += u_out
            updates[local] += u_updates
        changed = np.flatnonzero(np.any(d_in != 0, axis=1) | np.any(d_out != 0, axis=1) | (updates != 0))
        payload = pack_change((changed + first).astype(np.int32), d_in[changed], d_out[changed], updates[changed])
        words = pc.sum(table.column("words")).as_py() or 0
        return pa.table({"block": [block], "words": [words], "payload": [payload]}, schema=SUM_SCHEMA)

    return run


def round_change(table: pa.Table, dim: int) -> ShardUpdate:
    """The round's summed change from the collected ``SUM_SCHEMA`` blocks (each block at most once; none when
    nothing trained)."""
    table = table.sort_by("block")
    parts = [unpack_change(p, dim) for p in table.column("payload").to_pylist()]
    words = int(pc.sum(table.column("words")).as_py() or 0)
    if not parts:
        return ShardUpdate(
            rows=np.empty(0, np.int32),
            d_in=np.empty((0, dim), np.float32),
            d_out=np.empty((0, dim), np.float32),
            updates=np.empty(0, np.int32),
            words=0,
        )
    rows, d_in, d_out, updates = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
    return ShardUpdate(rows=rows, d_in=d_in, d_out=d_out, updates=updates, words=words)

"""The gensim backend's input: each shard's sentences as vocabulary ids, encoded once and cached for every round.

Shards are a seeded hash of each sentence's ids, not Spark's partition layout, and sentences keep their corpus order
inside a shard, so the encoded shards are the same on every run and every retry. A shard is stored as a few large
cells of packed ids (:class:`Packed`), which a round moves from the cache to Python as one buffer each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from swapvec.compat import Shipped
from swapvec.partitioning import spread_key

__all__ = [
    "ENCODED_SCHEMA",
    "PART_IDS",
    "Packed",
    "decode_shards",
    "encode",
    "encode_tokens",
    "shard_column",
    "vocab_arrays",
    "vocab_words",
]

#: A shard's sentences in parts of at most PART_IDS ids: int32 ids and int64 sentence offsets, as raw bytes.
ENCODED_SCHEMA = pa.schema(
    [("shard", pa.int32()), ("part", pa.int32()), ("ids", pa.binary()), ("offsets", pa.binary())]
)
#: Ids per encoded cell (64 MiB): far below the 2 GiB a binary cell can hold.
PART_IDS = 1 << 24
#: Tokens looked up at once (a task holds them as Arrow strings, about 40 MB): Arrow's lookup hashes the vocabulary
#: once for them.
ENCODE_TOKENS = 1 << 22


def shard_column(shards: int, seed: int) -> Column:
    """The shard of each sentence: a seeded hash of its ids, not of Spark's partition layout."""
    return F.pmod(F.xxhash64("sentence_id", "chunk", "copy", F.lit(seed)), F.lit(shards)).cast("int")


def encode(sentences: DataFrame, vocab: Shipped, shards: int, seed: int) -> DataFrame:
    """``ENCODED_SCHEMA``: each shard's sentences as vocabulary ids, in corpus order, one partition per shard.

    Out-of-vocabulary words are dropped before training, as gensim drops them; the windows are over what remains.
    Sentences left with fewer than two words are dropped. The lookup runs in the tasks (Arrow's hash lookup against
    the shipped vocabulary, :func:`vocab_arrays`): no join and no shuffle of single words.
    """
    return (
        sentences.withColumn("shard", shard_column(shards, seed))
        .withColumn("_key", spread_key(sentences.sparkSession, shards, F.col("shard")))
        .repartition(shards, "_key")
        .sortWithinPartitions("shard", "sentence_id", "chunk", "copy")
        .select("shard", "tokens")
        .mapInArrow(_encode_task(vocab), from_arrow_schema(ENCODED_SCHEMA))
    )


def vocab_arrays(words: list[str] | pa.Array | pa.ChunkedArray) -> dict[str, np.ndarray]:
    """The vocabulary as two arrays that any transport ships without pickle: UTF-8 bytes and their offsets.

    ``words`` may be an Arrow string column (the vocabulary table's), taken as it is, without Python strings."""
    array = words if isinstance(words, pa.Array | pa.ChunkedArray) else pa.array(words, pa.large_string())
    array = array.cast(pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    # A slice of a larger array starts at its offset, in both buffers.
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64, count=array.offset + len(array) + 1)[array.offset :]
    data = np.frombuffer(array.buffers()[2] or b"", dtype=np.uint8, count=int(offsets[-1]))[int(offsets[0]) :]
    return {"word_bytes": data.copy(), "word_offsets": offsets - offsets[0]}


def vocab_words(arrays: dict[str, np.ndarray]) -> pa.Array:
    """The inverse of :func:`vocab_arrays`: a string array with no copy of the bytes."""
    offsets = np.asarray(arrays["word_offsets"])
    data = np.asarray(arrays["word_bytes"])
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def encode_tokens(tokens: pa.ListArray, vocab: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sentences of tokens to ``(kept, ids, lengths)``: unknown words dropped, then sentences left with fewer than
    two words; ``kept`` marks the sentences left, ``ids`` are theirs concatenated, ``lengths`` their lengths.

    The lookup is Arrow's against ``vocab`` (the words in id order), which hashes the whole vocabulary at every call:
    call it on millions of tokens at once (:data:`ENCODE_TOKENS`), not on Spark's 10,000-row batches. On GCIDE it
    is 4x faster than a Python dict of each batch's distinct words; per batch, at a million words, 10x slower.
    """
    all_ids = pc.index_in(pc.list_flatten(tokens), value_set=vocab).fill_null(-1).to_numpy()
    known = all_ids >= 0
    parents = pc.list_parent_indices(tokens).to_numpy()
    lengths = np.bincount(parents[known], minlength=len(tokens))
    kept = lengths > 1
    ids = all_ids[known][np.repeat(kept, lengths)].astype(np.int32)
    return kept, ids, lengths[kept]


class Packed:
    """A shard's sentences as one int32 array of ids and int64 offsets: a sequence of int32 arrays, no copies."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        self.ids, self.offsets = ids, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


def _shard_runs(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, pa.ListArray]]:
    """``(shard, tokens)`` of each run of one shard's rows in batches sorted by shard."""
    for batch in batches:
        shard = batch.column("shard").to_numpy(zero_copy_only=False)
        if not len(shard):
            continue
        starts = np.flatnonzero(np.r_[True, shard[1:] != shard[:-1]])
        for start, stop in zip(starts, [*starts[1:], len(shard)], strict=True):
            yield int(shard[start]), batch.column("tokens").slice(start, stop - start)


def _encoded(batches: Iterator[pa.RecordBatch], vocab: pa.Array) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(shard, ids, lengths)`` of the kept sentences of each :data:`ENCODE_TOKENS` or so tokens of a shard."""
    current, runs, tokens = -1, [], 0
    for shard, run in _shard_runs(batches):
        if runs and (shard != current or tokens >= ENCODE_TOKENS):
            yield current, *encode_tokens(pa.concat_arrays(runs), vocab)[1:]
            runs, tokens = [], 0
        current = shard
        runs.append(run)
        tokens += int(run.offsets[-1].as_py() - run.offsets[0].as_py())
    if runs:
        yield current, *encode_tokens(pa.concat_arrays(runs), vocab)[1:]


def _packed_parts(batches: Iterator[pa.RecordBatch], vocab: pa.Array) -> Iterator[pa.RecordBatch]:
    """Encode a partition (sorted by shard) and emit each shard's sentences in parts of about PART_IDS ids."""
    current, part = -1, 0
    ids: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    pending = 0

    def flush() -> pa.RecordBatch:
        lens = np.concatenate(lengths)
        offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        packed = [np.concatenate(ids).tobytes(), offsets.tobytes()]
        return pa.RecordBatch.from_pydict(
            {"shard": [current], "part": [part], "ids": [packed[0]], "offsets": [packed[1]]}, schema=ENCODED_SCHEMA
        )

    for shard, shard_ids, shard_lengths in _encoded(batches, vocab):
        if shard != current or pending >= PART_IDS:
            if pending:
                yield flush()
            part = part + 1 if shard == current else 0
            current, ids, lengths, pending = shard, [], [], 0
        ids.append(shard_ids)
        lengths.append(shard_lengths)
        pending += len(shard_ids)
    if pending:
        yield flush()


def _encode_task(vocab: Shipped) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield from _packed_parts(batches, vocab_words(vocab.value()))

    return run


def decode_shards(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, Packed]]:
    """A partition's encoded parts (``ENCODED_SCHEMA``, in any order) as ``(shard, its sentences)``, by shard."""
    parts: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for batch in batches:
        for shard, part, ids, offsets in zip(*(batch.column(c).to_pylist() for c in ENCODED_SCHEMA.names), strict=True):
            parts.setdefault(shard, []).append(
                (part, np.frombuffer(ids, dtype=np.int32), np.frombuffer(offsets, dtype=np.int64))
            )
    for shard in sorted(parts):
        pieces = sorted(parts[shard], key=lambda p: p[0])
        ids = np.concatenate([p[1] for p in pieces])
        bases = np.cumsum([0] + [len(p[1]) for p in pieces[:-1]])
        offsets = np.concatenate([pieces[0][2][:1], *[p[2][1:] + base for p, base in zip(pieces, bases, strict=True)]])
        yield shard, Packed(ids, offsets)

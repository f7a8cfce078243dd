"""The ``gensim`` backend: gensim Word2Vec per data shard, synchronised every round into one model.

One global vocabulary (counted by Spark) and one seeded initialisation are shared by every shard. The sentences
are encoded to vocabulary ids once, in the tasks, and cached one partition per shard. Each round, every shard
continues from the current global weights over its share of the data (``mapInArrow``) and returns its change in
blocks of vocabulary rows; each block is summed over the shards on the executors (``applyInArrow``), so the
driver receives one summed change per round and applies it (``averaging.Combiner``, a linear rule) to the
global weights. The maths lives in ``averaging``; this module is the Spark plumbing.

Memory (float32): the driver holds the weights, the combiner's state and one summed change,
``averaging.memory_bound_bytes``; each task holds one copy of the weights plus its shard's sentences as int32 ids.

Determinism: shards are a seeded hash of each sentence's ids (not Spark's partition layout), sentences keep their
order inside a shard, and each block's changes are summed in shard order; a retried task recomputes the same
change from the same inputs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from swapvec.config import Config
from swapvec.log import event, get_logger
from swapvec.partitioning import spread_key
from swapvec.train.averaging import (
    Combiner,
    GensimParams,
    ShardTrainer,
    ShardUpdate,
    default_sync_rounds,
    initial_weights,
    memory_bound_bytes,
)
from swapvec.train.memory import check_driver_memory
from swapvec.transport import Shipped, resolve_mode, ship

_log = get_logger("train.gensim")

#: Vocabulary rows per block of a change: bounds one Arrow cell to 2 x BLOCK_ROWS x vector_size x 4 bytes.
BLOCK_ROWS = 8192

# The tasks' wire formats, as Arrow schemas (Spark's are derived from them with ``from_arrow_schema``).
#: A shard's change to one vocabulary block in one round, as the round's tasks emit it.
UPDATE_SCHEMA = pa.schema(
    [("block", pa.int32()), ("shard", pa.int32()), ("words", pa.int64()), ("payload", pa.binary())]
)
#: One vocabulary block's change summed over the shards.
SUM_SCHEMA = pa.schema([("block", pa.int32()), ("words", pa.int64()), ("payload", pa.binary())])
#: A shard's sentences in parts of at most PART_IDS ids: int32 ids and int64 sentence offsets, as raw bytes.
ENCODED_SCHEMA = pa.schema(
    [("shard", pa.int32()), ("part", pa.int32()), ("ids", pa.binary()), ("offsets", pa.binary())]
)
#: Ids per encoded cell (64 MiB): far below the 2 GiB a binary cell can hold.
PART_IDS = 1 << 24


def gensim_params(cfg: Config, sync_rounds: int) -> GensimParams:
    t = cfg.train
    return GensimParams(
        vector_size=t.vector_size,
        window=t.window,
        sg=t.sg,
        hs=t.hs,
        negative=t.negative,
        sample=t.sample,
        alpha=t.alpha,
        min_alpha=t.min_alpha,
        epochs=t.epochs,
        seed=t.seed,
        sync_rounds=sync_rounds,
    )


def shard_column(shards: int, seed: int) -> Column:
    """The shard of each sentence: a seeded hash of its ids, not of Spark's partition layout."""
    return F.pmod(F.xxhash64("sentence_id", "chunk", "copy", F.lit(seed)), F.lit(shards)).cast("int")


def encode(sentences: DataFrame, vocab: Shipped, shards: int, seed: int) -> DataFrame:
    """``ENCODED_SCHEMA``: each shard's sentences as vocabulary ids, in corpus order, one partition per shard.

    Out-of-vocabulary words are dropped before training, as gensim drops them; the windows are over what remains.
    Sentences left with fewer than two words are dropped. The lookup runs in the tasks (Arrow's hash lookup against
    the shipped vocabulary): no join and no shuffle of single words. A shard is stored as a few large cells of
    packed ids (:class:`Packed`), which a round moves from the cache to Python as one buffer each.
    """
    return (
        sentences.withColumn("shard", shard_column(shards, seed))
        .withColumn("_key", spread_key(sentences.sparkSession, shards, F.col("shard")))
        .repartition(shards, "_key")
        .sortWithinPartitions("shard", "sentence_id", "chunk", "copy")
        .select("shard", "tokens")
        .mapInArrow(_encode_task(vocab), from_arrow_schema(ENCODED_SCHEMA))
    )


def vocab_arrays(words: list[str]) -> dict[str, np.ndarray]:
    """The vocabulary as two arrays that any transport ships without pickle: UTF-8 bytes and their offsets."""
    array = pa.array(words, pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64, count=len(array) + 1)
    data = np.frombuffer(array.buffers()[2] or b"", dtype=np.uint8, count=int(offsets[-1]))
    return {"word_bytes": data.copy(), "word_offsets": offsets.copy()}


def vocab_words(arrays: dict[str, np.ndarray]) -> pa.Array:
    """The inverse of :func:`vocab_arrays`: a string array with no copy of the bytes."""
    offsets = np.asarray(arrays["word_offsets"])
    data = np.asarray(arrays["word_bytes"])
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def encode_batch(batch: pa.RecordBatch, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``shard, tokens`` to ``(shard, ids, lengths)`` per kept sentence (ids concatenated): unknown words dropped,
    then sentences left with fewer than two words.

    Only the batch's distinct tokens are looked up in ``index`` (built once per task): the cost of a batch does not
    grow with the vocabulary, as a hash lookup rebuilt from the whole vocabulary for every batch would.
    """
    tokens = batch.column("tokens")
    encoded = pc.list_flatten(tokens).dictionary_encode()
    lookup = np.fromiter((index.get(w, -1) for w in encoded.dictionary.to_pylist()), dtype=np.int64)
    all_ids = lookup[encoded.indices.to_numpy()] if len(lookup) else np.empty(0, np.int64)
    known = all_ids >= 0
    parents = pc.list_parent_indices(tokens).to_numpy()
    lengths = np.bincount(parents[known], minlength=len(batch))
    kept = lengths > 1
    ids = all_ids[known][np.repeat(kept, lengths)].astype(np.int32)
    shard = batch.column("shard").to_numpy(zero_copy_only=False)
    return shard[kept].astype(np.int32), ids, lengths[kept]


class Packed:
    """A shard's sentences as one int32 array of ids and int64 offsets: a sequence of int32 arrays, no copies."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        self.ids, self.offsets = ids, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


def _packed_parts(batches: Iterator[pa.RecordBatch], index: dict[str, int]) -> Iterator[pa.RecordBatch]:
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

    for batch in batches:
        shard, batch_ids, batch_lengths = encode_batch(batch, index)
        ends = np.cumsum(batch_lengths)
        for s in np.unique(shard):  # a batch is sorted by shard: one run of rows per shard
            rows = np.flatnonzero(shard == s)
            if s != current or pending >= PART_IDS:
                if pending:
                    yield flush()
                part = part + 1 if s == current else 0
                current, ids, lengths, pending = int(s), [], [], 0
            start = int(ends[rows[0]] - batch_lengths[rows[0]])
            ids.append(batch_ids[start : int(ends[rows[-1]])])
            lengths.append(batch_lengths[rows])
            pending += int(ends[rows[-1]]) - start
    if pending:
        yield flush()


def _encode_task(vocab: Shipped):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        words = vocab_words(vocab.value()).to_pylist()
        yield from _packed_parts(batches, dict(zip(words, range(len(words)), strict=True)))

    return run


def _shards(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, Packed]]:
    """A partition's encoded parts (sorted by shard and part) as ``(shard, its sentences)``."""
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


# ------------------------------------------------------------------------------------------- inside the tasks
#: Per Python worker: the gensim skeleton for a vocabulary, reused by every round and shard the worker runs.
_TRAINERS: dict[tuple, ShardTrainer] = {}


#: gensim keeps a word when its ``sample_int`` is above a uniform 32-bit draw: the maximum means always.
_ALWAYS_KEEP = np.iinfo(np.uint32).max


def _trainer(key: tuple, counts: np.ndarray, keep: np.ndarray, params: GensimParams, shards: int) -> ShardTrainer:
    trainer = _TRAINERS.get(key)
    if trainer is None:
        _TRAINERS.clear()
        trainer = ShardTrainer(np.asarray(counts), params, n_shards=shards)
        # Group words are never subsampled: subsampling would throw away the very copies augmentation added
        # (in the seed's four-word corpus it keeps 7% of them).
        trainer.model.wv.expandos["sample_int"][np.asarray(keep, dtype=np.int64)] = _ALWAYS_KEEP
        trainer = _TRAINERS[key] = trainer
    return trainer


def _pack(rows: np.ndarray, d_in: np.ndarray, d_out: np.ndarray, updates: np.ndarray) -> bytes:
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


def _unpack(payload: bytes, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of :func:`_pack`: ``rows, d_in, d_out, updates`` as views of ``payload``."""
    n = int(np.frombuffer(payload, dtype=np.int64, count=1)[0])
    rows = np.frombuffer(payload, dtype=np.int32, count=n, offset=8)
    updates = np.frombuffer(payload, dtype=np.int32, count=n, offset=8 + 4 * n)
    d_in = np.frombuffer(payload, dtype=np.float32, count=n * dim, offset=8 + 8 * n).reshape(n, dim)
    d_out = np.frombuffer(payload, dtype=np.float32, count=n * dim, offset=8 + 8 * n + 4 * n * dim).reshape(n, dim)
    return rows, d_in, d_out, updates


def _blocks(update: ShardUpdate, vocab_size: int) -> Iterator[tuple[int, int, int]]:
    """``(block, start, stop)``: the slice of ``update.rows`` inside each block of ``BLOCK_ROWS`` vocabulary rows."""
    for block in range(-(-vocab_size // BLOCK_ROWS)):
        start, stop = np.searchsorted(update.rows, [block * BLOCK_ROWS, (block + 1) * BLOCK_ROWS])
        yield block, int(start), int(stop)


def _round_task(shipped: Shipped, vocab: Shipped, key: tuple, params: GensimParams, shards: int, round_index: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # parallelism comes from tasks, not BLAS threads
            weights = shipped.value()
            counts = vocab.value()["counts"]
            trainer = _trainer(key, counts, vocab.value()["keep"], params, shards)
            for shard, sentences in _shards(batches):
                update = trainer.train_round(
                    sentences, round_index, weights["w_in"], weights["w_out"], shard_seed=params.seed * 100_003 + shard
                )
                # One record per vocabulary block, also when empty, so that every block's sum sees every shard.
                for block, start, stop in _blocks(update, len(counts)):
                    yield pa.RecordBatch.from_pydict(
                        {
                            "block": [block],
                            "shard": [shard],
                            "words": [int(update.words) if block == 0 else 0],
                            "payload": [
                                _pack(
                                    update.rows[start:stop],
                                    update.d_in[start:stop],
                                    update.d_out[start:stop],
                                    update.updates[start:stop],
                                )
                            ],
                        },
                        schema=UPDATE_SCHEMA,
                    )

    return run


def _sum_task(vocab_size: int, dim: int):
    """Sum one vocabulary block's changes over the shards, in shard order (float addition is not associative)."""

    def run(table: pa.Table) -> pa.Table:
        table = table.sort_by("shard")
        block = table.column("block")[0].as_py()
        first = block * BLOCK_ROWS
        size = min(BLOCK_ROWS, vocab_size - first)
        d_in = np.zeros((size, dim), dtype=np.float32)
        d_out = np.zeros((size, dim), dtype=np.float32)
        updates = np.zeros(size, dtype=np.int64)
        for payload in table.column("payload").to_pylist():
            rows, u_in, u_out, u_updates = _unpack(payload, dim)
            local = rows - first
            d_in[local] += u_in
            d_out[local] += u_out
            updates[local] += u_updates
        changed = np.flatnonzero(np.any(d_in != 0, axis=1) | np.any(d_out != 0, axis=1) | (updates != 0))
        payload = _pack((changed + first).astype(np.int32), d_in[changed], d_out[changed], updates[changed])
        words = pc.sum(table.column("words")).as_py() or 0
        return pa.table({"block": [block], "words": [words], "payload": [payload]}, schema=SUM_SCHEMA)

    return run


# ------------------------------------------------------------------------------------------------- the driver
def _quietly(*cleanups: Callable[[], object]) -> None:
    """Run clean-ups without letting their failure (a JVM already gone) replace the error being raised."""
    for cleanup in cleanups:
        try:
            cleanup()
        except Exception as exc:
            event(_log, "cleanup.failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _round_change(table: pa.Table, dim: int) -> ShardUpdate:
    """The round's summed change from the collected blocks (every block at most once; none when nothing trained)."""
    table = table.sort_by("block")
    parts = [_unpack(p, dim) for p in table.column("payload").to_pylist()]
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
    return ShardUpdate(rows=rows, d_in=d_in, d_out=d_out, updates=updates.astype(np.int32), words=words)


def train_gensim(
    spark: SparkSession,
    sentences: DataFrame,
    vocab: DataFrame,
    vocab_size: int,
    cfg: Config,
    keep_words: Collection[str] = (),
) -> tuple[DataFrame, dict[str, Any]]:
    """Train with synchronised rounds; return the vectors and statistics. See the module docstring.

    ``keep_words`` (the group words) are exempt from subsampling.
    """
    t = cfg.train
    shards = t.num_partitions
    params = gensim_params(cfg, t.sync_rounds or default_sync_rounds(t.epochs, shards))
    bound = memory_bound_bytes(vocab_size, params, shards)
    check_driver_memory(spark, vocab_size, params.vector_size, bound["driver"])
    # Bounded by the vocabulary (checked above), not by the corpus.
    vocab_rows = vocab.orderBy("idx").select("word", "count").collect()
    words = [r.word for r in vocab_rows]
    counts = np.fromiter((r["count"] for r in vocab_rows), dtype=np.int64, count=len(vocab_rows))
    mode = resolve_mode(spark, t.weights_transport)
    staging = t.staging_path or f"{cfg.output.path.rstrip('/')}/_staging"
    event(
        _log,
        "train.start",
        backend="gensim",
        vocab_size=vocab_size,
        shards=shards,
        rounds=params.sync_rounds,
        transport=mode,
        driver_bytes=bound.get("driver"),
    )
    started = time.monotonic()
    index = {w: i for i, w in enumerate(words)}
    keep = np.array(sorted(index[w] for w in keep_words if w in index), dtype=np.int64)
    shipped_vocab = ship(spark, {"counts": counts, "keep": keep, **vocab_arrays(words)}, mode, staging)
    key = (hashlib.sha1(counts.tobytes() + keep.tobytes()).hexdigest(), params, shards)
    encoded = encode(sentences, shipped_vocab, shards, t.seed).persist(StorageLevel.MEMORY_AND_DISK)
    w_in, w_out = initial_weights(vocab_size, params)
    combiner = Combiner(vocab_size, params.vector_size, shards, params)
    # Block b is summed in partition b mod shards: hashed by its number, 6 blocks over 4 partitions used only 2.
    sum_key = spread_key(spark, shards, F.col("block") % shards)
    trained_words = 0
    try:
        for r in range(params.sync_rounds):
            round_started = time.monotonic()
            shipped = ship(spark, {"w_in": w_in, "w_out": w_out}, mode, staging)
            try:
                # Every shard trains in parallel; each vocabulary block's changes are summed over the shards on the
                # executors, so the driver receives one summed change, whatever the number of shards.
                changes = (
                    encoded.mapInArrow(
                        _round_task(shipped, shipped_vocab, key, params, shards, r), from_arrow_schema(UPDATE_SCHEMA)
                    )
                    # One task per shard sums the blocks (an explicit count: adaptive execution would coalesce
                    # them into one task).
                    .withColumn("_key", sum_key)
                    .repartition(shards, "_key")
                    .groupBy("_key", "block")
                    .applyInArrow(_sum_task(vocab_size, params.vector_size), from_arrow_schema(SUM_SCHEMA))
                    .toArrow()
                )
            finally:
                _quietly(shipped.release)
            trained_at = time.monotonic()
            change = _round_change(changes, params.vector_size)
            del changes
            combiner.add(change, shards=shards)
            combiner.apply(w_in, w_out)
            trained_words += change.words
            if not np.isfinite(w_in).all():
                raise RuntimeError(f"training diverged in round {r + 1} (non-finite weights); lower train.alpha")
            event(
                _log,
                "train.round",
                round=f"{r + 1}/{params.sync_rounds}",
                words=change.words,
                seconds=round(time.monotonic() - round_started, 2),
                combine_s=round(time.monotonic() - trained_at, 2),
            )
    finally:
        _quietly(shipped_vocab.release, encoded.unpersist)
    seconds = time.monotonic() - started
    table = pa.table(
        {
            "word": pa.array(words, pa.string()),
            "vector": pa.ListArray.from_arrays(
                pa.array(np.arange(0, (vocab_size + 1) * params.vector_size, params.vector_size, dtype=np.int32)),
                pa.array(w_in.reshape(-1), pa.float32()),
            ),
            "count": pa.array(counts, pa.int64()),
        }
    )
    vectors = spark.createDataFrame(table)
    stats = {
        "vocab_size": vocab_size,
        "sync_rounds": params.sync_rounds,
        "shards": shards,
        "trained_words": trained_words,
        "train_seconds": round(seconds, 3),
        "words_per_second": round(trained_words / seconds, 1) if seconds > 0 else 0.0,
        "transport": mode,
    }
    return vectors, stats

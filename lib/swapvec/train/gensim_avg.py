"""The ``gensim`` backend: gensim Word2Vec per data shard, synchronised every round into one model.

One global vocabulary (counted by Spark) and one seeded initialisation are shared by every shard. Each round,
every shard continues from the current global weights over its share of the data (``mapInArrow``) and returns
its changes, which the driver combines one shard at a time (``averaging.Combiner``) into the next global weights.
The maths lives in ``averaging``; this module is the Spark plumbing.

Memory (float32): the driver holds the weights and the combiner's state, ``averaging.memory_bound_bytes``;
each task holds one copy of the weights plus its shard's sentences as int32 ids.

Determinism: shards are a seeded hash of each sentence's ids (not Spark's partition layout), sentences keep their
order inside a shard, and the shards' changes are combined in shard order; a retried task recomputes the same
change from the same inputs.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec.config import Config
from swapvec.log import event, get_logger
from swapvec.train.averaging import (
    Combiner,
    GensimParams,
    ShardTrainer,
    ShardUpdate,
    initial_weights,
    memory_bound_bytes,
)
from swapvec.train.memory import check_driver_memory
from swapvec.transport import Shipped, resolve_mode, ship

_log = get_logger("train.gensim")

#: Rows of one shard's change per output record: bounds one Arrow cell to BLOCK x vector_size x 4 bytes.
BLOCK_ROWS = 8192

UPDATE_SCHEMA = "shard int, block int, words bigint, payload binary"
_UPDATE_ARROW = pa.schema(
    [("shard", pa.int32()), ("block", pa.int32()), ("words", pa.int64()), ("payload", pa.binary())]
)


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


def _partition_keys(spark: SparkSession, shards: int) -> list[int]:
    """One key per shard whose hash partition is the shard itself, so that each shard gets its own partition."""
    rows = spark.range(0, 64 * shards + 64).select("id", F.pmod(F.hash("id"), F.lit(shards)).alias("p")).collect()
    keys: dict[int, int] = {}
    for row in rows:
        keys.setdefault(row.p, row.id)
    if len(keys) < shards:  # not expected; fall back to sharing partitions, which costs speed, not correctness
        return list(range(shards))
    return [keys[s] for s in range(shards)]


def encode(sentences: DataFrame, vocab: DataFrame, vocab_size: int, shards: int, seed: int) -> DataFrame:
    """``shard int, ids array<int>``: sentences as vocabulary indices, one partition per shard, in corpus order.

    Out-of-vocabulary words are dropped before training, as gensim drops them; the windows are over what remains.
    """
    spark = sentences.sparkSession
    keys = _partition_keys(spark, shards)
    words = sentences.select("sentence_id", "chunk", "copy", F.posexplode("tokens").alias("pos", "word"))
    joined = words.join(F.broadcast(vocab.select("word", "idx")) if vocab_size < 2_000_000 else vocab, "word")
    encoded = (
        joined.groupBy("sentence_id", "chunk", "copy")
        .agg(F.array_sort(F.collect_list(F.struct("pos", "idx"))).alias("s"))
        .select(
            "sentence_id",
            "chunk",
            "copy",
            F.transform("s", lambda x: x["idx"]).alias("ids"),
            F.pmod(F.xxhash64("sentence_id", "chunk", "copy", F.lit(seed)), F.lit(shards)).cast("int").alias("shard"),
        )
        .where(F.size("ids") > 1)
    )
    key = F.element_at(F.array(*[F.lit(k) for k in keys]), F.col("shard") + 1)
    return (
        encoded.withColumn("_key", key)
        .repartition(shards, "_key")
        .sortWithinPartitions("shard", "sentence_id", "chunk", "copy")
        .select("shard", "ids")
    )


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


def _pack(update: ShardUpdate, start: int, stop: int) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        rows=update.rows[start:stop],
        d_in=update.d_in[start:stop],
        d_out=update.d_out[start:stop],
        updates=update.updates[start:stop],
    )
    return buffer.getvalue()


def _unpack(payloads: list[bytes], words: int) -> ShardUpdate:
    parts = [np.load(io.BytesIO(p)) for p in payloads]
    return ShardUpdate(
        rows=np.concatenate([p["rows"] for p in parts]),
        d_in=np.concatenate([p["d_in"] for p in parts]),
        d_out=np.concatenate([p["d_out"] for p in parts]),
        updates=np.concatenate([p["updates"] for p in parts]),
        words=words,
    )


def _shards(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Group a partition's rows (sorted by shard) into ``(shard, sentences as int32 arrays)``."""
    current: int | None = None
    sentences: list[np.ndarray] = []
    for batch in batches:
        shard = batch.column("shard").to_numpy(zero_copy_only=False)
        ids = batch.column("ids")
        offsets = ids.offsets.to_numpy()
        values = ids.values.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        for i in range(len(batch)):
            if shard[i] != current:
                if current is not None:
                    yield current, sentences
                current, sentences = int(shard[i]), []
            sentences.append(values[offsets[i] : offsets[i + 1]])
    if current is not None:
        yield current, sentences


def _round_task(shipped: Shipped, vocab: Shipped, key: tuple, params: GensimParams, shards: int, round_index: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # parallelism comes from tasks, not BLAS threads
            weights = shipped.value()
            trainer = _trainer(key, vocab.value()["counts"], vocab.value()["keep"], params, shards)
            for shard, sentences in _shards(batches):
                update = trainer.train_round(
                    sentences, round_index, weights["w_in"], weights["w_out"], shard_seed=params.seed * 100_003 + shard
                )
                n = len(update.rows)
                for block, start in enumerate(range(0, max(n, 1), BLOCK_ROWS)):
                    yield pa.RecordBatch.from_pydict(
                        {
                            "shard": [shard],
                            "block": [block],
                            "words": [int(update.words)],
                            "payload": [_pack(update, start, min(start + BLOCK_ROWS, n))],
                        },
                        schema=_UPDATE_ARROW,
                    )

    return run


# ------------------------------------------------------------------------------------------------- the driver
def _clear(spark: SparkSession, path: str) -> None:
    """Remove a staging folder through Spark (any file system Spark writes to): overwrite it with nothing."""
    spark.createDataFrame([], UPDATE_SCHEMA).write.mode("overwrite").parquet(path)
    if "://" not in path:
        shutil.rmtree(path.removeprefix("file:"), ignore_errors=True)


def _quietly(*cleanups: Callable[[], object]) -> None:
    """Run clean-ups without letting their failure (a JVM already gone) replace the error being raised."""
    for cleanup in cleanups:
        try:
            cleanup()
        except Exception as exc:
            event(_log, "cleanup.failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _empty_update(dim: int) -> ShardUpdate:
    return ShardUpdate(
        rows=np.empty(0, np.int32),
        d_in=np.empty((0, dim), np.float32),
        d_out=np.empty((0, dim), np.float32),
        updates=np.empty(0, np.int32),
        words=0,
    )


def _stream_shards(spark: SparkSession, path: str, shards: int, dim: int) -> Iterator[ShardUpdate]:
    """Yield every shard's change in shard order, one at a time (never all shards on the driver at once).

    The round's changes were written to ``path`` partitioned by shard, so reading one shard reads only its files.
    (PySpark 4.2's ``DataFrame.toLocalIterator`` keeps what it served on the JVM heap: 25 rounds of changes
    exhausted a 4 GiB driver. ``toArrow`` does not.) A shard without sentences has no files: an empty change.
    """
    staged = spark.read.parquet(path)
    for shard in range(shards):
        table = staged.where(F.col("shard") == shard).select("block", "words", "payload").toArrow()
        if table.num_rows == 0:
            yield _empty_update(dim)
            continue
        table = table.sort_by("block")
        yield _unpack(table.column("payload").to_pylist(), int(table.column("words")[0].as_py()))


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
    params = gensim_params(cfg, t.sync_rounds or GensimParams().sync_rounds)
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
    encoded = encode(sentences, vocab, vocab_size, shards, t.seed).persist(StorageLevel.MEMORY_AND_DISK)
    staged_updates = f"{staging.rstrip('/')}/updates-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    index = {w: i for i, w in enumerate(words)}
    keep = np.array(sorted(index[w] for w in keep_words if w in index), dtype=np.int64)
    shipped_vocab = ship(spark, {"counts": counts, "keep": keep}, mode, staging)
    key = (hashlib.sha1(counts.tobytes() + keep.tobytes()).hexdigest(), params, shards)
    w_in, w_out = initial_weights(vocab_size, params)
    combiner = Combiner(vocab_size, params.vector_size, shards, params)
    trained_words = 0
    try:
        for r in range(params.sync_rounds):
            round_started = time.monotonic()
            shipped = ship(spark, {"w_in": w_in, "w_out": w_out}, mode, staging)
            try:
                updates = encoded.mapInArrow(_round_task(shipped, shipped_vocab, key, params, shards, r), UPDATE_SCHEMA)
                # Train every shard in parallel; stage the changes (each round overwrites the last round's), then
                # read them one shard at a time.
                updates.write.mode("overwrite").option("compression", "none").partitionBy("shard").parquet(
                    staged_updates
                )
                round_words = 0
                for update in _stream_shards(spark, staged_updates, shards, params.vector_size):
                    combiner.add(update)
                    round_words += update.words
                combiner.apply(w_in, w_out)
            finally:
                _quietly(shipped.release)
            trained_words += round_words
            if not np.isfinite(w_in).all():
                raise RuntimeError(f"training diverged in round {r + 1} (non-finite weights); lower train.alpha")
            event(
                _log,
                "train.round",
                round=f"{r + 1}/{params.sync_rounds}",
                words=round_words,
                seconds=round(time.monotonic() - round_started, 2),
            )
    finally:
        _quietly(shipped_vocab.release, encoded.unpersist, lambda: _clear(spark, staged_updates))
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

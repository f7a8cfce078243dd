"""The ``gensim`` backend: gensim Word2Vec per data shard, synchronised every round into one model.

One global vocabulary (counted by Spark) and one seeded initialisation are shared by every shard. The sentences
are encoded to vocabulary ids once, in the tasks, and cached one partition per shard (``encoding``). Each round,
every shard continues from the current global weights over its share of the data (``mapInArrow``) and returns its
change in blocks of vocabulary rows, which are summed over the shards on the executors (``wire``); the driver
receives one summed change per round and applies it to the global weights (``averaging.Combiner``). The maths lives
in ``averaging`` and ``shard``; this module is the round loop on the driver and the round task. A run trains
``averaging.shards_for(num_partitions, threads, alpha)`` shards, at most 8 (fewer above the default learning rate),
each with ``train.threads`` threads (``auto``: sized from the executors' cores, ``cores``); the round's training
stage asks Spark for those CPUs a task where the cluster can give them, and only that stage.

Memory (float32): the driver holds the weights, the combiner's sums and one summed change,
``averaging.memory_bound_bytes``; each task holds one copy of the weights plus its shard's sentences as int32 ids
(the encoding task, ``encoding.ENCODE_TOKENS`` tokens at a time as Arrow strings).

Determinism (one thread a shard: ``train.threads`` 1, or ``auto`` where each training task gets one CPU): shards
are a seeded hash of each sentence's ids (not Spark's partition layout), sentences keep their order inside a shard,
and each block's changes are summed in shard order; a retried task recomputes the same change from the same inputs.
More threads a shard are not bit-reproducible.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from swapvec import progress
from swapvec.arrow import list_column, to_matrix
from swapvec.compat import (
    Shipped,
    apply_in_arrow,
    from_arrow,
    is_profile_refused,
    map_in_arrow,
    resolve_mode,
    ship,
    task_cpus,
    to_arrow,
)
from swapvec.errors import one_line, stop_point
from swapvec.log import event, get_logger
from swapvec.partitioning import spread_key
from swapvec.train.averaging import (
    Combiner,
    GensimParams,
    default_sync_rounds,
    initial_weights,
    max_shards,
    memory_bound_bytes,
    shard_alpha_scale,
    shards_for,
)
from swapvec.train.cores import log_cores, training_cores
from swapvec.train.encoding import decode_shards, encode, vocab_arrays
from swapvec.train.memory import check_driver_memory
from swapvec.train.shard import ShardTrainer
from swapvec.train.wire import SUM_SCHEMA, UPDATE_SCHEMA, round_change, shard_records, sum_task

if TYPE_CHECKING:
    from pyspark.resource import ResourceProfile

    from swapvec.train import TrainParams

_log = get_logger("train.gensim")


# ------------------------------------------------------------------------------------------- inside the tasks
#: Per Python worker: the gensim skeleton for a vocabulary, reused by every round and shard the worker runs.
_TRAINERS: dict[tuple, ShardTrainer] = {}

#: gensim keeps a word when its ``sample_int`` is above a uniform 32-bit draw: the maximum means always.
_ALWAYS_KEEP = np.iinfo(np.uint32).max


def _trainer(
    key: tuple, counts: np.ndarray, keep: np.ndarray, params: GensimParams, shards: int, threads: int
) -> ShardTrainer:
    trainer = _TRAINERS.get(key)
    if trainer is None:
        _TRAINERS.clear()
        trainer = ShardTrainer(np.asarray(counts), params, n_shards=shards, threads=threads)
        # Group words are never subsampled: subsampling would throw away the very copies augmentation added
        # (in the seed's four-word corpus it keeps 7% of them).
        trainer.model.wv.expandos["sample_int"][np.asarray(keep, dtype=np.int64)] = _ALWAYS_KEEP
        trainer = _TRAINERS[key] = trainer
    return trainer


def _round_task(
    shipped: Shipped, vocab: Shipped, key: tuple, params: GensimParams, shards: int, threads: int, round_index: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The round's ``mapInArrow`` function: encoded shards in, ``wire.UPDATE_SCHEMA`` records of their changes out."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # parallelism comes from tasks, not BLAS threads
            weights = shipped.value()
            counts = vocab.value()["counts"]
            trainer = _trainer(key, counts, vocab.value()["keep"], params, shards, threads)
            for shard, sentences in decode_shards(batches):
                update = trainer.train_round(
                    sentences, round_index, weights["w_in"], weights["w_out"], shard_seed=params.seed * 100_003 + shard
                )
                yield from shard_records(shard, update, len(counts))

    return run


# ------------------------------------------------------------------------------------------------- the driver
def _round_changes(
    encoded: DataFrame,
    task: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]],
    profile: ResourceProfile | None,
    sum_key: Column,
    shards: int,
    vocab_size: int,
    params: GensimParams,
) -> pa.Table:
    """One round's summed change (``wire.SUM_SCHEMA`` blocks, collected): every shard trains at once, in a stage of
    its own scheduled with ``profile`` (``cores``); each vocabulary block's changes are summed over the shards on the
    executors, so the driver receives one summed change, whatever the number of shards."""
    updates = (
        map_in_arrow(encoded, task, from_arrow_schema(UPDATE_SCHEMA), profile)
        # One task per shard sums the blocks (an explicit count: adaptive execution would coalesce them into one).
        .withColumn("_key", sum_key)
        .repartition(shards, "_key")
    )
    summed = apply_in_arrow(
        updates,
        ["_key", "block"],
        sum_task(vocab_size, params.vector_size),
        from_arrow_schema(SUM_SCHEMA),
        partitioned=True,
    )
    return to_arrow(summed)


def _quietly(*cleanups: Callable[[], object]) -> None:
    """Run clean-ups without letting their failure (a JVM already gone) replace the error being raised."""
    for cleanup in cleanups:
        try:
            cleanup()
        except Exception as exc:
            event(_log, "cleanup.failed", error=one_line(exc))


def train_gensim(
    spark: SparkSession,
    sentences: DataFrame,
    vocab: pa.Table,
    train_params: TrainParams,
    keep_words: Collection[str] = (),
    prior: DataFrame | None = None,
) -> tuple[DataFrame, dict[str, Any]]:
    """Train with synchronised rounds (see the module docstring) on the words of ``vocab`` (``train.vocabulary``'s
    rows, in ``idx`` order); return the vectors (with ``output``, the output weights, and ``train_count``: what a
    later run continues from) and statistics.

    ``keep_words`` (the group words) are exempt from subsampling. The words of ``prior`` (an earlier run's model
    table: ``word, vector, output``) start from their weights there, the others from the seeded initialisation;
    the statistic ``init_words`` counts the first. The statistics are ``vocab_size``,
    ``sync_rounds``, ``shards``, ``rate_factor`` (the shards' learning-rate factor ``k``), ``words``
    (words trained, counted once per epoch), ``seconds`` (from shipping the vocabulary to the end of the last round),
    ``transport`` (how the weights reached the tasks), and the cores the training ran on (``cores.Cores.stats``:
    ``cores``, ``executors``, ``threads``, ``task_cpus``, ``scheduling``, ``scheduling_reason``).
    """
    t = train_params.train
    vocab_size = vocab.num_rows
    auto = t.threads == "auto"
    shards, most = shards_for(t.num_partitions, 1 if auto else t.threads, t.alpha), max_shards(t.alpha)
    if not auto and shards * t.threads < t.num_partitions:
        event(
            _log,
            "train.shards_capped",
            level=logging.WARNING,
            partitions=t.num_partitions,
            shards=shards,
            threads=t.threads,
            hint=f"quality falls past {most} shards at train.alpha={t.alpha}; "
            f"train.threads={-(-t.num_partitions // most)} uses {t.num_partitions} cores in {most} shards",
        )
    # Sampling (frequent words, noise words) follows what is trained on, as gensim on the augmented corpus would.
    counts = vocab["train_count"].to_numpy().astype(np.int64)
    # The rounds follow the words this run brings a epoch: not the counts a continuation carries over, nor the
    # sentences it replays (a quarter more at most; half the rounds held at 2 and 4 shards up to 2.5M words a epoch).
    run_words = int(vocab["run_count"].to_numpy().sum())
    # Groups added (affected_only): a pass over sentences the model trained already moves its words little, so the
    # shards drift little; the fewest rounds the rule gives (at 2 shards, one round a epoch scores as well as two).
    rule_words = 0 if train_params.same_corpus else run_words
    params = GensimParams.from_config(t, t.sync_rounds or default_sync_rounds(t.epochs, shards, rule_words))
    rate_factor = shard_alpha_scale(params, shards)
    bound = memory_bound_bytes(vocab_size, params)
    check_driver_memory(spark, vocab_size, params.vector_size, bound["driver"])
    cores = training_cores(spark, shards, t.threads)
    mode = resolve_mode(spark, t.weights_transport)
    staging = train_params.staging
    event(
        _log,
        "train.start",
        backend="gensim",
        vocab_size=vocab_size,
        shards=shards,
        threads=cores.threads,
        rounds=params.sync_rounds,
        words_a_epoch=run_words,
        rate_factor=rate_factor,
        transport=mode,
        driver_bytes=bound["driver"],
    )
    started = time.monotonic()
    # The rows of the group words in the vocabulary (Arrow's lookup: no Python string per vocabulary word).
    rows = pc.index_in(pa.array(sorted(keep_words), pa.string()), value_set=vocab["word"]).drop_null()
    keep = np.unique(rows.to_numpy().astype(np.int64))
    shipped_vocab = ship(spark, {"counts": counts, "keep": keep, **vocab_arrays(vocab["word"])}, mode, staging)
    digest = hashlib.sha1(counts.tobytes() + keep.tobytes()).hexdigest()
    encoded = encode(sentences, shipped_vocab, shards, t.seed).persist(StorageLevel.MEMORY_AND_DISK)
    w_in, w_out = initial_weights(vocab_size, params)
    init_words = 0
    if prior is not None:  # bounded by the vocabulary, as w_in and w_out are
        indices = from_arrow(spark, vocab.select(["word", "idx"]))
        known = to_arrow(prior.join(indices, "word").select("idx", "vector", "output"))
        rows = known.column("idx").to_numpy()
        w_in[rows] = to_matrix(known.column("vector"), params.vector_size)
        w_out[rows] = to_matrix(known.column("output"), params.vector_size)
        init_words = len(rows)
    combiner = Combiner(vocab_size, params.vector_size, shards, params)
    # Block b is summed in partition b mod shards: hashed by its number, 6 blocks over 4 partitions used only 2.
    sum_key = spread_key(spark, shards, F.col("block") % shards)
    trained_words = 0
    try:
        for r in range(params.sync_rounds):
            stop_point()
            progress.step(f"round {r + 1}/{params.sync_rounds}")
            round_started = time.monotonic()
            shipped = ship(spark, {"w_in": w_in, "w_out": w_out}, mode, staging)
            try:
                key = (digest, params, shards, cores.threads)
                task = _round_task(shipped, shipped_vocab, key, params, shards, cores.threads, r)
                try:
                    changes = _round_changes(encoded, task, cores.profile, sum_key, shards, vocab_size, params)
                except Exception as exc:
                    # A platform that changed Spark's rule refuses the profile when the first job plans it; the
                    # round is run again on the session's CPUs, nothing having been applied yet.
                    if r > 0 or cores.profile is None or not is_profile_refused(exc):
                        raise
                    cores = cores.without_profile(f"refused by the cluster: {one_line(exc)}", auto, task_cpus(spark))
                    log_cores(cores, shards)
                    key = (digest, params, shards, cores.threads)
                    task = _round_task(shipped, shipped_vocab, key, params, shards, cores.threads, r)
                    changes = _round_changes(encoded, task, None, sum_key, shards, vocab_size, params)
            finally:
                _quietly(shipped.release)
            trained_at = time.monotonic()
            change = round_change(changes, params.vector_size)
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
            # Not held into the next round, where the next change arrives (memory_bound_bytes counts one).
            del change
    finally:
        _quietly(shipped_vocab.release, encoded.unpersist)
    seconds = time.monotonic() - started
    table = pa.table(
        {
            "word": vocab["word"].cast(pa.string()),
            "vector": list_column(w_in),
            "count": vocab["count"].cast(pa.int64()),
            "output": list_column(w_out),
            "train_count": vocab["train_count"].cast(pa.int64()),
        }
    )
    vectors = from_arrow(spark, table)
    stats = {
        **cores.stats(),
        "vocab_size": vocab_size,
        "sync_rounds": params.sync_rounds,
        "shards": shards,
        "rate_factor": rate_factor,
        "words": trained_words,
        "init_words": init_words,
        "seconds": seconds,
        "transport": mode,
    }
    return vectors, stats

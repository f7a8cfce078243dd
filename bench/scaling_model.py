"""A scaling model of the gensim backend's training: each round's parts measured here, projected to larger clusters.

A round of ``S`` shards of ``T`` threads (``swapvec.train.gensim_avg``) is: the weights shipped to the tasks (a
broadcast variable: pickled once on the driver, sent, unpickled in each task), each shard trained over its share of
the round's words, each shard's change packed into records (``wire.shard_records``), shuffled, summed block by block
over the shards on the executors (``wire.sum_task``), collected and applied on the driver (``wire.round_change``,
``averaging.Combiner``), and Spark's own cost of a job. This script measures each part with the product's own
functions, in one process (no Spark unless ``--spark``):

1. a shard's training CPU seconds per word, at 1 and 2 threads (``ShardTrainer.train_round``, best of ``--repeat``,
   alternating), and the serial share ``f`` (the work under the GIL: :func:`thread_gain`), from which
   :func:`threads_gain` projects the gain of more threads;
2. at 2, 4 and 8 shards, the first round of each shard with the product's rounds for that many shards: the words a
   shard trains in a round, the share of the vocabulary's rows its change touches, the change's bytes, and the
   CPU seconds of packing it, of summing the shards' blocks, and of the driver's collect-side work;
3. the weights' bytes and the CPU seconds of pickling and unpickling them, and the peak bytes a round task
   allocates beside the weights (``tracemalloc``: the gensim model, the change, its records);

CPU seconds rather than wall seconds, the least of several calls, so that other work on a shared machine counts
as little as it can; what threads gain in wall time needs two free cores, and is printed for what it is worth.
4. with ``--spark``, Spark's cost of a round on this machine: the product's ``train`` in local mode on a corpus too
   small to train (the seed's four lines), its seconds a round at 2, 4 and 8 shards.

From these it projects words/s at 16, 64 and 256 cores (executors of ``--executor-cores`` cores, the shards and
threads ``train.threads: auto`` picks) for GCIDE four times over (21.6M words, a vocabulary of 108k) and for a
1-billion-word corpus with a 1M-word vocabulary, 100 dims, 5 epochs, with the network's bandwidth an assumption
(``--network-gbps``), and prints each round's seconds by part, where the exchange outweighs the training, and the
memory of the driver (``averaging.memory_bound_bytes``) and of a task. Per-round parts that grow with the words
(training) shrink with more cores; those that grow with the vocabulary (shipping, packing, summing, applying) do
not, which is where the exchange takes over.

    .venv/bin/python bench/scaling_model.py /work/data/gcide.txt --words 1000000 --spark
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import time
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from encoded_corpus import load, shard_of, vocab

from swapvec.config import TrainConfig
from swapvec.train.averaging import (
    Combiner,
    GensimParams,
    default_sync_rounds,
    initial_weights,
    memory_bound_bytes,
    threads_for,
)
from swapvec.train.shard import ShardTrainer, round_bounds
from swapvec.train.wire import SUM_SCHEMA, UPDATE_SCHEMA, round_change, shard_records, sum_task

EPOCHS = 5
DIM = 100
#: The projected corpora: name, words, vocabulary.
CORPORA = [("GCIDE x4", 21_669_000, 108_000), ("1B words, 1M vocabulary", 1_000_000_000, 1_000_000)]
CORES = [16, 64, 256]


def thread_gain(counts, sentences, params, repeat: int) -> dict:
    """What threads gain in one shard's first round: CPU seconds a word at 1 and 2 threads (the best of ``repeat``,
    alternating), the serial share ``f``, and the wall seconds at 1 and 2 threads.

    ``f`` is the CPU share of the work done under the GIL: the round trained once more with every word subsampled
    away (gensim's kernel still looks each word up and draws its subsampling, under the GIL, then trains nothing),
    over the full round. CPU seconds, unlike wall seconds, do not count the time other work on a shared machine
    takes; the wall gain at 2 threads is what two free cores would show."""
    w_in, w_out = initial_weights(len(counts), params)
    wall: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    serial: list[float] = []
    words = 0
    for _ in range(repeat):
        for threads in (1, 2):
            trainer = ShardTrainer(counts, params, n_shards=2, threads=threads)
            started, started_cpu = time.perf_counter(), time.process_time()
            update = trainer.train_round(sentences, 0, w_in, w_out, shard_seed=1)
            wall[threads].append(time.perf_counter() - started)
            cpu[threads].append(time.process_time() - started_cpu)
            words = update.words
        trainer = ShardTrainer(counts, params, n_shards=2, threads=1)
        trainer.model.wv.expandos["sample_int"][:] = 0  # every word subsampled away: the GIL's share alone
        started_cpu = time.process_time()
        trainer.train_round(sentences, 0, w_in, w_out, shard_seed=1)
        serial.append(time.process_time() - started_cpu)
    one, two = min(cpu[1]), min(cpu[2])
    f = min(serial) / one
    overhead = two / one - 1  # a second thread's extra CPU a word
    return {
        "words": words,
        "s_word": one / words,
        "s_word_2": two / words,
        "serial": f,
        "overhead": overhead,
        "wall_gain2": min(wall[1]) / min(wall[2]),
    }


def threads_gain(threads: int, serial: float) -> float:
    """Words a second of ``threads`` threads over one thread's, on free cores: Amdahl's law with the serial share.
    What more threads lose besides (the rows of frequent words shared between cores, memory bandwidth) is left out:
    a second thread's extra CPU a word is within this machine's noise, and beyond 2 threads nothing is measured."""
    return 1 / (serial + (1 - serial) / threads)


def _least(work, times: int = 3) -> tuple[float, object]:
    """The least CPU seconds of ``times`` calls of ``work``, and its result."""
    best, result = float("inf"), None
    for _ in range(times):
        started = time.process_time()
        result = work()
        best = min(best, time.process_time() - started)
    return best, result


def exchange_at(counts, sentences, params_for, shards: int) -> dict:
    """The first round of each of ``shards`` shards: words, rows changed, bytes and CPU seconds of the exchange.

    CPU seconds of this process, each part the least of three calls: on a machine shared with other work, wall
    seconds would count the others' time too. The blocks are grouped before the summing is timed, as Spark's
    shuffle groups them."""
    vocab_size = len(counts)
    params = params_for(shards)
    w_in, w_out = initial_weights(vocab_size, params)
    owner = shard_of(len(sentences), shards, params.seed)
    trainer = ShardTrainer(counts, params, n_shards=shards, threads=1)
    records, packed_s, train_s, words, rows = [], 0.0, 0.0, [], []
    for shard in range(shards):
        mine = [s for s, o in zip(sentences, owner, strict=True) if o == shard and len(s) > 1]
        started = time.process_time()
        update = trainer.train_round(mine, 0, w_in, w_out, shard_seed=shard)
        train_s += time.process_time() - started
        seconds, packed = _least(lambda update=update, shard=shard: list(shard_records(shard, update, vocab_size)))
        records += packed
        packed_s += seconds
        words.append(update.words)
        rows.append(len(update.rows))
    table = pa.Table.from_batches(records, schema=UPDATE_SCHEMA)
    change_bytes = sum(len(p) for p in table.column("payload").to_pylist()) / shards
    blocks = [table.filter(pc.equal(table["block"], b)) for b in sorted(set(table["block"].to_pylist()))]
    summing = sum_task(vocab_size, params.vector_size)
    sum_s, summed = _least(lambda: [summing(block) for block in blocks])
    collected = pa.concat_tables(summed).cast(SUM_SCHEMA)
    summed_bytes = sum(len(p) for p in collected.column("payload").to_pylist())

    def apply() -> None:
        change = round_change(collected, params.vector_size)
        combiner = Combiner(vocab_size, params.vector_size, shards, params)
        combiner.add(change, shards=shards)
        combiner.apply(w_in.copy(), w_out.copy())

    driver_s, _ = _least(apply)
    return {
        "shards": shards,
        "rounds": params.sync_rounds,
        "words": float(np.mean(words)),
        "train_s": train_s,
        "rows": float(np.mean(rows)) / vocab_size,
        "change_bytes": change_bytes,
        "pack_s": packed_s / shards,
        "sum_s": sum_s,
        "summed_bytes": summed_bytes,
        "driver_s": driver_s,
    }


def shipping(vocab_size: int, dim: int) -> dict:
    """Bytes of the weights and CPU seconds to pickle (driver, once) and unpickle (each task) them, as a broadcast."""
    w_in, w_out = initial_weights(vocab_size, GensimParams.from_config(TrainConfig(vector_size=dim), 1))
    arrays = {"w_in": w_in, "w_out": w_out}
    started = time.process_time()
    blob = pickle.dumps(arrays, protocol=pickle.HIGHEST_PROTOCOL)
    dumped = time.process_time()
    pickle.loads(blob)
    return {"bytes": len(blob), "dump_s": dumped - started, "load_s": time.process_time() - dumped}


def task_peak(counts, sentences, params) -> dict:
    """Peak bytes a round task allocates beside the shipped weights and its shard's ids: the gensim model, the change
    and its records (numpy's and Arrow's allocations, traced through Python's), and of those the round's words as
    the Python lists gensim's kernels read (bytes a word)."""
    w_in, w_out = initial_weights(len(counts), params)
    gc.collect()
    tracemalloc.start()
    trainer = ShardTrainer(counts, params, n_shards=2, threads=1)
    update = trainer.train_round(sentences, 0, w_in, w_out, shard_seed=1)
    records = list(shard_records(0, update, len(counts)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del trainer, records
    bounds = round_bounds(len(sentences) * params.epochs, params)
    first = [s for s in sentences[: int(bounds[1])]]  # round 0 lies inside the first epoch at these rounds
    tracemalloc.start()
    lists = [s.tolist() for s in first]
    listed, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del lists
    return {"peak": peak, "round_words": update.words, "list_bytes_a_word": listed / max(1, update.words)}


def spark_rounds(shard_counts: list[int], rounds: int = 4) -> dict[int, float]:
    """Seconds a round of the product's ``train`` in local mode, on the seed's four lines (nothing to train)."""
    from pyspark.sql import functions as F

    from swapvec.config import load_config
    from swapvec.log import setup_logging
    from swapvec.session import get_spark
    from swapvec.steps import train_params
    from swapvec.train import train

    setup_logging("text", "WARNING")
    spark = get_spark(load_config(None, []).spark)
    lines = ["entertainment films movies cinema", "entertainment movies", "entertainment films"] * 50
    sentences = spark.createDataFrame(
        [(i, 0, line.split()) for i, line in enumerate(lines)], "sentence_id long, chunk int, tokens array<string>"
    )
    sentences = sentences.withColumn("copy", F.lit(0)).localCheckpoint(eager=True)
    out = {}
    for shards in shard_counts:
        cfg = load_config(
            None,
            [
                "train.min_count=1",
                "train.epochs=1",
                f"train.num_partitions={shards}",
                f"train.sync_rounds={rounds}",
                "train.threads=1",
            ],
        )
        train(spark, sentences, train_params(cfg))  # the Python workers started once
        out[shards] = min(train(spark, sentences, train_params(cfg))[1]["seconds"] / rounds for _ in range(2))
    return out


# ------------------------------------------------------------------------------------------------ the projection
def project(measured: dict, corpus: tuple[str, int, int], cores: int, executor_cores: int, gbps: float) -> dict:
    """One projected training: the shards and threads auto picks, each round's seconds by part, words/s, memory."""
    _, words, vocab_size = corpus
    bandwidth = gbps * 1e9 / 8
    executors = max(1, cores // executor_cores)
    shards = 8
    threads = threads_for(shards, [executor_cores] * executors)
    params = GensimParams.from_config(TrainConfig(vector_size=DIM, epochs=EPOCHS), 1)
    rounds = default_sync_rounds(EPOCHS, shards, words)
    shard_words = words * EPOCHS / rounds / shards
    train_s = shard_words * measured["s_word"] / threads_gain(threads, measured["serial"])
    weight_bytes = 2 * vocab_size * DIM * 4
    row_bytes = 2 * DIM * 4 + 8
    rows = min(1.0, measured["rows_at"](shard_words))
    change_bytes = rows * vocab_size * row_bytes
    per_byte = measured["per_byte"]
    ship_s = weight_bytes * (per_byte["dump"] + per_byte["load"]) + weight_bytes / bandwidth
    # Each task packs and sends its change; each summing task receives its blocks from every shard (a change's
    # worth) and sums them; the driver collects one summed change, unpacks it and applies it to every row.
    change_s = change_bytes * (per_byte["pack"] + per_byte["sum"]) + change_bytes / bandwidth  # sent while received
    driver_s = change_bytes * per_byte["driver"] + change_bytes / bandwidth
    fixed_s = measured["spark_round_s"]
    round_s = train_s + ship_s + change_s + driver_s + fixed_s
    memory = memory_bound_bytes(vocab_size, params)
    # A task: the shipped weights; gensim's copy, the change and its records (traced here, relative to the
    # weights); the round's words as Python lists; its shard's sentences as int32 ids (and an offset a sentence of
    # about 20 words).
    task = (
        weight_bytes * (1 + measured["task_vocab_ratio"])
        + shard_words * measured["list_bytes_a_word"]
        + words / shards * (4 + 8 / 20)
    )
    return {
        "cores": cores,
        "shards": shards,
        "threads": threads,
        "used": shards * threads,
        "rounds": rounds,
        "train_s": train_s,
        "exchange_s": ship_s + change_s + driver_s,
        "parts": (ship_s, change_s, driver_s),
        "fixed_s": fixed_s,
        "round_s": round_s,
        "words_s": words * EPOCHS / (rounds * round_s),
        "weight_bytes": weight_bytes,
        "change_bytes": change_bytes,
        "driver_bytes": memory["driver"],
        "task_bytes": task,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", help="one sentence a line, words split on white space (bench/get_gcide.py)")
    parser.add_argument("--words", type=int, default=1_000_000, help="the first this many words (0: all)")
    parser.add_argument("--repeat", type=int, default=3, help="timings of each part, the least kept")
    parser.add_argument("--spark", action="store_true", help="also measure Spark's cost of a round (local mode)")
    parser.add_argument("--network-gbps", type=float, default=10.0, help="assumed bandwidth of a node's network")
    parser.add_argument("--executor-cores", type=int, default=8, help="cores of each projected executor")
    args = parser.parse_args()
    lines, words = load(args.words, args.corpus)
    keys, counts, sentences = vocab(lines)
    del lines
    cores_here = os.cpu_count()
    print(f"{args.corpus}: the first {words:,} words, {len(keys):,} at min_count 5, {DIM} dims, {cores_here} cores, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip

    def params_for(shards: int) -> GensimParams:
        rounds = default_sync_rounds(EPOCHS, shards, words)
        return GensimParams.from_config(TrainConfig(vector_size=DIM, epochs=EPOCHS), rounds)

    # One shard's first round at 2 shards: the words a round trains, at 1 and 2 threads.
    two = params_for(2)
    owner = shard_of(len(sentences), 2, two.seed)
    shard = [s for s, o in zip(sentences, owner, strict=True) if o == 0 and len(s) > 1]
    gain = thread_gain(counts, shard, two, args.repeat)
    # Each shard count measured --repeat times, the least seconds of each part kept (the first pass also warms up).
    passes = [[exchange_at(counts, sentences, params_for, s) for s in (2, 4, 8)] for _ in range(args.repeat)]
    exchanges = [
        {k: min(p[k] for p in same) if k.endswith("_s") else same[0][k] for k in same[0]}
        for same in zip(*passes, strict=True)
    ]
    for e in exchanges:
        e["s_word"] = e["train_s"] / (e["words"] * e["shards"])
    ship = shipping(len(counts), DIM)
    peak = task_peak(counts, shard, two)
    weight_bytes = 2 * len(counts) * DIM * 4
    spark = spark_rounds([2, 4, 8]) if args.spark else {}

    print("\nMeasured, per round (the first round of each shard; CPU seconds of this process):")
    print("| shards | rounds | words a shard | train s/word/thread (1 thread) | rows changed | change MB a shard "
          "| pack s | sum s (all blocks) | summed MB | driver s | Spark s a round (no training) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for e in exchanges:
        print(
            f"| {e['shards']} | {e['rounds']} | {e['words']:,.0f} | {e['s_word'] * 1e6:.2f} us | {e['rows']:.0%} "
            f"| {e['change_bytes'] / 1e6:.1f} | {e['pack_s']:.3f} | {e['sum_s']:.3f} | {e['summed_bytes'] / 1e6:.1f} "
            f"| {e['driver_s']:.3f} | {spark.get(e['shards'], float('nan')):.2f} |"
        )
    print(
        f"\nThreads: one shard's round of {gain['words']:,} words: {gain['s_word'] * 1e6:.2f} CPU us a word at 1 "
        f"thread, {gain['s_word_2'] * 1e6:.2f} at 2 (both threads'); serial share f = {gain['serial']:.3f}, a second "
        f"thread's extra CPU a word {gain['overhead']:+.1%}: on free cores, Amdahl's law gives "
        + ", ".join(f"{t} threads {threads_gain(t, gain['serial']):.2f}x" for t in (2, 4, 8, 16))
        + f" one thread's words/s (wall here, load {os.getloadavg()[0]:.1f}: {gain['wall_gain2']:.2f}x at 2)"
    )
    print(
        f"Weights: {ship['bytes'] / 1e6:.1f} MB ({len(counts):,} words x {DIM} x 2 float32), pickled in "
        f"{ship['dump_s']:.3f} s, unpickled in {ship['load_s']:.3f} s; a round task's own peak allocations "
        f"{peak['peak'] / 1e6:.1f} MB for {peak['round_words']:,} words, of which the words as Python lists "
        f"{peak['list_bytes_a_word']:.1f} bytes a word"
    )
    per_byte = {
        "dump": ship["dump_s"] / ship["bytes"],
        "load": ship["load_s"] / ship["bytes"],
        "pack": float(np.mean([e["pack_s"] / e["change_bytes"] for e in exchanges])),
        "sum": float(np.mean([e["sum_s"] / (e["change_bytes"] * e["shards"]) for e in exchanges])),
        "driver": float(np.mean([e["driver_s"] / e["summed_bytes"] for e in exchanges])),
    }
    points = sorted((e["words"], e["rows"]) for e in exchanges)
    slope, intercept = np.polyfit(np.log([w for w, _ in points]), [r for _, r in points], 1)

    def rows_at(shard_words: float) -> float:
        # The share of rows a shard's round changes grows with its words: a line in log(words), at most all rows.
        return float(np.clip(intercept + slope * np.log(shard_words), points[0][1], 1.0))

    measured = {
        "s_word": gain["s_word"],
        "serial": gain["serial"],
        "per_byte": per_byte,
        "rows_at": rows_at,
        "spark_round_s": spark.get(2, 1.0),
        "task_vocab_ratio": (peak["peak"] - peak["list_bytes_a_word"] * peak["round_words"]) / weight_bytes,
        "list_bytes_a_word": peak["list_bytes_a_word"],
    }
    print(
        f"\nProjected ({EPOCHS} epochs, {DIM} dims; executors of {args.executor_cores} cores; network "
        f"{args.network_gbps:g} Gbit/s a node, assumed; Spark's cost of a round {measured['spark_round_s']:.2f} s "
        f"{'as measured at 2 shards' if spark else '(assumed; --spark measures it)'}):"
    )
    print("| corpus | cores | shards x threads | rounds | train s a round | exchange s a round (ship + change "
          "+ driver) | Spark s a round | words/s | weights MB | change MB a shard | driver GiB "
          "| task GiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for corpus in CORPORA:
        bottleneck = None
        for cores in CORES:
            p = project(measured, corpus, cores, args.executor_cores, args.network_gbps)
            parts = " + ".join(f"{x:.2f}" for x in p["parts"])
            print(
                f"| {corpus[0]} | {cores} | {p['shards']} x {p['threads']} ({p['used']} used) | {p['rounds']} "
                f"| {p['train_s']:.2f} | {p['exchange_s']:.2f} ({parts}) | {p['fixed_s']:.2f} | {p['words_s']:,.0f} "
                f"| {p['weight_bytes'] / 1e6:,.0f} | {p['change_bytes'] / 1e6:,.0f} | {p['driver_bytes'] / 2**30:.1f} "
                f"| {p['task_bytes'] / 2**30:.1f} |"
            )
            if bottleneck is None and p["exchange_s"] + p["fixed_s"] > p["train_s"]:
                bottleneck = cores
        verdicts.append(
            f"{corpus[0]}: the exchange and Spark's cost of a round outweigh the training "
            + (f"from {bottleneck} cores" if bottleneck else f"at none of {CORES} cores")
        )
    print("\n" + "\n".join(verdicts))


if __name__ == "__main__":
    main()

"""Training speed on many cores (issue 12, target 2): the gensim backend's averaging, one process a shard paying the
round's exchange, against gensim's own threads on the same machine and corpus.

Each ``shards:SxT`` run trains the product's maths (``swapvec.train.shard.ShardTrainer``, ``averaging.Combiner``,
the product's defaults for S shards: rounds, rate factor) in S worker processes of T threads each, one shard a
process, as S Spark tasks with ``train.threads=T`` would. Every round pays what a round of the Spark job pays
besides the training: the driver writes the weights once (``np.save``, as the staging transport writes its file),
each worker reads its own copy, trains, and sends its change back (pickled through a pipe, where a task returns
Arrow records); the driver sums the changes in shard order and applies them. Not paid here: a task also reads its
shard's encoded sentences from Spark's cache each round (the workers here keep theirs), and the changes are summed
by one driver process where the job sums them on the executors and the driver applies one. Each ``gensim:T`` run is
gensim's ``Word2Vec.train`` with ``workers=T`` over the same sentences in memory. Both are timed from the first word
trained to the last (gensim's vocabulary scan and swapvec's encoding are not counted), and words/s is the corpus's
words times the epochs over those seconds, the figure issue 12 compares. Quality: WS-353, SimLex-999 and Google
analogies (the 30,000 most frequent words), as ``bench/encoded_corpus.py`` scores them, and each score's difference
from the first row's, measured in the same invocation. ``shards:8x2`` is what ``train.threads: auto`` trains on one
executor of 16 cores with 8 shards (``averaging.threads_for``).

On this machine (pyspark installed); the second compares 2 threads a shard with one, at 2 shards::

    .venv/bin/python bench/scaling_cores.py /work/data/gcide.txt --words 2000000 --runs gensim:2 shards:2x1
    .venv/bin/python bench/scaling_cores.py /work/data/gcide.txt --runs shards:2x1 shards:2x2

On the 16-core device machine, which has Python 3.12 and no Java, so pyspark cannot go there: the script loads
``swapvec.train``'s numpy modules without the package's Spark driver code (its image brings numpy, scipy, PyYAML,
threadpoolctl and wrapt; gensim and smart_open travel as wheels). Once, here, in the repository's root::

    echo /.whl/ >> .git/info/exclude; echo /.data/ >> .git/info/exclude; mkdir -p .data
    gzip -9 -c /work/data/gcide.txt > .data/gcide.txt.gz
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \\
        gensim==4.4.0 smart_open==9.0.4

then one ``run`` with ``carry`` ``[".whl", ".data"]`` and ``timeout_s`` 600::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \\
      && export PYTHONPATH=/tmp/site:lib:bench PYTHONUNBUFFERED=1 && gunzip -c .data/gcide.txt.gz > /tmp/g.txt \\
      && python3 bench/scaling_cores.py /tmp/g.txt --copies 4 --runs gensim:16 shards:8x2 shards:4x4 \\
         --json $OUT/scaling.jsonl

(about 35 MB travels; GCIDE x4 is 21.7M words). Each run prints its row as it ends and appends a JSON line to
``--json``, so a run cut short by the time limit keeps the rows before it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import types
from pathlib import Path


def _numpy_core_without_spark() -> None:
    """Where pyspark is not installed, register ``swapvec.train`` as a bare package, so that its numpy modules
    (``averaging``, ``shard``) import without its ``__init__`` (the Spark driver code)."""
    if importlib.util.find_spec("pyspark") is not None or "swapvec.train" in sys.modules:
        return
    import swapvec

    package = types.ModuleType("swapvec.train")
    package.__path__ = [str(Path(swapvec.__file__).parent / "train")]
    sys.modules["swapvec.train"] = package


_numpy_core_without_spark()

import numpy as np  # noqa: E402
from encoded_corpus import evaluate, load, shard_of, vocab  # noqa: E402
from gensim.models import Word2Vec  # noqa: E402

from swapvec.config import TrainConfig  # noqa: E402
from swapvec.train.averaging import (  # noqa: E402
    Combiner,
    GensimParams,
    default_sync_rounds,
    initial_weights,
    shard_alpha_scale,
)
from swapvec.train.shard import ShardTrainer  # noqa: E402


def _shard_worker(conn, sentences, counts, params: GensimParams, shards: int, threads: int, index: int, path: str):
    """One shard's process: for each round index received, read the round's weights, train, send the change."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # as the round task: parallelism from the shards and their threads
        trainer = ShardTrainer(counts, params, n_shards=shards, threads=threads)
        while (r := conn.recv()) is not None:
            started = time.perf_counter()
            weights = np.load(path)  # this worker's own copy, as a task deserialises the shipped weights
            read = time.perf_counter()
            update = trainer.train_round(sentences, r, weights[0], weights[1], shard_seed=params.seed * 100_003 + index)
            conn.send((update, read - started, time.perf_counter() - read))


def train_shards(counts: np.ndarray, sentences: list[np.ndarray], params: GensimParams, shards: int, threads: int):
    """The averaging core in ``shards`` processes of ``threads`` threads; returns ``w_in`` and the timings."""
    vocab_size, dim = len(counts), params.vector_size
    w_in, w_out = initial_weights(vocab_size, params)
    combiner = Combiner(vocab_size, dim, shards, params)
    owner = shard_of(len(sentences), shards, params.seed)
    parts = [[s for s, j in zip(sentences, owner, strict=True) if j == i and len(s)] for i in range(shards)]
    ctx = mp.get_context("fork")
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, "weights.npy")
        links, procs = [], []
        for i in range(shards):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_shard_worker, args=(theirs, parts[i], counts, params, shards, threads, i, path))
            proc.start()
            links.append(ours)
            procs.append(proc)
        del parts
        started = time.perf_counter()
        slowest_train = reading = 0.0
        try:
            for r in range(params.sync_rounds):
                np.save(path, np.stack([w_in, w_out]))
                for link in links:
                    link.send(r)
                answers = [link.recv() for link in links]  # in shard order, as the executors sum them
                for update, _, _ in answers:
                    combiner.add(update)
                combiner.apply(w_in, w_out)
                slowest_train += max(a[2] for a in answers)
                reading += max(a[1] for a in answers)
        finally:
            for link in links:
                link.send(None)
            for proc in procs:
                proc.join()
        seconds = time.perf_counter() - started
    return w_in, {"seconds": seconds, "train_s": slowest_train, "read_s": reading}


def train_gensim(lines: list[list[str]], params: GensimParams, threads: int):
    """gensim's own threads over the same sentences; the vocabulary scan is not timed."""
    model = Word2Vec(**params.word2vec_settings(), min_count=5, workers=threads)
    model.build_vocab(lines)
    started = time.perf_counter()
    model.train(lines, total_examples=model.corpus_count, epochs=params.epochs)
    return model.wv, {"seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", help="one sentence a line, words split on white space (bench/get_gcide.py)")
    parser.add_argument("--copies", type=int, default=1, help="the corpus this many times over")
    parser.add_argument("--words", type=int, default=0, help="only the first this many words (0: all)")
    parser.add_argument("--runs", nargs="+", default=["gensim:16", "shards:8x2"], help="gensim:T or shards:SxT")
    parser.add_argument("--json", help="append one JSON line a run here")
    args = parser.parse_args()
    lines, words = load(args.words, args.corpus)
    lines, words = lines * args.copies, words * args.copies
    keys, counts, sentences = vocab(lines)
    base = GensimParams.from_config(TrainConfig(), 1)  # the product's defaults
    cores = os.cpu_count()
    print(f"{args.corpus} x{args.copies}: {words:,} words, {len(keys):,} at min_count 5, {base.epochs} epochs, "
          f"{cores} cores")  # fmt: skip
    print("| run | rounds | rate factor | seconds | words/s | x first row | read weights s | slowest shard s "
          "| WS-353 | SimLex-999 | analogy | WS-353 - first | SimLex-999 - first |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    first = first_scores = None
    for run in args.runs:
        kind, _, shape = run.partition(":")
        if kind == "gensim":
            threads = int(shape)
            params = base
            wv, timing = train_gensim(lines, params, threads)
            scores = evaluate(wv.index_to_key, wv.vectors)
            name, rounds, factor = f"gensim, {threads} threads", "-", "-"
        else:
            shards, threads = (int(x) for x in shape.split("x"))
            # The rounds follow the words the vocabulary keeps, as the product's run_count.
            rounds = default_sync_rounds(base.epochs, shards, int(counts.sum()))
            params = GensimParams.from_config(TrainConfig(), rounds)
            w_in, timing = train_shards(counts, sentences, params, shards, threads)
            scores = evaluate(keys, w_in)
            factor = shard_alpha_scale(params, shards)
            name, rounds = f"averaging, {shards} shards x {threads} threads", params.sync_rounds
        speed = words * base.epochs / timing["seconds"]
        first = first or speed
        first_scores = first_scores or scores
        print(
            f"| {name} | {rounds} | {factor} | {timing['seconds']:.1f} | {speed:,.0f} | {speed / first:.2f} "
            f"| {timing.get('read_s', 0):.1f} | {timing.get('train_s', 0):.1f} | {scores['ws353']:.3f} "
            f"| {scores['simlex']:.3f} | {scores['analogy']:.3f} | {scores['ws353'] - first_scores['ws353']:+.3f} "
            f"| {scores['simlex'] - first_scores['simlex']:+.3f} |",
            flush=True,
        )
        if args.json:
            record = {"run": run, "copies": args.copies, "words": words, "cores": cores, "words_s": speed}
            with open(args.json, "a") as out:
                out.write(json.dumps({**record, **timing, **scores}) + "\n")


if __name__ == "__main__":
    main()

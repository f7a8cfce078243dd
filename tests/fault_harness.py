"""Run by tests/test_faults.py in its own process: gensim training under injected task faults.

A local[2,3] session tries a task up to 3 times. The round task is wrapped so that, in one round, the first
attempt of partition 0 raises or kills its Python worker (os._exit); the vectors must equal a clean run's.
Prints one JSON line: {"clean": sha, "<fault>": sha, ..., "fired": [the faults that were injected]}: a fault that
never fired (the round task renamed, a round that never ran) would make the comparison vacuous.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile

from pyspark.sql import functions as F

from swapvec.config import SparkConfig, load_config
from swapvec.log import setup_logging
from swapvec.session import get_spark
from swapvec.store import read_corpus
from swapvec.tokenize import tokenize
from swapvec.train import gensim_avg, train


def faulty(kind: str, fail_round: int, marks: str):
    original = gensim_avg._round_task

    def wrapped(*args):
        inner = original(*args)
        round_index = args[-1]  # the round is _round_task's last argument

        def run(batches):
            from pyspark import TaskContext

            ctx = TaskContext.get()
            if round_index == fail_round and ctx.partitionId() == 0 and ctx.attemptNumber() == 0:
                open(os.path.join(marks, kind), "w").close()  # noqa: SIM115 - a marker file, closed at once
                if kind == "worker_exit":
                    os._exit(17)
                raise RuntimeError("injected failure on the first attempt")
            yield from inner(batches)

        return run

    return wrapped


def main(corpus: str) -> None:
    """``corpus``: a text file, one sentence a line (a few hundred lines are enough)."""
    setup_logging("text", "WARNING")
    spark = get_spark(
        SparkConfig(master="local[2,3]", conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    )
    cfg = load_config(None, [f"input.path={corpus}", "train.min_count=2", "train.epochs=1", "train.sync_rounds=3"])
    sentences = tokenize(read_corpus(spark, cfg.input), cfg.tokenize).withColumn("copy", F.lit(0))
    sentences = sentences.localCheckpoint(eager=True)

    def digest() -> str:
        vectors, _ = train(spark, sentences, cfg)
        rows = vectors.orderBy("word").collect()
        return hashlib.sha256(json.dumps([(r.word, list(r.vector)) for r in rows]).encode()).hexdigest()

    original = gensim_avg._round_task
    out = {"clean": digest()}
    marks = tempfile.mkdtemp(prefix="swapvec-faults-")
    for kind in ("raise", "worker_exit"):
        gensim_avg._round_task = faulty(kind, fail_round=1, marks=marks)
        try:
            out[kind] = digest()
        finally:
            gensim_avg._round_task = original
    out["fired"] = sorted(os.listdir(marks))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])

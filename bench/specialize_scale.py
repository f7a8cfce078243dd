"""Specialisation at a lexicon's scale: a vocabulary of a million words and a lexicon of hundreds of thousands of
pairs, through the product's own path on local Spark, with the time and the driver's peak memory of each step.

The vectors are random (quality is bench/specialize_bench.py's business; here only size matters), generated in the
tasks; the lexicon file holds ``--pairs`` lines over the ``--lexicon-words`` most frequent words, one in six a
repel line. Steps, as ``swapvec run`` takes them: ``lexicon.load_lexicon`` (parse, and every word through the
corpus tokeniser in one Spark job), ``specialize.specialize`` with ``augment.specialize_outside`` and the repel
promise (read the constrained words to the driver, Attract-Repel, the map applied in the tasks, the pairs still
inside a top 10 turned apart, the write-back join; materialised),
and the lexicon's pair scores of ``evaluate`` over ``evaluate.max_vocab`` words::

    .venv/bin/python bench/specialize_scale.py --words 1000000 --pairs 300000

Peak memory is the driver Python process's resident set (``ru_maxrss``) after each step: it only grows, so each
step's figure bounds everything before it. The JVM's heap is ``spark.driver.memory`` (4g, the local default).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from swapvec.arrow import list_column
from swapvec.config import SparkConfig, TokenizeConfig
from swapvec.evaluate import collect_vectors, pair_scores
from swapvec.lexicon import load_lexicon
from swapvec.log import setup_logging
from swapvec.session import get_spark
from swapvec.specialize import SpecializeParams, specialize


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _vectors(spark, words: int, dim: int, partitions: int = 8):
    """``words`` random vectors, generated in the tasks; ``count`` falls with the word's number (w0 most frequent)."""

    def generate(batches):
        for batch in batches:
            ids = batch.column(0).to_numpy()
            if not len(ids):
                continue
            rng = np.random.default_rng(int(ids[0]))
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([f"w{i}" for i in ids], pa.string()),
                    list_column(rng.normal(size=(len(ids), dim)).astype(np.float32)),
                    pa.array(words - ids, pa.int64()),
                ],
                names=["word", "vector", "count"],
            )

    frame = spark.range(0, words, numPartitions=partitions)
    return frame.mapInArrow(generate, "word string, vector array<float>, count bigint").localCheckpoint(eager=True)


def _lexicon(path: Path, pairs: int, words: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    seen, lines = set(), []
    while len(lines) < pairs:
        a, b = (int(x) for x in rng.integers(0, words, 2))
        if a == b or (min(a, b), max(a, b)) in seen:
            continue
        seen.add((min(a, b), max(a, b)))
        lines.append(f"w{a} != w{b}" if len(lines) % 6 == 0 else f"w{a} w{b}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=300_000)
    parser.add_argument("--lexicon-words", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--max-vocab", type=int, default=300_000, help="evaluate.max_vocab")
    args = parser.parse_args()
    setup_logging("text", "WARNING")
    spark = get_spark(SparkConfig(conf={"spark.ui.enabled": "false"}), app_name="specialize-scale")
    rows = []

    def step(name: str, started: float, detail: str) -> None:
        rows.append((name, time.monotonic() - started, _peak_mb(), detail))
        print(f"{name}: {rows[-1][1]:.1f} s, driver peak {rows[-1][2]:,.0f} MB; {detail}", flush=True)

    started = time.monotonic()
    vectors = _vectors(spark, args.words, args.dim)
    step("vectors generated", started, f"{args.words:,} words x {args.dim}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lexicon.txt"
        _lexicon(path, args.pairs, args.lexicon_words)
        started = time.monotonic()
        pairs = load_lexicon(spark, str(path), TokenizeConfig())
        step("lexicon loaded", started, f"{len(pairs.attract):,} attract, {len(pairs.repel):,} repel pairs")
    started = time.monotonic()
    moved, stats = specialize(vectors, pairs, SpecializeParams(), seed=1, outside=True)
    moved = moved.localCheckpoint(eager=True)
    m = stats.metrics
    step(
        "specialised",
        started,
        f"{int(m['specialize_words']):,} words moved, every other word mapped; repel promise: "
        f"{m.get('apart_pairs_checked', 0):,.0f} pair checks over the vocabulary, "
        f"{m.get('apart_pairs_turned', 0):,.0f} pairs turned, {m.get('apart_rounds', 0):.0f} rounds",
    )
    started = time.monotonic()
    kv = collect_vectors(moved, args.max_vocab, [])
    scores = {**pair_scores(kv, pairs.attract, "attract"), **pair_scores(kv, pairs.repel, "repel")}
    step(
        "lexicon scored",
        started,
        f"among {len(kv):,} words: {scores['attract_pairs_scored']:,.0f} attract pairs, "
        f"{scores['attract_share_in_top10']:.3f} in top 10; {scores['repel_pairs_scored']:,.0f} repel pairs, "
        f"{scores['repel_share_in_top10']:.3f} in top 10",
    )
    print("\n| step | seconds | driver peak MB | what |\n|---|---|---|---|")
    for name, seconds, peak, detail in rows:
        print(f"| {name} | {seconds:.1f} | {peak:,.0f} | {detail} |")


if __name__ == "__main__":
    main()

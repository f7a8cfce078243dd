"""Ways to bring groups together, compared on one corpus in one process, with the pipeline's own stages.

Two trainings give every row, each evaluated by ``swapvec.evaluate`` over the same vocabulary (the corpus's):

* the corpus as it is (group words exempt from subsampling, as ``swapvec run``'s baseline) -> **none**; the same
  vectors retrofitted -> **retrofit**; moved by the guarantee step -> **guarantee**;
* the swap-augmented corpus -> **swap**; then the guarantee step -> **swap + guarantee** (the default); retrofitted
  -> **both**.

Cost is the seconds of the stages a method adds to tokenising: augmenting, training, retrofitting, the guarantee
step. All in one Spark session, one after the other, so the ratios share the machine's load.

Usage::

    .venv/bin/python bench/augment_methods.py [--corpus /work/data/gcide.txt] [--groups bench/groups-gcide-hubs.txt]
        [--set dotted.key=value ...]

On GCIDE pass ``--set spark.conf.spark.driver.memory=8g``: with the local default (4g) the driver ran out of heap
while training on the swap-augmented corpus.
"""

from __future__ import annotations

import argparse
import os
import time

from pyspark import StorageLevel
from pyspark.sql import functions as F

from swapvec.augment import augment_corpus
from swapvec.config import load_config
from swapvec.evaluate import evaluate
from swapvec.groups import group_words, load_groups
from swapvec.guarantee import guarantee
from swapvec.lexicon import Constraints
from swapvec.log import setup_logging
from swapvec.retrofit import retrofit
from swapvec.session import get_spark
from swapvec.steps import train_params
from swapvec.store import read_corpus
from swapvec.summary import score_cell
from swapvec.tokenize import tokenize
from swapvec.train import train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="/work/data/gcide.txt")
    parser.add_argument("--groups", default="bench/groups-gcide-hubs.txt")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    base = [f"input.path={args.corpus}", f"augment.groups_path={args.groups}", "output.path=/tmp/augment-methods"]
    cfg = load_config(None, [*base, *args.overrides])
    setup_logging("text", "WARNING")
    spark = get_spark(cfg.spark, app_name="augment-methods")
    load_at_start = os.getloadavg()[0]
    started = time.monotonic()
    sentences = tokenize(read_corpus(spark, cfg.input), cfg.tokenize).persist(StorageLevel.MEMORY_AND_DISK)
    words = sentences.select(F.sum(F.size("tokens"))).first()[0]
    tokenize_s = time.monotonic() - started
    groups = load_groups(spark, args.groups, cfg.tokenize)
    hubs = sum(1 for g in groups if g.hub)
    t, a = cfg.train, cfg.augment
    print(f"\n### Ways to bring groups together: {args.corpus} ({words:,} words), {args.groups}\n")
    print(
        f"{len(groups)} groups ({hubs} hubs); {t.backend}, {t.num_partitions} partitions, {t.vector_size} dims, "
        f"window {t.window}, min_count {t.min_count}, {t.epochs} epochs, seed {t.seed}; retrofitting "
        f"{a.retrofit_iterations} iterations, weight {a.retrofit_weight}; tokenising {tokenize_s:.0f} s (shared, not "
        f"counted); load average at start {load_at_start:.1f}. A benchmark cell is the score and (the share of it in "
        "the vocabulary).\n"
    )
    print(
        "| method | hub first | all mates in top 10 | median in-group rank | WS-353 | SimLex-999 | analogies | "
        "least cosine to trained | seconds | vs none |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    none_s: list[float] = []

    def row(name: str, vectors, seconds: float, least_cosine: float | None = None) -> None:
        m = evaluate(vectors, Constraints(groups), cfg.evaluate.max_vocab).metrics
        if not none_s:  # the first row is "none": every cost is relative to it
            none_s.append(seconds)
        cells = [score_cell(m, key, "{:.3f}", f"{key}_oov_pct") for key in ("ws353", "simlex999", "analogy")]
        cells.append("-" if least_cosine is None else f"{least_cosine:.3f}")
        print(
            f"| {name} | {m['group_hub_first']:.3f} | {m['group_share_top10']:.3f} | {m['group_median_rank']:.1f} | "
            f"{' | '.join(cells)} | {seconds:.0f} | {seconds / none_s[0]:.2f} |",
            flush=True,
        )

    def timed(fn, *args, **kwargs):
        t0 = time.monotonic()
        out = fn(*args, **kwargs)
        return out, time.monotonic() - t0

    keep = group_words(groups)
    # The corpus as it is: what `swapvec run` trains as its baseline, and what retrofitting alone starts from.
    originals = sentences.withColumn("copy", F.lit(0))
    (trained, _), train_s = timed(train, spark, originals, train_params(cfg), group_words=keep)
    trained = trained.localCheckpoint(eager=True)
    row("none", trained, train_s)
    fitted, retrofit_s = timed(lambda: retrofit(trained, groups, a.retrofit_iterations, a.retrofit_weight))
    row("retrofit", fitted, train_s + retrofit_s)
    (placed, stats), guarantee_s = timed(guarantee, trained, groups)
    row("guarantee", placed, train_s + guarantee_s, stats.metrics["guarantee_least_cosine"])
    # Swapped copies.
    (augmented, augment_stats), augment_s = timed(augment_corpus, sentences, groups, a, t.seed)
    sentences.unpersist()
    (trained, _), train_s = timed(train, spark, augmented, train_params(cfg), group_words=keep)
    trained = trained.localCheckpoint(eager=True)
    augmented.unpersist()
    row("swap", trained, augment_s + train_s)
    (placed, stats), guarantee_s = timed(guarantee, trained, groups)
    least = stats.metrics["guarantee_least_cosine"]
    row("swap + guarantee (default)", placed, augment_s + train_s + guarantee_s, least)
    fitted, retrofit_s = timed(lambda: retrofit(trained, groups, a.retrofit_iterations, a.retrofit_weight))
    row("both (swap + retrofit)", fitted, augment_s + train_s + retrofit_s)
    print(
        f"\nswap added x{augment_stats.metrics['augmentation_factor']:.2f} words; load average at end "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()

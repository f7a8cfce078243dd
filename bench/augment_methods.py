"""Ways to pull groups together, compared on one corpus in one process: none, swap, retrofit, both.

Two trainings give all four rows, with the pipeline's own stages and evaluation (``swapvec.evaluate``):

* the corpus as it is (group words exempt from subsampling, as ``swapvec run``'s baseline) -> **none**; the same
  vectors retrofitted -> **retrofit**;
* the swap-augmented corpus -> **swap**; the same vectors retrofitted -> **both**.

Cost is the seconds of the stages that method adds to tokenising: augmenting (swap, both), training, and
retrofitting (retrofit, both). All in one Spark session, one after the other, so the ratios share the machine's load.

Usage::

    .venv/bin/python bench/augment_methods.py [--corpus /work/data/gcide.txt] [--groups bench/groups-gcide.txt]
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

from swapvec.config import load_config
from swapvec.evaluate import evaluate
from swapvec.log import setup_logging
from swapvec.pipeline import RunResult, stage_augment, stage_retrofit, stage_tokenize, stage_train
from swapvec.session import get_spark


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="/work/data/gcide.txt")
    parser.add_argument("--groups", default="bench/groups-gcide.txt")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    base = [f"input.path={args.corpus}", f"augment.groups_path={args.groups}", "output.path=/tmp/augment-methods"]
    swap_cfg = load_config(None, [*base, "augment.method=both", *args.overrides])
    setup_logging("text", "WARNING")
    spark = get_spark(swap_cfg.spark, app_name="augment-methods")
    loads = [os.getloadavg()[0]]
    started = time.monotonic()
    sentences = stage_tokenize(spark, swap_cfg).persist(StorageLevel.MEMORY_AND_DISK)
    words = sentences.select(F.sum(F.size("tokens"))).first()[0]
    tokenize_s = time.monotonic() - started
    t = swap_cfg.train
    print(f"\n### none / swap / retrofit / both: {args.corpus} ({words:,} words), {args.groups}\n")
    print(
        f"{t.backend}, {t.num_partitions} partitions, {t.vector_size} dims, window {t.window}, min_count "
        f"{t.min_count}, {t.epochs} epochs, seed {t.seed}; retrofitting {swap_cfg.augment.retrofit_iterations} "
        f"iterations, weight {swap_cfg.augment.retrofit_weight}; tokenising {tokenize_s:.0f} s (shared, not counted); "
        f"load average at start {loads[0]:.1f}\n"
    )
    print(
        "| method | members with all mates in top 10 | median in-group rank | WS-353 | SimLex-999 | seconds | vs none |"
    )
    print("|---|---|---|---|---|---|---|", flush=True)
    none_s: list[float] = []

    def row(name: str, vectors, groups, seconds: float) -> None:
        m = evaluate(vectors, groups, swap_cfg.evaluate.max_vocab).metrics
        if not none_s:  # the first row is "none": every cost is relative to it
            none_s.append(seconds)
        print(
            f"| {name} | {m['group_share_top10']:.3f} | {m['group_median_rank']:.1f} | {m['ws353']:.3f} | "
            f"{m['simlex999']:.3f} | {seconds:.0f} | {seconds / none_s[0]:.2f} |",
            flush=True,
        )

    def timed(fn, *a):
        t = time.monotonic()
        out = fn(*a)
        return out, time.monotonic() - t

    # The corpus as it is: what `swapvec run` trains as its baseline, and what retrofitting alone starts from.
    result = RunResult("bench", "run")
    retrofit_cfg = swap_cfg.model_copy(update={"augment": swap_cfg.augment.model_copy(update={"method": "retrofit"})})
    (plain, groups), augment_s = timed(stage_augment, spark, retrofit_cfg, sentences, result)
    trained, train_s = timed(stage_train, spark, swap_cfg, plain, groups, result)
    plain.unpersist()
    row("none", trained, groups, train_s)
    fitted, retrofit_s = timed(stage_retrofit, swap_cfg, trained, groups, result)
    row("retrofit", fitted, groups, train_s + retrofit_s)
    # Swapped copies.
    result = RunResult("bench", "run")
    (augmented, groups), augment_s = timed(stage_augment, spark, swap_cfg, sentences, result)
    sentences.unpersist()
    trained, train_s = timed(stage_train, spark, swap_cfg, augmented, groups, result)
    augmented.unpersist()
    row("swap", trained, groups, augment_s + train_s)
    fitted, retrofit_s = timed(stage_retrofit, swap_cfg, trained, groups, result)
    row("both", fitted, groups, augment_s + train_s + retrofit_s)
    print(
        f"\n{len(groups)} groups; swap added x{result.metrics['augmentation_factor']:.2f} words; load average at end "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()

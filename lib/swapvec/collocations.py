"""Collocations: the phrases ``tokenize.phrases`` detects over the whole corpus, as gensim's ``Phrases`` scores them.

Each pass counts with Spark aggregations: the pairs of adjacent tokens are counted in one pass over the corpus (a
word's count is the sum of its pairs'), a pair seen at least ``phrase_min_count`` times is scored against its words'
counts in a join, and the pairs that score above the threshold come back to the driver. Scoring ``default`` (Mikolov
et al., 2013) is ``(count(ab) - min_count) / (count(a) count(b)) x V``, where ``V`` is the number of distinct words
and distinct pairs counted; ``npmi`` (Bouma, 2009) is ``ln(p(ab) / (p(a) p(b))) / -ln p(ab)``, each ``p`` a count
over the corpus's words. Each pass can join two tokens (:func:`swapvec.phrases.apply`), so ``phrase_passes`` 2 gives
phrases of up to four words. With ``phrase_connectors`` (gensim's ``connector_words``), connector words may stand
between a phrase's two words; those candidates are counted in the Python workers, a task at a time, and summed by
Spark.

Memory: the driver and each task hold the phrases found (about 150 bytes each: 16,758 for GCIDE's 5.4M words); a pass
that finds more than :data:`MAX_PHRASES` is refused, naming the threshold to raise. The counts stay in Spark: the
words and the pairs are aggregated (spilling to disk as Spark does), only the phrases that pass the threshold are
collected; with connectors a task holds at most :data:`CANDIDATES_HELD` counts before it hands them on. gensim prunes
its counts past ``max_vocab_size``; these counts are exact.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from swapvec.config import TokenizeConfig
from swapvec.errors import BadInput
from swapvec.log import event, get_logger
from swapvec.phrases import Phrase, apply
from swapvec.stats import Stats

_log = get_logger("collocations")

#: Phrases one pass may find: the driver and every task hold them (about 150 bytes each, 150 MB at this bound).
MAX_PHRASES = 1_000_000

#: What :func:`_candidates` yields: a word that is not a connector (``a``), the next such word in its row (``b``; null
#: for the last one) and the connectors between them (joined by spaces), and how often the three stand so.
CANDIDATES_SCHEMA = "a string, b string, between string, n bigint"
_CANDIDATE_NAMES = [field.split()[0] for field in CANDIDATES_SCHEMA.split(", ")]
#: Entries a task counts before it hands them to Spark and starts again: its memory bound (about 150 MB).
CANDIDATES_HELD = 1_000_000


def _candidates(connectors: frozenset[str]):
    """The ``mapInArrow`` function that counts a partition's candidates as gensim's ``_learn_vocab`` does."""

    def flush(counts: Counter) -> pa.RecordBatch:
        a, b, between = zip(*counts, strict=True) if counts else ((), (), ())
        columns = [pa.array(a, pa.string()), pa.array(b, pa.string()), pa.array(between, pa.string())]
        return pa.RecordBatch.from_arrays([*columns, pa.array(list(counts.values()), pa.int64())], _CANDIDATE_NAMES)

    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        counts: Counter = Counter()
        for batch in batches:
            for tokens in batch.column(0).to_pylist():
                start, between = None, []
                for word in tokens:
                    if word in connectors:
                        if start is not None:
                            between.append(word)
                        continue
                    if start is not None:
                        counts[(start, word, " ".join(between))] += 1
                    start, between = word, []
                if start is not None:
                    counts[(start, None, "")] += 1
            if len(counts) > CANDIDATES_HELD:
                yield flush(counts)
                counts = Counter()
        yield flush(counts)

    return count


def _scored(rows: DataFrame, cfg: TokenizeConfig, pass_number: int, kept_apart: set[str]) -> list[Phrase]:
    """One pass: the pairs of adjacent tokens of ``rows`` that score above the threshold, neither in ``kept_apart``,
    sorted by phrase."""
    t, connectors = F.col("tokens"), sorted(cfg.connectors)
    # Each token once as "a", with the token after it as "b" (null at the end of a row): one pass over the corpus
    # counts the pairs, and a word's count is the sum of its pairs'. With connectors, "a" and "b" are the words
    # that are not connectors, and "between" the connectors between them (gensim counts connectors as no word).
    if connectors:
        # Counted a partition at a time in the Python workers (Spark's higher-order functions over structs took 2.4x
        # gensim's time), and summed by Spark.
        partial = rows.select("tokens").mapInArrow(_candidates(frozenset(connectors)), CANDIDATES_SCHEMA)
        counted = partial.groupBy("a", "b", "between").agg(F.sum("n").alias("n"))
    else:
        adjacent = F.zip_with(t, F.slice(t, 2, F.size(t)), lambda a, b: F.struct(a.alias("a"), b.alias("b")))
        tokens = rows.select(F.explode(adjacent).alias("p")).select("p.a", "p.b")
        counted = tokens.groupBy("a", "b").agg(F.count(F.lit(1)).alias("n"))
    counted = counted.persist(StorageLevel.MEMORY_AND_DISK)
    words = counted.groupBy("a").agg(F.sum("n").alias("n")).persist(StorageLevel.MEMORY_AND_DISK)
    pairs = counted.where(F.col("b").isNotNull())
    try:
        distinct_pairs = pairs.count()
        distinct_words, corpus_words = words.agg(F.count(F.lit(1)), F.sum("n")).first()
        distinct = float(distinct_words + distinct_pairs)
        if connectors and cfg.phrase_scoring == "npmi":  # p() is over every token, connectors too
            corpus_words = rows.agg(F.sum(F.size("tokens"))).first()[0]
        frequent = pairs.where(F.col("n") >= cfg.phrase_min_count)
        a = words.select(F.col("a"), F.col("n").alias("na"))
        b = words.select(F.col("a").alias("b"), F.col("n").alias("nb"))
        scored = frequent.join(a, "a").join(b, "b")
        n, na, nb = (F.col(c).cast("double") for c in ("n", "na", "nb"))
        if cfg.phrase_scoring == "default":
            # gensim's order of operations, so that the same pairs pass: na * nb is rounded once to a double, as
            # gensim's float(na * nb) is, and cannot overflow a long.
            score = (n - cfg.phrase_min_count) / (na * nb) * F.lit(distinct)
        else:
            total = F.lit(float(corpus_words))
            pab = n / total
            score = F.log(pab / ((na / total) * (nb / total))) / -F.log(pab)
        between = F.col("between") if connectors else F.lit("")
        passing = scored.select("a", "b", between.alias("between"), "n", score.alias("score"))
        passing = passing.where(F.col("score") > cfg.threshold)
        kept = passing.limit(MAX_PHRASES + 1).collect()
        if len(kept) > MAX_PHRASES:
            raise BadInput(
                f"tokenize.phrases: more than {MAX_PHRASES:,} pairs score above tokenize.phrase_threshold "
                f"{cfg.threshold:g} in pass {pass_number}; raise it or tokenize.phrase_min_count"
            )
    finally:
        words.unpersist()
        counted.unpersist()
    joiner = cfg.phrase_joiner
    found = []
    for r in kept:
        between = tuple(r.between.split())
        found.append(Phrase(joiner.join([r.a, *between, r.b]), r.a, r.b, between, pass_number, r.n, r.score))
    return sorted(p for p in found if p.left not in kept_apart and p.right not in kept_apart)


class Detected(NamedTuple):
    """What :func:`detect` returns."""

    rows: DataFrame
    phrases: list[Phrase]
    stats: Stats


def detect(
    rows: DataFrame, cfg: TokenizeConfig, named: set[tuple[str, ...]], kept_apart: set[str] = frozenset()
) -> Detected:
    """Find the corpus's phrases (``tokenize.phrase_passes`` passes) and make them tokens.

    Parameters
    ----------
    rows
        ``sentence_id, tokens``: the corpus tokenised, one row a line (``tokenize.token_rows``); read once a pass and
        once more by whoever reads the result, so persist it first.
    cfg
        The tokeniser's settings: the joiner, the scoring, the threshold, the minimum count and the passes.
    named
        Phrases named by the groups file and the lexicon, made tokens before any counting.
    kept_apart
        Tokens never joined into a detected phrase: the groups file's words, which the user named as terms (were
        ``watch movies`` joined, the group word ``movies`` would lose those occurrences to ``watch_movies``).

    Returns
    -------
    Detected
        The rows with the named and the detected phrases made tokens (lazy), every phrase found (pass by pass), and
        the stats: ``phrases_detected``, ``phrases_pass_<k>`` and ``phrases_seconds``.
    """
    started = time.monotonic()
    passes: list[list[Phrase]] = []
    current = apply(rows, named, [], cfg.phrase_joiner)
    connectors = cfg.connectors
    for number in range(1, cfg.phrase_passes + 1):
        layer = current if current is rows else current.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            found = _scored(layer, cfg, number, kept_apart)
        finally:
            if layer is not rows:
                layer.unpersist()
        event(_log, "phrases.pass", passes=number, phrases=len(found))
        if not found:
            break
        passes.append(found)
        current = apply(rows, named, passes, cfg.phrase_joiner, connectors)
    everything = [p for found in passes for p in found]
    metrics = {f"phrases_pass_{i}": float(len(found)) for i, found in enumerate(passes, start=1)}
    metrics |= {"phrases_detected": float(len(everything)), "phrases_seconds": time.monotonic() - started}
    return Detected(current, everything, Stats(metrics=metrics))

"""Swap-augmentation: copies of the sentences that hold group words, with those words swapped (groups file syntax:
``swapvec.groups``).

* A plain group ``a b c``: every member is swapped with every other.
* A hub group ``hub: a b c``: every sentence holding the hub gets a copy with the hub replaced by each member,
  so each member inherits the hub's contexts and the hub becomes every member's nearest word. Members are not
  swapped with each other, nor copied into the hub: measured on the seed's example, swapping both ways makes the
  hub a centroid of its members and the members' nearest words each other (rank 1 for the hub on 0 of 10 seeds,
  against 10 of 10 this way, with gensim's negative sampling and with hierarchical softmax alike).

Augmentation keeps every original sentence (``copy`` 0) and adds, for each sentence holding group words, copies
in which one group word is replaced by one of its substitutes everywhere in the sentence (``copy`` 1, 2, ...).
When a sentence has more candidate swaps than ``max_copies_per_sentence``, a seeded hash chooses which, so the
choice is the same on every run and every retry, and different sentences keep different swaps.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from swapvec.compat import map_has_key, map_value
from swapvec.config import AugmentConfig
from swapvec.errors import BadInput
from swapvec.groups import Group, group_words
from swapvec.log import event, get_logger
from swapvec.replay import REPLAYED
from swapvec.stats import Stats

_log = get_logger("augment")


def substitutions(groups: list[Group]) -> dict[str, tuple[str, ...]]:
    """word -> the words that replace it in copies. Plain: every other member. Hub: the hub -> each member."""
    subs: dict[str, tuple[str, ...]] = {}
    for group in groups:
        if group.hub is None:
            for word in group.members:
                subs[word] = group.mates(word)
        else:
            subs[group.hub] = group.members
    return subs


def augment(sentences: DataFrame, subs: Mapping[str, tuple[str, ...]], max_copies: int, seed: int) -> DataFrame:
    """Add swapped copies of the sentences that hold group words; a pure Spark transform, no shuffle.

    Parameters
    ----------
    sentences
        ``sentence_id, chunk, tokens`` as ``tokenize.tokenize`` makes them.
    subs
        ``substitutions(groups)``; small (the group words), so it travels in the query plan.
    max_copies
        At most this many copies of one sentence.
    seed
        Chooses the copies when a sentence has more candidates than ``max_copies``.

    Returns
    -------
    DataFrame
        ``sentence_id, chunk, copy int, tokens``: copy 0 is the original.

    Examples
    --------
    ``a x`` with the plain group ``a b c`` gives ``a x`` (copy 0), ``b x`` and ``c x``.
    """
    marks = [REPLAYED] if REPLAYED in sentences.columns else []  # a continuation's drawn sentences stay marked
    originals = sentences.select("sentence_id", "chunk", F.lit(0).alias("copy"), "tokens", *marks)
    if not subs:
        return originals
    table = F.create_map(*[part for w, s in sorted(subs.items()) for part in (F.lit(w), F.array(*map(F.lit, s)))])
    present = F.filter(F.array_distinct("tokens"), lambda t: map_has_key(table, t))
    candidates = F.flatten(
        F.transform(
            present,
            lambda w: F.transform(
                map_value(table, w),
                lambda s: F.struct(
                    F.xxhash64(F.col("sentence_id"), F.col("chunk"), w, s, F.lit(seed)).alias("h"),
                    w.alias("w"),
                    s.alias("s"),
                ),
            ),
        )
    )
    chosen = F.slice(F.array_sort(candidates), 1, max_copies)
    copies = (
        sentences.select("sentence_id", "chunk", "tokens", *marks, chosen.alias("_swaps"))
        .where(F.size("_swaps") > 0)
        .select("sentence_id", "chunk", "tokens", *marks, F.posexplode("_swaps").alias("_i", "_swap"))
        .select(
            "sentence_id",
            "chunk",
            (F.col("_i") + 1).cast("int").alias("copy"),
            F.transform("tokens", lambda t: F.when(t == F.col("_swap.w"), F.col("_swap.s")).otherwise(t)).alias(
                "tokens"
            ),
            *marks,
        )
    )
    return originals.unionByName(copies)


def affected_sentences(sentences: DataFrame, groups: list[Group]) -> DataFrame:
    """The sentences that hold a word of ``groups`` (``augment.affected_only``): the only ones a copy is made of."""
    words = group_words(groups)
    return sentences.where(F.arrays_overlap("tokens", F.array(*[F.lit(w) for w in words])))


def count_words(sentences: DataFrame, corpus: str = "the corpus", empty: str | None = None) -> Stats:
    """``sentences`` and ``words`` of a sentences table (one Spark job); ``empty`` says why there are none, when the
    table is a selection of the corpus.

    Raises
    ------
    BadInput
        No sentence at all: the corpus is empty or holds no words.
    """
    row = sentences.select(
        F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum(F.size("tokens")), F.lit(0)).alias("words")
    ).first()
    if row.rows == 0:
        raise BadInput(empty or f"{corpus} has no tokens: it is empty or holds no words")
    return Stats(row_counts={"sentences": int(row.rows), "words": int(row.words)})


def augment_corpus(
    sentences: DataFrame,
    groups: list[Group],
    cfg: AugmentConfig,
    seed: int,
    corpus: str = "the corpus",
    empty: str | None = None,
) -> tuple[DataFrame, Stats]:
    """The augment stage: the sentences plus the groups' swapped copies (persisted, as ``sentences`` may already
    be: training reads them more than once).

    With ``augment.method`` ``retrofit`` or ``specialize`` no copies are made (the groups are pulled together after
    training).

    Returns
    -------
    (DataFrame, Stats)
        ``augment``'s table, and the counts before and after (``augmentation_factor``: words trained on / words in
        the corpus), the groups' words absent from the corpus (``details.groups_absent_from_corpus``).

    Raises
    ------
    BadInput
        An empty corpus, or groups none of whose words occur in it.
    """
    stats = count_words(sentences, corpus, empty)
    if groups:
        wanted = group_words(groups)
        # Bounded by the group words.
        found = {
            r.word
            for r in sentences.select(F.explode("tokens").alias("word"))
            .where(F.col("word").isin(wanted))
            .distinct()
            .collect()
        }
        if not found:
            raise BadInput(f"no word of {cfg.groups_path} occurs in the corpus (after tokenisation)")
        absent = [w for w in wanted if w not in found]
        if absent:
            event(_log, "groups.absent_from_corpus", words=absent, note="learned from swapped copies only, if at all")
        stats.details["groups_absent_from_corpus"] = absent
        stats.row_counts["groups"] = len(groups)
    subs = substitutions(groups) if cfg.copies else {}
    augmented = augment(sentences, subs, cfg.max_copies_per_sentence, seed)
    if subs or sentences.storageLevel == StorageLevel.NONE:  # no copies of persisted sentences: a projection of them
        augmented = augmented.persist(StorageLevel.MEMORY_AND_DISK)
    # No substitutions, no copies: the corpus's counts are the augmented ones (a pass over the corpus saved).
    after = count_words(augmented, corpus) if subs else stats
    before_words = stats.row_counts["words"]
    stats.row_counts.update(
        augmented_sentences=after.row_counts["sentences"], augmented_words=after.row_counts["words"]
    )
    stats.metrics["augmentation_factor"] = after.row_counts["words"] / before_words if before_words else 1.0
    event(
        _log,
        "augment.done",
        sentences=stats.row_counts["sentences"],
        copies=after.row_counts["sentences"] - stats.row_counts["sentences"],
        factor=round(stats.metrics["augmentation_factor"], 4),
    )
    return augmented, stats

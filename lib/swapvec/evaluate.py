"""Evaluation: standard benchmarks (WS-353, SimLex-999, Google analogies, as gensim ships them) and group closeness.

Group closeness asks, for each group member, where its group-mates rank among its nearest neighbours (rank 1 is
the nearest word). A plain group's members are all its words and their mates are the other words; a hub group's
members are the words after ``:`` and their one mate is the hub. ``group_share_top10`` is the share of members
whose mates are all within their top 10; ``group_hub_first`` the share of hub groups' members whose nearest word is
the hub; ``group_median_rank`` is the median rank over every (member, mate) pair.

Repel lines (``left != right``) are scored per pair of a left and a right word: ``repel_share_in_top10`` is the
share of pairs of which one word is within the other's top 10, ``repel_mean_cosine`` their mean cosine. A lexicon's
pairs are scored alike in aggregate, without a line per pair (:func:`pair_scores`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from swapvec.arrow import to_matrix
from swapvec.compat import to_arrow
from swapvec.groups import TOP, Group, Repel, constrained_words
from swapvec.lexicon import Constraints
from swapvec.similarity.nearest import exact_top_k
from swapvec.stats import Stats

#: A lexicon's pairs ranked at most (a seeded draw beyond): ranking costs the ranked words times the vocabulary.
RANKED_PAIRS = 10_000
#: A benchmark score needs at least this share of its pairs (questions) in the vocabulary to be reported.
MIN_COVERAGE = 0.5


@dataclass
class Evaluation:
    """Metrics (flat, numeric: for ``runs.metrics``) and per-group details (for ``runs.details``); ``vectors``, the
    KeyedVectors evaluated (:func:`evaluate` sets it: the report draws from them rather than collect them again)."""

    metrics: dict[str, float] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)
    repels: list[dict[str, Any]] = field(default_factory=list)
    vectors: Any = field(default=None, repr=False, compare=False)

    def stats(self, baseline: Evaluation | None = None) -> Stats:
        """The evaluate stage's stats: the metrics, the baseline's as ``baseline_<metric>``, the groups' ranks (and
        the repelled pairs')."""
        before = {f"baseline_{k}": v for k, v in baseline.metrics.items()} if baseline is not None else {}
        details: dict[str, Any] = {"groups": self.groups}
        if self.repels:
            details["repels"] = self.repels
        return Stats(metrics={**self.metrics, **before}, details=details)


def collect_vectors(vectors: DataFrame, max_vocab: int, extra_words: list[str]):
    """The ``max_vocab`` most frequent words' vectors (plus ``extra_words``) as gensim KeyedVectors on the driver.

    Bounded by ``max_vocab`` x vector_size floats, whatever the corpus size.
    """
    from gensim.models import KeyedVectors

    top = vectors.orderBy(F.desc("count"), F.asc("word")).limit(max_vocab)
    if extra_words:
        top = top.unionByName(vectors.where(F.col("word").isin(extra_words))).dropDuplicates(["word"])
    table = to_arrow(top.orderBy(F.desc("count"), F.asc("word")).select("word", "vector"))
    words = table.column("word").to_pylist()
    matrix = to_matrix(table.column("vector")) if words else np.empty((0, 0), np.float32)
    kv = KeyedVectors(vector_size=matrix.shape[1], count=0)
    if words:
        kv.add_vectors(words, matrix)
    return kv


def benchmarks(kv, with_analogies: bool = True) -> dict[str, float]:
    """Spearman correlation on WS-353 and SimLex-999, accuracy on the Google analogies (unless not
    ``with_analogies``: most of the time on a large vocabulary), each with ``<name>_oov_pct`` (the share of its pairs
    or questions out of the vocabulary, in percent).

    A score over less than ``MIN_COVERAGE`` of its benchmark is NaN (not measured): on a few words the correlation
    is noise, and a report must not show it as a gain.
    """
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.WARNING)
    out: dict[str, float] = {}
    for name, file in (("ws353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        try:
            _, spearman, oov = kv.evaluate_word_pairs(datapath(file)) if len(kv) >= 3 else (None, None, 100.0)
        except ValueError:  # gensim's way of saying every pair is out of vocabulary
            _, spearman, oov = None, None, 100.0
        out[name] = float(spearman.statistic) if spearman is not None else math.nan
        out[f"{name}_oov_pct"] = float(oov)
    if with_analogies:
        out["analogy"], out["analogy_oov_pct"] = analogies(kv, datapath("questions-words.txt"))
    for name in [n for n in ("ws353", "simlex999", "analogy") if f"{n}_oov_pct" in out]:
        if 100.0 - out[f"{name}_oov_pct"] < 100.0 * MIN_COVERAGE:
            out[name] = math.nan
    return out


#: Scores held at once while answering analogies (float32): 128 MB, 512 questions over 65,000 words.
ANALOGY_SCORES = 2**25


def analogies(kv, path: str, min_coverage: float = MIN_COVERAGE) -> tuple[float, float]:
    """Accuracy on the analogy questions at ``path`` and the share of them out of the vocabulary (percent), as
    gensim's ``evaluate_word_analogies`` scores them (3CosAdd over the whole vocabulary, words compared in upper
    case, the question's own words never the answer), but in blocks of questions, one matrix product a block.

    The accuracy is NaN, and nothing is scored, when under ``min_coverage`` of the questions are in the vocabulary
    (the benches score any coverage, as gensim does, with ``min_coverage=0``).
    """
    # As gensim: a word in upper case stands for its most frequent spelling (the vocabulary is most frequent first).
    index = {word.upper(): i for i, word in reversed(list(enumerate(kv.index_to_key)))}
    spelling = np.array([index[word.upper()] for word in kv.index_to_key], np.int64)
    questions, total = [], 0
    with open(path, encoding="utf-8") as file:
        for line in file:
            words = line.upper().split()
            if line.startswith(":") or len(words) != 4:
                continue
            total += 1
            if all(w in index for w in words):
                questions.append([index[w] for w in words])
    oov_pct = 100.0 * (1 - len(questions) / total) if total else 100.0
    if not questions or len(questions) < min_coverage * total or len(kv) < 4:
        return math.nan, oov_pct
    asked = np.array(questions, np.int64)
    normed = kv.get_normed_vectors()
    other = np.flatnonzero(spelling != np.arange(len(spelling)))  # the words that are another's other spelling
    other_of = spelling[other]  # the word each of those spells
    block, correct = max(1, min(512, ANALOGY_SCORES // len(kv))), 0
    for start in range(0, len(asked), block):
        a, b, c, expected = asked[start : start + block].T
        scores = (normed[b] + normed[c] - normed[a]) @ normed.T
        # Neither the question's words nor another spelling of them can be its answer.
        rows = np.arange(len(a))
        for word in (a, b, c):
            scores[rows, word] = -np.inf
            hit, col = np.nonzero(other_of[None, :] == word[:, None])
            scores[hit, other[col]] = -np.inf
        best = spelling[np.argmax(scores, axis=1)]
        correct += int(np.count_nonzero(best == expected))
    return correct / len(asked), oov_pct


def _rank_of(kv, normed: np.ndarray, word: str, mates: tuple[str, ...]) -> dict[str, int]:
    """Rank of each mate among ``word``'s neighbours over the whole collected vocabulary (1 = nearest); ``normed``
    is ``kv.get_normed_vectors()``, computed once per evaluation (it is a new V x D array at every call)."""
    scores = normed @ normed[kv.key_to_index[word]]
    scores[kv.key_to_index[word]] = -np.inf
    return {m: int(np.count_nonzero(scores > scores[kv.key_to_index[m]])) + 1 for m in mates}


def group_closeness(kv, groups: list[Group], top: int = TOP) -> Evaluation:
    """Per member, the ranks of its group-mates; summary metrics over all members. See the module docstring."""
    ranks: list[int] = []
    members_scored = 0
    members_all_in_top = 0
    hub_members, hub_first = 0, 0
    missing: list[str] = []
    details = []
    normed = kv.get_normed_vectors() if len(kv) else np.empty((0, 0), np.float32)
    for group in groups:
        absent = [w for w in group.words if w not in kv.key_to_index]
        missing += absent
        entry: dict[str, Any] = {
            "line": group.line,
            "hub": group.hub,
            "members": list(group.members),
            "missing": absent,
            "ranks": {},
        }
        for member in group.members if group.hub else group.words:
            mates = tuple(m for m in group.mates(member) if m in kv.key_to_index)
            if member not in kv.key_to_index or not mates:
                continue
            member_ranks = _rank_of(kv, normed, member, mates)
            entry["ranks"][member] = member_ranks
            ranks += member_ranks.values()
            members_scored += 1
            members_all_in_top += all(r <= top for r in member_ranks.values())
            if group.hub:
                hub_members += 1
                hub_first += member_ranks[group.hub] == 1
        if group.hub and group.hub in kv.key_to_index:
            mates = tuple(m for m in group.members if m in kv.key_to_index)
            if mates:
                entry["hub_ranks"] = _rank_of(kv, normed, group.hub, mates)
        details.append(entry)
    metrics = {
        "group_members_scored": float(members_scored),
        "group_share_top10": members_all_in_top / members_scored if members_scored else math.nan,
        "group_hub_first": hub_first / hub_members if hub_members else math.nan,
        "group_median_rank": float(np.median(ranks)) if ranks else math.nan,
        "group_words_missing": float(len(missing)),
    }
    return Evaluation(metrics=metrics, groups=details)


def repel_distance(kv, repels: list[Repel]) -> Evaluation:
    """Per repel line, each (left, right) pair's ranks both ways and cosine; summary metrics over all pairs (see
    the module docstring)."""
    normed = kv.get_normed_vectors() if len(kv) else np.empty((0, 0), np.float32)
    inside, cosines, details = 0, [], []
    for rep in repels:
        entry: dict[str, Any] = {"line": rep.line, "left": list(rep.left), "right": list(rep.right), "pairs": []}
        entry["missing"] = [w for w in rep.words if w not in kv.key_to_index]
        for a, b in rep.pairs():
            if a in entry["missing"] or b in entry["missing"]:
                continue
            rank, back = _rank_of(kv, normed, a, (b,))[b], _rank_of(kv, normed, b, (a,))[a]
            cosine = float(normed[kv.key_to_index[a]] @ normed[kv.key_to_index[b]])
            entry["pairs"].append({"words": [a, b], "rank": rank, "rank_back": back, "cosine": round(cosine, 4)})
            inside += min(rank, back) <= TOP
            cosines.append(cosine)
        details.append(entry)
    metrics = {
        "repel_pairs_scored": float(len(cosines)),
        "repel_share_in_top10": inside / len(cosines) if cosines else math.nan,
        "repel_mean_cosine": float(np.mean(cosines)) if cosines else math.nan,
    }
    return Evaluation(metrics=metrics, repels=details)


def pair_scores(kv, pairs, name: str, ranked: int = RANKED_PAIRS) -> dict[str, float]:
    """Over the word pairs whose two words are among the evaluated words: ``<name>_pairs_scored``,
    ``<name>_mean_cosine`` (over all of them), and ``<name>_share_in_top10`` (one word within the other's top 10),
    over at most ``ranked`` pairs drawn with a fixed seed (``<name>_pairs_ranked``).

    One top-10 search per ranked word (faiss's fused kernel), not a scan per pair; the draw bounds its cost.
    """
    index = kv.key_to_index
    rows = np.array(sorted((index[a], index[b]) for a, b in pairs if a in index and b in index), np.int64)
    if not len(rows):
        return {f"{name}_pairs_scored": 0.0}
    normed = kv.get_normed_vectors()
    cosines = np.einsum("ij,ij->i", normed[rows[:, 0]], normed[rows[:, 1]])
    chosen = np.sort(np.random.default_rng(0).choice(len(rows), min(ranked, len(rows)), replace=False))
    words = np.unique(rows[chosen])
    # A pair is inside the top 10 when its cosine reaches the word's 10th nearest (rank = words above it + 1).
    cut = (
        exact_top_k(normed[words], words, normed, TOP)[1][:, TOP - 1] if len(kv) > TOP else np.full(len(words), -np.inf)
    )
    where, sample = np.searchsorted(words, rows[chosen]), cosines[chosen]
    inside = (sample >= cut[where[:, 0]]) | (sample >= cut[where[:, 1]])
    return {
        f"{name}_pairs_scored": float(len(rows)),
        f"{name}_pairs_ranked": float(len(chosen)),
        f"{name}_share_in_top10": float(inside.mean()),
        f"{name}_mean_cosine": float(cosines.mean()),
    }


def evaluate(vectors: DataFrame, constraints: Constraints, max_vocab: int) -> Evaluation:
    """Benchmarks, group closeness, repel distance and the lexicon's pair scores of a ``word, vector, count`` table."""
    groups, repels, lexicon = constraints.groups, constraints.repels, constraints.lexicon
    kv = collect_vectors(vectors, max_vocab, constrained_words(groups, repels))
    closeness = group_closeness(kv, groups)
    distance = repel_distance(kv, repels) if repels else Evaluation()
    metrics = {**benchmarks(kv), **closeness.metrics, "evaluated_words": float(len(kv)), **distance.metrics}
    for kind in ("attract", "repel") if lexicon else ():
        metrics.update(pair_scores(kv, getattr(lexicon, kind), f"lexicon_{kind}"))
    return Evaluation(metrics=metrics, groups=closeness.groups, repels=distance.repels, vectors=kv)

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
from swapvec.groups import Group, Repel, constrained_words
from swapvec.lexicon import Constraints
from swapvec.similarity.kernels import exact_top_k
from swapvec.stats import Stats

TOP = 10
#: A lexicon's pairs ranked at most (a seeded draw beyond): ranking costs the ranked words times the vocabulary.
RANKED_PAIRS = 10_000
#: A benchmark score needs at least this share of its pairs (questions) in the vocabulary to be reported.
MIN_COVERAGE = 0.5


@dataclass
class Evaluation:
    """Metrics (flat, numeric: for ``runs.metrics``) and per-group details (for ``runs.details``)."""

    metrics: dict[str, float] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)
    repels: list[dict[str, Any]] = field(default_factory=list)

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
    table = top.orderBy(F.desc("count"), F.asc("word")).select("word", "vector").toArrow()
    words = table.column("word").to_pylist()
    matrix = to_matrix(table.column("vector")) if words else np.empty((0, 0), np.float32)
    kv = KeyedVectors(vector_size=matrix.shape[1], count=0)
    if words:
        kv.add_vectors(words, matrix)
    return kv


def benchmarks(kv) -> dict[str, float]:
    """Spearman correlation on WS-353 and SimLex-999, accuracy on the Google analogies, each with ``<name>_oov_pct``
    (the share of its pairs or questions out of the vocabulary, in percent).

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
    questions = datapath("questions-words.txt")
    with open(questions, encoding="utf-8") as file:
        total = sum(1 for line in file if line.strip() and not line.startswith(":"))
    try:
        score, sections = kv.evaluate_word_analogies(questions, restrict_vocab=len(kv)) if len(kv) >= 3 else (0, [])
        answered = sum(len(s["correct"]) + len(s["incorrect"]) for s in sections if s["section"] == "Total accuracy")
    except (ValueError, ZeroDivisionError):
        score, answered = math.nan, 0
    out["analogy"] = float(score) if answered else math.nan
    out["analogy_oov_pct"] = 100.0 * (1 - answered / total)
    for name in ("ws353", "simlex999", "analogy"):
        if 100.0 - out[f"{name}_oov_pct"] < 100.0 * MIN_COVERAGE:
            out[name] = math.nan
    return out


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
    return Evaluation(metrics=metrics, groups=closeness.groups, repels=distance.repels)


#: The scores a person reads, in order: label, metric, format, which way is better, and the metric of the share of
#: the benchmark out of the vocabulary (None for the group scores).
SCORES = (
    ("members with all group-mates in top 10", "group_share_top10", "{:.3f}", "higher", None),
    ("hub members whose nearest word is the hub", "group_hub_first", "{:.3f}", "higher", None),
    ("median rank of a group-mate", "group_median_rank", "{:.1f}", "lower", None),
    ("repelled pairs inside each other's top 10", "repel_share_in_top10", "{:.3f}", "lower", None),
    ("mean cosine of repelled pairs", "repel_mean_cosine", "{:.3f}", "lower", None),
    ("lexicon: attract pairs within top 10", "lexicon_attract_share_in_top10", "{:.3f}", "higher", None),
    ("lexicon: attract pairs' mean cosine", "lexicon_attract_mean_cosine", "{:.3f}", "higher", None),
    ("lexicon: repel pairs within top 10", "lexicon_repel_share_in_top10", "{:.3f}", "lower", None),
    ("lexicon: repel pairs' mean cosine", "lexicon_repel_mean_cosine", "{:.3f}", "lower", None),
    ("WS-353 (Spearman)", "ws353", "{:.3f}", "higher", "ws353_oov_pct"),
    ("SimLex-999 (Spearman)", "simlex999", "{:.3f}", "higher", "simlex999_oov_pct"),
    ("Google analogies (accuracy)", "analogy", "{:.3f}", "higher", "analogy_oov_pct"),
)


def scores(*evaluations: Evaluation | None) -> list[tuple[str, str, str, str, str | None]]:
    """The :data:`SCORES` rows that one of ``evaluations`` measured (the repel rows only where there are repel
    lines)."""
    return [row for row in SCORES if any(e is not None and row[1] in e.metrics for e in evaluations)]


def format_score(value: float | None, pattern: str) -> str:
    """A score for people: ``-`` when missing, a whole median rank without decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if pattern == "{:.1f}" and float(value).is_integer():
        return f"{value:.0f}"
    return pattern.format(value)


def score_cell(metrics: dict[str, float], key: str, pattern: str, oov_key: str | None) -> str:
    """A score with the share of its benchmark covered: ``0.512 (83%)``, or ``not measured (4%)`` below
    ``MIN_COVERAGE``; a group score as :func:`format_score` writes it."""
    oov = metrics.get(oov_key) if oov_key else None
    if oov is None:
        return format_score(metrics.get(key), pattern)
    covered = f"({100 - oov:.0f}%)"
    if 100 - oov < 100 * MIN_COVERAGE:
        return f"not measured {covered}"
    return f"{format_score(metrics.get(key), pattern)} {covered}"


def scope(metrics: dict[str, float], max_vocab: int) -> str:
    """Which words the scores range over, as the run saw them."""
    words = int(metrics.get("evaluated_words", 0))
    if words < max_vocab:
        return f"all {words:,} words of the vocabulary"
    return f"the {max_vocab:,} most frequent words (and the group words)"


def group_title(group: Group | dict[str, Any]) -> str:
    """``hub: a b c`` or ``a b c``, of a group or of its entry in ``Evaluation.groups``."""
    hub, members = (group.hub, group.members) if isinstance(group, Group) else (group["hub"], group["members"])
    return f"{hub}: {' '.join(members)}" if hub else " ".join(members)


def summary(result: Evaluation, baseline: Evaluation | None = None) -> str:
    """A readable report: the metrics (before/after when a baseline is given) and each group's ranks."""
    lines = []
    if baseline is not None:
        lines.append(f"{'':42} {'without groups':>20} {'with groups':>20}")
        for label, key, pattern, _, oov in scores(baseline, result):
            before, after = (score_cell(m.metrics, key, pattern, oov) for m in (baseline, result))
            lines.append(f"{label:42} {before:>20} {after:>20}")
    else:
        for label, key, pattern, _, oov in scores(result):
            lines.append(f"{label:42} {score_cell(result.metrics, key, pattern, oov):>20}")
    lines.append(
        f"(n%): the benchmark's pairs or questions in the vocabulary; under {MIN_COVERAGE:.0%} a score is not measured"
    )
    before_ranks = {g["line"]: g for g in baseline.groups} if baseline else {}
    if result.groups:
        lines.append("")
        lines.append("group-mate ranks (member -> mate: rank" + (", was rank)" if baseline else ")"))
        for group in result.groups:
            lines.append(f"  line {group['line']}: {group_title(group)}")
            old = before_ranks.get(group["line"], {}).get("ranks", {})
            for member, mates in group["ranks"].items():
                cells = []
                for mate, rank in mates.items():
                    was = old.get(member, {}).get(mate)
                    cells.append(f"{mate} {rank}" + (f" (was {was})" if was is not None else ""))
                lines.append(f"    {member} -> " + ", ".join(cells))
            if group["missing"]:
                lines.append(f"    not in the vocabulary: {' '.join(group['missing'])}")
    lines += _repel_lines(result, baseline)
    return "\n".join(lines)


def repel_table(result: Evaluation, baseline: Evaluation | None = None) -> tuple[list[str], list[list[str]]]:
    """The repelled pairs as a table (header, rows): line, pair, rank (the nearer of the two ways), cosine, and the
    baseline's rank and cosine when there is one."""
    before = {(r["line"], *p["words"]): p for r in (baseline.repels if baseline else []) for p in r["pairs"]}
    header = ["line", "pair", "rank", "cosine"] + (["rank before", "cosine before"] if baseline else [])
    rows = []
    for rep in result.repels:
        for pair in rep["pairs"]:
            a, b = pair["words"]
            row = [str(rep["line"]), f"{a} != {b}", str(min(pair["rank"], pair["rank_back"])), f"{pair['cosine']:.3f}"]
            if baseline:
                was = before.get((rep["line"], a, b))
                row += [str(min(was["rank"], was["rank_back"])), f"{was['cosine']:.3f}"] if was else ["-", "-"]
            rows.append(row)
    return header, rows


def _repel_lines(result: Evaluation, baseline: Evaluation | None) -> list[str]:
    """The summary's section on repelled pairs: each pair's rank and cosine, and before."""
    if not result.repels:
        return []
    lines = ["", "repelled pairs (left != right: rank, cosine" + (", was)" if baseline else ")")]
    for row in repel_table(result, baseline)[1]:
        was = f" (was rank {row[4]}, cosine {row[5]})" if baseline else ""
        lines.append(f"  line {row[0]}: {row[1]}: rank {row[2]}, cosine {row[3]}{was}")
    for rep in result.repels:
        if rep["missing"]:
            pair = f"{' '.join(rep['left'])} != {' '.join(rep['right'])}"
            lines.append(f"  line {rep['line']}: {pair}: not in the vocabulary: {' '.join(rep['missing'])}")
    return lines

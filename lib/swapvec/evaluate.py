"""Evaluation: standard benchmarks (WS-353, SimLex-999, Google analogies, as gensim ships them) and group closeness.

Group closeness asks, for each group member, where its group-mates rank among its nearest neighbours (rank 1 is
the nearest word). A plain group's members are all its words and their mates are the other words; a hub group's
members are the words after ``:`` and their one mate is the hub. ``group_share_top10`` is the share of members
whose mates are all within their top 10; ``group_median_rank`` is the median rank over every (member, mate) pair.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from swapvec.augment import Group, group_words
from swapvec.stats import Stats

TOP = 10


@dataclass
class Evaluation:
    """Metrics (flat, numeric: for ``runs.metrics``) and per-group details (for ``runs.details``)."""

    metrics: dict[str, float] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)

    def stats(self, baseline: Evaluation | None = None) -> Stats:
        """The evaluate stage's stats: the metrics, the baseline's as ``baseline_<metric>``, the groups' ranks."""
        before = {f"baseline_{k}": v for k, v in baseline.metrics.items()} if baseline is not None else {}
        return Stats(metrics={**self.metrics, **before}, details={"groups": self.groups})


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
    flat = table.column("vector").combine_chunks()
    dim = len(flat[0]) if len(flat) else 0
    kv = KeyedVectors(vector_size=dim, count=0)
    if words:
        kv.add_vectors(words, flat.values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim))
    return kv


def benchmarks(kv) -> dict[str, float]:
    """Spearman correlation on WS-353 and SimLex-999, accuracy on the Google analogies (NaN when out of reach)."""
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.WARNING)
    out: dict[str, float] = {}
    if len(kv) < 3:
        return {"ws353": math.nan, "simlex999": math.nan, "analogy": math.nan}
    for name, file in (("ws353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        try:
            _, spearman, oov = kv.evaluate_word_pairs(datapath(file))
        except ValueError:  # gensim's way of saying every pair is out of vocabulary
            out[name], out[f"{name}_oov_pct"] = math.nan, 100.0
            continue
        out[name] = float(spearman.statistic)
        out[f"{name}_oov_pct"] = float(oov)
    try:
        score, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=len(kv))
        answered = sum(len(s["correct"]) + len(s["incorrect"]) for s in sections if s["section"] == "Total accuracy")
        out["analogy"] = float(score) if answered else math.nan
    except (ValueError, ZeroDivisionError):
        out["analogy"] = math.nan
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
        if group.hub and group.hub in kv.key_to_index:
            mates = tuple(m for m in group.members if m in kv.key_to_index)
            if mates:
                entry["hub_ranks"] = _rank_of(kv, normed, group.hub, mates)
        details.append(entry)
    metrics = {
        "group_members_scored": float(members_scored),
        "group_share_top10": members_all_in_top / members_scored if members_scored else math.nan,
        "group_median_rank": float(np.median(ranks)) if ranks else math.nan,
        "group_words_missing": float(len(missing)),
    }
    return Evaluation(metrics=metrics, groups=details)


def evaluate(vectors: DataFrame, groups: list[Group], max_vocab: int) -> Evaluation:
    """Benchmarks and group closeness of a vectors table (``word, vector, count``)."""
    kv = collect_vectors(vectors, max_vocab, group_words(groups))
    closeness = group_closeness(kv, groups)
    return Evaluation(metrics={**benchmarks(kv), **closeness.metrics}, groups=closeness.groups)


#: The scores a person reads, in order: label, metric, format, and which way is better.
SCORES = (
    ("members with all group-mates in top 10", "group_share_top10", "{:.3f}", "higher"),
    ("median rank of a group-mate", "group_median_rank", "{:.1f}", "lower"),
    ("WS-353 (Spearman)", "ws353", "{:.3f}", "higher"),
    ("SimLex-999 (Spearman)", "simlex999", "{:.3f}", "higher"),
    ("Google analogies (accuracy)", "analogy", "{:.3f}", "higher"),
)


def format_score(value: float | None, pattern: str) -> str:
    """A score for people: ``-`` when missing, a whole median rank without decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if pattern == "{:.1f}" and float(value).is_integer():
        return f"{value:.0f}"
    return pattern.format(value)


def group_title(group: Group | dict[str, Any]) -> str:
    """``hub: a b c`` or ``a b c``, of a group or of its entry in ``Evaluation.groups``."""
    hub, members = (group.hub, group.members) if isinstance(group, Group) else (group["hub"], group["members"])
    return f"{hub}: {' '.join(members)}" if hub else " ".join(members)


def summary(result: Evaluation, baseline: Evaluation | None = None) -> str:
    """A readable report: the metrics (before/after when a baseline is given) and each group's ranks."""
    lines = []
    if baseline is not None:
        lines.append(f"{'':42} {'without groups':>15} {'with groups':>12}")
        for label, key, pattern, _ in SCORES:
            before, after = baseline.metrics.get(key), result.metrics.get(key)
            lines.append(f"{label:42} {format_score(before, pattern):>15} {format_score(after, pattern):>12}")
    else:
        for label, key, pattern, _ in SCORES:
            lines.append(f"{label:42} {format_score(result.metrics.get(key), pattern):>12}")
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
    return "\n".join(lines)

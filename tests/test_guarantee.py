"""The group guarantee: over the whole vocabulary, a hub is each member's nearest word and plain mates are in each
other's top 10, and nothing but the group words that missed it moves."""

from __future__ import annotations

import numpy as np
import pytest

from swapvec.groups import Group
from swapvec.guarantee import CANDIDATES, guarantee, place

HUB = Group(hub="w0", members=("w1", "w2", "w3"), line=1)
PLAIN = Group(members=("w10", "w11", "w12"), line=2)


def _vocabulary(size: int = 3000, dim: int = 50, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Random words, with a hub whose members 1 and 2 are near twins (each other's nearest, not the hub's) and a
    word outside the groups that is member 1's twin: what swapped copies leave on real text, made worse."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(size, dim))
    shared = rng.normal(size=dim)
    matrix[1] = shared + 0.1 * rng.normal(size=dim) + 0.5 * matrix[0]
    matrix[2] = shared + 0.1 * rng.normal(size=dim) + 0.5 * matrix[0]
    matrix[3] = rng.normal(size=dim) + 0.3 * matrix[0]
    matrix[4] = matrix[1] + 0.05 * rng.normal(size=dim)
    return [f"w{i}" for i in range(size)], matrix


def _brute_force(words: list[str], matrix: np.ndarray, groups: list[Group]):
    grouped = {w for g in groups for w in g.words}
    outside = [i for i, w in enumerate(words) if w not in grouped]
    units = matrix[outside] / np.linalg.norm(matrix[outside], axis=1, keepdims=True)

    def nearest_outside(queries: np.ndarray, n: int):
        scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ units.T
        return [
            [(words[outside[j]], float(row[j]), matrix[outside[j]].astype(np.float32)) for j in np.argsort(-row)[:n]]
            for row in scores
        ]

    return nearest_outside


def _ranks(words: list[str], matrix: np.ndarray, groups: list[Group]) -> dict[tuple[str, str], int]:
    """(member, mate) -> the mate's rank among the member's neighbours over every word (1 = nearest)."""
    units = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    out = {}
    for group in groups:
        for member in group.members if group.hub else group.words:
            scores = units @ units[index[member]]
            scores[index[member]] = -np.inf
            for mate in group.mates(member):
                out[member, mate] = int(np.count_nonzero(scores > scores[index[mate]])) + 1
    return out


def _placed(words, matrix, groups):
    trained = {w: matrix[i] for i, w in enumerate(words) if w in {x for g in groups for x in g.words}}
    placement, stats = place(groups, trained, _brute_force(words, matrix, groups))
    after = matrix.copy()
    for word, vector in placement.vectors.items():
        after[words.index(word)] = vector
    return placement, stats, after


def test_twin_members_end_with_the_hub_first_and_plain_mates_in_the_top_10():
    words, matrix = _vocabulary()
    before = _ranks(words, matrix, [HUB, PLAIN])
    assert before["w1", "w0"] > 1 and before["w2", "w0"] > 1 and max(before.values()) > 10
    placement, stats, after = _placed(words, matrix, [HUB, PLAIN])
    ranks = _ranks(words, after, [HUB, PLAIN])
    assert {m: ranks[m, "w0"] for m in HUB.members} == dict.fromkeys(HUB.members, 1)
    assert all(ranks[m, mate] <= 10 for m in PLAIN.words for mate in PLAIN.mates(m))
    assert placement.unmet == [] and stats.metrics["guarantee_groups_met"] == 2.0
    # Only members move; the hub and every word outside the groups keep their vectors and lengths.
    assert set(placement.vectors) == {"w1", "w2", "w3", "w10", "w11", "w12"}
    unmoved = [i for i, w in enumerate(words) if w not in placement.vectors]
    assert np.array_equal(after[unmoved], matrix[unmoved])
    for word, vector in placement.vectors.items():
        assert np.linalg.norm(vector) == pytest.approx(np.linalg.norm(matrix[words.index(word)]))
    # Neither promise held after training; each group says which words moved and how far the farthest went.
    entries = {e["line"]: e for e in stats.details["guarantee"]}
    assert stats.metrics["guarantee_groups_kept_by_training"] == 0.0
    for group in (HUB, PLAIN):
        entry = entries[group.line]
        assert not entry["kept_by_training"] and entry["met"]
        moved = group.members if group.hub else group.words
        assert entry["moved"] == list(moved)
        cosines = [_cosine(after[words.index(w)], matrix[words.index(w)]) for w in moved]
        assert entry["least_cosine"] == pytest.approx(min(cosines), abs=1e-4) and entry["least_cosine"] < 1.0
    least = min(e["least_cosine"] for e in entries.values())
    assert stats.metrics["guarantee_least_cosine"] == pytest.approx(least, abs=1e-4)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_a_group_that_already_holds_is_left_as_trained():
    words, matrix = _vocabulary()
    near = Group(hub="w0", members=("w3",), line=3)
    matrix[3] = matrix[0] + 0.01 * matrix[3]  # already nearest the hub
    placement, stats, after = _placed(words, matrix, [near, PLAIN])
    assert "w3" not in placement.vectors and placement.levels[3] == 0
    assert stats.details["guarantee_levels"]["2"] > 0
    entries = {e["line"]: e for e in stats.details["guarantee"]}
    assert entries[3] == {"line": 3, "kept_by_training": True, "moved": [], "least_cosine": 1.0, "met": True}
    assert not entries[2]["kept_by_training"] and entries[2]["moved"] == ["w10", "w11", "w12"]
    assert stats.metrics["guarantee_groups_kept_by_training"] == 1.0


def test_guarantee_rewrites_only_the_moved_words_of_the_table(spark):
    words, matrix = _vocabulary(size=CANDIDATES * 20, dim=16, seed=1)
    counts = {w: 1000 - i for i, w in enumerate(words)}
    df = spark.createDataFrame(
        [(w, matrix[i].astype(np.float32).tolist(), counts[w]) for i, w in enumerate(words)],
        "word string, vector array<float>, count bigint",
    ).repartition(2)
    out, stats = guarantee(df, [HUB, PLAIN])
    rows = {r.word: r for r in out.collect()}
    assert len(rows) == len(words) and all(rows[w]["count"] == counts[w] for w in words)
    after = np.array([rows[w].vector for w in words], dtype=np.float64)
    ranks = _ranks(words, after, [HUB, PLAIN])
    assert all(ranks[m, "w0"] == 1 for m in HUB.members)
    assert all(ranks[m, mate] <= 10 for m in PLAIN.words for mate in PLAIN.mates(m))
    assert stats.metrics["guarantee_groups_met"] == 2.0
    moved = {w for w in words if not np.array_equal(after[words.index(w)], matrix[words.index(w)].astype(np.float32))}
    assert moved and moved <= set(HUB.members) | set(PLAIN.words)

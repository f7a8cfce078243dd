from __future__ import annotations

import numpy as np
import pytest

from swapvec import similarity as sim
from swapvec.config import SimilarityConfig
from swapvec.errors import BadInput


def _vectors(spark, matrix: np.ndarray):
    rows = [(f"w{i:04d}", [float(x) for x in row]) for i, row in enumerate(matrix)]
    return spark.createDataFrame(rows, "word string, vector array<float>")


def _reference(matrix: np.ndarray, k: int) -> dict[str, list[str]]:
    normed = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = normed @ normed.T
    np.fill_diagonal(scores, -np.inf)
    return {f"w{i:04d}": [f"w{j:04d}" for j in np.argsort(-scores[i], kind="stable")[:k]] for i in range(len(matrix))}


def test_exact_top_k_equals_numpy_across_blocks(spark, monkeypatch):
    monkeypatch.setattr(sim, "KEY_BLOCK_ROWS", 64)  # several key blocks and query groups on a small matrix
    matrix = np.random.default_rng(3).normal(size=(300, 16)).astype(np.float32)
    out = sim.similarities(spark, _vectors(spark, matrix), SimilarityConfig(top_k=5, block_size=32)).collect()
    got: dict[str, list[tuple[int, str, float]]] = {}
    for r in out:
        got.setdefault(r.word, []).append((r.rank, r.neighbor, r.similarity))
    expected = _reference(matrix, 5)
    assert set(got) == set(expected)
    for word, rows in got.items():
        rows.sort()
        assert [n for _, n, _ in rows] == expected[word]
        assert [rank for rank, _, _ in rows] == [1, 2, 3, 4, 5]
        assert all(a >= b for (_, _, a), (_, _, b) in zip(rows, rows[1:], strict=False))
    assert {r.mode for r in out} == {"exact"}


def test_top_k_kernel_breaks_ties_by_row_and_skips_self():
    matrix = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)
    idx, val = sim.top_k(matrix[[0]], np.array([0]), matrix, 2)
    assert idx.tolist() == [[1, 2]] and np.allclose(val, [[1.0, 1.0]])


def test_chosen_query_words_range_over_the_whole_vocabulary(spark, tmp_path):
    matrix = np.random.default_rng(5).normal(size=(50, 8)).astype(np.float32)
    words = tmp_path / "words.txt"
    words.write_text("# a comment\nw0003\nw0010\nnot-a-word\n")
    out = sim.similarities(spark, _vectors(spark, matrix), SimilarityConfig(top_k=3, words=str(words))).collect()
    assert {r.word for r in out} == {"w0003", "w0010"}
    expected = _reference(matrix, 3)
    assert sorted((r.word, r.rank, r.neighbor) for r in out) == sorted(
        (w, i + 1, n) for w in ("w0003", "w0010") for i, n in enumerate(expected[w])
    )


def test_top_k_rules(spark):
    assert sim.neighbours_per_word(SimilarityConfig(), 4) == 3  # default clamps to the vocabulary
    with pytest.raises(BadInput, match="similarity.top_k: 10 must be below the vocabulary size"):
        sim.neighbours_per_word(SimilarityConfig(top_k=10), 4)  # set by the user: refused
    with pytest.raises(BadInput, match="none of the words is in the vocabulary"):
        sim.similarities(spark, _vectors(spark, np.eye(3, dtype=np.float32)), SimilarityConfig(top_k=1, words=["zz"]))


def test_faiss_kernel_agrees_with_numpy_including_ties_at_the_cut():
    rng = np.random.default_rng(11)
    matrix = rng.normal(size=(400, 12)).astype(np.float32)
    matrix[50:56] = matrix[7]  # a run of identical words straddles the top-3 cut of word 7 and of each copy
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    rows = np.arange(400)
    idx, val = sim.exact_top_k(matrix, rows, matrix, 3)
    ref_idx, ref_val = sim.top_k(matrix, rows, matrix, 3)
    assert idx.tolist() == ref_idx.tolist()
    assert np.allclose(val, ref_val, atol=1e-5)
    assert set(idx[7]) <= set(range(50, 56)) and set(idx[50]) <= {7, *range(51, 56)}


def _clustered(n: int, dim: int, centres: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dim))
    matrix = (middle[rng.integers(0, centres, n)] + noise * rng.normal(size=(n, dim))).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def test_approximate_mode_finds_the_exact_neighbours_across_shards(spark, monkeypatch):
    monkeypatch.setattr(sim, "KEY_BLOCK_ROWS", 512)
    monkeypatch.setattr(sim, "MAX_SHARD_ROWS", 1000)  # 2,000 words: two shards, merged per word
    monkeypatch.setattr(sim, "TUNE_SAMPLE", 200)  # more query words than the sample: indexes, checked on 200 words
    matrix = _clustered(2000, 16, 30, 0.3, 8)
    cfg = SimilarityConfig(top_k=5, mode="approximate")
    out = sim.similarities(spark, _vectors(spark, matrix), cfg)
    first = out.collect()
    expected = _reference(matrix, 5)
    got: dict[str, list[tuple[int, str]]] = {}
    for r in first:
        got.setdefault(r.word, []).append((r.rank, r.neighbor))
    assert {r.mode for r in first} == {"approximate"}
    assert set(got) == set(expected)
    assert all(sorted(rows)[i][0] == i + 1 for rows in got.values() for i in range(5))
    hits = sum(len({n for _, n in rows} & set(expected[w])) for w, rows in got.items())
    assert hits / (5 * len(expected)) >= 0.97
    again = sim.similarities(spark, _vectors(spark, matrix), cfg).collect()
    assert sorted(map(tuple, again)) == sorted(map(tuple, first))  # the same index and neighbours every run
    metrics = sim.search_metrics(out)
    assert metrics["similarity_exact_share"] == 0.0
    assert metrics["similarity_sample_recall"] >= 0.95 and metrics["similarity_nprobe"] >= 1


def test_nprobe_is_raised_until_the_sample_reaches_the_target():
    matrix = _clustered(4000, 32, 40, 0.5, 8)
    index = sim.build_index(matrix)
    sample = np.arange(0, 4000, 10)
    truth, _ = sim.exact_in_shard(matrix, matrix[sample], sample, 10)
    narrow, _ = sim.search_index(index, matrix[sample], sample, 10, 1)
    assert _recall(narrow, truth) < 0.9  # the premise: one list is too few here

    nprobe, recall = sim.tune_nprobe(index, matrix, matrix[sample], sample, 10, 1, 0.97)
    assert nprobe is not None and nprobe > 1
    assert recall >= 0.97
    found, _ = sim.search_index(index, matrix[sample], sample, 10, nprobe)
    assert _recall(found, truth) == pytest.approx(recall)
    narrower = round(nprobe / 2**0.5) if nprobe > 2 else 1  # the step before
    half, _ = sim.search_index(index, matrix[sample], sample, 10, narrower)
    assert _recall(half, truth) < 0.97 + 0.01  # the first width that reaches it with its margin, not a wider one

    # Past a quarter of the lists the index is not worth it: no width is returned.
    assert sim.tune_nprobe(index, matrix, matrix[sample], sample, 10, 1, 1.01)[0] is None


def test_an_index_that_misses_the_target_is_replaced_by_exact_search(spark, monkeypatch):
    monkeypatch.setattr(sim, "KEY_BLOCK_ROWS", 512)
    monkeypatch.setattr(sim, "TUNE_SAMPLE", 100)
    matrix = np.random.default_rng(4).normal(size=(1500, 64)).astype(np.float32)  # no clusters for lists to follow
    cfg = SimilarityConfig(top_k=5, mode="approximate", nprobe=1)
    out = sim.similarities(spark, _vectors(spark, matrix), cfg)
    rows = out.collect()
    assert {r.mode for r in rows} == {"exact"}
    got: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        got.setdefault(r.word, []).append((r.rank, r.neighbor))
    assert {w: [n for _, n in sorted(v)] for w, v in got.items()} == _reference(matrix, 5)
    assert sim.search_metrics(out) == {"similarity_exact_share": 1.0, "similarity_sample_recall": 1.0}

    # The same words without a target: the index searched as given, recorded as approximate.
    loose = sim.similarities(spark, _vectors(spark, matrix), cfg.model_copy(update={"recall_target": 0.0}))
    assert sim.search_metrics(loose) == {"similarity_exact_share": 0.0, "similarity_nprobe": 1.0}
    assert {r.mode for r in loose.collect()} == {"approximate"}


def test_few_query_words_in_approximate_mode_are_searched_exactly(spark):
    matrix = np.random.default_rng(9).normal(size=(400, 8)).astype(np.float32)
    cfg = SimilarityConfig(top_k=4, mode="approximate", words=["w0001", "w0399"])
    rows = sim.similarities(spark, _vectors(spark, matrix), cfg).collect()
    expected = _reference(matrix, 4)
    assert {r.mode for r in rows} == {"exact"}
    assert sorted((r.word, r.rank, r.neighbor) for r in rows) == sorted(
        (w, i + 1, n) for w in ("w0001", "w0399") for i, n in enumerate(expected[w])
    )


def test_searching_in_chunks_gives_the_same_neighbours(monkeypatch):
    matrix = _clustered(3000, 32, 40, 0.5, 2)
    index = sim.build_index(matrix)
    rows = np.arange(3000)
    whole = sim.search_index(index, matrix, rows, 10, 8)
    monkeypatch.setattr(sim, "SEARCH_CHUNK_BYTES", 12 * 8 * 77)  # 77 queries at a time
    chunked = sim.search_index(index, matrix, rows, 10, 8)
    assert np.array_equal(whole[0], chunked[0]) and np.array_equal(whole[1], chunked[1])

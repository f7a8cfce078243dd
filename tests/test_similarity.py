from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from swapvec import similarity as sim
from swapvec.config import SimilarityConfig
from swapvec.errors import BadInput
from swapvec.similarity import kernels, nearest, tasks
from swapvec.similarity.nearest import nearest_words

TABLE_TYPES = [
    ("word", "string"),
    ("neighbor", "string"),
    ("rank", "int"),
    ("similarity", "double"),
    ("mode", "string"),
]


def _vectors(spark, matrix: np.ndarray):
    rows = [(f"w{i:04d}", [float(x) for x in row]) for i, row in enumerate(matrix)]
    return spark.createDataFrame(rows, "word string, vector array<float>")


def _reference(matrix: np.ndarray, k: int) -> dict[str, list[str]]:
    """Top-k words by cosine, from a full stable sort: not the word itself, ties to the lower index."""
    normed = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = normed @ normed.T
    np.fill_diagonal(scores, -np.inf)
    return {f"w{i:04d}": [f"w{j:04d}" for j in np.argsort(-scores[i], kind="stable")[:k]] for i in range(len(matrix))}


def _neighbours(rows) -> dict[str, list[str]]:
    """Each word's neighbours in rank order, from collected table rows."""
    got: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        got.setdefault(r.word, []).append((r.rank, r.neighbor))
    return {w: [n for _, n in sorted(v)] for w, v in got.items()}


def _clustered(n: int, dim: int, centres: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dim))
    matrix = (middle[rng.integers(0, centres, n)] + noise * rng.normal(size=(n, dim))).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _recalls(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each query's share of its true neighbours found."""
    return np.array([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])


def test_exact_mode_equals_numpy_across_key_blocks_and_query_groups(spark, monkeypatch):
    monkeypatch.setattr(sim, "KEY_BLOCK_ROWS", 64)  # several key blocks and query groups on a small matrix
    matrix = np.random.default_rng(3).normal(size=(300, 16)).astype(np.float32)
    sims, stats = sim.similarities(spark, _vectors(spark, matrix), SimilarityConfig(top_k=5, block_size=32))
    assert sims.dtypes == TABLE_TYPES and tuple(sims.columns) == sim.TABLE_COLUMNS
    out = sims.collect()
    assert stats.row_counts == {"similarities": 300 * 5} and stats.metrics == {}
    assert _neighbours(out) == _reference(matrix, 5)
    normed = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    for r in out:
        cosine = float(normed[int(r.word[1:])] @ normed[int(r.neighbor[1:])])
        assert r.similarity == pytest.approx(cosine, abs=1e-5)
    assert sorted({r.rank for r in out}) == [1, 2, 3, 4, 5]
    assert {r.mode for r in out} == {"exact"}


def test_every_top_k_path_skips_the_word_itself_and_gives_ties_to_the_lower_row():
    # Word 7 and its six copies (rows 50-55) score 1.0 with each other: more ties than the top 3 can hold, so every
    # path must cut the run at the same, lowest rows, and never return a word as its own neighbour.
    matrix = np.random.default_rng(11).normal(size=(400, 12)).astype(np.float32)
    matrix[50:56] = matrix[7]
    matrix = nearest.unit_rows(matrix)
    rows = np.arange(400)
    index = kernels.build_index(matrix)
    assert index.nlist > 1
    paths = {
        "numpy": nearest.top_k(matrix, rows, matrix, 3),
        "faiss exact": nearest.exact_top_k(matrix, rows, matrix, 3),
        "inverted file, every list": kernels.search_index(index, matrix, rows, 3, index.nlist),
    }
    for name, (idx, val) in paths.items():
        assert idx[[7, 50, 53, 55]].tolist() == [[50, 51, 52], [7, 51, 52], [7, 50, 51], [7, 50, 51]], name
        assert np.allclose(val[[7, 50]], 1.0, atol=1e-6), name
        assert not (idx == rows[:, None]).any(), name
        assert np.array_equal(idx, paths["numpy"][0]), name
        assert np.allclose(val, paths["numpy"][1], atol=1e-5), name

    # Exact search in a shard (rows 40-399): word 7 lies outside it, its copies inside.
    shard = matrix[40:]
    local = np.array([7, 50, 55]), np.array([-1, 10, 15])
    idx, _ = nearest.exact_top_k(matrix[local[0]], local[1], shard, 3)
    assert idx.tolist() == [[10, 11, 12], [11, 12, 13], [10, 11, 12]]
    # A shard of fewer words than k + 2 (computed in numpy), and one of fewer than k + 1: the last places are empty.
    idx, _ = nearest.exact_top_k(matrix[[7, 50, 53]], np.array([-1, 0, 3]), matrix[50:54], 3)
    assert idx.tolist() == [[0, 1, 2], [1, 2, 3], [0, 1, 2]]
    idx, val = nearest.exact_top_k(matrix[[50]], np.array([0]), matrix[50:53], 3)
    assert idx.tolist() == [[1, 2, -1]] and val[0, 2] == -np.inf


def test_numpy_search_over_blocks_of_rows_gives_ties_across_blocks_to_the_lower_row(monkeypatch):
    # Entries of +-0.5 in 16 dimensions: every row has length 2 and every cosine is exact, whatever the order a BLAS
    # sums in, so the many equal cosines are true ties (a GEMM may round equal rows apart by their place).
    rng = np.random.default_rng(12)
    raw = rng.choice([-0.5, 0.5], size=(300, 16)).astype(np.float32)
    raw[:, :12] = raw[0, :12]  # 16 distinct rows, about 19 copies of each
    units = nearest.unit_rows(raw)
    rows = np.arange(len(raw))
    scores = units @ units.T
    np.fill_diagonal(scores, -np.inf)
    reference = np.argsort(-scores, axis=1, kind="stable")[:, :25]
    monkeypatch.setattr(nearest, "BLOCK_ROWS", 37)
    idx, val = nearest.top_k(units, rows, units, 25)
    assert np.array_equal(idx, reference)
    assert np.array_equal(val, np.take_along_axis(scores, reference, axis=1))
    # Rows of other lengths, with their lengths given: the same neighbours.
    lengths = rng.choice([0.25, 1.0, 4.0], size=(300, 1)).astype(np.float32)
    found, _ = nearest.top_k(units, rows, raw * lengths, 25, norms=np.linalg.norm(raw * lengths, axis=1))
    assert np.array_equal(found, reference)


def test_nearest_words_over_a_table_is_the_numpy_search_in_word_order(spark):
    rng = np.random.default_rng(13)
    words = [f"v{(i * 37) % 400:03d}" for i in range(400)]  # rows not in word order
    matrix = rng.normal(size=(400, 16)).astype(np.float32)
    matrix[5] = rng.choice([-0.5, 0.5], size=16)  # length 2: its cosines with its twins are exactly 1
    twins = [i for i, w in enumerate(words) if w in ("v010", "v205", "v333", "v390")]
    matrix[twins] = matrix[5] * np.array([[1.0], [2.0], [0.5], [4.0]], np.float32)
    df = spark.createDataFrame(
        [(w, matrix[i].tolist()) for i, w in enumerate(words)], "word string, vector array<float>"
    ).repartition(3)
    queries = matrix[[5, 17, 250]].astype(np.float64) * 2.0
    found = nearest_words(df, queries, 4)
    order = np.argsort(words)  # the rule's rows are the table's words in word order
    units = nearest.unit_rows(queries)
    idx, val = nearest.top_k(units, np.full(3, -1), matrix[order], 4, norms=np.linalg.norm(matrix[order], axis=1))
    assert [[w for w, _, _ in q] for q in found] == [[words[order[j]] for j in row] for row in idx]
    assert [w for w, _, _ in found[0]] == [
        "v010",
        "v185",
        "v205",
        "v333",
    ]  # row 5 (v185) and its twins: smaller words first
    assert np.allclose([[c for _, c, _ in q] for q in found], val, atol=1e-6)
    assert np.array_equal(found[1][0][2], matrix[17]) and found[1][0][1] == pytest.approx(1.0, abs=1e-6)
    assert [len(q) for q in nearest_words(df.limit(2), queries, 4)] == [2, 2, 2]


def test_chosen_query_words_range_over_the_whole_vocabulary(spark, tmp_path):
    matrix = np.random.default_rng(5).normal(size=(50, 8)).astype(np.float32)
    words = tmp_path / "words.txt"
    words.write_text("# a comment\nw0003\nw0010  # trailing comment\n\nnot-a-word\n")
    sims, stats = sim.similarities(spark, _vectors(spark, matrix), SimilarityConfig(top_k=3, words=str(words)))
    out = sims.collect()
    expected = _reference(matrix, 3)
    assert _neighbours(out) == {w: expected[w] for w in ("w0003", "w0010")}
    assert stats.row_counts == {"similarities": 6}
    words.write_text('"motion  picture"\nnew york # spaced\nw0003\n')
    assert sim.query_words(SimilarityConfig(words=str(words)), "+") == ["motion+picture", "new+york", "w0003"]
    assert sim.query_words(SimilarityConfig(words=["a b", "", "c"])) == ["a_b", "c"]


def test_a_default_top_k_is_clamped_to_the_vocabulary_and_a_chosen_one_is_refused():
    assert sim.neighbours_per_word(SimilarityConfig(), 4) == 3
    assert sim.neighbours_per_word(SimilarityConfig(top_k=3), 4) == 3
    with pytest.raises(BadInput, match="similarity.top_k: 10 must be below the vocabulary size"):
        sim.neighbours_per_word(SimilarityConfig(top_k=10), 4)
    with pytest.raises(BadInput, match="the vocabulary has 1 word"):
        sim.neighbours_per_word(SimilarityConfig(), 1)


def test_query_words_none_of_which_is_in_the_vocabulary_are_refused(spark):
    vectors = _vectors(spark, np.eye(3, dtype=np.float32))
    with pytest.raises(BadInput, match="none of the words is in the vocabulary"):
        sim.similarities(spark, vectors, SimilarityConfig(top_k=1, words=["zz"]))
    with pytest.raises(BadInput, match="file not found"):
        sim.similarities(spark, vectors, SimilarityConfig(top_k=1, words="/nonexistent/words.txt"))


class _Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_approximate_mode_finds_the_exact_neighbours_across_shards_and_reports_how(spark, monkeypatch):
    monkeypatch.setattr(sim, "KEY_BLOCK_ROWS", 512)
    monkeypatch.setattr(sim, "MAX_SHARD_ROWS", 1000)  # 2,000 words: two shards, merged per word
    monkeypatch.setattr(tasks, "TUNE_SAMPLE", 200)  # more query words than the sample: indexes, checked on 200 words
    matrix = _clustered(2000, 16, 30, 0.3, 8)
    cfg = SimilarityConfig(top_k=5, mode="approximate")
    events, logger = _Events(), logging.getLogger("swapvec.similarity")
    logger.addHandler(events)
    logger.setLevel(logging.INFO)
    try:
        sims, stats = sim.similarities(spark, _vectors(spark, matrix), cfg)
    finally:
        logger.removeHandler(events)
        logger.setLevel(logging.NOTSET)
    assert sims.dtypes == TABLE_TYPES
    first = sims.collect()
    expected = _reference(matrix, 5)
    got = _neighbours(first)
    assert {r.mode for r in first} == {"approximate"}
    assert set(got) == set(expected) and all(len(v) == 5 for v in got.values())
    assert sorted({r.rank for r in first}) == [1, 2, 3, 4, 5]
    hits = sum(len(set(got[w]) & set(expected[w])) for w in expected)
    assert hits / (5 * len(expected)) >= 0.97
    assert stats.row_counts == {"similarities": 2000 * 5}
    assert stats.metrics["similarity_exact_share"] == 0.0
    assert stats.metrics["similarity_sample_recall"] >= 0.95 and stats.metrics["similarity_nprobe"] >= 1
    assert [r.fields for r in events.records if r.getMessage() == "similarity.searched"] == [stats.metrics]
    again, _ = sim.similarities(spark, _vectors(spark, matrix), cfg)
    assert sorted(map(tuple, again.collect())) == sorted(map(tuple, first))  # the same index and neighbours every run


def test_nprobe_widths_grow_by_about_1_41x_and_end_at_the_widest():
    assert list(kernels.nprobe_widths(1, 12)) == [1, 2, 3, 4, 5, 6, 8, 11, 12]
    assert list(kernels.nprobe_widths(8, 40)) == [8, 11, 16, 23, 32, 40]
    assert list(kernels.nprobe_widths(50, 40)) == [40]


def test_tune_nprobe_returns_the_first_width_whose_recall_clears_the_target_by_two_standard_errors():
    matrix = _clustered(4000, 32, 40, 0.5, 8)
    index = kernels.build_index(matrix)
    sample = np.arange(0, 4000, 10)
    truth, _ = nearest.exact_top_k(matrix[sample], sample, matrix, 10)

    def recall_and_lower_bound(nprobe: int) -> tuple[float, float]:
        found, _ = kernels.search_index(index, matrix[sample], sample, 10, nprobe)
        each = _recalls(found, truth)
        return float(each.mean()), float(each.mean() - 2 * each.std(ddof=1) / math.sqrt(len(each)))

    target = 0.975
    nprobe, recall = kernels.tune_nprobe(index, matrix, matrix[sample], sample, 10, 1, target)
    widths = list(kernels.nprobe_widths(1, math.floor(kernels.MAX_SCAN_SHARE * index.nlist)))
    assert nprobe in widths[1:]  # one list is not enough here
    assert recall == pytest.approx(recall_and_lower_bound(nprobe)[0])
    assert recall_and_lower_bound(nprobe)[1] >= target
    earlier = [recall_and_lower_bound(w) for w in widths[: widths.index(nprobe)]]
    assert all(bound < target for _, bound in earlier)  # no narrower width of the ladder clears it
    assert any(mean >= target for mean, _ in earlier)  # one narrower width's plain recall did: the margin decided


def test_tune_nprobe_gives_up_on_an_index_that_needs_more_than_a_quarter_of_its_lists():
    matrix = nearest.unit_rows(np.random.default_rng(4).normal(size=(4000, 32)))  # no clusters for lists to follow
    index = kernels.build_index(matrix)
    sample = np.arange(0, 4000, 10)
    quarter = math.floor(kernels.MAX_SCAN_SHARE * index.nlist)
    wide, _ = kernels.tune_nprobe(index, matrix, matrix[sample], sample, 10, 1, 0.95, max_scan_share=1.0)
    assert wide is not None and wide > quarter  # the premise: the target is reachable, past a quarter of the lists

    nprobe, recall = kernels.tune_nprobe(index, matrix, matrix[sample], sample, 10, 1, 0.95)
    truth, _ = nearest.exact_top_k(matrix[sample], sample, matrix, 10)
    at_quarter, _ = kernels.search_index(index, matrix[sample], sample, 10, quarter)
    assert nprobe is None and recall == pytest.approx(_recalls(at_quarter, truth).mean())


def test_an_index_that_misses_the_target_is_replaced_by_exact_search(spark, monkeypatch):
    monkeypatch.setattr(sim, "KEY_BLOCK_ROWS", 512)
    monkeypatch.setattr(tasks, "TUNE_SAMPLE", 100)
    matrix = np.random.default_rng(4).normal(size=(1500, 64)).astype(np.float32)  # no clusters for lists to follow
    cfg = SimilarityConfig(top_k=5, mode="approximate", nprobe=1)
    sims, stats = sim.similarities(spark, _vectors(spark, matrix), cfg)
    rows = sims.collect()
    assert {r.mode for r in rows} == {"exact"}
    assert _neighbours(rows) == _reference(matrix, 5)
    assert stats.metrics == {"similarity_exact_share": 1.0, "similarity_sample_recall": 1.0}

    # The same words without a target: the index searched as given, recorded as approximate.
    loose, stats = sim.similarities(spark, _vectors(spark, matrix), cfg.replaced(recall_target=0.0))
    assert stats.metrics == {"similarity_exact_share": 0.0, "similarity_nprobe": 1.0}
    assert {r.mode for r in loose.collect()} == {"approximate"}


def test_few_query_words_in_approximate_mode_are_searched_exactly(spark):
    matrix = np.random.default_rng(9).normal(size=(400, 8)).astype(np.float32)
    cfg = SimilarityConfig(top_k=4, mode="approximate", words=["w0001", "w0399"])
    sims, stats = sim.similarities(spark, _vectors(spark, matrix), cfg)
    rows = sims.collect()
    expected = _reference(matrix, 4)
    assert {r.mode for r in rows} == {"exact"}
    assert _neighbours(rows) == {w: expected[w] for w in ("w0001", "w0399")}
    assert stats.metrics == {"similarity_exact_share": 1.0, "similarity_sample_recall": 1.0}


def test_searching_in_chunks_gives_the_same_neighbours(monkeypatch):
    matrix = _clustered(3000, 32, 40, 0.5, 2)
    index = kernels.build_index(matrix)
    rows = np.arange(3000)
    whole = kernels.search_index(index, matrix, rows, 10, 8)
    monkeypatch.setattr(kernels, "SEARCH_CHUNK_BYTES", 12 * 8 * 77)  # 77 queries at a time
    chunked = kernels.search_index(index, matrix, rows, 10, 8)
    assert np.array_equal(whole[0], chunked[0]) and np.array_equal(whole[1], chunked[1])

from __future__ import annotations

import numpy as np

from swapvec.groups import Group
from swapvec.retrofit import retrofit, retrofit_matrix


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_one_pass_is_faruqui_update_and_lengths_are_kept():
    trained = np.array([[3, 0, 0], [0, 2, 0], [0, 0, 1], [1, 1, 1]], dtype=np.float32)
    mates = [[1, 2], [0, 2], [0, 1], []]  # a plain group of three and a word outside it
    out = retrofit_matrix(trained, mates, iterations=1, weight=1.0)
    unit = trained / np.linalg.norm(trained, axis=1, keepdims=True)
    # q0 = (q̂0 + (q̂1 + q̂2) / 2) / 2, on unit vectors, then back to length 3
    expected = (unit[0] + (unit[1] + unit[2]) / 2) / 2
    assert np.allclose(out[0], expected / np.linalg.norm(expected) * 3, atol=1e-6)
    assert np.allclose(np.linalg.norm(out, axis=1), np.linalg.norm(trained, axis=1), atol=1e-5)
    assert np.array_equal(out[3], trained[3])


def test_fixed_point_of_a_pair_and_a_stronger_pull():
    pair = np.eye(2, dtype=np.float32)
    assert abs(_cos(*retrofit_matrix(pair, [[1], [0]], iterations=100)) - 0.8) < 1e-4
    harder = retrofit_matrix(pair, [[1], [0]], iterations=100, weight=4.0)
    assert _cos(*harder) > 0.95


def test_retrofit_moves_only_group_words_toward_their_mates(spark):
    rng = np.random.default_rng(2)
    words = ["hub", "a", "b", "x", "y", "other"]
    matrix = rng.normal(size=(len(words), 8)).astype(np.float32)
    vectors = spark.createDataFrame(
        [(w, [float(v) for v in matrix[i]], 10 + i) for i, w in enumerate(words)],
        "word string, vector array<float>, count bigint",
    )
    groups = [Group(members=("a", "b", "absent"), hub="hub", line=1), Group(members=("x", "y"), line=2)]
    out = {r.word: (np.array(r.vector, dtype=np.float32), r["count"]) for r in retrofit(vectors, groups).collect()}
    assert out.keys() == set(words)
    assert np.array_equal(out["other"][0], matrix[5]) and out["other"][1] == 15
    before = {w: matrix[i] for i, w in enumerate(words)}
    # a member's mate is the hub (not the other member); the hub's mates are its members
    assert _cos(out["a"][0], out["hub"][0]) > _cos(before["a"], before["hub"])
    c = _cos(before["x"], before["y"])
    # the pair's fixed point, x = (2 x̂ + ŷ) / 3 and y = (2 ŷ + x̂) / 3, reached within 10 passes
    assert abs(_cos(out["x"][0], out["y"][0]) - (4 + 5 * c) / (5 + 4 * c)) < 5e-3
    assert retrofit(vectors, groups).schema == vectors.schema

"""Repel lines and specialisation (Attract-Repel): the file's syntax, the numpy core, the stage in a run."""

from __future__ import annotations

import re

import numpy as np
import pytest

from swapvec.config import TokenizeConfig, load_config
from swapvec.errors import BadInput
from swapvec.groups import Group, Repel, check_groups_file, load_constraints, parse_file
from swapvec.pipeline import execute
from swapvec.specialize import SpecializeParams, attract_pairs, repel_pairs, specialize, specialize_matrix
from tests.conftest import SEED_GROUPS, SEED_LINES


def test_repel_lines_are_parsed_beside_groups():
    parsed = parse_file("a b\ncheap != expensive costly  # antonyms\nhub: c d\nx y != z\n")
    assert parsed.groups == [(1, None, ["a", "b"]), (3, "hub", ["c", "d"])]
    assert parsed.repels == [(2, ["cheap"], ["expensive", "costly"]), (4, ["x", "y"], ["z"])]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cheap !=\n", "groups:1: a repel line needs words on both sides of '!='"),
        ("!= cheap\n", "groups:1: a repel line needs words on both sides"),
        ("a != b != c\n", "groups:1: a repel line is 'word word != word word'"),
        ("a b\nhub: a != b\n", "groups:2: a repel line is 'word word != word word' \\(one '!=', no ':'\\)"),
    ],
)
def test_malformed_repel_lines_are_refused_with_the_line(text, message):
    with pytest.raises(BadInput, match=message):
        parse_file(text)


def test_repel_words_are_checked_against_the_groups(spark, tmp_path):
    file = tmp_path / "g.txt"
    file.write_text("Cheap != Expensive COSTLY\ncheap != pricey\nentertainment: movies films\n")
    groups, repels = load_constraints(spark, str(file), TokenizeConfig())
    assert groups == [Group(members=("movies", "films"), hub="entertainment", line=3)]
    assert repels == [Repel(("cheap",), ("expensive", "costly"), line=1), Repel(("cheap",), ("pricey",), line=2)]
    file.write_text("cheap != cheap\n")
    with pytest.raises(BadInput, match="g.txt:1: 'cheap' is on both sides of '!='"):
        load_constraints(spark, str(file), TokenizeConfig())
    file.write_text("entertainment: movies films\nmovies != entertainment\n")
    with pytest.raises(BadInput, match="g.txt:2: 'movies' and 'entertainment' are in one group \\(line 1\\)"):
        load_constraints(spark, str(file), TokenizeConfig())


def test_a_repel_line_with_a_method_that_cannot_use_it_is_refused_before_spark(tmp_path):
    file = tmp_path / "g.txt"
    file.write_text("movies films\ncheap != expensive\n")
    for method in ("swap", "retrofit", "both"):
        with pytest.raises(BadInput, match=f"g.txt:2: a repel line \\('!='\\) needs augment.method specialize or "
                           f"swap\\+specialize, not {method}"):  # fmt: skip
            check_groups_file(str(file), TokenizeConfig(), method)
    for method in ("specialize", "swap+specialize"):
        check_groups_file(str(file), TokenizeConfig(), method)
    file.write_text("cheap != expensive\n")  # repel lines alone are a groups file too
    check_groups_file(str(file), TokenizeConfig(), "specialize")


def test_pairs_of_plain_and_hub_groups_and_of_repel_lines():
    index = {w: i for i, w in enumerate(["hub", "a", "b", "x", "y", "z"])}
    groups = [Group(members=("a", "b"), hub="hub"), Group(members=("x", "y", "z"))]
    # a hub pairs with each member (members not with each other); a plain group's words all pair
    assert attract_pairs(groups, index).tolist() == [[0, 1], [0, 2], [3, 4], [3, 5], [4, 5]]
    assert repel_pairs([Repel(("a", "absent"), ("x", "y"))], index).tolist() == [[1, 3], [1, 4]]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _rank(matrix: np.ndarray, i: int, j: int) -> int:
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = unit @ unit[i]
    scores[i] = -np.inf
    return int(np.count_nonzero(scores > scores[j])) + 1


@pytest.fixture
def planted():
    """300 random words in 50 dimensions: rows 0-9 near copies of 10-19 (to repel), 20-29 unrelated to 30-39 (to
    attract); rows 40 on are the rest of the vocabulary."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(300, 50)).astype(np.float32)
    matrix[10:20] = matrix[0:10] + 0.1 * rng.normal(size=(10, 50))
    attract = np.array([[20 + i, 30 + i] for i in range(10)])
    repel = np.array([[i, 10 + i] for i in range(10)])
    return matrix, attract, repel


def test_repelled_pairs_leave_each_others_neighbourhood_and_attracted_pairs_enter_it(planted):
    matrix, attract, repel = planted
    assert all(_rank(matrix, i, j) == 1 for i, j in repel) and all(_rank(matrix, i, j) > 10 for i, j in attract)
    moved = matrix.copy()
    moved[:40] = specialize_matrix(matrix[:40], attract, repel, matrix[40:140])
    assert all(_rank(moved, i, j) > 10 and _rank(moved, j, i) > 10 for i, j in repel)
    assert np.mean([_cos(moved[i], moved[j]) for i, j in repel]) < 0
    assert all(_rank(moved, i, j) == 1 for i, j in attract)
    assert np.allclose(np.linalg.norm(moved, axis=1), np.linalg.norm(matrix, axis=1), rtol=1e-4)  # lengths kept


def test_a_seed_gives_the_same_vectors(planted):
    matrix, attract, repel = planted
    runs = [specialize_matrix(matrix[:40], attract, repel, matrix[40:140], SpecializeParams(), seed=7) for _ in "ab"]
    assert np.array_equal(*runs)


def test_only_constrained_words_move_in_the_table(spark, planted):
    matrix, _, _ = planted
    words = [f"w{i}" for i in range(60)]
    vectors = spark.createDataFrame(
        [(w, [float(v) for v in matrix[i]], 100 - i) for i, w in enumerate(words)],
        "word string, vector array<float>, count bigint",
    )
    repels = [Repel(("w0",), ("w10",))]
    out, stats = specialize(vectors, [Group(members=("w20", "w30"))], repels, SpecializeParams(negatives=20), seed=1)
    rows = {r.word: np.array(r.vector, dtype=np.float32) for r in out.collect()}
    moved = {w for i, w in enumerate(words) if not np.array_equal(rows[w], matrix[i])}
    assert moved == {"w0", "w10", "w20", "w30"}
    assert stats.metrics["specialize_attract_pairs"] == 1 and stats.metrics["specialize_repel_pairs"] == 1
    assert out.schema == vectors.schema


def test_a_run_specialises_and_reports_the_repelled_pairs_before_and_after(spark, tmp_path):
    lines = ["the ticket was cheap today", "the ticket was expensive today", "a cheap seat", "an expensive seat"]
    (tmp_path / "corpus.txt").write_text("\n".join(SEED_LINES * 50 + lines * 50) + "\n")
    (tmp_path / "groups.txt").write_text(SEED_GROUPS + "cheap != expensive\n")
    settings = [f"input.path={tmp_path / 'corpus.txt'}", f"augment.groups_path={tmp_path / 'groups.txt'}"]
    settings += [f"output.path={tmp_path / 'out'}", "output.format=parquet", "train.min_count=1"]
    settings += ["train.backend=mllib", "train.epochs=1"]
    record = execute(spark, load_config(None, [*settings, "augment.method=specialize", "evaluate.baseline=true"]))
    metrics = record.metrics
    # The baseline of specialisation alone is the trained vectors: the same training, before the constraints.
    assert metrics["augmentation_factor"] == 1.0 and metrics["specialize_repel_pairs"] == 1
    assert metrics["repel_mean_cosine"] < metrics["baseline_repel_mean_cosine"] - 0.2
    assert metrics["group_hub_first"] == 1.0
    assert "mean cosine of repelled pairs" in record.summary
    shown = re.search(r"cheap != expensive: rank (\d+), cosine \S+ \(was rank (\d+),", record.summary)
    assert int(shown[1]) > int(shown[2])  # farther down each other's list than before
    assert record.details["repels"][0]["pairs"][0]["words"] == ["cheap", "expensive"]
    report = (record.report_dir / "report.md").read_text()
    assert "## Repelled pairs" in report and f"| 3 | cheap != expensive | {shown[1]} |" in report


def test_repelled_pairs_are_scored_and_a_word_outside_the_vocabulary_is_named_with_its_line():
    from gensim.models import KeyedVectors

    from swapvec.evaluate import _repel_lines, repel_distance

    kv = KeyedVectors(vector_size=2)
    kv.add_vectors(["up", "down", "left"], np.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0]], dtype=np.float32))
    result = repel_distance(kv, [Repel(("up",), ("down",), line=3), Repel(("good",), ("bad",), line=4)])
    assert result.metrics["repel_pairs_scored"] == 1 and result.metrics["repel_share_in_top10"] == 1.0
    assert result.metrics["repel_mean_cosine"] > 0.99
    assert _repel_lines(result, None)[2:] == [
        "  line 3: up != down: rank 1, cosine 0.994",
        "  line 4: good != bad: not in the vocabulary: good bad",
    ]

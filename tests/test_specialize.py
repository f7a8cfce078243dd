"""Repel lines and specialisation (Attract-Repel): the file's syntax, the numpy core, the stage in a run."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

from swapvec.config import TokenizeConfig, load_config
from swapvec.errors import BadInput
from swapvec.groups import Group, Repel, check_groups_file, load_constraints, parse_file
from swapvec.lexicon import Pairs, check_lexicon_file, load_all, pairs_of
from swapvec.pipeline import execute
from swapvec.specialize import SpecializeParams, specialize, specialize_matrix
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


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            " ".join(f"w{i}" for i in range(2001)),  # every two of 2001 words
            "this plain line gives 2,001,000 word pairs, over the 2,000,000 a file may give; write it as a hub line",
        ),
        (
            " ".join(f"a{i}" for i in range(1415)) + " != " + " ".join(f"b{i}" for i in range(1415)),
            "this repel line gives 2,002,225 word pairs, over the 2,000,000 a file may give; split it into '!=' lines",
        ),
    ],
)
def test_a_line_of_more_pairs_than_a_file_may_give_is_refused_before_any_pair_is_made(line, message):
    with pytest.raises(BadInput) as caught:
        parse_file("cheap inexpensive\n" + line + "\n", source="lexicon.txt")
    assert str(caught.value).startswith("lexicon.txt:2: " + message) and "\n" not in str(caught.value)
    # at the bound, it parses: 2000 words give 1,999,000 pairs
    assert len(parse_file(" ".join(f"w{i}" for i in range(2000))).groups[0][2]) == 2000


def test_the_file_is_refused_at_the_line_that_takes_its_pairs_over_the_bound(monkeypatch):
    monkeypatch.setattr("swapvec.groups.MAX_PAIRS", 10)
    text = "a b c d\ne f g\n\nhub: x y\n"  # 6 + 3 + 2 pairs
    with pytest.raises(BadInput, match=r"^lexicon.txt:4: the lines up to here give 11 word pairs, over the 10 a file"):
        parse_file(text, source="lexicon.txt")
    parse_file(text.replace(" y", ""))


@pytest.mark.slow
def test_a_lexicons_line_that_would_give_billions_of_pairs_is_refused_at_once(tmp_path):
    file = tmp_path / "longline.txt"
    file.write_text("movies " + " ".join(f"w{i}" for i in range(200_000)) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(BadInput, match=r"^longline.txt:1: this plain line gives 20,000,100,000 word pairs"):
            check_lexicon_file(str(file), TokenizeConfig())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20  # the line's words, not its pairs


def test_repel_words_are_checked_against_the_groups(spark, tmp_path):
    file = tmp_path / "g.txt"
    file.write_text("Cheap != Expensive COSTLY\ncheap != pricey\nentertainment: movies films\n")
    groups, repels, _ = load_constraints(spark, str(file), TokenizeConfig())
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
    groups = [Group(members=("a", "b"), hub="hub", line=1), Group(members=("x", "y", "z"), line=2)]
    pairs = pairs_of(groups, [Repel(("a", "w"), ("x", "y"), line=3)])
    # a hub pairs with each member (members not with each other); a plain group's words all pair; pairs are sorted
    assert sorted(pairs.attract) == [("a", "hub"), ("b", "hub"), ("x", "y"), ("x", "z"), ("y", "z")]
    assert sorted(pairs.repel) == [("a", "x"), ("a", "y"), ("w", "x"), ("w", "y")]
    assert pairs.attract[("x", "z")] == ("groups", 2) and pairs.words == ["a", "b", "hub", "w", "x", "y", "z"]


def test_a_lexicon_is_pairs_in_which_a_word_stands_on_many_lines(tmp_path):
    file = tmp_path / "lexicon.txt"
    file.write_text("Cheap inexpensive\ncheap economical\nbig: large huge\ncheap != expensive costly\n")
    pairs = check_lexicon_file(str(file), TokenizeConfig())
    assert sorted(pairs.attract) == [
        ("big", "huge"), ("big", "large"), ("cheap", "economical"), ("cheap", "inexpensive")
    ]  # fmt: skip
    assert sorted(pairs.repel) == [("cheap", "costly"), ("cheap", "expensive")]
    assert pairs.repel[("cheap", "costly")] == ("lexicon.txt", 4)


def test_a_lexicon_line_is_pairs_with_no_limit_on_a_plain_lines_words(tmp_path):
    file = tmp_path / "lexicon.txt"
    file.write_text(" ".join(f"w{i}" for i in range(15)) + "\n")  # too many for a plain group in the groups file
    assert len(check_lexicon_file(str(file), TokenizeConfig()).attract) == 15 * 14 // 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cold warm\ncold != warm\n", "lexicon.txt:2: 'cold' and 'warm' are attracted on line 1"),
        ("cold != warm\nwarm cold\n", "lexicon.txt:2: 'warm' and 'cold' are repelled on line 1"),
        ("a b\nhot != hot\n", "lexicon.txt:2: 'hot' is on both sides of '!='"),
        ("a b\nhot c++\n", "lexicon.txt:2: 'c\\+\\+' is 'c' under tokenize.pattern"),
        ("# nothing\n", "augment.lexicon_path: .*lexicon.txt holds no groups"),
    ],
)
def test_a_lexicon_line_that_cannot_be_honoured_is_refused_with_its_line(tmp_path, text, message):
    (tmp_path / "lexicon.txt").write_text(text)
    with pytest.raises(BadInput, match=message):
        check_lexicon_file(str(tmp_path / "lexicon.txt"), TokenizeConfig())


def test_a_lexicon_is_refused_with_a_method_that_cannot_use_it_and_across_the_groups_file(spark, tmp_path):
    chosen = ("augment.lexicon_path=lex.txt", "augment.specialize_outside=true", "augment.specialize_regularization=1")
    for key in chosen:
        with pytest.raises(BadInput, match=f"config: augment.{key.split('.')[1].split('=')[0]} needs augment.method"):
            load_config(None, [key, "augment.method=retrofit"])
    (tmp_path / "groups.txt").write_text("entertainment: movies films\n")
    (tmp_path / "lex.txt").write_text("cheap inexpensive\nentertainment != Movies\n")
    with pytest.raises(BadInput, match="lex.txt:2: 'entertainment' and 'movies' are attracted on groups.txt:1"):
        load_all(spark, str(tmp_path / "groups.txt"), str(tmp_path / "lex.txt"), TokenizeConfig())


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
    # A stronger pull toward the trained vectors moves every constrained word less.
    stiff = specialize_matrix(matrix[:40], attract, repel, matrix[40:140], SpecializeParams(regularization=5.0))
    assert np.linalg.norm(stiff - matrix[:40]) < 0.8 * np.linalg.norm(moved[:40] - matrix[:40])


@pytest.mark.slow
def test_repelled_words_end_nearer_their_trained_place_and_nearer_each_others_seeds_than_with_the_one_farthest():
    """The paper's repel step pulls each word toward its one farthest candidate, which the batch decides; the mean
    of the farthest candidates is a steadier direction. 100 repelled pairs of near copies, three seeds each way."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(300, 50))
    matrix[100:200] = matrix[:100] + 0.3 * rng.normal(size=(100, 50))
    repel, none = np.array([[i, 100 + i] for i in range(100)]), np.empty((0, 2), np.int64)
    trained = matrix[:200] / np.linalg.norm(matrix[:200], axis=1, keepdims=True)

    def runs(params: SpecializeParams) -> tuple[float, float, float]:
        """The runs' mean cosine between seeds, to the trained vectors, and of the pairs."""
        unit = [specialize_matrix(matrix[:200], none, repel, matrix[200:], params, seed) for seed in range(1, 4)]
        unit = [u / np.linalg.norm(u, axis=1, keepdims=True) for u in unit]
        between = np.mean([np.sum(a * b, axis=1).mean() for i, a in enumerate(unit) for b in unit[i + 1 :]])
        kept = np.mean([np.sum(u * trained, axis=1).mean() for u in unit])
        return between, kept, np.mean([np.sum(u[:100] * u[100:], axis=1).mean() for u in unit])

    (between, kept, pairs) = runs(SpecializeParams(min_steps=30))
    (between_one, kept_one, pairs_one) = runs(SpecializeParams(min_steps=30, repel_farthest=1))
    assert pairs < -0.3 and pairs_one < -0.3  # pushed apart either way
    assert 1 - between < 0.6 * (1 - between_one) and kept > kept_one + 0.02


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
    pairs = Pairs(attract={("w20", "w30"): ("g", 1)}, repel={("w0", "w10"): ("g", 2)})
    out, stats = specialize(vectors, pairs, SpecializeParams(negatives=20), seed=1)
    rows = {r.word: np.array(r.vector, dtype=np.float32) for r in out.collect()}
    moved = {w for i, w in enumerate(words) if not np.array_equal(rows[w], matrix[i])}
    assert moved == {"w0", "w10", "w20", "w30"}
    assert stats.metrics["specialize_attract_pairs"] == 1 and stats.metrics["specialize_repel_pairs"] == 1
    assert out.schema == vectors.schema

    # Outside the constraints: every other word moves by the map learnt from the four, at its own length; the four
    # end where they did without it.
    out, _ = specialize(vectors, pairs, SpecializeParams(negatives=20), seed=1, outside=True)
    outside = {r.word: np.array(r.vector, dtype=np.float32) for r in out.collect()}
    assert all(np.array_equal(outside[w], rows[w]) for w in moved)
    assert all(not np.allclose(outside[w], matrix[i]) for i, w in enumerate(words) if w not in moved)
    lengths = [np.linalg.norm(outside[w]) / np.linalg.norm(matrix[i]) for i, w in enumerate(words)]
    assert np.allclose(lengths, 1.0, atol=1e-5) and out.schema == vectors.schema


def test_lexicon_pairs_are_scored_as_ranking_each_word_would():
    from gensim.models import KeyedVectors

    from swapvec.evaluate import pair_scores

    rng = np.random.default_rng(3)
    kv = KeyedVectors(vector_size=8)
    kv.add_vectors([f"w{i}" for i in range(200)], rng.normal(size=(200, 8)).astype(np.float32))
    pairs = {(f"w{i}", f"w{j}"): ("lex", 1) for i, j in rng.integers(0, 200, size=(300, 2)) if i != j}
    pairs[("w1", "absent")] = ("lex", 2)
    scores = pair_scores(kv, pairs, "lexicon_repel")
    inside = [min(kv.rank(a, b), kv.rank(b, a)) <= 10 for a, b in pairs if b != "absent"]  # gensim's own ranks
    assert scores["lexicon_repel_pairs_scored"] == len(pairs) - 1 > 250
    assert scores["lexicon_repel_share_in_top10"] == pytest.approx(np.mean(inside)) and 0 < np.mean(inside) < 1
    drawn = pair_scores(kv, pairs, "lexicon_repel", ranked=60)  # a bounded draw ranks 60; the cosine spans all
    assert drawn["lexicon_repel_pairs_ranked"] == 60 and drawn["lexicon_repel_mean_cosine"] == scores[
        "lexicon_repel_mean_cosine"
    ]  # fmt: skip


def test_a_run_specialises_and_reports_the_repelled_pairs_before_and_after(spark, tmp_path):
    lines = ["the ticket was cheap today", "the ticket was expensive today", "a cheap seat", "an expensive seat"]
    (tmp_path / "corpus.txt").write_text("\n".join(SEED_LINES * 50 + lines * 50) + "\n")
    (tmp_path / "groups.txt").write_text(SEED_GROUPS + "cheap != expensive\n")
    settings = [f"input.path={tmp_path / 'corpus.txt'}", f"augment.groups_path={tmp_path / 'groups.txt'}"]
    settings += [f"output.path={tmp_path / 'out'}", "output.format=parquet", "train.min_count=1"]
    settings += ["train.backend=mllib", "train.epochs=1"]
    # A lexicon beside the groups file: pairs only (a word on two lines), its words outside the corpus skipped.
    (tmp_path / "lexicon.txt").write_text("ticket seat\nticket absentword\ntoday != seat\n")
    settings += [f"augment.lexicon_path={tmp_path / 'lexicon.txt'}", "augment.specialize_outside=true"]
    record = execute(spark, load_config(None, [*settings, "augment.method=specialize", "evaluate.baseline=true"]))
    metrics = record.metrics
    # The baseline of specialisation alone is the trained vectors: the same training, before the constraints.
    assert metrics["augmentation_factor"] == 1.0 and metrics["specialize_repel_pairs"] == 2
    assert metrics["specialize_attract_pairs"] == 3 + 1  # the hub with its three members; ticket and seat
    assert metrics["lexicon_repel_pairs_scored"] == 1 and metrics["lexicon_attract_pairs_scored"] == 1
    assert metrics["lexicon_repel_mean_cosine"] < metrics["baseline_lexicon_repel_mean_cosine"]
    assert metrics["specialize_outside"] == 1.0 and "lexicon: repel pairs' mean cosine" in record.summary
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

    from swapvec.evaluate import repel_distance
    from swapvec.summary import summary

    kv = KeyedVectors(vector_size=2)
    kv.add_vectors(["up", "down", "left"], np.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0]], dtype=np.float32))
    result = repel_distance(kv, [Repel(("up",), ("down",), line=3), Repel(("good",), ("bad",), line=4)])
    assert result.metrics["repel_pairs_scored"] == 1 and result.metrics["repel_share_in_top10"] == 1.0
    assert result.metrics["repel_mean_cosine"] > 0.99
    assert summary(result).splitlines()[-2:] == [
        "  line 3: up != down: rank 1, cosine 0.994",
        "  line 4: good != bad: not in the vocabulary: good bad",
    ]


def test_repelled_pairs_left_inside_a_top_10_are_turned_apart_and_nothing_else_moves(spark):
    from swapvec.apart import keep_apart, table_search

    rng = np.random.default_rng(5)
    matrix = rng.normal(size=(200, 20)).astype(np.float32)
    matrix[1] = matrix[0] + 0.3 * rng.normal(size=20)  # 0 and 1: each other's nearest
    matrix[3] = -matrix[2]  # 2 and 3: opposite, outside by far
    words = [f"w{i}" for i in range(200)]
    table = spark.createDataFrame(
        [(w, [float(v) for v in matrix[i]]) for i, w in enumerate(words)], "word string, vector array<float>"
    )
    constrained = [0, 1, 2, 3] + list(range(10, 60))  # the words specialisation moved, on the driver
    repel = np.array([[0, 1], [2, 3]])
    out, stats = keep_apart(table_search(lambda: table), [words[i] for i in constrained], matrix[constrained], repel)
    # 0 and 1 checked over the table, turned, checked again in round 2; 2 and 3 pass on the driver
    assert (stats["apart_pairs_turned"], stats["apart_pairs_checked"], stats["apart_rounds"]) == (1, 2, 2)
    after = matrix.copy()
    after[constrained] = out
    assert _rank(after, 0, 1) > 10 and _rank(after, 1, 0) > 10
    assert np.array_equal(after[2:], matrix[2:])  # only the pair moved
    assert np.allclose(np.linalg.norm(after[:2], axis=1), np.linalg.norm(matrix[:2], axis=1), rtol=1e-5)


def test_the_drivers_count_never_lets_a_pair_inside_a_top_10_pass():
    from swapvec.apart import POOL, TOP, _maybe_inside
    from swapvec.similarity.nearest import unit_rows

    rng = np.random.default_rng(11)
    unit = unit_rows(rng.normal(size=(400, 8)), np.float64)  # 8 dimensions: many pairs near, many ties close
    pairs = np.unique(np.sort(rng.integers(0, 400, size=(3000, 2)), axis=1), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pool = np.sort(rng.choice(400, 300, replace=False))
    assert len(pool) < POOL
    cos = unit @ unit.T

    def separated(own, other):  # pool words other than the pair nearer ``own`` than ``other`` is
        return np.count_nonzero((cos[own, pool] > cos[own, other]) & (pool != own) & (pool != other))

    inside = np.array([min(separated(a, b), separated(b, a)) < TOP for a, b in pairs])
    suspects = _maybe_inside(unit, pairs, pool)
    assert inside.any() and (suspects[inside]).all()  # no pair inside is cleared
    assert (suspects & ~inside).sum() <= 0.02 * len(pairs)  # and few outside are suspected


def test_a_pair_turned_apart_does_not_leave_another_pair_inside_a_top_10():
    from swapvec.apart import keep_apart
    from swapvec.similarity.nearest import unit_rows

    rng = np.random.default_rng(3)
    e = np.eye(6)
    c, d = e[0], unit_rows((0.3 * e[0] + e[1])[None])[0]
    a, b = unit_rows(np.array([0.4 * e[0] + 0.9 * e[2], 0.6 * e[0] + 0.8 * e[2]]))  # each other's nearest
    off_axis = rng.normal(size=(20, 6)) * np.r_[0, 0, 1, 1, 1, 1]
    near_c = unit_rows(c + 0.5 * off_axis[:8])  # with a and b, 10 words nearer c than d is: (c, d) is just outside
    near_d = unit_rows(d + 0.3 * off_axis[8:])  # and 12 nearer d than c is, none of them nearer c than d
    matrix = np.vstack([a, b, c, d, near_c, near_d]).astype(np.float32)
    words = [f"w{i}" for i in range(len(matrix))]
    unit = unit_rows(matrix)

    def search(queries, n):  # the table as specialisation left it
        scores = unit_rows(queries) @ unit.T
        return [[(words[i], float(row[i])) for i in np.argsort(-row)[:n]] for row in scores]

    assert _rank(matrix, 2, 3) == 11 and _rank(matrix, 3, 2) > 10 and _rank(matrix, 0, 1) == 1
    # Turning a from b takes a away from c: d is then c's 10th nearest, unless (c, d) is checked again.
    out, stats = keep_apart(search, words[:4], matrix[:4], np.array([[0, 1], [2, 3]]))
    after = np.vstack([out, matrix[4:]])
    assert stats["apart_pairs_turned"] == 2
    for i, j in ((0, 1), (1, 0), (2, 3), (3, 2)):
        assert _rank(after, i, j) > 10

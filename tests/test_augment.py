from __future__ import annotations

import pytest

from swapvec.augment import augment, substitutions
from swapvec.config import TokenizeConfig
from swapvec.errors import BadInput
from swapvec.evaluate import TOP
from swapvec.groups import Group, check_groups_file, load_groups, parse_groups


def _sentences(spark, *token_lists):
    return spark.createDataFrame(
        [(i, 0, list(t)) for i, t in enumerate(token_lists)], "sentence_id bigint, chunk int, tokens array<string>"
    )


def _rows(df):
    return sorted((r.sentence_id, tuple(r.tokens)) for r in df.collect())


def test_parse_plain_and_hub_groups_with_comments():
    text = "# comment\nmovies films  # trailing\n\nentertainment: movies2 films2 cinema2\n"
    assert parse_groups(text) == [
        (2, None, ["movies", "films"]),
        (4, "entertainment", ["movies2", "films2", "cinema2"]),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (": a b\n", "groups:1: empty hub before ':'"),
        ("hub:\n", "groups:1: hub 'hub' has no members"),
        ("lonely\n", "groups:1: a group needs at least two words"),
        ("two words: a b\n", "a hub is one word"),
    ],
)
def test_malformed_groups_are_refused_with_the_line(text, message):
    with pytest.raises(BadInput, match=message):
        parse_groups(text)


def test_a_plain_group_too_large_for_every_mate_in_each_top_10_is_refused_and_a_hub_line_is_not(tmp_path):
    file = tmp_path / "groups.txt"
    words = [f"w{i}" for i in range(TOP + 2)]
    file.write_text("movies films\n" + " ".join(words) + "\n")
    with pytest.raises(BadInput) as caught:
        check_groups_file(str(file), TokenizeConfig(), "swap")
    message = str(caught.value)
    assert message.startswith(f"groups.txt:2: a plain group of {TOP + 2} words cannot have every mate in each word's")
    assert f"at most {TOP + 1} words" in message and "hub line" in message and "augment.lexicon_path" in message
    assert "\n" not in message
    # one word fewer fits (each word's TOP mates fill its top TOP); a hub's members need only the hub, however many
    file.write_text(" ".join(words[:-1]) + "\nentertainment: " + " ".join(f"m{i}" for i in range(50)) + "\n")
    check_groups_file(str(file), TokenizeConfig(), "swap")


def test_group_words_are_tokenised_and_a_word_in_two_groups_is_refused(spark, tmp_path):
    file = tmp_path / "g.txt"
    file.write_text("Entertainment: Movies FILMS\n")
    [group] = load_groups(spark, str(file), TokenizeConfig())
    assert group == Group(hub="entertainment", members=("movies", "films"), line=1)
    file.write_text("a b\nc: B d\n")
    with pytest.raises(BadInput, match=r"g.txt:2: 'b' is also on line 1; a word belongs to one group"):
        load_groups(spark, str(file), TokenizeConfig())
    file.write_text("a b A\n")
    with pytest.raises(BadInput, match="'a' is twice on that line"):
        load_groups(spark, str(file), TokenizeConfig())
    file.write_text("a new-york\n")
    with pytest.raises(BadInput, match="'new-york' is 2 tokens"):
        load_groups(spark, str(file), TokenizeConfig())
    with pytest.raises(BadInput, match="file not found"):
        load_groups(spark, str(tmp_path / "nope.txt"), TokenizeConfig())


def test_substitutions_plain_every_other_hub_replaced_by_each_member():
    subs = substitutions([Group(members=("a", "b", "c")), Group(hub="h", members=("x", "y"))])
    assert subs == {"a": ("b", "c"), "b": ("a", "c"), "c": ("a", "b"), "h": ("x", "y")}


def test_plain_group_copies_exactly(spark):
    subs = substitutions([Group(members=("a", "b", "c"))])
    out = augment(_sentences(spark, ["a", "x", "a"], ["y", "z"]), subs, max_copies=10, seed=1)
    assert _rows(out) == [
        (0, ("a", "x", "a")),
        (0, ("b", "x", "b")),
        (0, ("c", "x", "c")),
        (1, ("y", "z")),
    ]
    assert sorted(r.copy for r in out.where("sentence_id = 0").collect()) == [0, 1, 2]


def test_hub_sentences_are_copied_once_per_member_members_are_not_swapped(spark):
    subs = substitutions([Group(hub="entertainment", members=("movies", "films"))])
    out = augment(_sentences(spark, ["movies", "tonight"], ["entertainment", "now"]), subs, max_copies=10, seed=1)
    assert _rows(out) == [
        (0, ("movies", "tonight")),
        (1, ("entertainment", "now")),
        (1, ("films", "now")),
        (1, ("movies", "now")),
    ]


def test_copies_are_capped_by_a_seeded_choice_that_repeats(spark):
    subs = substitutions([Group(members=tuple("abcdef"))])
    sentences = _sentences(spark, *[["a", "b", str(i)] for i in range(40)])
    first = augment(sentences, subs, max_copies=3, seed=7)
    assert first.groupBy("sentence_id").count().where("count != 4").count() == 0  # original + 3 copies each
    assert _rows(first) == _rows(augment(sentences, subs, max_copies=3, seed=7))
    assert _rows(first) != _rows(augment(sentences, subs, max_copies=3, seed=8))
    # Different sentences get different swaps: the cap does not starve a substitute.
    swapped_in = {t for r in first.where("copy > 0").collect() for t in r.tokens[:2]}
    assert set("abcdef") <= swapped_in


def test_no_groups_is_the_identity(spark):
    sentences = _sentences(spark, ["a", "b"])
    assert _rows(augment(sentences, {}, max_copies=5, seed=1)) == _rows(sentences)

from __future__ import annotations

import pytest

from swapvec.config import TokenizeConfig
from swapvec.errors import BadInput
from swapvec.tokenize import check_pattern, spark_tokens, tokenize, tokenize_words


def _corpus(spark, *lines):
    return spark.createDataFrame([(line,) for line in lines], "text string").coalesce(1)


def test_lowercases_keeps_unicode_letters_and_inner_apostrophes(spark):
    df = tokenize(
        _corpus(spark, "Entertainment, FILMS and Movies!", "L’Homme don't pay 42 €; Ölçü naïve-café"), TokenizeConfig()
    )
    assert [r.tokens for r in df.orderBy("sentence_id").collect()] == [
        ["entertainment", "films", "and", "movies"],
        ["l’homme", "don't", "pay", "42", "ölçü", "naïve", "café"],
    ]


def test_lines_without_tokens_are_dropped_and_ids_number_the_input_lines(spark):
    df = tokenize(_corpus(spark, "a b", "", "...", "c"), TokenizeConfig())
    # One input partition: ids are the lines' positions, so the dropped lines leave gaps and the ids repeat.
    assert [(r.sentence_id, r.tokens) for r in df.orderBy("sentence_id").collect()] == [(0, ["a", "b"]), (3, ["c"])]


def test_min_length_and_case_settings(spark):
    df = tokenize(_corpus(spark, "I am Bob"), TokenizeConfig(min_length=3, lowercase=False))
    assert df.first().tokens == ["Bob"]


def test_a_pattern_that_matches_the_empty_string_gives_no_empty_tokens(spark):
    df = tokenize(_corpus(spark, "banana split", "xyz"), TokenizeConfig(pattern="a*"))
    # Java finds an empty match between any two letters: "" was a word of the vocabulary, and "xyz" a sentence.
    assert [r.tokens for r in df.collect()] == [["a", "a", "a"]]
    assert spark_tokens(spark, ["banana"], TokenizeConfig(pattern="a*")) == [["a", "a", "a"]]


def test_long_sentences_are_split_into_chunks_never_cut(spark):
    words = [f"w{i}" for i in range(7)]
    df = tokenize(_corpus(spark, " ".join(words)), TokenizeConfig(max_sentence_length=3))
    rows = df.orderBy("chunk").collect()
    assert [(r.chunk, r.tokens) for r in rows] == [(0, words[:3]), (1, words[3:6]), (2, words[6:])]
    assert len({r.sentence_id for r in rows}) == 1


def test_group_words_get_the_corpus_tokeniser(spark):
    assert tokenize_words(spark, ["Movies", "New York", "Café", "!!"], TokenizeConfig()) == [
        ["movies"],
        ["new", "york"],
        ["café"],
        [],
    ]


@pytest.mark.parametrize("min_length", [1, 3])
def test_ascii_words_tokenised_in_python_as_spark_tokenises_them(spark, min_length):
    words = ["Movies", "New York", "don't", "rock'n'roll", "o'", "'tis", "a-b_c", "x1 2y", "U.S.A.", "!!", "at&t", ""]
    words += ["Tab\tand\nline", "it''s", "ab'c'", "C3PO's"]
    cfg = TokenizeConfig(min_length=min_length)
    assert tokenize_words(spark, words, cfg) == spark_tokens(spark, words, cfg)


def test_a_broken_pattern_is_refused_with_javas_reason(spark):
    with pytest.raises(BadInput, match=r"tokenize.pattern: not a valid Java regex"):
        check_pattern(spark, TokenizeConfig(pattern="[unclosed"))

from __future__ import annotations

import unicodedata

import pytest

from swapvec.config import TokenizeConfig
from swapvec.errors import BadInput
from swapvec.tokenize import Spelling, check_pattern, python_spelling, spark_spellings, tokenize, tokenize_words


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
    assert spark_spellings(spark, ["banana"], TokenizeConfig(pattern="a*")) == [Spelling("banana", ["a", "a", "a"])]


def test_long_sentences_are_split_into_chunks_never_cut(spark):
    words = [f"w{i}" for i in range(7)]
    df = tokenize(_corpus(spark, " ".join(words)), TokenizeConfig(max_sentence_length=3))
    rows = df.orderBy("chunk").collect()
    assert [(r.chunk, r.tokens) for r in rows] == [(0, words[:3]), (1, words[3:6]), (2, words[6:])]
    assert len({r.sentence_id for r in rows}) == 1


def test_group_words_get_the_corpus_tokeniser(spark):
    assert tokenize_words(spark, ["Movies", "New York", "Café", "!!"], TokenizeConfig()) == [
        Spelling("movies", ["movies"]),
        Spelling("new york", ["new", "york"]),
        Spelling("café", ["café"]),
        Spelling("!!", []),
    ]


@pytest.mark.parametrize("min_length", [1, 3])
def test_ascii_words_tokenised_in_python_as_spark_tokenises_them(spark, min_length):
    words = ["Movies", "New York", "don't", "rock'n'roll", "o'", "'tis", "a-b_c", "x1 2y", "U.S.A.", "!!", "at&t", ""]
    words += ["Tab\tand\nline", "it''s", "ab'c'", "C3PO's"]
    cfg = TokenizeConfig(min_length=min_length)
    assert tokenize_words(spark, words, cfg) == spark_spellings(spark, words, cfg)


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


#: Text a tokeniser gets wrong in many ways, each line a case: letters composed and decomposed, case mappings of one
#: character to two and by context, compatibility forms, digits and apostrophes of other scripts, joiners, spaces
#: other than U+0020, scripts without case or without spaces.
AWKWARD = [
    "Café Niño Über",
    _nfd("Café NIÑO ÜBER"),
    "Straße STRASSE GROẞE ẞ",
    "İstanbul ISPARTA ılık IŞIK İ",
    "ΟΔΟΣ ΣΟΦΟΣ. Σ ΑΣ'Β ΟΔΟΣ’ ΣΑΣ ΌΣΟΣ",
    "ﬁsh ﬃ ﬀ Ǳ ǅ",
    "ＦＵＬＬ ｗｉｄｔｈ ＡＢＣ１２３",
    "٣٤٥ x٣ ۱۲ ३४ 五",
    "don’t don't rock'n'roll l’Homme L’HOMME 'tis o' it''s ‘quoted’ ʼokina",
    "well-known a–b e‑mail co—op x_y",
    "😀 a😀b 👩\u200d💻 a\u200db a\u200cb 🇺🇸",
    "a\u00a0b a\u202fb a\u3000b a\u2009b",
    "东京大学 日本語テキスト 한국어",
    "Москва ЁЖИК Ӂ",
    "a\u0301 \u0301a n\u0303 \u0345 x\u0345 ΐ",
    "Tab\tand\nline\r\nend",
    "Ⅻ ⅻ ① ½ ² 𝐀𝐁 𐐀 Ꭰ Ω K Å",
]


@pytest.mark.parametrize("lowercase, min_length", [(True, 1), (True, 3), (False, 1)])
def test_the_driver_tokenises_awkward_unicode_as_spark(spark, lowercase, min_length):
    cfg = TokenizeConfig(lowercase=lowercase, min_length=min_length)
    words = [w for line in AWKWARD for w in [line, *line.split(" ")]]
    assert [python_spelling(w, cfg) for w in words] == spark_spellings(spark, words, cfg)


def test_the_awkward_cases_are_tokenised_as_unicode_says(spark):
    spellings = dict(zip(AWKWARD, spark_spellings(spark, AWKWARD, TokenizeConfig()), strict=True))
    assert spellings["ΟΔΟΣ ΣΟΦΟΣ. Σ ΑΣ'Β ΟΔΟΣ’ ΣΑΣ ΌΣΟΣ"].tokens == [
        "οδος",
        "σοφος",
        "σ",
        "ασ'β",
        "οδος",
        "σας",
        "όσος",
    ]
    assert spellings["Straße STRASSE GROẞE ẞ"].tokens == ["straße", "strasse", "große", "ß"]
    # Unicode's root locale, not Turkish: I is i, and İ is i with a combining dot above.
    assert spellings["İstanbul ISPARTA ılık IŞIK İ"].tokens == ["i\u0307stanbul", "isparta", "ılık", "işik", "i\u0307"]
    assert spellings[_nfd("Café NIÑO ÜBER")].tokens == [_nfd("café"), _nfd("niño"), _nfd("über")]  # not composed
    assert spellings["well-known a–b e‑mail co—op x_y"].tokens == [
        "well",
        "known",
        "a",
        "b",
        "e",
        "mail",
        "co",
        "op",
        "x",
        "y",
    ]
    assert spellings["٣٤٥ x٣ ۱۲ ३४ 五"].tokens == ["٣٤٥", "x٣", "۱۲", "३४", "五"]


def test_a_character_pythons_unicode_lacks_is_left_to_spark(spark):
    # Letters of Unicode 16 and 17, which Spark 4.2's ICU lower-cases: each unknown to Python 3.11 to 3.13.
    unknown = [c for c in "\ua7dc\U00010d50\ua7cb\u1c89\ua7ce" if unicodedata.category(c) == "Cn"]
    if not unknown:
        pytest.skip(f"Python's Unicode {unicodedata.unidata_version} knows every candidate")
    words = [f"A{c}B" for c in unknown]
    assert [python_spelling(w, TokenizeConfig()).tokens for w in words] == [None] * len(words)
    assert tokenize_words(spark, words, TokenizeConfig()) == spark_spellings(spark, words, TokenizeConfig())


def test_a_broken_pattern_is_refused_with_javas_reason(spark):
    with pytest.raises(BadInput, match=r"tokenize.pattern: not a valid Java regex"):
        check_pattern(spark, TokenizeConfig(pattern="[unclosed"))
